//! SIGKILL during appends, then restart: every acknowledged entry survives, and the log stays
//! consistent with every checkpoint it ever signed (never two roots for one size).
//!
//! The test re-runs its own binary as the child process (`AUDIT_CRASH_CHILD_DIR` set), which
//! appends as fast as it can and prints every checkpoint it publishes and every append it got
//! acknowledged; the parent kills it with SIGKILL at varying moments and reopens the log.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pes_gateway::audit::checkpoint::verify_checkpoint;
use pes_gateway::audit::merkle;
use pes_gateway::audit::{Action, Actor, AuditEvent, AuditLog, LogOptions, Outcome};
use pes_gateway::signed_note::{KeyType, SigningKey};

const CHILD_ENV: &str = "AUDIT_CRASH_CHILD_DIR";

fn key() -> SigningKey {
    SigningKey::from_seed("pes.example/crash", KeyType::Ed25519, [7; 32]).unwrap()
}

fn event(i: u64) -> AuditEvent {
    let actor = Actor {
        sub: "pusher-1".into(),
        role: "pusher".into(),
        region: Some("510000".into()),
        peer_member: None,
    };
    let mut e = AuditEvent::new(
        "510000",
        format!("crash-{i}"),
        actor,
        Action::IngestPush,
        Outcome::Ok,
    );
    e.counts.insert("accepted".into(), i);
    e
}

/// The child: appends forever, printing `ACK <index>` and `CP <base64 checkpoint>` lines. Not a
/// test of its own (it is ignored, so it cannot pass by doing nothing): the parent below runs it
/// with `--ignored --exact crash_child` in a child process, and it refuses to run without the
/// directory the parent gives it.
#[test]
#[ignore = "the crash test's child process, run by sigkill_during_appends_keeps_every_ack_and_every_signed_checkpoint"]
fn crash_child() {
    let dir = std::env::var(CHILD_ENV)
        .expect("crash_child is the crash test's child process: run the crash test instead");
    let log =
        Arc::new(AuditLog::open(std::path::Path::new(&dir), key(), LogOptions::default()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut watch = log.subscribe();
        tokio::spawn(async move {
            loop {
                if let Some(cp) = watch.borrow_and_update().clone() {
                    println!("CP {}", B64.encode(&cp.text));
                }
                if watch.changed().await.is_err() {
                    return;
                }
            }
        });
        let mut i = 0u64;
        loop {
            let mut handles = Vec::new();
            for _ in 0..64 {
                let log = log.clone();
                let n = i;
                i += 1;
                handles.push(tokio::spawn(async move { log.append(&event(n)).await }));
            }
            for h in handles {
                if let Ok(Ok(r)) = h.await {
                    println!("ACK {}", r.index);
                }
            }
            if i.is_multiple_of(640) {
                let cp = log.checkpoint_now().await.unwrap();
                println!("CP {}", B64.encode(&cp.text));
            }
        }
    });
}

#[test]
fn sigkill_during_appends_keeps_every_ack_and_every_signed_checkpoint() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut checkpoints: Vec<String> = Vec::new();
    let mut max_ack: Option<u64> = None;
    for round in 0..4u64 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill after a varying number of acknowledged appends and checkpoints.
        let want_acks = 300 + round * 700;
        let mut acks = 0u64;
        let mut cps_this_round = 0;
        while acks < want_acks || cps_this_round < 2 {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("child stopped producing output");
            if let Some(n) = line.strip_prefix("ACK ") {
                let n: u64 = n.parse().unwrap();
                max_ack = Some(max_ack.map_or(n, |m| m.max(n)));
                acks += 1;
            } else if let Some(b) = line.strip_prefix("CP ") {
                checkpoints.push(String::from_utf8(B64.decode(b).unwrap()).unwrap());
                cps_this_round += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines already printed before the kill still count.
        for line in rx.try_iter() {
            if let Some(n) = line.strip_prefix("ACK ") {
                let n: u64 = n.parse().unwrap();
                max_ack = Some(max_ack.map_or(n, |m| m.max(n)));
            } else if let Some(b) = line.strip_prefix("CP ") {
                checkpoints.push(String::from_utf8(B64.decode(b).unwrap()).unwrap());
            }
        }
        reader.join().unwrap();

        let log = AuditLog::open(dir.path(), key(), LogOptions::default()).unwrap();
        let size = log.size();
        let acked = max_ack.unwrap();
        assert!(
            size > acked,
            "round {round}: acknowledged entry {acked} lost (log size {size})"
        );
        let latest = log.checkpoint().unwrap();
        for text in checkpoints.iter().chain(std::iter::once(&latest.text)) {
            let cp = verify_checkpoint(text, log.verifier_key(), &[])
                .unwrap()
                .checkpoint;
            assert!(
                cp.size <= size,
                "round {round}: signed size {} beyond log size {size}",
                cp.size
            );
            assert_eq!(
                log.root_at(cp.size).unwrap(),
                cp.root,
                "round {round}: log diverges from checkpoint {}",
                cp.size
            );
            if cp.size > 0 {
                let proof = log.consistency_proof(cp.size, size).unwrap();
                merkle::verify_consistency(
                    cp.size,
                    size,
                    &proof,
                    &cp.root,
                    &log.root_at(size).unwrap(),
                )
                .unwrap();
            }
        }
        // Every entry is intact (CRC-checked) and parses.
        for e in log.entries(0, size).unwrap() {
            AuditEvent::from_json(&e).unwrap();
        }
        log.close();
    }
    assert!(
        checkpoints.len() >= 8,
        "expected checkpoints from every round, got {}",
        checkpoints.len()
    );
}
