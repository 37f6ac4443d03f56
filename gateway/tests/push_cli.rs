//! `pesgw push` as a scheduled job runs it (stdout and stderr are pipes, `--quiet`): every
//! failed batch is named on stderr with its problem type and detail, `--json` is one summary
//! object, the exit codes are the documented ones; refusals say what is wrong; the token
//! variable is `PES_TOKEN` everywhere; printing commands end quietly on a closed pipe.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use pes_gateway::auth::Role;
use pes_gateway::native_sample::{ndjson, record};
use pes_testkit::{pesgw, TestGateway, REGION, SOURCE};
use serde_json::Value;

/// Runs `pesgw` with no token variables inherited from the environment.
fn pesgw(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pesgw"));
    c.args(args)
        .env_remove("PES_TOKEN")
        .env_remove("PESGW_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn push(g_base: &str, token: &str, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "push",
        "--source",
        SOURCE,
        "--url",
        g_base,
        "--token",
        token,
        "--batch-rows",
        "2",
        "--attempts",
        "1",
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    pesgw(&args, &[])
}

/// Six NDJSON rows in three batches of two; the second batch is not JSON at all.
fn export_with_a_bad_batch(dir: &Path) -> std::path::PathBuf {
    let good = ndjson(0..4, REGION, SOURCE, 1);
    let lines: Vec<&[u8]> = good
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut body = Vec::new();
    for l in &lines[..2] {
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    body.extend_from_slice(b"this is not json\nneither is this\n");
    for l in &lines[2..4] {
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    let file = dir.join("export.ndjson");
    std::fs::write(&file, body).unwrap();
    file
}

#[test]
fn a_failed_batch_is_named_on_stderr_and_in_the_json_summary_with_exit_1() {
    let g = TestGateway::start(pesgw!());
    let file = export_with_a_bad_batch(g.dir.path());
    let o = push(
        &g.base,
        &g.pusher(),
        &file,
        &["--quiet", "--json", "--wait"],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");

    // stderr: the batch, its file, the problem type and detail, without a terminal or a bar.
    let line = err
        .lines()
        .find(|l| l.starts_with("batch 2 of "))
        .unwrap_or_else(|| panic!("no failed batch on stderr: {err}"));
    assert!(line.contains(file.to_str().unwrap()), "{line}");
    assert!(line.contains("(2 rows)"), "{line}");
    assert!(
        line.contains("400 https://pes.example/problems/malformed-body: malformed body at"),
        "{line}"
    );
    assert!(line.contains("(request id "), "{line}");

    // stdout: exactly one JSON object.
    let s: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(s["source"], SOURCE);
    assert_eq!(s["exit_code"], 1);
    assert_eq!(s["batches"]["sent"], 3);
    assert_eq!(s["batches"]["accepted"], 2);
    assert_eq!(s["batches"]["failed"], 1);
    assert_eq!(s["batches"]["not_sent"], 0);
    assert_eq!(s["rows"]["sent"], 6);
    assert_eq!(s["rows"]["accepted"], 4);
    assert_eq!(s["rows"]["quarantined"], 0);
    let f = &s["failures"][0];
    assert_eq!(s["failures"].as_array().unwrap().len(), 1);
    assert_eq!(f["file"], file.to_str().unwrap());
    assert_eq!(f["batch"], 2);
    assert_eq!(f["rows"], 2);
    assert_eq!(f["status"], 400);
    assert_eq!(f["type"], "https://pes.example/problems/malformed-body");
    assert!(f["detail"]
        .as_str()
        .unwrap()
        .contains("nothing from it was taken"));
    assert!(f["request_id"].is_string());

    // Without --json: the summary line on stdout, counted in rows, and the same stderr line.
    let o = push(&g.base, &g.pusher(), &file, &["--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).starts_with("pushed 2 batches (6 rows)"),
        "{}",
        text(&o.stdout)
    );
    assert!(
        text(&o.stderr).contains("batch 2 of"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn an_unregistered_pusher_is_told_so_and_the_push_stops_with_exit_3() {
    let g = TestGateway::start_with(pesgw!(), |cfg| {
        cfg.sources.get_mut(SOURCE).unwrap().pushers = vec!["gd-hr-system".into()];
    });
    let file = g.dir.path().join("ok.ndjson");
    std::fs::write(&file, ndjson(0..6, REGION, SOURCE, 1)).unwrap();
    // The token names the source; its subject (`pusher-test`) is not a registered pusher.
    let o = push(&g.base, &g.pusher(), &file, &["--json"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(3), "{out}{err}");
    assert!(
        err.contains(
            "403 https://pes.example/problems/forbidden: pusher `pusher-test` is not registered \
             for source `gd-hr`"
        ),
        "{err}"
    );
    assert!(err.contains("2 later batches not sent"), "{err}");
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(s["batches"]["sent"], 1);
    assert_eq!(s["batches"]["not_sent"], 2);
    assert_eq!(s["failures"][0]["status"], 403);

    // A token that does not name the source gets another detail, the same type.
    let other = g.token(Role::Pusher, &["gd-edu"], &[]);
    let (status, v, _) = g.push_raw(
        SOURCE,
        &other,
        "application/x-ndjson",
        ndjson(0..1, REGION, SOURCE, 1),
        false,
    );
    assert_eq!(status, 403);
    assert_eq!(v["type"], "https://pes.example/problems/forbidden");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("this token does not name source `gd-hr`"),
        "{v}"
    );
}

#[test]
fn a_token_of_another_regions_gateway_is_refused_as_such() {
    let gd = TestGateway::start(pesgw!());
    let sc = TestGateway::start_in(pesgw!(), "510000", |_| {});
    let foreign = sc.pusher();
    let (status, v, _) = gd.push_raw(
        SOURCE,
        &foreign,
        "application/x-ndjson",
        ndjson(0..1, REGION, SOURCE, 1),
        false,
    );
    assert_eq!(status, 401);
    // The type stays `unauthorized`; the detail says what is wrong.
    assert_eq!(v["type"], "https://pes.example/problems/unauthorized");
    let kid = pes_gateway::keys::key_id(
        ring::signature::KeyPair::public_key(
            &pes_gateway::keys::load_ed25519(&sc.cfg.keys.jwt_issuer_key).unwrap(),
        )
        .as_ref(),
    );
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the token was issued by another region's key")
            && detail.contains(&format!("key id `{kid}`"))
            && detail.contains("names region 510000")
            && detail.contains("(region 440000)"),
        "{detail}"
    );

    // `pesgw push` shows it on stderr and exits 3.
    let file = gd.dir.path().join("one.ndjson");
    std::fs::write(&file, ndjson(0..1, REGION, SOURCE, 1)).unwrap();
    let o = push(&gd.base, &foreign, &file, &["--quiet"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stderr).contains("401 https://pes.example/problems/unauthorized: the token was issued by another region's key"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn usage_errors_exit_2_and_an_unreachable_gateway_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.ndjson");
    std::fs::write(&file, ndjson(0..3, REGION, SOURCE, 1)).unwrap();
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let o = push(&url, "t", &file, &["--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("no answer after 1 attempts: could not reach the gateway"),
        "{}",
        text(&o.stderr)
    );
    let s: Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(s["failures"][0]["status"], Value::Null);
    assert_eq!(s["batches"]["not_sent"], 1);

    let o = push(&url, "t", &dir.path().join("missing.ndjson"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("missing.ndjson"),
        "{}",
        text(&o.stderr)
    );
    let o = push("not a url", "t", &file, &[]);
    assert_eq!(o.status.code(), Some(2));
    // No token at all: clap's usage error, also 2.
    let o = pesgw(
        &[
            "push",
            "--source",
            SOURCE,
            "--url",
            &url,
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));

    // The codes are in --help, and the token comes from PES_TOKEN.
    let help = text(&pesgw(&["push", "--help"], &[]).stdout);
    assert!(
        help.contains("Exit codes:") && help.contains("PES_TOKEN"),
        "{help}"
    );
    let o = pesgw(
        &[
            "push",
            "--source",
            SOURCE,
            "--url",
            &url,
            "--attempts",
            "1",
            file.to_str().unwrap(),
        ],
        &[("PES_TOKEN", "t")],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
}

#[test]
fn audit_verify_reads_pes_token_and_warns_on_the_old_name() {
    let g = TestGateway::start(pesgw!());
    g.push(ndjson(0..3, REGION, SOURCE, 1), true);
    let auditor = g.token(Role::Auditor, &[], &[]);
    let key = g
        .http()
        .get(format!("{}/v1/audit/key", g.base))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let args = ["audit", "verify", "--url", &g.base, "--key", key.trim()];
    let o = pesgw(&args, &[("PES_TOKEN", &auditor)]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("deprecated"),
        "{}",
        text(&o.stderr)
    );
    let o = pesgw(&args, &[("PESGW_TOKEN", &auditor)]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stderr).contains("warning: PESGW_TOKEN is deprecated"),
        "{}",
        text(&o.stderr)
    );
    // Without any token the gateway refuses: the variables above were what made it work.
    let o = pesgw(&args, &[]);
    assert!(!o.status.success());
}

#[test]
fn record_into_a_closed_pipe_ends_quietly() {
    let g = TestGateway::start(pesgw!());
    g.push(ndjson(0..3, REGION, SOURCE, 1), true);
    let id = record(0, REGION, SOURCE, 1).record_id.to_string();
    let cw = g.token(Role::Caseworker, &[], &[]);
    // A pipe whose reader is gone before the command writes (what `| head` does, early).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["record", &id, "--url", &g.base, "--token", &cw])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    // Ended by SIGPIPE, as `cat` is: no message, and not a success the caller could mistake.
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(
        o.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {err}",
        o.status
    );
    // The same command into a live pipe prints the record.
    let o = pesgw(&["record", &id, "--url", &g.base, "--token", &cw], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(&id));
}

/// `--snapshot`: the files are the whole source. The second, smaller export retires what it
/// lacks; a truncated one waits for an admin (exit 4); one with a failed batch is aborted.
#[test]
fn a_snapshot_push_retires_what_the_export_lacks() {
    let g = TestGateway::builder(pesgw!()).k(1).start();
    let dir = tempfile::tempdir().unwrap();
    let token = g.pusher();
    let file = dir.path().join("export.ndjson");
    std::fs::write(&file, ndjson(0..12, REGION, SOURCE, 0)).unwrap();
    let out = push(&g.base, &token, &file, &["--snapshot", "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["snapshot"]["state"], "committed");
    assert_eq!(v["snapshot"]["retired"], 0);
    assert_eq!(v["batches"]["accepted"], 6);

    // Next day's export lacks record 11.
    std::fs::write(&file, ndjson(0..11, REGION, SOURCE, 0)).unwrap();
    let out = push(&g.base, &token, &file, &["--snapshot", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("committed, 1 records retired"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(g.total("vacancy"), 3);

    // A truncated export would retire most of the source: it waits.
    std::fs::write(&file, ndjson(0..2, REGION, SOURCE, 0)).unwrap();
    let out = push(&g.base, &token, &file, &["--snapshot", "--quiet"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("waits for an admin's confirmation"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(g.total("vacancy"), 3, "nothing retired");

    // A snapshot with a failed batch is aborted: exit 1, nothing retired.
    let bad = export_with_a_bad_batch(dir.path());
    let out = push(&g.base, &token, &bad, &["--snapshot", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("aborted because a batch failed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(g.total("vacancy"), 3);
}
