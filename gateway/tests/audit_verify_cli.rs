//! `pesgw audit verify` against a log directory and a live gateway: an intact log passes and
//! saves its state; a changed, dropped or swapped entry fails and names the entry; a fork
//! against the saved state prints both checkpoints and exits 3; receipts verify.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use pes_gateway::audit::api::{configure, AuditApi};
use pes_gateway::audit::storage::{decode_frame, encode_frame, Frame};
use pes_gateway::audit::{Action, Actor, AuditEvent, AuditLog, LogOptions, Outcome};
use pes_gateway::signed_note::{KeyType, SigningKey};

const N: u64 = 50;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed("pes.example/440000", KeyType::Ed25519, [seed; 32]).unwrap()
}

fn event(i: u64, tag: &str) -> AuditEvent {
    let actor = Actor {
        sub: "auditor-1".into(),
        role: "auditor".into(),
        region: None,
        peer_member: None,
    };
    AuditEvent::new(
        "440000",
        format!("{tag}-{i:04}"),
        actor,
        Action::AuditRead,
        Outcome::Ok,
    )
}

fn make_log(dir: &Path, n: u64, tag: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = AuditLog::open(dir, key(1), LogOptions::default()).unwrap();
    rt.block_on(async {
        for i in 0..n {
            log.append(&event(i, tag)).await.unwrap();
        }
        log.checkpoint_now().await.unwrap();
    });
    log.verifier_key().to_string()
}

fn pesgw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn verify_dir(dir: &Path, vkey: &str, state: Option<&Path>) -> Output {
    let d = dir.to_str().unwrap();
    let mut args = vec!["audit", "verify", "--dir", d, "--key", vkey];
    if let Some(s) = state {
        args.extend(["--state", s.to_str().unwrap()]);
    }
    pesgw(&args)
}

/// Rewrites `entries.log` through `edit`, re-framing every entry with a valid CRC so only the
/// Merkle check can notice.
fn rewrite_entries(dir: &Path, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let path = dir.join("entries.log");
    let bytes = std::fs::read(&path).unwrap();
    let mut entries = Vec::new();
    let mut pos = 0;
    while let Frame::Ok(p, n) = decode_frame(&bytes[pos..]) {
        entries.push(p.to_vec());
        pos += n;
    }
    edit(&mut entries);
    let mut out = Vec::new();
    for e in &entries {
        encode_frame(e, &mut out);
    }
    std::fs::write(&path, out).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target)
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

struct Scenario {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    vkey: String,
}

fn scenario() -> Scenario {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let vkey = make_log(&dir, N, "req");
    Scenario {
        _tmp: tmp,
        dir,
        vkey,
    }
}

#[test]
fn intact_log_verifies_and_the_state_is_checked_next_time() {
    let s = scenario();
    let state = s.dir.parent().unwrap().join("state");
    let o = verify_dir(&s.dir, &s.vkey, Some(&state));
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("OK: log pes.example/440000 size {N}")));
    assert!(std::fs::read_to_string(&state)
        .unwrap()
        .starts_with("pes.example/440000\n50\n"));
    // The log grows; the next run checks it against the saved checkpoint.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let log = AuditLog::open(&s.dir, key(1), LogOptions::default()).unwrap();
    rt.block_on(async {
        log.append(&event(N, "req")).await.unwrap();
        log.checkpoint_now().await.unwrap();
    });
    log.close();
    let o = verify_dir(&s.dir, &s.vkey, Some(&state));
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("consistent with saved size 50"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_changed_entry_fails_and_is_named() {
    let s = scenario();
    rewrite_entries(&s.dir, |e| {
        let text = String::from_utf8(e[17].clone())
            .unwrap()
            .replace("req-0017", "req-9999");
        e[17] = text.into_bytes();
    });
    let o = verify_dir(&s.dir, &s.vkey, None);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("entry 17 differs"), "{}", stdout(&o));
}

#[test]
fn a_corrupted_frame_fails_with_its_index() {
    let s = scenario();
    let path = s.dir.join("entries.log");
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a byte in the middle of entry 30 without fixing its CRC.
    let mut pos = 0;
    for _ in 0..30 {
        let Frame::Ok(_, n) = decode_frame(&bytes[pos..]) else {
            panic!()
        };
        pos += n;
    }
    bytes[pos + 20] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let o = verify_dir(&s.dir, &s.vkey, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("entry 30: CRC mismatch"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_dropped_entry_fails_and_is_named() {
    let s = scenario();
    rewrite_entries(&s.dir, |e| {
        e.remove(23);
    });
    let o = verify_dir(&s.dir, &s.vkey, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("entry 23 differs"), "{}", stdout(&o));
}

#[test]
fn a_dropped_last_entry_is_reported_missing() {
    let s = scenario();
    rewrite_entries(&s.dir, |e| {
        e.pop();
    });
    let o = verify_dir(&s.dir, &s.vkey, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("entries from index 49 are missing"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn swapped_entries_fail_and_the_first_is_named() {
    let s = scenario();
    rewrite_entries(&s.dir, |e| e.swap(5, 31));
    let o = verify_dir(&s.dir, &s.vkey, None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("entry 5 differs"), "{}", stdout(&o));
}

#[test]
fn a_fork_prints_both_checkpoints_and_exits_3() {
    let s = scenario();
    let state = s.dir.parent().unwrap().join("state");
    assert!(verify_dir(&s.dir, &s.vkey, Some(&state)).status.success());
    let saved = std::fs::read_to_string(&state).unwrap();
    // Same key, different history: a second log with other entries.
    let other = s.dir.parent().unwrap().join("other");
    make_log(&other, N + 10, "forked");
    let o = verify_dir(&other, &s.vkey, Some(&state));
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("FORK"));
    assert!(out.contains(&saved), "saved checkpoint printed as evidence");
    assert!(out.contains(&std::fs::read_to_string(other.join("checkpoint")).unwrap()));
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        saved,
        "state is not overwritten on a fork"
    );
}

#[test]
fn wrong_key_or_missing_cosignatures_fail() {
    let s = scenario();
    let other = SigningKey::from_seed("pes.example/440000", KeyType::Ed25519, [2; 32]).unwrap();
    let o = verify_dir(&s.dir, &other.verifier().to_string(), None);
    assert_eq!(o.status.code(), Some(1));
    let w = SigningKey::from_seed("w", KeyType::Cosignature, [5; 32]).unwrap();
    let wk = w.verifier().to_string();
    let o = pesgw(&[
        "audit",
        "verify",
        "--dir",
        s.dir.to_str().unwrap(),
        "--key",
        &s.vkey,
        "--witness-key",
        &wk,
        "--min-cosignatures",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("0 valid witness cosignatures, 1 required"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn verify_over_http_names_a_tampered_entry_and_receipts_verify() {
    let s = scenario();
    let copy = s.dir.parent().unwrap().join("served");
    copy_dir(&s.dir, &copy);
    rewrite_entries(&copy, |e| {
        let text = String::from_utf8(e[41].clone())
            .unwrap()
            .replace("req-0041", "req-4141");
        e[41] = text.into_bytes();
    });
    for (dir, want) in [(&s.dir, None), (&copy, Some("entry 41 differs"))] {
        let log = Arc::new(AuditLog::open(dir, key(1), LogOptions::default()).unwrap());
        let (url, handle, thread) = serve(log.clone());
        let o = pesgw(&["audit", "verify", "--url", &url, "--key", &s.vkey]);
        match want {
            None => {
                assert!(o.status.success(), "{}", stdout(&o));
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let receipt = rt.block_on(log.receipt(12)).unwrap();
                let f = dir.parent().unwrap().join("r.tlog-proof");
                std::fs::write(&f, &receipt).unwrap();
                let o = pesgw(&[
                    "audit",
                    "receipt",
                    "verify",
                    f.to_str().unwrap(),
                    "--key",
                    &s.vkey,
                ]);
                assert!(o.status.success(), "{}", stdout(&o));
                assert!(stdout(&o).contains("OK: entry 12 is in log pes.example/440000"));
                std::fs::write(&f, receipt.replace("index 12", "index 13")).unwrap();
                let o = pesgw(&[
                    "audit",
                    "receipt",
                    "verify",
                    f.to_str().unwrap(),
                    "--key",
                    &s.vkey,
                ]);
                assert_eq!(o.status.code(), Some(1));
            }
            Some(want) => {
                assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
                assert!(stdout(&o).contains(want), "{}", stdout(&o));
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(handle.stop(true));
        thread.join().unwrap();
    }
}

fn serve(
    log: Arc<AuditLog>,
) -> (
    String,
    actix_web::dev::ServerHandle,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let api = actix_web::web::Data::new(
                AuditApi::new(log, None).with_access(Arc::new(|_, _| Ok(()))),
            );
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new()
                    .app_data(api.clone())
                    .configure(configure)
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            let srv = server.run();
            tx.send((addr, srv.handle())).unwrap();
            srv.await.unwrap();
        });
    });
    let (addr, handle) = rx.recv().unwrap();
    (format!("http://{addr}"), handle, thread)
}
