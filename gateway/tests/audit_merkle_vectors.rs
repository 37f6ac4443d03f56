//! Every RFC 6962 proof vector in `tests/fixtures/merkle/` (transparency-dev format, copied from
//! the project's shared test data with its LICENSE):
//! happy paths verify, every `wantErr` case is refused.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pes_gateway::audit::merkle::{verify_consistency, verify_inclusion, Hash};
use serde::Deserialize;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/merkle")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("vectors missing at {}: {e}", dir.display()));
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn b64(s: &str) -> Vec<u8> {
    B64.decode(s).expect("vector base64")
}

/// Proof elements that are not 32 bytes make the proof malformed (an error by itself).
fn proof(items: &Option<Vec<String>>) -> Option<Vec<Hash>> {
    items
        .iter()
        .flatten()
        .map(|s| b64(s).try_into().ok())
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[test]
fn every_inclusion_vector_gives_the_expected_result() {
    let mut files = Vec::new();
    json_files(&vectors_dir().join("inclusion"), &mut files);
    assert!(
        files.len() >= 90,
        "expected the full inclusion vector set, found {}",
        files.len()
    );
    let (mut ok, mut err) = (0, 0);
    for f in &files {
        let v: Inclusion = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let result = match proof(&v.proof) {
            Some(p) => verify_inclusion(
                v.leaf_idx,
                v.tree_size,
                &b64(&v.leaf_hash),
                &p,
                &b64(&v.root),
            )
            .is_ok(),
            None => false,
        };
        assert_eq!(result, !v.want_err, "{} ({})", f.display(), v.desc);
        if v.want_err {
            err += 1
        } else {
            ok += 1
        }
    }
    assert!(ok > 0 && err > 0);
}

#[test]
fn every_consistency_vector_gives_the_expected_result() {
    let mut files = Vec::new();
    json_files(&vectors_dir().join("consistency"), &mut files);
    assert!(
        files.len() >= 80,
        "expected the full consistency vector set, found {}",
        files.len()
    );
    for f in &files {
        let v: Consistency = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let result = match proof(&v.proof) {
            Some(p) => {
                verify_consistency(v.size1, v.size2, &p, &b64(&v.root1), &b64(&v.root2)).is_ok()
            }
            None => false,
        };
        assert_eq!(result, !v.want_err, "{} ({})", f.display(), v.desc);
    }
}
