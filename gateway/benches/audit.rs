//! Audit log benchmark: each figure is printed beside its floor, measured in the same run.
//!
//! `cargo bench -p pes-gateway --bench audit` (set `AUDIT_BENCH_N` to change the log size,
//! default 1,000,000; `AUDIT_BENCH_DIR` to put the log on another disk; `AUDIT_BENCH_KEEP=1` to
//! keep the log for profiling `pesgw audit verify --dir`).
//!
//! - durable appends/s (group commit, C concurrent callers) vs. the floor: SHA-256 of the same
//!   canonical bytes + one write + fdatasync per batch of the same average size;
//! - warm inclusion proof at size N vs. the floor: the same number of 32-byte preads and
//!   SHA-256 node hashes;
//! - full offline verification (entries/s) vs. the floor: sequential read of `entries.log` and
//!   SHA-256 of every entry.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pes_gateway::audit::merkle;
use pes_gateway::audit::verify::{self, DirSource, Policy};
use pes_gateway::audit::{Action, Actor, AuditEvent, AuditLog, LogOptions, Outcome, PeerReceipt};
use pes_gateway::signed_note::{KeyType, SigningKey};

const CONCURRENCY: u64 = 512;

fn event(i: u64) -> AuditEvent {
    let actor = Actor {
        sub: format!("analyst-{}", i % 97),
        role: "analyst".into(),
        region: Some("440000".into()),
        peer_member: None,
    };
    let mut e = AuditEvent::new(
        "440000",
        format!("req-{i:012}"),
        actor,
        Action::QueryAggregate,
        Outcome::Ok,
    );
    e.purpose = Some("labour-market-statistics".into());
    e.legal_basis = Some("statistics-law-art-7".into());
    e.dataset = Some("vacancy".into());
    e.query_digest = Some(hex::encode(merkle::leaf_hash(&i.to_le_bytes())));
    e.counts.insert("cells".into(), 120);
    e.counts.insert("suppressed".into(), 4);
    for region in ["510000", "320000"] {
        e.peer_receipts.push(PeerReceipt {
            region: region.into(),
            status: "ok".into(),
            log_origin: Some(format!("pes.example/{region}")),
            index: Some(i),
            leaf_hash: Some(hex::encode(merkle::leaf_hash(region.as_bytes()))),
        });
    }
    e
}

/// CPU seconds (user + system) used by this process so far, from /proc/self/stat.
fn cpu_time() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// The 1-minute load average, to judge how much the other processes on the machine disturbed
/// a run.
fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let n: u64 = std::env::var("AUDIT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = std::env::var("AUDIT_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let tmp = tempfile::tempdir_in(&base).expect("bench dir");
    let dir = tmp.path().join("log");
    let key = SigningKey::from_seed("pes.example/440000", KeyType::Ed25519, [1; 32]).expect("key");
    let vkey = key.verifier().clone();
    println!(
        "audit bench: N = {n}, {CONCURRENCY} concurrent appenders, dir {}",
        dir.display()
    );

    // 1. Durable appends through the real API (canonical JSON, queue, group commit, integrate).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let log = Arc::new(AuditLog::open(&dir, key, LogOptions::default()).expect("open"));
    let (start, cpu0) = (Instant::now(), cpu_time());
    rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..CONCURRENCY {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = t;
                while i < n {
                    loop {
                        match log.append(&event(i)).await {
                            Ok(_) => break,
                            Err(pes_gateway::audit::AuditError::Busy { .. }) => {
                                tokio::task::yield_now().await
                            }
                            Err(e) => panic!("append failed: {e}"),
                        }
                    }
                    i += CONCURRENCY;
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    });
    let (append_time, append_cpu) = (start.elapsed(), cpu_time() - cpu0);
    let stats = log.stats();
    assert_eq!(stats.size, n);
    let avg_batch = stats.appended as f64 / stats.batches as f64;
    rt.block_on(log.checkpoint_now()).expect("checkpoint");

    // Floor: the same bytes, SHA-256 each, one write + fdatasync per batch of the same size.
    let payloads: Vec<Vec<u8>> = (0..n)
        .map(|i| event(i).to_canonical_json().expect("event"))
        .collect();
    let bytes: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    let batch = avg_batch.round().max(1.0) as usize;
    let floor_path = tmp.path().join("floor.bin");
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&floor_path)
        .expect("floor file");
    let start = Instant::now();
    let mut buf = Vec::with_capacity(batch * 600);
    let mut sink = 0u8;
    for chunk in payloads.chunks(batch) {
        buf.clear();
        for p in chunk {
            sink ^= merkle::leaf_hash(p)[0];
            buf.extend_from_slice(p);
        }
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fdatasync");
    }
    let floor_time = start.elapsed();
    drop(f);
    println!();
    println!("durable appends: {:>10.0} /s  ({n} appends in {:.2?}, {} fdatasyncs, avg batch {avg_batch:.1}; {:.2} CPU-s incl. building the events)",
        per_sec(n, append_time), append_time, stats.batches, append_cpu);
    println!("  floor (SHA-256 + write + fdatasync, batch {batch}): {:>10.0} /s  ({:.2?}; {:.0} B/entry) [sink {sink}]",
        per_sec(n, floor_time), floor_time, bytes as f64 / n as f64);
    println!("  target >= 20,000 /s (load avg {})", load_avg());

    // 2. Inclusion proofs, warm, at size n.
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let root = log.root_at(n).expect("root");
    for _ in 0..10_000 {
        log.inclusion_proof(next(), n).expect("warm-up");
    }
    let proofs = 200_000u64;
    let mut lat = Vec::with_capacity(proofs as usize);
    let mut proof_len = 0usize;
    let start = Instant::now();
    for _ in 0..proofs {
        let t = Instant::now();
        let p = log.inclusion_proof(next(), n).expect("proof");
        lat.push(t.elapsed());
        proof_len = p.len();
    }
    let total = start.elapsed();
    lat.sort();
    // Spot-check correctness outside the timed loop.
    let i = next();
    let p = log.inclusion_proof(i, n).expect("proof");
    let stored = log.entries(i, i + 1).expect("entry");
    merkle::verify_inclusion(i, n, &merkle::leaf_hash(&stored[0]), &p, &root)
        .expect("proof verifies");

    // Floor: the same number of 32-byte preads from a warm file plus the same number of
    // SHA-256 node hashes.
    let level0 = File::open(dir.join("tree/level-00.hash")).expect("level file");
    let mut h = [0u8; 32];
    let start = Instant::now();
    for _ in 0..proofs {
        let mut acc = [0u8; 32];
        for _ in 0..proof_len {
            level0.read_exact_at(&mut h, next() * 32).expect("pread");
            acc = merkle::node_hash(&acc, &h);
        }
        sink ^= acc[0];
    }
    let floor = start.elapsed();
    println!();
    println!(
        "inclusion proof at size {n}: mean {:.2?}, p50 {:.2?}, p99 {:.2?} ({proof_len} hashes)",
        total / proofs as u32,
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
    println!(
        "  floor ({proof_len} x (32-byte pread + SHA-256 node hash)): mean {:.2?} [sink {sink}]",
        floor / proofs as u32
    );
    println!("  target <= 50 us");
    log.close();
    drop(payloads);

    // 3. Full offline verification, as `pesgw audit verify --dir` runs it.
    let policy = Policy {
        log_key: vkey,
        witness_keys: vec![],
        min_cosignatures: 0,
    };
    let (start, cpu0) = (Instant::now(), cpu_time());
    let mut src = DirSource::open(&dir).expect("dir source");
    let report = verify::verify_log(&mut src, &policy, None, |_, _| {}).expect("verification");
    let (vtime, vcpu) = (start.elapsed(), cpu_time() - cpu0);
    assert_eq!(report.entries, n);
    // Floor: read entries.log sequentially and SHA-256 every entry (no framing, no tree).
    let (start, cpu0) = (Instant::now(), cpu_time());
    let mut file = File::open(dir.join("entries.log")).expect("entries.log");
    let mut chunk = vec![0u8; 1 << 20];
    let mut pending: Vec<u8> = Vec::new();
    let mut hashed = 0u64;
    loop {
        let k = file.read(&mut chunk).expect("read");
        if k == 0 {
            break;
        }
        pending.extend_from_slice(&chunk[..k]);
        let mut pos = 0;
        while pending.len() - pos >= 8 {
            let len =
                u32::from_le_bytes(pending[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            if pending.len() - pos < 8 + len {
                break;
            }
            sink ^= merkle::leaf_hash(&pending[pos + 8..pos + 8 + len])[0];
            hashed += 1;
            pos += 8 + len;
        }
        pending.drain(..pos);
    }
    let (vfloor, fcpu) = (start.elapsed(), cpu_time() - cpu0);
    assert_eq!(hashed, n);
    println!();
    println!(
        "full verification: {:>10.0} entries/s ({n} entries in {:.2?}; {:.2} CPU-s, load avg {})",
        per_sec(n, vtime),
        vtime,
        vcpu,
        load_avg()
    );
    println!(
        "  floor (sequential read + SHA-256 per entry): {:>10.0} entries/s ({:.2?}; {:.2} CPU-s) [sink {sink}]",
        per_sec(n, vfloor),
        vfloor,
        fcpu
    );
    println!("  target >= 1,000,000 entries/s");
    if std::env::var("AUDIT_BENCH_KEEP").is_ok() {
        println!(
            "kept log at {} (verifier key {})",
            dir.display(),
            policy.log_key
        );
        std::mem::forget(tmp);
    }
}
