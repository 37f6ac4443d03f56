//! The offline log verifier (`audit::verify::verify_log`) against a log that lies: entries
//! changed, dropped, reordered, added; a tampered checkpoint; committed hashes that lie; a
//! saved checkpoint from another history.

use pes_gateway::audit::checkpoint::Checkpoint;
use pes_gateway::audit::merkle::{self, Hash};
use pes_gateway::audit::verify::{verify_log, EntryBatch, LogSource, Policy, VerifyError};
use proptest::prelude::*;

use crate::fixture::{log_key, text, witness_key};
use crate::mutate::{self, apply};
use crate::notes::NOTE_DICT;
use crate::receipts::mth;

/// A log served from memory: the entries it returns may differ from the ones it signed, and the
/// committed hashes it returns are those of the signed tree unless `lie` is set.
struct MemSource {
    checkpoint: String,
    entries: Vec<Vec<u8>>,
    signed: Vec<Hash>,
    lie: Option<(usize, u8)>,
    calls: usize,
}

impl LogSource for MemSource {
    fn checkpoint(&mut self) -> Result<String, VerifyError> {
        Ok(self.checkpoint.clone())
    }

    fn entries(&mut self, from: u64, to: u64) -> Result<EntryBatch, VerifyError> {
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for e in self
            .entries
            .iter()
            .skip(from as usize)
            .take((to - from) as usize)
        {
            spans.push((buf.len(), buf.len() + e.len()));
            buf.extend_from_slice(e);
        }
        Ok(EntryBatch::new(buf, spans))
    }

    fn children(&mut self, start: u64, end: u64, _size: u64) -> Result<(Hash, Hash), VerifyError> {
        self.calls += 1;
        assert!(
            self.calls < 200,
            "the verifier asked for more than 64 levels of children"
        );
        let k = 1usize << (63 - (end - start - 1).leading_zeros());
        let (s, e) = (start as usize, end as usize);
        let mut pair = (mth(&self.signed[s..s + k]), mth(&self.signed[s + k..e]));
        if let Some((at, bit)) = self.lie {
            if self.calls % 3 == at % 3 {
                pair.0[at % 32] ^= 1 << bit;
            }
        }
        Ok(pair)
    }
}

fn sign(entries: &[Vec<u8>]) -> (Checkpoint, String) {
    let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let c = Checkpoint {
        origin: log_key().name().into(),
        size: leaves.len() as u64,
        root: mth(&leaves),
    };
    let mut text = c.sign(log_key()).unwrap();
    text.push_str(&witness_key().signature_line(&c.body(), 1));
    (c, text)
}

fn policy(min_cosignatures: usize) -> Policy {
    Policy {
        log_key: log_key().verifier().clone(),
        witness_keys: vec![witness_key().verifier().clone()],
        min_cosignatures,
    }
}

/// What a lying log does to the entries it serves.
#[derive(Debug, Clone)]
enum Tamper {
    None,
    Change(usize, usize, u8),
    Drop(usize),
    Swap(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
    Append(Vec<u8>),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let entry = proptest::collection::vec(any::<u8>(), 0..16);
    prop_oneof![
        2 => Just(Tamper::None),
        2 => (any::<usize>(), any::<usize>(), 1u8..).prop_map(|(i, j, x)| Tamper::Change(i, j, x)),
        1 => any::<usize>().prop_map(Tamper::Drop),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Tamper::Swap(i, j)),
        1 => (any::<usize>(), entry.clone()).prop_map(|(i, e)| Tamper::Insert(i, e)),
        1 => any::<usize>().prop_map(Tamper::Truncate),
        1 => entry.prop_map(Tamper::Append),
    ]
}

fn tampered(entries: &[Vec<u8>], t: &Tamper) -> Vec<Vec<u8>> {
    let mut v = entries.to_vec();
    let n = v.len();
    match t {
        Tamper::None => {}
        Tamper::Change(i, j, x) => {
            let e = &mut v[i % n];
            if e.is_empty() {
                e.push(*x);
            } else {
                let k = j % e.len();
                e[k] ^= x;
            }
        }
        Tamper::Drop(i) => {
            v.remove(i % n);
        }
        Tamper::Swap(i, j) => v.swap(i % n, j % n),
        Tamper::Insert(i, e) => v.insert(i % (n + 1), e.clone()),
        Tamper::Truncate(i) => v.truncate(i % n),
        Tamper::Append(e) => v.push(e.clone()),
    }
    v
}

/// The golden fixture's entries, the log the verifier is pointed at.
fn golden_entries() -> Vec<Vec<u8>> {
    let path = std::path::Path::new(crate::fixture::CRATE_DIR)
        .join("tests/fixtures/audit-golden/entries.ndjson");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

proptest! {
    #![proptest_config(mutate::config())]

    /// An honest log verifies; a log serving other entries than it signed never does, and the
    /// verifier names the first entry that differs (or the first missing one).
    #[test]
    fn verifier_names_the_first_entry_a_lying_log_changed(
        extra in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 0..40),
        take in 1usize..25,
        t in tamper(),
        lie in proptest::option::of((any::<usize>(), 0u8..8)),
    ) {
        let mut entries: Vec<Vec<u8>> = golden_entries().into_iter().take(take).collect();
        entries.extend(extra);
        let (c, cp) = sign(&entries);
        let served = tampered(&entries, &t);
        let mut src = MemSource {
            checkpoint: cp,
            entries: served.clone(),
            signed: entries.iter().map(|e| merkle::leaf_hash(e)).collect(),
            lie,
            calls: 0,
        };
        let result = verify_log(&mut src, &policy(1), None, |_, _| {});
        // Entries past the checkpoint's size are the log growing, not tampering.
        let committed: Vec<Vec<u8>> = served.iter().take(entries.len()).cloned().collect();
        if committed == entries {
            let report = result.unwrap();
            prop_assert_eq!(report.entries, c.size);
            prop_assert_eq!(report.checkpoint.checkpoint, c);
            return Ok(());
        }
        let err = result.err().unwrap();
        if lie.is_some() {
            // The log's committed hashes lie: any refusal will do, never an acceptance.
            return Ok(());
        }
        let first = committed.iter().zip(&entries).position(|(a, b)| a != b).unwrap_or(committed.len());
        match err {
            VerifyError::Mismatch { index, .. } => prop_assert_eq!(index as usize, first),
            VerifyError::Missing { have, size } => {
                prop_assert_eq!(have as usize, committed.len());
                prop_assert_eq!(size, c.size);
                prop_assert!(committed.len() < entries.len() && first == committed.len());
            }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
    }

    /// A tampered checkpoint text is refused unless it still means the signed checkpoint; a
    /// saved checkpoint is checked for consistency, and one from another history is a fork.
    #[test]
    fn verifier_refuses_tampered_checkpoints_and_forks(
        n in 2usize..40,
        saved_at in any::<usize>(),
        muts in proptest::collection::vec(mutate::mutation(NOTE_DICT.len()), 0..4),
        fork in any::<bool>(),
    ) {
        let entries: Vec<Vec<u8>> = golden_entries().into_iter().cycle().take(n).enumerate()
            .map(|(i, mut e)| { e.extend(i.to_le_bytes()); e }).collect();
        let (c, cp) = sign(&entries);
        let m = 1 + saved_at % n;
        let mut older = entries[..m].to_vec();
        if fork {
            older[m - 1].push(b'!');
        }
        let (_, saved) = sign(&older);
        let served = text(&apply(cp.as_bytes(), &muts, NOTE_DICT, &[]));
        let mut src = MemSource {
            checkpoint: served.clone(),
            entries: entries.clone(),
            signed: entries.iter().map(|e| merkle::leaf_hash(e)).collect(),
            lie: None,
            calls: 0,
        };
        match verify_log(&mut src, &policy(0), Some(&saved), |_, _| {}) {
            Ok(report) => {
                prop_assert_eq!(report.checkpoint.checkpoint, c);
                prop_assert!(!fork);
                prop_assert_eq!(report.consistent_with, Some(m as u64));
            }
            Err(VerifyError::Fork { saved_size, .. }) => {
                prop_assert!(fork);
                prop_assert_eq!(saved_size, m as u64);
            }
            Err(e) => prop_assert!(served != cp, "{:?}", e),
        }
    }
}
