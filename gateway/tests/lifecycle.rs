//! Data lifecycle against a running gateway: versionless re-exports ordered by push, snapshots
//! that retire what they lack (with the guard and an admin's confirmation), retirement by
//! source record id, retention, and a snapshot commit cut by SIGKILL.

use std::time::Duration;

use pes_gateway::auth::Role;
use pes_gateway::native_sample::{ndjson, record};
use pes_testkit::{pesgw, TestGateway, REGION, SOURCE};
use serde_json::{json, Value};

/// Sends a JSON request; status and JSON answer (null when there is none).
fn call(
    g: &TestGateway,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", g.base);
    let req = match method {
        "GET" => g.http().get(url),
        _ => g.http().post(url),
    };
    let req = req.bearer_auth(token);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Pushes NDJSON to the test source, in snapshot `snapshot` when given, waiting until applied.
fn push(g: &TestGateway, body: Vec<u8>, snapshot: Option<&str>) -> Value {
    let q = snapshot
        .map(|s| format!("&snapshot={s}"))
        .unwrap_or_default();
    let r = g
        .http()
        .post(format!("{}/v1/ingest/{SOURCE}?wait=applied{q}", g.base))
        .bearer_auth(g.pusher())
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().unwrap()
}

fn open_snapshot(g: &TestGateway, types: &[&str]) -> String {
    let (status, v) = call(
        g,
        "POST",
        &format!("/v1/sources/{SOURCE}/snapshots"),
        &g.pusher(),
        Some(json!({ "record_types": types })),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["state"], "open");
    v["id"].as_str().unwrap().to_string()
}

fn snapshot_path(id: &str, action: &str) -> String {
    format!("/v1/sources/{SOURCE}/snapshots/{id}/{action}")
}

/// Live records of the test source, all types.
fn live(g: &TestGateway) -> i64 {
    ["person", "job_seeker_registration", "vacancy"]
        .iter()
        .map(|d| g.total(d))
        .sum()
}

/// NDJSON of records `range` without versions of their own (ordered by push), in `order`.
fn versionless(range: std::ops::Range<u64>) -> Vec<Value> {
    range
        .map(|i| serde_json::to_value(record(i, REGION, SOURCE, 0)).unwrap())
        .collect()
}

fn body(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        serde_json::to_writer(&mut out, r).unwrap();
        out.push(b'\n');
    }
    out
}

#[test]
fn a_versionless_reexport_updates_what_changed_and_nothing_else() {
    let g = TestGateway::builder(pesgw!()).k(1).start();
    let first = versionless(0..30);
    let v = push(&g, body(&first), None);
    assert_eq!(
        (
            v["new"].as_u64(),
            v["updated"].as_u64(),
            v["unchanged"].as_u64()
        ),
        (Some(30), Some(0), Some(0)),
        "{v}"
    );

    // The next export lists the same records in another order, one vacancy corrected.
    let mut second = first.clone();
    second.reverse();
    let fixed = second
        .iter_mut()
        .find(|r| r["source_record_id"] == "S000000002")
        .unwrap();
    fixed["title"] = json!("数控车床操作工");
    let v = push(&g, body(&second), None);
    assert_eq!(
        (
            v["new"].as_u64(),
            v["updated"].as_u64(),
            v["unchanged"].as_u64()
        ),
        (Some(0), Some(1), Some(29)),
        "{v}"
    );
    assert_eq!(v["accepted"], 30);
    assert_eq!(live(&g), 30);

    // A record with a version of its own is still ordered by it: an older version loses.
    let older = ndjson(0..1, REGION, SOURCE, 3);
    let v = push(&g, older, None);
    assert_eq!(
        v["unchanged"].as_u64(),
        Some(1),
        "a push-ordered version is above any field version: {v}"
    );
}

#[test]
fn a_snapshot_retires_what_it_lacks_and_a_later_push_brings_it_back() {
    let g = TestGateway::builder(pesgw!()).k(1).start();
    push(&g, body(&versionless(0..15)), None);
    push(&g, body(&versionless(15..30)), None);
    assert_eq!(live(&g), 30);
    let id = open_snapshot(&g, &[]);
    // The first 27 records, in two batches: one unchanged body pushed before, one new body.
    let a = push(&g, body(&versionless(0..15)), Some(&id));
    assert_eq!(a["snapshot"], id.as_str());
    assert_eq!(
        a["duplicate"], false,
        "a snapshot batch is never a duplicate: {a}"
    );
    push(&g, body(&versionless(15..27)), Some(&id));
    let (status, v) = call(&g, "POST", &snapshot_path(&id, "commit"), &g.pusher(), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "committed");
    assert_eq!(v["retired"], 3);
    assert_eq!(v["kept"], 27);
    assert_eq!(v["batches"], 2);
    assert_eq!(live(&g), 27, "retired records leave the rollups");
    // Retired records leave record reads too.
    let caseworker = g.token(Role::Caseworker, &[], &["case_management"]);
    let read = |srid: &str| {
        call(
            &g,
            "GET",
            &format!("/v1/records/{REGION}:{SOURCE}:{srid}"),
            &caseworker,
            None,
        )
        .0
    };
    assert_eq!(read("S000000028"), 404);
    assert_eq!(read("S000000026"), 200);
    // Committing again is refused; the snapshot says what it did.
    let (status, v) = call(&g, "POST", &snapshot_path(&id, "commit"), &g.pusher(), None);
    assert_eq!(status, 409, "{v}");
    let (status, v) = call(
        &g,
        "GET",
        &format!("/v1/sources/{SOURCE}/snapshots/{id}"),
        &g.pusher(),
        None,
    );
    assert_eq!((status, v["retired"].as_u64()), (200, Some(3)));
    // A batch for a committed snapshot is refused.
    let r = g
        .http()
        .post(format!("{}/v1/ingest/{SOURCE}?snapshot={id}", g.base))
        .bearer_auth(g.pusher())
        .header("content-type", "application/x-ndjson")
        .body(body(&versionless(0..1)))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    // The commit is audited.
    let retired: Vec<Value> = g.audit_entries(1, |e| {
        e["action"] == "record_retire" && e["counts"]["retired"] == 3
    });
    assert_eq!(retired.len(), 1);
    // A later push of a retired record brings it back, as new.
    let v = push(&g, body(&versionless(28..29)), None);
    assert_eq!(v["new"].as_u64(), Some(1), "{v}");
    assert_eq!(live(&g), 28);
}

#[test]
fn a_snapshot_that_would_retire_too_much_waits_for_an_admin() {
    let g = TestGateway::builder(pesgw!()).k(1).start();
    push(&g, body(&versionless(0..30)), None);
    // A truncated export: a third of the source.
    let id = open_snapshot(&g, &[]);
    push(&g, body(&versionless(0..10)), Some(&id));
    let (status, v) = call(&g, "POST", &snapshot_path(&id, "commit"), &g.pusher(), None);
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["state"], "awaiting_confirmation");
    assert_eq!(v["guard"]["would_retire"], 20);
    assert_eq!(v["guard"]["live"], 30);
    assert!(
        v["guard"]["message"].as_str().unwrap().contains("20 of 30"),
        "{v}"
    );
    assert_eq!(live(&g), 30, "nothing retired while it waits");
    // A pusher cannot confirm it; an admin can.
    let (status, _) = call(
        &g,
        "POST",
        &snapshot_path(&id, "confirm"),
        &g.pusher(),
        None,
    );
    assert_eq!(status, 403);
    let admin = g.token(Role::Admin, &[], &[]);
    let (status, v) = call(&g, "POST", &snapshot_path(&id, "confirm"), &admin, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["retired"].as_u64()),
        (Some("committed"), Some(20))
    );
    assert_eq!(v["confirmed_by"], "admin-test");
    assert_eq!(live(&g), 10);

    // An aborted snapshot retires nothing and takes no more batches.
    let id = open_snapshot(&g, &["vacancy"]);
    let (status, v) = call(&g, "POST", &snapshot_path(&id, "abort"), &g.pusher(), None);
    assert_eq!((status, v["state"].as_str()), (200, Some("aborted")));
    let (status, _) = call(&g, "POST", &snapshot_path(&id, "commit"), &g.pusher(), None);
    assert_eq!(status, 409);
    assert_eq!(live(&g), 10);
    // A snapshot with a batch refused for its content waits for an admin: that batch's records
    // would look absent.
    let id = open_snapshot(&g, &[]);
    let r = g
        .http()
        .post(format!("{}/v1/ingest/{SOURCE}?snapshot={id}", g.base))
        .bearer_auth(g.pusher())
        .header("content-type", "application/x-ndjson")
        .body("this is not JSON\n")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // One record of ten missing: within the share, but the refused batch may have held it.
    push(&g, body(&versionless(0..9)), Some(&id));
    let (status, v) = call(&g, "POST", &snapshot_path(&id, "commit"), &g.pusher(), None);
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["failed_batches"], 1);
    assert!(
        v["guard"]["message"].as_str().unwrap().contains("refused"),
        "{v}"
    );
    let (status, _) = call(&g, "POST", &snapshot_path(&id, "abort"), &g.pusher(), None);
    assert_eq!(status, 200);
    // Unknown snapshots and record types are refused.
    let (status, v) = call(
        &g,
        "POST",
        &snapshot_path("snap-nope", "commit"),
        &g.pusher(),
        None,
    );
    assert_eq!(
        (
            status,
            v["type"].as_str().map(|t| t.ends_with("unknown-snapshot"))
        ),
        (404, Some(true))
    );
    let (status, _) = call(
        &g,
        "POST",
        &format!("/v1/sources/{SOURCE}/snapshots"),
        &g.pusher(),
        Some(json!({"record_types": ["job"]})),
    );
    assert_eq!(status, 400);
}

#[test]
fn a_snapshot_of_one_record_type_leaves_the_others() {
    let g = TestGateway::builder(pesgw!())
        .k(1)
        .config(|c| c.lifecycle.snapshot_max_retire_share = 1.0)
        .start();
    push(&g, body(&versionless(0..30)), None);
    let vacancies = g.total("vacancy");
    // Only the vacancies among records 0..15 are in the snapshot of vacancies.
    let id = open_snapshot(&g, &["vacancy"]);
    push(&g, body(&versionless(0..15)), Some(&id));
    let (status, v) = call(&g, "POST", &snapshot_path(&id, "commit"), &g.pusher(), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["retired"], 5, "vacancies 17, 20, 23, 26, 29");
    assert_eq!(g.total("vacancy"), vacancies - 5);
    assert_eq!(g.total("person"), 10, "persons are outside the snapshot");
}

#[test]
fn records_are_retired_by_source_record_id() {
    let g = TestGateway::builder(pesgw!()).k(1).start();
    push(&g, body(&versionless(0..9)), None);
    let before = g.total("vacancy");
    let (status, v) = call(
        &g,
        "POST",
        &format!("/v1/sources/{SOURCE}/retire"),
        &g.pusher(),
        Some(json!({ "source_record_ids": ["S000000002", "S999"] })),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["retired"], 1);
    assert_eq!(v["not_found"], json!(["S999"]));
    assert_eq!(g.total("vacancy"), before - 1);
    // An analyst may not; nor may a pusher of another source. Both refusals are audited.
    let analyst = g.token(Role::Analyst, &[], &[]);
    let (status, _) = call(
        &g,
        "POST",
        &format!("/v1/sources/{SOURCE}/retire"),
        &analyst,
        Some(json!({ "source_record_ids": ["S000000005"] })),
    );
    assert_eq!(status, 403);
    let other = g.token(Role::Pusher, &["other"], &[]);
    let (status, _) = call(
        &g,
        "POST",
        &format!("/v1/sources/{SOURCE}/retire"),
        &other,
        Some(json!({ "source_record_ids": ["S000000005"] })),
    );
    assert_eq!(status, 403);
    // A role that may never retire is refused at the door (`access_denied`); a pusher of
    // another source by the retirement itself.
    let refused = g.audit_entries(2, |e| {
        e["outcome"] == "denied" && e["reason"] == "forbidden"
    });
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1]["action"], "record_retire");
    assert_eq!(refused[1]["dataset"], SOURCE);
    let (status, _) = call(
        &g,
        "POST",
        &format!("/v1/sources/{SOURCE}/retire"),
        &g.pusher(),
        Some(json!({ "source_record_ids": [] })),
    );
    assert_eq!(status, 400);
}

#[test]
fn retention_expires_registrations_and_purges_retired_records() {
    let g = TestGateway::builder(pesgw!())
        .k(1)
        .config(|c| {
            c.lifecycle
                .expire_after_months
                .insert("job_seeker_registration".into(), 0);
            c.lifecycle.purge_retired_after_days = 0;
        })
        .start();
    push(&g, body(&versionless(0..30)), None);
    let admin = g.token(Role::Admin, &[], &[]);
    let (status, v) = call(&g, "POST", "/v1/admin/retention", &admin, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["expired"].as_u64(), v["purged"].as_u64()),
        (Some(10), Some(0))
    );
    assert_eq!(g.total("job_seeker_registration"), 0);
    assert_eq!(g.total("person"), 10, "types without an expiry stay");
    // The next run deletes the retired records for good.
    let (_, v) = call(&g, "POST", "/v1/admin/retention", &admin, None);
    assert_eq!(
        (v["expired"].as_u64(), v["purged"].as_u64()),
        (Some(0), Some(10)),
        "{v}"
    );
    let (status, _) = call(&g, "POST", "/v1/admin/retention", &g.pusher(), None);
    assert_eq!(status, 403);
    let metrics = g.metrics();
    assert!(
        metrics.contains("pes_records_retired_total 10"),
        "{metrics}"
    );
    assert!(metrics.contains("pes_records_purged_total 10"), "{metrics}");
    assert!(!g
        .audit_entries(2, |e| e["action"] == "record_retire"
            && e["counts"]["purged"] == 10)
        .is_empty());
}

/// SIGKILL while a large snapshot commit runs: after the restart the source holds either every
/// record (the commit did not reach the journal: the snapshot is aborted) or exactly the
/// snapshot's (it did: the snapshot is committed), never a mix.
#[test]
fn a_snapshot_commit_cut_by_sigkill_is_all_or_nothing() {
    let mut g = TestGateway::builder(pesgw!())
        .k(1)
        .config(|c| c.lifecycle.snapshot_max_retire_share = 1.0)
        .start();
    let all = 6_000u64;
    for chunk in (0..all).step_by(2_000) {
        push(&g, ndjson(chunk..chunk + 2_000, REGION, SOURCE, 0), None);
    }
    let mut outcomes = Vec::new();
    for (round, delay_ms) in [0u64, 15, 40, 70, 120].into_iter().enumerate() {
        let total = live(&g);
        let id = open_snapshot(&g, &[]);
        // Each round keeps a smaller part of the source.
        let keep = total as u64 - 400 - 200 * round as u64;
        push(&g, ndjson(0..keep, REGION, SOURCE, 0), Some(&id));
        let (base, token) = (g.base.clone(), g.pusher());
        let path = snapshot_path(&id, "commit");
        let commit = std::thread::spawn(move || {
            reqwest::blocking::Client::new()
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .timeout(Duration::from_secs(30))
                .send()
                .map(|r| r.status().as_u16())
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        g.kill();
        let _ = commit.join();
        g.run();
        let after = live(&g);
        let (_, s) = call(
            &g,
            "GET",
            &format!("/v1/sources/{SOURCE}/snapshots/{id}"),
            &g.pusher(),
            None,
        );
        match s["state"].as_str() {
            Some("committed") => assert_eq!(after, keep as i64, "round {round}: {s}"),
            Some("aborted") => assert_eq!(after, total, "round {round}: {s}"),
            other => panic!("round {round}: snapshot left {other:?}: {s}"),
        }
        outcomes.push(s["state"].as_str().unwrap().to_string());
        // The rollups agree with a recount after the restart.
        assert_eq!(
            g.total("person") + g.total("job_seeker_registration") + g.total("vacancy"),
            after
        );
    }
    eprintln!("commit outcomes by kill delay: {outcomes:?}");
}
