//! Hostile bodies against a real `pesgw serve`: memory stays bounded by configuration whatever
//! the body, a batch with too many bad rows is refused whole, a stalled body times out, and a
//! journal entry that cannot be applied is set aside instead of stopping the gateway.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pes_gateway::auth::Role;
use pes_gateway::config::SourceConfig;
use pes_gateway::native_sample::ndjson;
use pes_testkit::{pesgw, TestGateway, REGION, SOURCE};
use serde_json::Value;

const JSON_SOURCE: &str = "zj-json";

fn adapters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters")
}

/// A gateway of Zhejiang with the shipped JSON mapping registered as `zj-json`.
fn json_gateway(tweak: impl FnOnce(&mut pes_gateway::config::GatewayConfig)) -> TestGateway {
    let mapping = adapters_dir().join("mappings/zj_330000_json.toml");
    TestGateway::start_in(pesgw!(), "330000", |c| {
        c.sources.insert(
            JSON_SOURCE.into(),
            SourceConfig {
                mapping: mapping.to_string_lossy().into_owned(),
                pushers: vec![],
            },
        );
        tweak(c);
    })
}

/// `[{},{},…]`: `n` items that each fail as a row.
fn empty_objects(n: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(n * 3 + 2);
    b.push(b'[');
    for i in 0..n {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"{}");
    }
    b.push(b']');
    b
}

/// Peak resident memory of a process (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024
}

#[test]
fn a_million_bad_rows_are_refused_whole_in_bounded_memory_and_the_gateway_restarts() {
    // Room for all five pushes of one pusher at once: the memory bound must not rest on the
    // per-pusher slot limit.
    let mut g = json_gateway(|c| c.limits.max_concurrent_pushes_per_pusher = 8);
    let pid = g.pid().expect("the gateway runs");
    let token = g.token(Role::Pusher, &[JSON_SOURCE], &[]);
    // Four different bodies (so none is a duplicate of another), plus a copy of the first:
    // while the first is decoded, its copy must not be told it was taken.
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let mut b = empty_objects(1_000_000);
            b.splice(1..1, std::iter::repeat_n(b' ', i));
            b
        })
        .chain(std::iter::once(empty_objects(1_000_000)))
        .collect();
    assert!(bodies[0].len() > 2_900_000, "a 3 MB body");

    // At once, as the attacker did, while /healthz keeps answering.
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let pushes: Vec<_> = bodies
            .iter()
            .map(|body| {
                s.spawn(|| {
                    let (status, v, ct) =
                        g.push_raw(JSON_SOURCE, &token, "application/json", body.clone(), false);
                    assert_eq!(ct, "application/problem+json", "{status} {v}");
                    (status, v)
                })
            })
            .collect();
        for _ in 0..20 {
            let r = g.http().get(format!("{}/healthz", g.base)).send().unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
        pushes.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Each is refused: for having too many bad rows, or (the same body) for being pushed while
    // another copy of it is decoded.
    let mut too_many = 0;
    for (status, v) in &answers {
        if *status == 409 {
            assert!(
                v["type"].as_str().unwrap().ends_with("/batch-in-flight"),
                "{v}"
            );
            continue;
        }
        too_many += 1;
        assert_eq!(*status, 422, "{v}");
        assert!(v["type"].as_str().unwrap().ends_with("/too-many-bad-rows"));
        assert!(v["detail"]
            .as_str()
            .unwrap()
            .contains("Nothing of this batch was kept"));
        let first = v["row_errors"].as_array().unwrap();
        assert_eq!(first.len(), 20, "the first problems come with the refusal");
        assert_eq!(first[0]["location"], "/0");
    }
    assert!(too_many >= 4);
    let peak = peak_rss_mib(pid);
    eprintln!("peak RSS under five concurrent 1,000,000-item pushes: {peak} MiB");
    assert!(peak < 512, "peak RSS {peak} MiB");

    // Nothing was journaled or quarantined.
    let readyz: Value = g
        .http()
        .get(format!("{}/readyz", g.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(readyz["as_of"]["journal_offset"], 0, "{readyz}");
    let admin = g.token(Role::Admin, &[], &[]);
    let q: Value = g
        .http()
        .get(format!("{}/v1/quarantine", g.base))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(q["items"].as_array().map(Vec::len).unwrap_or(0), 0, "{q}");

    // The refusals are audited.
    let events = g.audit_events(4);
    let refused = events
        .iter()
        .filter(|e| e["reason"] == "too-many-bad-rows")
        .count();
    assert_eq!(refused, too_many);

    // And it comes back up at once.
    g.kill();
    g.run();
    let r = g.http().get(format!("{}/readyz", g.base)).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn bad_rows_under_the_limits_are_quarantined_and_a_high_share_is_refused() {
    let g = json_gateway(|c| {
        c.limits.max_quarantined_rows = 50;
    });
    let token = g.token(Role::Pusher, &[JSON_SOURCE], &[]);
    // 50 bad rows: at the limit, taken.
    let (status, v, _) = g.push_raw(
        JSON_SOURCE,
        &token,
        "application/json",
        empty_objects(50),
        true,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["quarantined"], 50);
    // 51: refused as soon as the 51st is read, nothing kept.
    let (status, v, _) = g.push_raw(
        JSON_SOURCE,
        &token,
        "application/json",
        empty_objects(51),
        true,
    );
    assert_eq!(status, 422, "{v}");
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .starts_with("51 of the 51 rows"));

    // The share: 1,000 bad rows among 1,500 (67% > 50%) is refused even under the count
    // limit; 1,000 among 2,500 (40%) is taken, the bad rows quarantined.
    let g = TestGateway::start_with(pesgw!(), |_| {});
    let bad = "{\"not\":\"a record\"}\n".repeat(1000);
    for (good, want) in [(500, 422), (1500, 200)] {
        let mut body = ndjson(0..good, REGION, SOURCE, 1);
        body.extend_from_slice(bad.as_bytes());
        let (status, v, _) = g.push_raw(SOURCE, &g.pusher(), "application/x-ndjson", body, false);
        assert_eq!(status, want, "{v}");
        if want == 422 {
            assert!(v["type"].as_str().unwrap().ends_with("/too-many-bad-rows"));
            assert!(v["detail"]
                .as_str()
                .unwrap()
                .starts_with("1000 of the 1500 rows"));
        } else {
            assert_eq!(v["quarantined"], 1000);
            assert_eq!(v["accepted"], good);
        }
    }
}

#[test]
fn a_stalled_body_is_answered_408_and_frees_the_push_slot() {
    let g = TestGateway::start_with(pesgw!(), |c| {
        c.limits.body_read_timeout_secs = 1;
        c.limits.max_concurrent_pushes_per_pusher = 1;
    });
    let addr = g.base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/ingest/{SOURCE} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{{\"a\":",
        g.pusher()
    );
    s.write_all(head.as_bytes()).unwrap();
    // Send nothing more: the gateway gives up on the body.
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body-read-timeout"), "{answer}");
    // The slot is free again: a normal push goes through.
    let (status, v, _) = g.push_raw(
        SOURCE,
        &g.pusher(),
        "application/x-ndjson",
        b"\n".to_vec(),
        false,
    );
    assert_eq!(status, 200, "{v}");
}

#[test]
fn pushes_past_the_ingest_memory_budget_get_503_with_retry_after() {
    // A budget of 12 MiB fits one 1 MiB body (3 MiB reserved) but not a 5 MiB one (15 MiB).
    let g = TestGateway::start_with(pesgw!(), |c| {
        c.limits.max_body_bytes = 4 * 1024 * 1024;
        c.limits.ingest_memory_bytes = 12 * 1024 * 1024;
    });
    let addr = g.base.trim_start_matches("http://").to_string();
    // Hold most of the budget with a slow body of declared length 3 MiB (9 MiB reserved).
    let mut hold = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /v1/ingest/{SOURCE} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n\n",
        g.pusher(),
        3 * 1024 * 1024
    );
    hold.write_all(head.as_bytes()).unwrap();
    // Wait until the reservation shows in /metrics.
    let mut reserved = 0;
    for _ in 0..200 {
        reserved = g
            .metrics()
            .lines()
            .find_map(|l| l.strip_prefix("pes_ingest_memory_reserved_bytes "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if reserved > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(reserved, 9 * 1024 * 1024);
    // A second pusher's 2 MiB body (6 MiB) does not fit beside it.
    let other = g.sign(&pes_gateway::auth::claims_for(
        "pusher-2",
        Role::Pusher,
        REGION,
        vec![SOURCE.to_string()],
        vec![],
        600,
    ));
    let body = vec![b'\n'; 2 * 1024 * 1024];
    let r = g
        .http()
        .post(format!("{}/v1/ingest/{SOURCE}", g.base))
        .bearer_auth(&other)
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    let v: Value = r.json().unwrap();
    assert!(v["type"].as_str().unwrap().ends_with("/ingest-busy"), "{v}");
    // Once the first push goes away, the same body is taken.
    drop(hold);
    let mut taken = false;
    for _ in 0..100 {
        let (status, _, _) =
            g.push_raw(SOURCE, &other, "application/x-ndjson", body.clone(), false);
        if status == 200 {
            taken = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(taken);
}

/// Appends entries to a stopped gateway's journal, as its own journal writer would.
fn append_to_journal(g: &TestGateway, payloads: Vec<Vec<u8>>) {
    let dir = g.cfg.data_dir.join("journal");
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    let (journal, _) =
        pes_gateway::ingest::journal::Journal::open(&dir, tx, Box::new(|_| {})).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for p in payloads {
            journal.append(p).await.unwrap();
        }
    });
    drop(rx);
}

/// A valid journal entry of `body` (native NDJSON), sealed with the gateway's own data key.
fn entry_of(g: &TestGateway, body: &[u8]) -> Vec<u8> {
    use pes_gateway::ingest::decode::{decode_native, DecodeInput, EntrySink};
    let key = pes_gateway::keys::DataKey::load(&g.cfg.keys.data_key).unwrap();
    let batch_id: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, body)
        .as_ref()
        .try_into()
        .unwrap();
    let input = DecodeInput {
        region: REGION,
        source: SOURCE,
        batch_id: &batch_id,
        ingested_at: "2026-12-03T08:00:00.000Z",
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
        key: &key,
        max_rows: 1_000_000,
        max_quarantined: 1_000,
        max_quarantined_share: 1.0,
    };
    let mut sink = EntrySink::new(&input, body.len());
    decode_native(body, &mut sink).unwrap();
    sink.finish().payload
}

fn get(g: &TestGateway, path: &str, token: &str) -> (u16, Value) {
    let r = g
        .http()
        .get(format!("{}{path}", g.base))
        .bearer_auth(token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn a_poisoned_journal_entry_is_set_aside_and_the_gateway_restarts_degraded() {
    let mut g = TestGateway::start_with(pesgw!(), |c| c.k = 1);
    g.push(ndjson(0..30, REGION, SOURCE, 1), true);
    let before = g.total("person");
    g.kill();

    // A frame whose CRC is right but whose entry is not (a bug, or a disk that lied), then a
    // good entry behind it.
    let poison = vec![1u8, 0xde, 0xad, 0xbe, 0xef];
    let good = entry_of(&g, &ndjson(30..60, REGION, SOURCE, 1));
    append_to_journal(&g, vec![poison.clone(), good]);

    g.run();
    g.wait_applied();
    // The good entry behind the poisoned one is applied.
    let after = g.total("person");
    assert_eq!(after, before * 2, "the entry after the dead letter applies");

    // /readyz says degraded (still serving), /metrics counts it.
    let mut readyz = Value::Null;
    for _ in 0..200 {
        readyz = g
            .http()
            .get(format!("{}/readyz", g.base))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if readyz["status"] == "degraded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(readyz["status"], "degraded", "{readyz}");
    assert_eq!(readyz["dead_letters"], 1);
    let metrics = g.metrics();
    assert!(metrics.contains("pes_dead_letters 1"), "{metrics}");

    // An admin lists it, with its reason and the payload's size.
    let admin = g.token(Role::Admin, &[], &[]);
    let (status, list) = get(&g, "/v1/admin/dead-letters", &admin);
    assert_eq!(status, 200, "{list}");
    let letters = list["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["len"], poison.len());
    assert!(letters[0]["reason"].as_str().unwrap().contains("malformed"));
    let offset = letters[0]["end_offset"].as_u64().unwrap();
    // Others may not.
    let (status, _) = get(&g, "/v1/admin/dead-letters", &g.pusher());
    assert_eq!(status, 403);

    // Retrying it fails again (it is malformed), and it stays, counted.
    let r = g
        .http()
        .post(format!("{}/v1/admin/dead-letters/{offset}/retry", g.base))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let v: Value = r.json().unwrap();
    assert!(v["type"]
        .as_str()
        .unwrap()
        .ends_with("/dead-letter-still-fails"));
    let (_, list) = get(&g, "/v1/admin/dead-letters", &admin);
    assert_eq!(list["dead_letters"][0]["retries"], 1);
    let r = g
        .http()
        .post(format!(
            "{}/v1/admin/dead-letters/{}/retry",
            g.base,
            offset + 1
        ))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The dead letter is audited once by the gateway, and the admin's reads and retries too.
    let events = g.audit_events(1);
    let set_aside: Vec<_> = events
        .iter()
        .filter(|e| e["reason"] == "dead-lettered")
        .collect();
    assert_eq!(set_aside.len(), 1, "{events:?}");
    assert_eq!(set_aside[0]["counts"]["end_offset"], offset);
    assert!(events
        .iter()
        .any(|e| e["reason"] == "dead-letter-still-fails"));

    // A second restart replays nothing and keeps it set aside (audited only once).
    g.kill();
    g.run();
    g.wait_applied();
    assert_eq!(g.total("person"), after);
    let (_, list) = get(&g, "/v1/admin/dead-letters", &admin);
    assert_eq!(list["dead_letters"].as_array().unwrap().len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    let events = g.audit_events(1);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["reason"] == "dead-lettered")
            .count(),
        1
    );
}

/// `pesgw bench load` (short form): a federation of separate gateway processes under mixed load
/// gives no 5xx, loses nothing acknowledged, and stays under the memory bound.
#[test]
fn bench_load_short_form_meets_its_targets() {
    let dir = tempfile::tempdir().unwrap();
    // Four consecutive free ports: a national gateway and 1 province, API and federation each.
    let port = pes_testkit::free_port_run(4);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args([
            "bench",
            "load",
            "--regions",
            "1",
            "--records",
            "600",
            "--seconds",
            "3",
        ])
        .args(["--push-rows", "100", "--port", &port.to_string(), "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for class in ["push", "national query", "person lookup", "audit read"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(class))
            .unwrap_or_else(|| panic!("no {class} line in {stdout}"));
        let requests: u64 = line
            .split_whitespace()
            .nth(class.split(' ').count())
            .unwrap()
            .parse()
            .unwrap();
        assert!(requests > 0, "{line}");
    }
    assert!(
        stdout.contains("PASS nothing acknowledged lost (0 records off)"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}
