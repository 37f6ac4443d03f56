//! The audit log end to end: appends, proofs from storage (proptest), cross-check against the
//! `ct-merkle` crate, receipts, restart, back-pressure, and the protected-field rule.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use pes_gateway::audit::checkpoint::verify_checkpoint;
use pes_gateway::audit::merkle::{self, Hash};
use pes_gateway::audit::{
    receipt, Action, Actor, AuditError, AuditEvent, AuditLog, LogOptions, Outcome,
};
use pes_gateway::signed_note::{KeyType, SigningKey};
use proptest::prelude::*;
use sha2::Sha256;

fn key() -> SigningKey {
    SigningKey::from_seed("pes.example/440000", KeyType::Ed25519, [42; 32]).unwrap()
}

fn event(i: u64) -> AuditEvent {
    let actor = Actor {
        sub: format!("analyst-{}", i % 7),
        role: "analyst".into(),
        region: Some("440000".into()),
        peer_member: None,
    };
    let mut e = AuditEvent::new(
        "440000",
        format!("req-{i}"),
        actor,
        Action::QueryAggregate,
        Outcome::Ok,
    );
    e.counts.insert("cells".into(), i);
    e
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Appends `n` events concurrently (so they are group-committed) and returns their bytes.
fn fill(rt: &tokio::runtime::Runtime, log: &Arc<AuditLog>, from: u64, n: u64) -> Vec<Vec<u8>> {
    rt.block_on(async {
        let mut handles = Vec::new();
        for i in from..from + n {
            let log = log.clone();
            handles.push(tokio::spawn(async move { log.append(&event(i)).await }));
        }
        for h in handles {
            h.await.unwrap().unwrap();
        }
    });
    log.entries(0, log.size()).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<AuditLog>,
    entries: Vec<Vec<u8>>,
}

const N: u64 = 1500;

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap());
        let entries = fill(&rt(), &log, 0, N);
        assert_eq!(entries.len() as u64, N);
        Fixture {
            _dir: dir,
            log,
            entries,
        }
    })
}

fn naive_root(leaves: &[Hash]) -> Hash {
    let mut cr = merkle::CompactRange::new();
    for l in leaves {
        cr.push(*l, |_| {});
    }
    cr.root()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_proofs_from_storage_verify_and_any_flipped_bit_fails(size in 1..=N, idx_seed in any::<u64>(), bit in 0usize..256) {
        let f = fixture();
        let index = idx_seed % size;
        let root = f.log.root_at(size).unwrap();
        let leaves: Vec<Hash> = f.entries[..size as usize].iter().map(|e| merkle::leaf_hash(e)).collect();
        prop_assert_eq!(root, naive_root(&leaves));
        let leaf = merkle::leaf_hash(&f.entries[index as usize]);
        let proof = f.log.inclusion_proof(index, size).unwrap();
        prop_assert!(merkle::verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
        // Flip one bit in one proof element.
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let which = (idx_seed as usize / 7) % bad.len();
            bad[which][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(merkle::verify_inclusion(index, size, &leaf, &bad, &root).is_err());
        }
        // Flip one bit of the leaf, or of the root.
        let mut bad_leaf = leaf;
        bad_leaf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_inclusion(index, size, &bad_leaf, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_inclusion(index, size, &leaf, &proof, &bad_root).is_err());
        // The proof does not fit another index.
        if size > 1 {
            let other = (index + 1) % size;
            prop_assert!(merkle::verify_inclusion(other, size, &leaf, &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_from_storage_verify_and_any_flipped_bit_fails(new in 1..=N, old_seed in any::<u64>(), bit in 0usize..256) {
        let f = fixture();
        let old = 1 + old_seed % new;
        let (old_root, new_root) = (f.log.root_at(old).unwrap(), f.log.root_at(new).unwrap());
        let proof = f.log.consistency_proof(old, new).unwrap();
        prop_assert!(merkle::verify_consistency(old, new, &proof, &old_root, &new_root).is_ok());
        for p in 0..proof.len() {
            let mut bad = proof.clone();
            bad[p][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(merkle::verify_consistency(old, new, &bad, &old_root, &new_root).is_err());
        }
        let mut bad_old = old_root;
        bad_old[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_consistency(old, new, &proof, &bad_old, &new_root).is_err());
        let mut bad_new = new_root;
        bad_new[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(merkle::verify_consistency(old, new, &proof, &old_root, &bad_new).is_err());
    }

    #[test]
    fn proofs_match_ct_merkle_byte_for_byte(leaves in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..200), seed in any::<u64>()) {
        let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        let hashes: Vec<Hash> = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
        for l in &leaves {
            ct.push(l.clone());
        }
        let n = leaves.len() as u64;
        let mut store = |level: u32, i: u64| -> Result<Hash, ()> {
            let s = (i << level) as usize;
            Ok(naive_root(&hashes[s..s + (1usize << level)]))
        };
        let root = merkle::subtree_root(0, n, &mut store).unwrap();
        let ct_root = ct.root();
        prop_assert_eq!(&root[..], &ct_root.as_bytes()[..]);
        let index = seed % n;
        let ours: Vec<u8> = merkle::inclusion_proof(index, n, &mut store).unwrap().concat();
        let ct_proof = ct.prove_inclusion(index as usize);
        prop_assert_eq!(&ours[..], ct_proof.as_bytes());
        let old = 1 + (seed / 3) % n;
        if old < n {
            let ours: Vec<u8> = merkle::consistency_proof(old, n, &mut store).unwrap().concat();
            let ct_proof = ct.prove_consistency((n - old) as usize);
            prop_assert_eq!(&ours[..], ct_proof.as_bytes());
        }
    }
}

#[test]
fn storage_proofs_match_ct_merkle_on_the_real_log() {
    let f = fixture();
    let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    for e in &f.entries {
        ct.push(e.clone());
    }
    assert_eq!(&f.log.root_at(N).unwrap()[..], &ct.root().as_bytes()[..]);
    for index in [0, 1, 511, 512, 1023, 1024, N - 1] {
        assert_eq!(
            f.log.inclusion_proof(index, N).unwrap().concat(),
            ct.prove_inclusion(index as usize).as_bytes()
        );
    }
}

#[test]
fn receipt_verifies_offline_and_fails_for_another_entry() {
    let f = fixture();
    let rt = rt();
    let text = rt.block_on(f.log.receipt(1234)).unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "));
    assert!(text.contains("\nindex 1234\n"));
    let (r, _) = receipt::verify_with_extra(&text, f.log.verifier_key(), &[], 0).unwrap();
    assert_eq!(r.extra.as_deref(), Some(&f.entries[1234][..]));
    let (r, vc) = receipt::verify(&text, &f.entries[1234], f.log.verifier_key(), &[], 0).unwrap();
    assert_eq!(r.index, 1234);
    assert!(vc.checkpoint.size > 1234);
    assert!(matches!(
        receipt::verify(&text, &f.entries[1233], f.log.verifier_key(), &[], 0),
        Err(receipt::ReceiptError::Proof(_))
    ));
    assert!(matches!(
        receipt::verify(&text, &f.entries[1234], f.log.verifier_key(), &[], 1),
        Err(receipt::ReceiptError::Cosignatures { have: 0, need: 1 })
    ));
}

#[test]
fn checkpoint_follows_new_entries_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let log = Arc::new(AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap());
    assert_eq!(log.checkpoint().unwrap().checkpoint.size, 0);
    let mut watch = log.subscribe();
    fill(&rt, &log, 0, 3);
    let cp = rt.block_on(async {
        // The bound is a hang guard, not a timing assertion.
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(cp) = watch.borrow_and_update().clone() {
                    if cp.checkpoint.size == 3 {
                        return cp;
                    }
                }
                watch.changed().await.unwrap();
            }
        })
        .await
        .unwrap()
    });
    let vc = verify_checkpoint(&cp.text, log.verifier_key(), &[]).unwrap();
    assert_eq!(vc.checkpoint.root, log.root_at(3).unwrap());
}

#[test]
fn reopening_keeps_entries_root_and_the_signed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let (text, root, entries) = {
        let log = Arc::new(AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap());
        let entries = fill(&rt, &log, 0, 100);
        let cp = rt.block_on(log.checkpoint_now()).unwrap();
        (cp.text.clone(), log.root_at(100).unwrap(), entries)
    };
    let log = Arc::new(AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap());
    assert_eq!(log.size(), 100);
    assert_eq!(log.checkpoint().unwrap().text, text);
    assert_eq!(log.root_at(100).unwrap(), root);
    assert_eq!(log.entries(0, 100).unwrap(), entries);
    let more = fill(&rt, &log, 100, 50);
    let cp = rt.block_on(log.checkpoint_now()).unwrap();
    assert_eq!(cp.checkpoint.size, 150);
    let proof = log.consistency_proof(100, 150).unwrap();
    merkle::verify_consistency(100, 150, &proof, &root, &cp.checkpoint.root).unwrap();
    assert_eq!(&more[..100], &entries[..]);
}

#[test]
fn a_full_queue_is_refused_with_busy_instead_of_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let opts = LogOptions {
        queue_capacity: 1,
        max_batch: 1,
        ..LogOptions::default()
    };
    let log = Arc::new(AuditLog::open(dir.path(), key(), opts).unwrap());
    let results = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..500 {
            let log = log.clone();
            handles.push(tokio::spawn(async move { log.append(&event(i)).await }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    let busy = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(AuditError::Busy {
                    retry_after_secs: 1
                })
            )
        })
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        busy > 0,
        "a queue of one must overflow under 500 concurrent appends"
    );
    assert_eq!(ok + busy, 500);
    assert_eq!(
        log.size(),
        ok as u64,
        "refused appends leave nothing behind"
    );
}

#[test]
fn no_event_type_ever_stores_a_name_id_number_or_phone() {
    // A person as a caseworker sees them; only the person_key may reach the log.
    let (name, id_number, phone) = ("张三", "11010519491231002X", "13800138000");
    let person_key = hex::encode(merkle::leaf_hash(id_number.as_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let log = Arc::new(AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap());
    for (i, action) in Action::ALL.iter().enumerate() {
        let actor = Actor {
            sub: "cw-1".into(),
            role: "caseworker".into(),
            region: Some("440000".into()),
            peer_member: Some("510000".into()),
        };
        let mut e = AuditEvent::new("440000", format!("req-{i}"), actor, *action, Outcome::Ok);
        e.purpose = Some("employment-service".into());
        e.legal_basis = Some("employment-promotion-law-art-11".into());
        e.dataset = Some("job_seeker_registration".into());
        e.query_digest = Some(hex::encode(merkle::leaf_hash(b"{}")));
        e.person_key = Some(person_key.clone());
        e.batch_id = Some(hex::encode([1u8; 32]));
        e.counts.insert("accepted".into(), 3);
        rt.block_on(log.append(&e)).unwrap();
        // The same event with a protected value slipped into any free-form field is refused.
        for bad in [id_number, phone] {
            let mut leaky = e.clone();
            leaky.reason = Some(format!("lookup {bad}"));
            assert!(matches!(
                rt.block_on(log.append(&leaky)),
                Err(AuditError::Event(_))
            ));
        }
    }
    rt.block_on(log.checkpoint_now()).unwrap();
    log.close();
    for file in walk(dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [name, id_number, phone, "110105194912310"] {
            assert!(
                !text.contains(secret),
                "{secret} found in {}",
                file.display()
            );
        }
    }
    assert_eq!(log.size(), Action::ALL.len() as u64);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn a_failed_write_stops_the_log_instead_of_acknowledging() {
    // Fault injection: entries.log is /dev/full, so every write fails with ENOSPC.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.path().join("entries.log")).unwrap();
    let rt = rt();
    let log = AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap();
    let first = rt.block_on(log.append(&event(0)));
    assert!(
        matches!(first, Err(AuditError::Failed(ref m)) if m.contains("write failed")),
        "{first:?}"
    );
    // Nothing was acknowledged or integrated, and later appends are refused without writing.
    assert!(matches!(
        rt.block_on(log.append(&event(1))),
        Err(AuditError::Failed(_))
    ));
    assert_eq!(log.size(), 0);
    assert_eq!(log.checkpoint().unwrap().checkpoint.size, 0);
}

#[test]
fn a_cosigning_key_cannot_sign_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let w = SigningKey::from_seed("pes.example/440000", KeyType::Cosignature, [1; 32]).unwrap();
    assert!(matches!(
        AuditLog::open(dir.path(), w, LogOptions::default()),
        Err(AuditError::Note(_))
    ));
}
