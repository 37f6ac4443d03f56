//! `docs/operator-guide.md` is a test: its ` ```sh test ` blocks, run in order as one bash
//! script in an empty directory with this build's `pesgw` on `PATH`, build a national gateway
//! and two provinces from nothing and end with a federated query through the national gateway.
//! If the guide drifts from the code, this fails. Beside it, the CLI fixes the guide relies on:
//! the linkage-key warning, token commands outside the gateway directory, tokens kept out of
//! `--help`, and no colour escapes in the demo's console log when it is not a terminal.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PESGW: &str = env!("CARGO_BIN_EXE_pesgw");
/// The fence info string that marks a runnable block.
const MARK: &str = "```sh test";
/// The guide runs three gateways and pushes a few hundred rows; far less than this.
const GUIDE_DEADLINE: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The marked blocks of a Markdown text, in order, each without its fences.
fn runnable_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_end() == MARK => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(current.is_none(), "a ```sh test block is never closed");
    blocks
}

/// PATH with this build's `pesgw` first.
fn path_with_pesgw() -> std::ffi::OsString {
    let bin_dir = Path::new(PESGW).parent().expect("pesgw has a directory");
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

/// Stops every process whose pid a guide block wrote to `run/*.pid`, when the test ends in any
/// way: SIGTERM, then SIGKILL for one still there after 10 s.
struct StopStarted(PathBuf);

impl StopStarted {
    /// Pids from `run/*.pid` that are still a running `pesgw` (not a reused pid).
    fn live_pids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.0.join("run")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pid"))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_string())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("pesgw"))
                    && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .is_ok_and(|s| !s.contains(") Z "))
            })
            .collect()
    }
}

impl Drop for StopStarted {
    fn drop(&mut self) {
        for (signal, wait) in [("-TERM", 10), ("-KILL", 5)] {
            let pids = self.live_pids();
            if pids.is_empty() {
                return;
            }
            let _ = Command::new("kill").arg(signal).args(&pids).status();
            let deadline = Instant::now() + Duration::from_secs(wait);
            while Instant::now() < deadline && !self.live_pids().is_empty() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The count `pesgw query` printed for `province` (a `  440000     93` row).
fn count_of(table: &str, province: &str) -> Option<i64> {
    table.lines().find_map(|l| {
        let mut cols = l.split_whitespace();
        (cols.next() == Some(province))
            .then(|| cols.next()?.parse().ok())
            .flatten()
    })
}

#[test]
fn the_guide_blocks_are_found_in_order() {
    let blocks = runnable_blocks(
        "a\n```sh test\necho 1\n```\n```sh\nnot run\n```\n```sh test\necho 2\n```\n",
    );
    assert_eq!(blocks, vec!["echo 1\n".to_string(), "echo 2\n".to_string()]);
    let guide = std::fs::read_to_string(repo().join("docs/operator-guide.md")).expect("guide");
    let blocks = runnable_blocks(&guide);
    let script = blocks.concat();
    for step in [
        "pesgw certs init",
        "pesgw federation linkage-key",
        "--linkage-key-file",
        "pesgw federation sign",
        "[federation]",
        "pesgw serve",
        "pesgw token issue",
        "pesgw push",
        "--regions all",
    ] {
        assert!(script.contains(step), "no runnable block does `{step}`");
    }
}

#[test]
fn the_operator_guide_builds_a_federation_and_answers_a_national_query() {
    let guide = std::fs::read_to_string(repo().join("docs/operator-guide.md")).expect("guide");
    let blocks = runnable_blocks(&guide);
    assert!(blocks.len() >= 10, "only {} runnable blocks", blocks.len());
    let tmp = tempfile::tempdir().expect("tempdir");
    let scratch = tmp.path().join("work");
    std::fs::create_dir(&scratch).expect("scratch dir");
    let script = tmp.path().join("guide.sh");
    std::fs::write(
        &script,
        format!("set -euo pipefail\nset -x\n{}", blocks.join("\n")),
    )
    .expect("script");
    let stop = StopStarted(scratch.clone());
    let out_path = tmp.path().join("guide.out");
    let out = std::fs::File::create(&out_path).expect("output file");
    let port = pes_testkit::free_port_run(6);
    let mut child = Command::new("bash")
        .arg(&script)
        .current_dir(&scratch)
        .env("PATH", path_with_pesgw())
        .env("PES_GUIDE_PORT", port.to_string())
        .env("PES_ADAPTERS", repo().join("adapters"))
        .env("NO_COLOR", "1")
        .env_remove("PES_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("bash starts");
    let deadline = Instant::now() + GUIDE_DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let logs: String = ["national", "gd", "sc"]
        .iter()
        .map(|g| {
            format!(
                "\n--- run/{g}.log\n{}",
                tail(&scratch.join(format!("run/{g}.log")), 15)
            )
        })
        .collect();
    let report = format!("--- guide output\n{}{logs}", tail(&out_path, 60));
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("a block of the operator guide failed ({s})\n{report}"),
        None => panic!("the operator guide did not finish in {GUIDE_DEADLINE:?}\n{report}"),
    }
    let query = std::fs::read_to_string(scratch.join("query.txt")).expect("query.txt");
    for province in ["440000", "510000"] {
        let n = count_of(&query, province);
        assert!(
            n.is_some_and(|n| n > 0),
            "no figure for {province} in the national query:\n{query}\n{report}"
        );
    }
    assert!(
        query.contains("from 3 of 3 regions"),
        "every member answered:\n{query}"
    );
    assert!(!query.contains("PARTIAL"), "{query}");
    // The next export, pushed as a snapshot, retired what it lacks.
    let snapshot = std::fs::read_to_string(scratch.join("snapshot.txt")).expect("snapshot.txt");
    assert!(
        snapshot.contains("committed,") && snapshot.contains("records retired"),
        "{snapshot}"
    );
    drop(stop);
}

#[test]
fn serve_warns_when_a_federation_member_has_its_own_linkage_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let shared = tmp.path().join("linkage.key");
    let ok = Command::new(PESGW)
        .args(["federation", "linkage-key", "--out"])
        .arg(&shared)
        .output()
        .expect("pesgw runs");
    assert!(ok.status.success());
    // A second run never replaces the federation's key.
    let again = Command::new(PESGW)
        .args(["federation", "linkage-key", "--out"])
        .arg(&shared)
        .output()
        .expect("pesgw runs");
    assert!(!again.status.success());

    let serve_stderr = |dir: &Path, linkage: Option<&Path>| -> String {
        let mut init = Command::new(PESGW);
        init.args([
            "init",
            "--region",
            "440000",
            "--listen",
            "127.0.0.1:1",
            "--dir",
        ])
        .arg(dir);
        if let Some(k) = linkage {
            init.arg("--linkage-key-file").arg(k);
        }
        assert!(init.output().expect("init runs").status.success());
        // A [federation] section whose PKI is missing: serve warns first, then fails to start
        // the federation side, so no listener is ever bound.
        let mut cfg = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("gateway.toml"))
            .expect("config");
        std::io::Write::write_all(
            &mut cfg,
            b"\n[federation]\nlisten = \"127.0.0.1:1\"\npki_dir = \"pki\"\ntrust_list = \"pki/federation.json\"\nroot_key = \"root+00000000+AQ\"\n",
        )
        .expect("append");
        let out = Command::new(PESGW)
            .args(["serve", "--config"])
            .arg(dir.join("gateway.toml"))
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("serve runs");
        assert!(!out.status.success(), "serve without a PKI must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    const WARNING: &str = "THE LINKAGE KEY IS NOT THE FEDERATION'S";
    let fresh = serve_stderr(&tmp.path().join("fresh"), None);
    assert!(fresh.contains(&format!("WARNING: {WARNING}")), "{fresh}");
    assert!(
        fresh.lines().filter(|l| l.contains(WARNING)).count() >= 2,
        "in the log and on stderr: {fresh}"
    );
    let shared_stderr = serve_stderr(&tmp.path().join("shared"), Some(&shared));
    assert!(!shared_stderr.contains(WARNING), "{shared_stderr}");
    assert_eq!(
        std::fs::read(tmp.path().join("shared/keys/linkage.key")).expect("key"),
        std::fs::read(&shared).expect("key")
    );
    // The operator copies the federation's key over a fresh one: the warning ends.
    std::fs::copy(&shared, tmp.path().join("fresh/keys/linkage.key")).expect("copy");
    let out = Command::new(PESGW)
        .args(["serve", "--config"])
        .arg(tmp.path().join("fresh/gateway.toml"))
        .stdin(Stdio::null())
        .output()
        .expect("serve runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(WARNING));
}

#[test]
fn token_issue_works_from_another_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gw = tmp.path().join("gw");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("dir");
    assert!(Command::new(PESGW)
        .args(["init", "--region", "510000", "--dir"])
        .arg(&gw)
        .output()
        .expect("init runs")
        .status
        .success());
    // A relative --config from another working directory, no --region: the config's.
    let out = Command::new(PESGW)
        .args([
            "token",
            "issue",
            "--config",
            "../gw/gateway.toml",
            "--role",
            "analyst",
        ])
        .current_dir(&elsewhere)
        .output()
        .expect("token runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf-8");
    let payload = token.trim().split('.').nth(1).expect("a JWT");
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims");
    assert_eq!(claims["region"], "510000", "{claims}");
    assert_eq!(claims["role"], "analyst", "{claims}");
}

#[test]
fn certs_init_writes_the_root_key_and_its_verifier() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = tmp.path().join("pki");
    let out = Command::new(PESGW)
        .args(["certs", "init", "--regions", "100000,440000", "--out"])
        .arg(&pki)
        .output()
        .expect("certs runs");
    assert!(out.status.success());
    let public = std::fs::read_to_string(pki.join("root.pub")).expect("root.pub");
    let private = std::fs::read_to_string(pki.join("root.key")).expect("root.key");
    let key = pes_gateway::signed_note::SigningKey::parse(private.trim()).expect("a root key");
    assert_eq!(public.trim(), key.verifier().to_string());
    assert!(String::from_utf8_lossy(&out.stdout).contains(public.trim()));
    // `audit keygen` writes the verifier beside the key too.
    let root = tmp.path().join("other-root.key");
    let out = Command::new(PESGW)
        .args(["audit", "keygen", "--name", "pes-federation-root", "--out"])
        .arg(&root)
        .output()
        .expect("keygen runs");
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("other-root.pub")).expect("pub"),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn help_never_prints_the_token_from_the_environment() {
    const SECRET: &str = "eyJ.secret-token-value.sig";
    for args in [
        &["query", "--help"][..],
        &["record", "--help"],
        &["push", "--help"],
        &["audit", "verify", "--help"],
    ] {
        let out = Command::new(PESGW)
            .args(args)
            .env("PES_TOKEN", SECRET)
            .output()
            .expect("pesgw runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("PES_TOKEN"), "{args:?}: {text}");
        assert!(!text.contains(SECRET), "{args:?} prints the token: {text}");
    }
}

#[test]
fn the_demo_console_log_has_no_colour_escapes_when_not_a_terminal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = pes_testkit::free_port_run(4);
    let err_path = tmp.path().join("demo.err");
    let mut child = Command::new(PESGW)
        .args(["demo", "--regions", "1", "--records", "50", "--port"])
        .arg(port.to_string())
        .arg("--dir")
        .arg(tmp.path().join("demo"))
        .arg("--mappings")
        .arg(repo().join("adapters/mappings"))
        // Debug events of the demo process itself (its HTTP client), so there is a log to check.
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("demo starts");
    // Stop it once it is ready (or gone); Drop kills it if an assertion fails first.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let demo = Kill(child);
    let mut console = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&console).contains("Ready in") {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => console.extend_from_slice(&buf[..n]),
        }
    }
    drop(demo);
    let console = String::from_utf8_lossy(&console);
    assert!(
        console.contains("Ready in"),
        "the demo did not start:\n{console}"
    );
    let log = std::fs::read_to_string(&err_path).expect("stderr");
    assert!(log.contains("DEBUG"), "no log to check:\n{log}");
    let start: String = log.chars().take(2000).collect();
    assert!(
        !log.contains('\u{1b}'),
        "colour escapes in a log file:\n{start}"
    );
    assert!(
        !console.contains('\u{1b}'),
        "colour escapes on a pipe:\n{console}"
    );
}
