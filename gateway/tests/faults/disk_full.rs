//! Disk full during ingest: the gateway's journal directory is a small tmpfs (mounted by the
//! test, which runs as root here and in CI) that a filler file fills up while batches are pushed.
//! Pushes are then refused with 507 `insufficient-storage` and `Retry-After`, nothing
//! acknowledged is lost, no partial frame is left in the journal, and ingest resumes by itself
//! once the filler is deleted. Where mounting is not possible (not root), the test says so and
//! uses the journal's injected-ENOSPC fault instead (`PESGW_FAULT_ENOSPC_WHILE`): the marker file
//! plays the filler.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use pes_gateway::auth::Role;
use pes_gateway::ingest::journal;

use pes_testkit::{pesgw, TestGateway};

use crate::harness::{valid_batch, DATASETS};

/// A tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs {
            dir: dir.to_owned(),
        })
    }

    /// Bytes still free on the file system.
    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.dir.to_str().unwrap()).unwrap();
        // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut s) };
        assert_eq!(rc, 0, "statvfs {}", self.dir.display());
        s.f_bavail * s.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// How the disk is made full.
enum Full {
    /// A real tmpfs; the filler takes all but a little of it.
    Tmpfs { _fs: Tmpfs, filler: PathBuf },
    /// Injected ENOSPC while the marker exists.
    Injected { marker: PathBuf },
}

impl Full {
    /// Leaves about `headroom` bytes for the journal.
    fn fill(&self, headroom: u64) {
        match self {
            Full::Tmpfs { _fs, filler } => {
                let want = _fs.free().saturating_sub(headroom);
                let mut f = std::fs::File::create(filler).unwrap();
                let chunk = vec![0xA5u8; 1 << 20];
                let mut left = want;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    f.write_all(&chunk[..n]).unwrap();
                    left -= n as u64;
                }
                f.sync_all().unwrap();
            }
            Full::Injected { marker } => std::fs::write(marker, b"full").unwrap(),
        }
    }

    fn free_space(&self) {
        match self {
            Full::Tmpfs { filler, .. } => std::fs::remove_file(filler).unwrap(),
            Full::Injected { marker } => std::fs::remove_file(marker).unwrap(),
        }
    }
}

fn records(g: &TestGateway) -> i64 {
    DATASETS.iter().map(|d| g.total(d)).sum()
}

fn journal_len(g: &TestGateway) -> u64 {
    journal::segments(&g.data_dir().join("journal"))
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn a_full_journal_disk_refuses_pushes_with_507_loses_nothing_and_resumes_when_space_returns() {
    let mut g = TestGateway::builder(pesgw!()).k(1).create();
    let journal_dir = g.data_dir().join("journal");
    let full = match Tmpfs::mount(&journal_dir, 8) {
        Ok(fs) => {
            println!(
                "disk full: journal on an 8 MiB tmpfs at {}",
                journal_dir.display()
            );
            Full::Tmpfs {
                filler: journal_dir.join("filler"),
                _fs: fs,
            }
        }
        Err(e) => {
            let marker = g.dir.path().join("disk-is-full");
            println!(
                "disk full: FALLBACK: mounting a tmpfs failed ({e}); using the journal's \
                 injected ENOSPC ({}) instead of a real full disk",
                journal::FAULT_ENOSPC_ENV
            );
            g.env.push((
                journal::FAULT_ENOSPC_ENV.into(),
                marker.to_str().unwrap().into(),
            ));
            Full::Injected { marker }
        }
    };
    g.run();

    let mut next = 0u64;
    let mut batch = |n: u64| {
        let b = valid_batch(next..next + n, "440000");
        next += n;
        b
    };
    let mut acked_records = 0i64;
    let mut acked_batches = 0usize;
    for _ in 0..3 {
        let (body, ids) = batch(60);
        let p = g.try_push(body, false).unwrap();
        assert_eq!(p.status, 200, "{}", p.body);
        acked_records += ids.len() as i64;
        acked_batches += 1;
    }

    // The disk fills while batches keep coming: some still fit, then the journal refuses.
    full.fill(192 * 1024);
    let mut refused = None;
    for _ in 0..200 {
        let (body, ids) = batch(60);
        let p = g.try_push(body.clone(), false).unwrap();
        if p.status == 200 {
            acked_records += ids.len() as i64;
            acked_batches += 1;
            continue;
        }
        refused = Some((p, body, ids));
        break;
    }
    let (p, refused_body, refused_ids) = refused.expect("the full disk never refused a push");
    assert_eq!(p.status, 507, "{}", p.body);
    assert_eq!(p.content_type, "application/problem+json");
    assert_eq!(
        p.body["type"], "https://pes.example/problems/insufficient-storage",
        "{}",
        p.body
    );
    assert!(p.retry_after.is_some(), "507 without Retry-After");
    // Still full: refused again, and no partial frame stays behind in the journal.
    for _ in 0..3 {
        let (body, _) = batch(60);
        assert_eq!(g.try_push(body, false).unwrap().status, 507);
    }
    let (status, ready) = g.readyz();
    assert_eq!(status, 200, "queries still served: {ready}");
    assert_eq!(ready["journal"], "no_space", "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(
        ready["as_of"]["journal_offset"].as_u64().unwrap(),
        journal_len(&g),
        "the journal file holds only whole acknowledged frames"
    );
    let metrics = g
        .http()
        .get(format!("{}/metrics", g.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("pes_journal_no_space 1"), "{metrics}");
    g.wait_applied();
    assert_eq!(
        records(&g),
        acked_records,
        "acknowledged records while full"
    );

    // Space returns: the refused body is taken as new, with nobody restarting anything.
    full.free_space();
    let p = g.try_push(refused_body, false).unwrap();
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["duplicate"], false);
    assert_eq!(p.body["accepted"], refused_ids.len());
    acked_records += refused_ids.len() as i64;
    acked_batches += 1;
    for _ in 0..2 {
        let (body, ids) = batch(60);
        assert_eq!(g.try_push(body, false).unwrap().status, 200);
        acked_records += ids.len() as i64;
        acked_batches += 1;
    }
    let (_, ready) = g.readyz();
    assert_eq!(ready["journal"], "ok", "{ready}");
    assert_eq!(ready["status"], "ready", "{ready}");
    g.wait_applied();
    assert_eq!(records(&g), acked_records);

    // A crash afterwards: the journal is a clean run of the acknowledged frames.
    g.kill();
    let entries = journal::read_after(&journal_dir, 0).unwrap();
    assert_eq!(
        entries.len(),
        acked_batches,
        "one frame per acknowledged push"
    );
    assert_eq!(entries.last().unwrap().end_offset, journal_len(&g));
    g.run();
    g.wait_applied();
    assert_eq!(records(&g), acked_records, "after a restart");
    println!(
        "disk full: {acked_batches} pushes acknowledged, {acked_records} records, none lost; \
         refused with 507 while full, resumed when space returned"
    );
    g.kill();
}

/// The audit log's disk fills up: audited requests are refused with 503 and Retry-After (never
/// answered unaudited), and once space returns the log takes entries again without a restart,
/// and still verifies.
#[test]
fn a_full_audit_disk_refuses_audited_requests_and_resumes_when_space_returns() {
    let mut g = TestGateway::builder(pesgw!()).k(1).create();
    let audit_dir = g.data_dir().join("audit");
    let fs = match Tmpfs::mount(&audit_dir, 8) {
        Ok(fs) => fs,
        Err(e) => {
            // No injected equivalent for the audit log: say so loudly rather than pass quietly.
            println!("audit disk full: SKIPPED: mounting a tmpfs failed ({e}); needs root");
            return;
        }
    };
    g.run();
    let query = |g: &TestGateway| {
        let r = g
            .http()
            .post(format!("{}/v1/query", g.base))
            .bearer_auth(g.token_as(Role::Analyst, "analyst-1", &[], &[]))
            .json(&serde_json::json!({ "dataset": "person" }))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").is_some();
        (status, retry_after)
    };
    for _ in 0..3 {
        assert_eq!(query(&g).0, 200);
    }
    let full = Full::Tmpfs {
        filler: audit_dir.join("filler"),
        _fs: fs,
    };
    full.fill(16 * 1024);
    let mut refused = None;
    for _ in 0..2000 {
        let (status, retry_after) = query(&g);
        if status != 200 {
            refused = Some((status, retry_after));
            break;
        }
    }
    let (status, retry_after) = refused.expect("the full audit disk never refused a request");
    assert_eq!(status, 503);
    assert!(retry_after, "503 without Retry-After");
    // Still full: still refused; the gateway itself still answers.
    assert_eq!(query(&g).0, 503);
    assert_eq!(g.readyz().0, 200);

    full.free_space();
    let mut resumed = false;
    for _ in 0..100 {
        if query(&g).0 == 200 {
            resumed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        resumed,
        "the audit log did not take entries again once space returned"
    );
    g.kill();
    let (ok, out) = crate::harness::run_pesgw(&[
        "audit",
        "verify",
        "--dir",
        audit_dir.to_str().unwrap(),
        "--key",
        &g.verifier_key(),
    ]);
    assert!(ok, "audit verify after the full disk: {out}");
}
