//! Golden log: fixed events written through the real log must produce byte-identical entries
//! and, for every size, the committed signed checkpoint. This pins the canonical JSON, the
//! Merkle hashing and the checkpoint/signature format. Regenerate (only for an intended format
//! change) with `UPDATE_GOLDEN=1 cargo test -p pes-gateway --test audit_golden`.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pes_gateway::audit::{
    Action, Actor, AuditEvent, AuditLog, Checkpoint, LogOptions, Outcome, PeerReceipt,
};
use pes_gateway::signed_note::{KeyType, SigningKey};

const N: u64 = 24;

/// Actions the golden log cycles through.
const GOLDEN_ACTIONS: usize = 12;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit-golden")
}

fn key() -> SigningKey {
    SigningKey::from_seed("pes.example/golden", KeyType::Ed25519, [0x5a; 32]).unwrap()
}

fn event(i: u64) -> AuditEvent {
    // The golden log was cut when there were 12 actions; later ones are appended to
    // `Action::ALL`, so the first 12 keep its bytes.
    let action = Action::ALL[(i as usize) % GOLDEN_ACTIONS];
    let actor = Actor {
        sub: format!("user-{}", i % 4),
        role: ["pusher", "analyst", "caseworker", "auditor"][(i % 4) as usize].into(),
        region: Some("440000".into()),
        peer_member: i.is_multiple_of(3).then(|| "510000".to_string()),
    };
    let outcome = [
        Outcome::Ok,
        Outcome::Partial,
        Outcome::Denied,
        Outcome::Invalid,
        Outcome::Error,
    ][(i % 5) as usize];
    let mut e = AuditEvent::new("440000", format!("golden-{i:03}"), actor, action, outcome);
    e.time = format!("2026-01-01T00:00:{:02}.000Z", i);
    if i.is_multiple_of(2) {
        e.purpose = Some("employment-service".into());
        e.legal_basis = Some("employment-promotion-law".into());
    }
    e.counts.insert("rows".into(), i * 10);
    if action == Action::PersonLookup {
        e.person_key = Some(format!("pk-{i:04}"));
    }
    if i % 4 == 1 {
        e.peer_receipts.push(PeerReceipt {
            region: "510000".into(),
            status: "ok".into(),
            log_origin: Some("pes.example/510000".into()),
            index: Some(i),
            leaf_hash: None,
        });
    }
    e
}

#[test]
fn golden_log_entries_and_checkpoints_are_stable() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap();
    for i in 0..N {
        let r = rt.block_on(log.append(&event(i))).unwrap();
        assert_eq!(r.index, i);
    }
    let mut ndjson = Vec::new();
    for e in log.entries(0, N).unwrap() {
        ndjson.extend_from_slice(&e);
        ndjson.push(b'\n');
    }
    let mut checkpoints = String::new();
    for size in 1..=N {
        let cp = Checkpoint {
            origin: "pes.example/golden".into(),
            size,
            root: log.root_at(size).unwrap(),
        };
        checkpoints.push_str(&format!(
            "{size} {}\n",
            B64.encode(cp.sign(&key()).unwrap())
        ));
    }
    let (entries_path, cps_path) = (
        fixture_dir().join("entries.ndjson"),
        fixture_dir().join("checkpoints.txt"),
    );
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&entries_path, &ndjson).unwrap();
        std::fs::write(&cps_path, &checkpoints).unwrap();
        std::fs::write(
            fixture_dir().join("log.vkey"),
            format!("{}\n", key().verifier()),
        )
        .unwrap();
    }
    let want_entries =
        std::fs::read(&entries_path).expect("golden entries missing: run with UPDATE_GOLDEN=1");
    assert_eq!(
        String::from_utf8(ndjson).unwrap(),
        String::from_utf8(want_entries).unwrap()
    );
    assert_eq!(checkpoints, std::fs::read_to_string(&cps_path).unwrap());
    // The published checkpoint of the full log is the golden one for size N.
    let latest = rt.block_on(log.checkpoint_now()).unwrap();
    let last_line = checkpoints.lines().last().unwrap();
    assert_eq!(
        B64.encode(&latest.text),
        last_line.split_once(' ').unwrap().1
    );
    assert_eq!(
        std::fs::read_to_string(fixture_dir().join("log.vkey"))
            .unwrap()
            .trim(),
        key().verifier().to_string()
    );
}
