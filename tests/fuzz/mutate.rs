//! Seed-corpus fuzzing on the stable toolchain, shared by `adapters/tests/fuzz_formats.rs` and
//! `gateway/tests/fuzz_parsers.rs` (each includes this file with `#[path]`).
//!
//! A target is a committed seed corpus (`<crate>/tests/fuzz/corpus/<target>/`) plus a proptest
//! that picks a seed and applies a few [`Mutation`]s to it: bit flips, byte sets, insertions of
//! dictionary tokens (structural characters, invalid UTF-8, BOMs, NULs, huge numbers, deep
//! nesting), deletions, truncations, duplications and splices from another seed. Proptest
//! shrinks a failing case to a minimal list of mutations and records it in the target file's
//! `.proptest-regressions`, which is committed. See `docs/fuzzing.md`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Cases per proptest when `PES_FUZZ_CASES` is unset: small, so CI runs every target in seconds.
pub const DEFAULT_CASES: u32 = 48;

/// Largest input a mutation may produce; bigger inputs are cut, so no case can run for long.
pub const MAX_INPUT: usize = 256 * 1024;

/// Cases per proptest: `PES_FUZZ_CASES`, else [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var("PES_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_CASES)
}

/// The proptest configuration of every fuzz target.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2048,
        // Beside the target's source file (`<file>.proptest-regressions`), committed.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// One seed file of a corpus.
#[derive(Debug, Clone)]
pub struct Seed {
    /// File name, for messages.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The seeds of one target, sorted by file name. Panics (in the test) if the folder is missing
/// or empty: a target without seeds fuzzes nothing.
pub fn corpus(crate_dir: &str, target: &str) -> Vec<Seed> {
    let dir = corpus_dir(crate_dir, target);
    let mut seeds: Vec<Seed> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| Seed {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&p).unwrap(),
        })
        .collect();
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!seeds.is_empty(), "corpus {} is empty", dir.display());
    seeds
}

/// `<crate>/tests/fuzz/corpus/<target>`.
pub fn corpus_dir(crate_dir: &str, target: &str) -> PathBuf {
    Path::new(crate_dir).join("tests/fuzz/corpus").join(target)
}

/// Tokens worth inserting into any input: line ends, NUL, byte-order marks, invalid and
/// truncated UTF-8, surrogates, overlong forms, numbers at and past the integer limits,
/// full-width and em-dash characters, GB18030 four-byte sequences.
pub const GENERIC: &[&[u8]] = &[
    b"\0",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b" ",
    b"\t",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xff",
    b"\x80",
    b"\xc3",
    b"\xe2\x80",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x81\x30\x81\x30",
    b"\xe2\x80\x94 ",
    b"\xe3\x80\x80",
    b"\xef\xbc\x91",
    b"0",
    b"-0",
    b"-1",
    b"007",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"999999999999999999999999999999",
    b"1e999",
    b"-1e-999",
    b"NaN",
    b"0x1F",
    b"%",
    b"%s%n",
    b"\\",
    b"\"",
    b"'",
    b"=",
    b"+",
    b"/",
    b":",
    b";",
    b",",
];

/// How many times an inserted token is repeated: mostly once, sometimes enough to nest deeply
/// or to make a very long field.
fn repeat_count() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => Just(1usize),
        2 => 2usize..8,
        1 => Just(64usize),
        1 => Just(1000usize),
        1 => Just(20_000usize),
    ]
}

/// One edit of an input. Positions are taken modulo the input's length when applied, so any
/// value is meaningful and shrinking stays simple.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flips bit `1` (0..8) of the byte at `0`.
    FlipBit(usize, u8),
    /// Sets the byte at `0` to `1`.
    SetByte(usize, u8),
    /// Inserts token `1` of the dictionary, `2` times, at `0`.
    InsertToken(usize, usize, usize),
    /// Inserts arbitrary bytes at `0`.
    InsertBytes(usize, Vec<u8>),
    /// Deletes `1` bytes at `0`.
    Delete(usize, usize),
    /// Cuts the input at `0`.
    Truncate(usize),
    /// Copies `1` bytes at `0` to position `2`.
    Duplicate(usize, usize, usize),
    /// Inserts at `0` the bytes `[2, 2 + 3)` of seed `1`.
    Splice(usize, usize, usize, usize),
}

/// A mutation. `dict` is the target's own dictionary, used beside [`GENERIC`].
pub fn mutation(dict_len: usize) -> impl Strategy<Value = Mutation> {
    let tokens = GENERIC.len() + dict_len;
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        4 => (any::<usize>(), 0..tokens, repeat_count())
            .prop_map(|(i, t, n)| Mutation::InsertToken(i, t, n)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::InsertBytes(i, v)),
        2 => (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), 1usize..256, any::<usize>())
            .prop_map(|(i, n, j)| Mutation::Duplicate(i, n, j)),
        1 => (any::<usize>(), any::<usize>(), any::<usize>(), 1usize..512)
            .prop_map(|(i, s, f, n)| Mutation::Splice(i, s, f, n)),
    ]
}

/// A seed index and one to six mutations of it.
pub fn mutated(seeds: usize, dict_len: usize) -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    (
        0..seeds.max(1),
        proptest::collection::vec(mutation(dict_len), 1..7),
    )
}

/// Applies `muts` to `seed`. `dict` is the target's dictionary, `others` the corpus (for
/// splices). The result is at most [`MAX_INPUT`] bytes.
pub fn apply(seed: &[u8], muts: &[Mutation], dict: &[&[u8]], others: &[Seed]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in muts {
        let len = b.len();
        let at = |i: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::FlipBit(i, bit) => {
                if len > 0 {
                    b[at(*i)] ^= 1 << bit;
                }
            }
            Mutation::SetByte(i, v) => {
                if len > 0 {
                    b[at(*i)] = *v;
                }
            }
            Mutation::InsertToken(i, t, n) => {
                let tok = token(*t, dict);
                let pos = i % (len + 1);
                let ins = tok.repeat(*n);
                b.splice(pos..pos, ins);
            }
            Mutation::InsertBytes(i, v) => {
                let pos = i % (len + 1);
                b.splice(pos..pos, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                if len > 0 {
                    let s = at(*i);
                    let e = (s + n).min(len);
                    b.drain(s..e);
                }
            }
            Mutation::Truncate(i) => b.truncate(i % (len + 1)),
            Mutation::Duplicate(i, n, j) => {
                if len > 0 {
                    let s = at(*i);
                    let e = (s + n).min(len);
                    let part = b[s..e].to_vec();
                    let pos = j % (len + 1);
                    b.splice(pos..pos, part);
                }
            }
            Mutation::Splice(i, s, f, n) => {
                if !others.is_empty() {
                    let src = &others[s % others.len()].bytes;
                    if !src.is_empty() {
                        let from = f % src.len();
                        let to = (from + n).min(src.len());
                        let pos = i % (len + 1);
                        b.splice(pos..pos, src[from..to].iter().copied());
                    }
                }
            }
        }
        b.truncate(MAX_INPUT);
    }
    b
}

fn token<'a>(t: usize, dict: &[&'a [u8]]) -> &'a [u8] {
    if t < GENERIC.len() {
        GENERIC[t]
    } else {
        dict.get(t - GENERIC.len()).copied().unwrap_or(b"")
    }
}

/// Prefixes of `seed` for the "cut off anywhere" checks: every one for seeds of up to
/// [`prefix_budget`] bytes, else that many evenly spaced ones (always with the whole seed).
pub fn prefixes(seed: &[u8]) -> impl Iterator<Item = &[u8]> {
    let step = seed.len().div_ceil(prefix_budget()).max(1);
    (0..seed.len())
        .step_by(step)
        .chain(std::iter::once(seed.len()))
        .map(move |n| &seed[..n])
}

/// How many prefixes of one seed are checked: 512, or eight per case when `PES_FUZZ_CASES`
/// asks for more (so a long run cuts every seed at every byte).
pub fn prefix_budget() -> usize {
    (cases() as usize * 8).max(512)
}

/// A reader that hands out at most `chunk` bytes per call, to check that streaming decoders
/// do not depend on where their buffers end.
pub struct Chunked<'a> {
    /// Remaining input.
    pub rest: &'a [u8],
    /// Largest read.
    pub chunk: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.max(1).min(buf.len()).min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn mutations_stay_within_bounds_on_empty_and_tiny_inputs() {
        let seeds = vec![Seed {
            name: "s".into(),
            bytes: b"ab".to_vec(),
        }];
        for m in [
            Mutation::FlipBit(9, 7),
            Mutation::SetByte(9, 0),
            Mutation::InsertToken(9, 3, 2),
            Mutation::Delete(9, 100),
            Mutation::Truncate(100),
            Mutation::Duplicate(1, 100, 5),
            Mutation::Splice(3, 0, 5, 100),
        ] {
            apply(b"", std::slice::from_ref(&m), &[], &seeds);
            apply(b"x", std::slice::from_ref(&m), &[], &seeds);
        }
        assert_eq!(prefixes(b"abc").count(), 4);
    }
}
