//! End-to-end ingest and query against a real `pesgw serve` on 127.0.0.1.

use pes_gateway::auth::Role;
use pes_gateway::native_sample::{ndjson, record};
use pes_testkit::{pesgw, TestGateway, REGION, SOURCE};
use serde_json::json;

fn k1(cfg: &mut pes_gateway::config::GatewayConfig) {
    cfg.k = 1;
}

/// Expected counts per type for records 0..n (record i has type i % 3).
fn expected(n: u64) -> (i64, i64, i64) {
    let c = |r: u64| (0..n).filter(|i| i % 3 == r).count() as i64;
    (c(0), c(1), c(2))
}

#[test]
fn pushed_records_are_counted_back_by_query() {
    let g = TestGateway::start_with(pesgw!(), k1);
    let v = g.push(ndjson(0..300, REGION, SOURCE, 1), true);
    assert_eq!(v["accepted"], 300);
    assert_eq!(v["quarantined"], 0);
    assert_eq!(v["applied"], true);
    assert_eq!(v["unchanged"], 0);
    assert_eq!(v["batch_id"].as_str().unwrap().len(), 64);
    assert!(v["audit_receipt"]["leaf_hash"].is_string());
    let (p, r, vac) = expected(300);
    assert_eq!(g.total("person"), p);
    assert_eq!(g.total("job_seeker_registration"), r);
    assert_eq!(g.total("vacancy"), vac);
    // Open vacancies by prefecture from the rollup equal a recount of the pushed records.
    let a = g.query(json!({ "dataset": "vacancy", "measures": ["count", "sum"], "group_by": ["prefecture"], "filters": { "status": ["open"] } }));
    assert_eq!(a["answered_from"], "rollup");
    let mut want = std::collections::BTreeMap::<String, (i64, i64)>::new();
    for i in 0..300 {
        if let pes_schemas::RecordBody::Vacancy(v) = record(i, REGION, SOURCE, 1).body {
            if v.status == pes_schemas::VacancyStatus::Open {
                let e = want
                    .entry(format!("{}00", &v.work_division[..4]))
                    .or_default();
                e.0 += 1;
                e.1 += i64::from(v.openings);
            }
        }
    }
    let got: std::collections::BTreeMap<String, (i64, i64)> = a["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["group"]["prefecture"].as_str().unwrap().to_string(),
                (c["count"].as_i64().unwrap(), c["sum"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Three dimensions without status do not fit a cube: the scan gives the same totals.
    let s = g.query(json!({ "dataset": "vacancy", "group_by": ["prefecture", "occupation_major", "education", "month"] }));
    assert_eq!(s["answered_from"], "scan");
    let scanned: i64 = s["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .sum();
    assert_eq!(scanned, vac);
}

#[test]
fn repush_changes_nothing() {
    let g = TestGateway::start_with(pesgw!(), k1);
    let body = ndjson(0..90, REGION, SOURCE, 1);
    g.push(body.clone(), true);
    let again = g.push(body, true);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["accepted"], 0);
    // The same records in another body (another batch id) are applied as unchanged.
    let other = g.push(ndjson(30..90, REGION, SOURCE, 1), true);
    assert_eq!(other["duplicate"], false);
    assert_eq!(other["unchanged"], 60);
    assert_eq!(g.total("vacancy"), 30);
    assert_eq!(g.total("person"), 30);
}

#[test]
fn newer_record_version_replaces_older_and_older_never_wins() {
    let g = TestGateway::start_with(pesgw!(), k1);
    g.push(ndjson(0..30, REGION, SOURCE, 1), true);
    // Version 2 of every vacancy, all filled.
    let mut body = Vec::new();
    for i in (2..30).step_by(3) {
        let mut r = record(i, REGION, SOURCE, 2);
        if let pes_schemas::RecordBody::Vacancy(v) = &mut r.body {
            v.status = pes_schemas::VacancyStatus::Filled;
        }
        body.extend(serde_json::to_vec(&r).unwrap());
        body.push(b'\n');
    }
    let v = g.push(body, true);
    assert_eq!(v["unchanged"], 0);
    let filled = |g: &TestGateway| {
        let a = g.query(json!({ "dataset": "vacancy", "group_by": ["status"] }));
        a["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["group"]["status"].as_str().unwrap().to_string(),
                    c["count"].as_i64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(filled(&g), vec![("filled".to_string(), 10)]);
    // Pushing version 1 again (in a new body) changes nothing.
    let mut old = ndjson(0..30, REGION, SOURCE, 1);
    old.extend_from_slice(b"\n");
    let v = g.push(old, true);
    assert_eq!(v["unchanged"], 30);
    assert_eq!(filled(&g), vec![("filled".to_string(), 10)]);
    assert_eq!(g.total("vacancy"), 10);
}

#[test]
fn protected_fields_need_caseworker_purpose_and_reveal() {
    let g = TestGateway::start_with(pesgw!(), k1);
    g.push(ndjson(0..3, REGION, SOURCE, 1), true);
    let id = record(0, REGION, SOURCE, 1).record_id;
    let url = format!("{}/v1/records/{id}", g.base);
    let cw = g.token(Role::Caseworker, &[], &["case_management"]);
    let v: serde_json::Value = g
        .http()
        .get(&url)
        .bearer_auth(&cw)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["protected_withheld"], true);
    assert!(v["record"]["protected"].is_null());
    let r = g
        .http()
        .get(format!("{url}?reveal=true&purpose=marketing"))
        .bearer_auth(&cw)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: serde_json::Value = g
        .http()
        .get(format!("{url}?reveal=true&purpose=case_management"))
        .bearer_auth(&cw)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let want = match record(0, REGION, SOURCE, 1).body {
        pes_schemas::RecordBody::Person(p) => p.protected.unwrap(),
        _ => unreachable!(),
    };
    assert_eq!(v["record"]["protected"]["id_number"], want.id_number);
    // At rest the ID number appears nowhere in the data directory in clear.
    let mut clear = false;
    for e in walk(&g.cfg.data_dir) {
        let b = std::fs::read(&e).unwrap();
        clear |= b
            .windows(want.id_number.len())
            .any(|w| w == want.id_number.as_bytes());
    }
    assert!(!clear, "an ID number is stored in clear");
    let analyst = g.token(Role::Analyst, &[], &[]);
    assert_eq!(
        g.http()
            .get(&url)
            .bearer_auth(&analyst)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        403
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn invalid_rows_are_quarantined_and_listed_masked() {
    let g = TestGateway::start_with(pesgw!(), k1);
    let mut body = ndjson(0..6, REGION, SOURCE, 1);
    let mut bad = record(99, REGION, SOURCE, 1); // a person, with protected fields
    bad.region = "510000".into();
    bad.record_id = pes_schemas::Record::make_id("510000", SOURCE, &bad.source_record_id);
    body.extend(serde_json::to_vec(&bad).unwrap());
    body.extend_from_slice(b"\n{\"record_id\":\"x\"}\n");
    let v = g.push(body, true);
    assert_eq!(v["accepted"], 6);
    assert_eq!(v["quarantined"], 2);
    let errs = v["row_errors"].as_array().unwrap();
    assert_eq!(errs[0]["field"], "region");
    assert_eq!(errs[0]["location"], "line:7");
    let admin = g.token(Role::Admin, &[], &[]);
    let l: serde_json::Value = g
        .http()
        .get(format!("{}/v1/quarantine?source={SOURCE}", g.base))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let items = l["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // Only the protected cells are masked: whoever fixes the export sees the wrong region.
    let masked = &items[0]["raw_masked"].as_str().unwrap();
    let bad_json = serde_json::to_value(&bad).unwrap();
    let protected = bad_json["protected"]
        .as_object()
        .expect("a person has protected fields");
    for (field, value) in protected {
        if let Some(v) = value.as_str().filter(|v| !v.is_empty()) {
            assert!(!masked.contains(v), "{field} shown: {masked}");
        }
    }
    assert!(masked.contains("\"region\":\"510000\""), "{masked}");
    assert!(masked.contains(&bad.record_id), "{masked}");
    // A row without protected fields is shown as pushed.
    assert_eq!(items[1]["raw_masked"], "{\"record_id\":\"x\"}");
}

#[test]
fn sigkill_after_acknowledged_pushes_loses_nothing_and_duplicates_nothing() {
    let mut g = TestGateway::start_with(pesgw!(), k1);
    let mut acked = 0;
    for b in 0..5u64 {
        let v = g.push(ndjson(b * 2000..(b + 1) * 2000, REGION, SOURCE, 1), false);
        acked += v["accepted"].as_u64().unwrap();
    }
    g.kill();
    g.run();
    g.wait_applied();
    let (p, r, vac) = expected(acked);
    assert_eq!(
        (
            g.total("person"),
            g.total("job_seeker_registration"),
            g.total("vacancy")
        ),
        (p, r, vac)
    );
    // Re-pushing after the restart is recognised as a duplicate batch.
    let v = g.push(ndjson(0..2000, REGION, SOURCE, 1), false);
    assert_eq!(v["duplicate"], true);
    // A second crash and restart still counts every record once.
    g.kill();
    g.run();
    g.wait_applied();
    assert_eq!(g.total("person"), p);
}

#[test]
fn bad_tokens_are_refused_and_audited() {
    use base64::Engine as _;
    // Short intervals: the counted anonymous refusals are written within the test.
    let g = TestGateway::start_with(pesgw!(), |c| c.audit.anonymous_refusal_interval_secs = 1);
    let body = ndjson(0..3, REGION, SOURCE, 1);
    let before = g.audit_events(0).len();
    let analyst = g.token(Role::Analyst, &[], &[]);
    let mut other_region =
        pes_gateway::auth::claims_for("x", Role::Pusher, "510000", vec![SOURCE.into()], vec![], 60);
    let wrong_region = g.sign(&other_region);
    other_region.region = REGION.into();
    other_region.exp = pes_gateway::auth::now_secs() - 600;
    let expired = g.sign(&other_region);
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let claims = serde_json::to_value(pes_gateway::auth::claims_for(
        "x",
        Role::Pusher,
        REGION,
        vec![SOURCE.into()],
        vec![],
        60,
    ))
    .unwrap();
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(claims.clone())
    );
    let hs = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("whatever".into());
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(b"k")).unwrap()
    };
    for (token, want) in [
        (analyst.as_str(), 403),
        (wrong_region.as_str(), 403),
        (expired.as_str(), 401),
        (none.as_str(), 401),
        (hs.as_str(), 401),
        ("garbage", 401),
    ] {
        let (status, v, ct) =
            g.push_raw(SOURCE, token, "application/x-ndjson", body.clone(), false);
        assert_eq!(status, want, "{v}");
        assert_eq!(ct, "application/problem+json");
        assert!(v["type"]
            .as_str()
            .unwrap()
            .starts_with("https://pes.example/problems/"));
    }
    // The two 403s (tokens of this issuer) are one entry each; the four 401s are anonymous,
    // aggregated per client and interval: entries whose counts add up to four.
    let mut refused = (0, 0);
    for _ in 0..100 {
        let lines = g.audit_events(before + 3);
        let refusals: Vec<_> = lines[before..]
            .iter()
            .filter(|e| e["outcome"] == "denied" && e["action"] == "access_denied")
            .collect();
        assert!(refusals
            .iter()
            .all(|e| e["reason"] == "unauthorized" || e["reason"] == "forbidden"));
        let forbidden = refusals.iter().filter(|e| e["reason"] == "forbidden");
        let unauthorized = refusals.iter().filter(|e| e["reason"] == "unauthorized");
        refused = (
            forbidden.count(),
            unauthorized
                .map(|e| e["counts"]["count"].as_u64().unwrap())
                .sum::<u64>(),
        );
        if refused == (2, 4) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(refused, (2, 4));
    assert_eq!(g.total("person"), 0);
}

#[test]
fn bad_bodies_get_problems_and_lose_nothing_already_accepted() {
    let g = TestGateway::start_with(pesgw!(), |c| {
        c.k = 1;
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_rows_per_batch = 50;
    });
    g.push(ndjson(0..30, REGION, SOURCE, 1), true);
    let t = g.pusher();
    let check = |source: &str, ct: &str, body: Vec<u8>, status: u16, slug: &str| {
        let (s, v, pct) = g.push_raw(source, &t, ct, body, false);
        assert_eq!(s, status, "{v}");
        assert_eq!(pct, "application/problem+json");
        assert_eq!(v["type"], format!("https://pes.example/problems/{slug}"));
        assert_eq!(v["status"], status);
        let detail = v["detail"].as_str().unwrap();
        assert!(
            !detail.contains("/tmp") && !detail.contains("sled"),
            "{detail}"
        );
    };
    check(
        SOURCE,
        "application/x-ndjson",
        ndjson(100..400, REGION, SOURCE, 1),
        413,
        "body-too-large",
    );
    check(
        SOURCE,
        "application/x-ndjson",
        ndjson(100..160, REGION, SOURCE, 1),
        413,
        "too-many-rows",
    );
    let mut misencoded = ndjson(100..103, REGION, SOURCE, 1);
    misencoded.extend_from_slice(b"\xff\xfe\n");
    check(
        SOURCE,
        "application/x-ndjson",
        misencoded,
        400,
        "body-encoding",
    );
    let mut malformed = ndjson(100..103, REGION, SOURCE, 1);
    malformed.extend_from_slice(b"{\"record_id\": \n");
    check(
        SOURCE,
        "application/x-ndjson",
        malformed,
        400,
        "malformed-body",
    );
    check(
        SOURCE,
        "text/csv",
        ndjson(100..103, REGION, SOURCE, 1),
        415,
        "unsupported-media-type",
    );
    check(
        "no-such-source",
        "application/x-ndjson",
        ndjson(100..103, REGION, SOURCE, 1),
        404,
        "unknown-source",
    );
    // Chunked body with no Content-Length, over the limit: refused while streaming.
    let big = ndjson(100..400, REGION, SOURCE, 1);
    let stream = reqwest::blocking::Body::new(std::io::Cursor::new(big));
    let r = g
        .http()
        .post(format!("{}/v1/ingest/{SOURCE}", g.base))
        .bearer_auth(&t)
        .header("content-type", "application/x-ndjson")
        .body(stream)
        .send();
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    g.wait_applied();
    assert_eq!(g.total("person"), 10);
    assert_eq!(g.total("vacancy"), 10);
    let events = g.audit_events(7);
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e["outcome"] == "invalid")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for slug in [
        "body-too-large",
        "body-encoding",
        "malformed-body",
        "unsupported-media-type",
        "unknown-source",
    ] {
        assert!(refused.contains(&slug), "{slug} not audited: {refused:?}");
    }
    let ok = events
        .iter()
        .find(|e| e["action"] == "ingest_push" && e["outcome"] == "ok")
        .unwrap();
    assert_eq!(ok["counts"]["accepted"], 30);
    assert_eq!(ok["batch_id"].as_str().unwrap().len(), 64);
}

#[test]
fn ops_endpoints_answer() {
    let g = TestGateway::start(pesgw!());
    g.push(ndjson(0..10, REGION, SOURCE, 1), true);
    let r: serde_json::Value = g
        .http()
        .get(format!("{}/readyz", g.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["status"], "ready");
    let m = g
        .http()
        .get(format!("{}/metrics", g.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(m.contains("pes_ingested_rows_total 10"), "{m}");
    assert!(m.contains("pes_journal_fsync_seconds_count"));
    let o: serde_json::Value = g
        .http()
        .get(format!("{}/openapi.json", g.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(o["paths"]["/v1/ingest/{source}"].is_object());
    assert!(o["components"]["schemas"]["Problem"].is_object());
    assert!(o["paths"]["/v1/persons/lookup"].is_object());
    assert!(o["components"]["schemas"]["PersonLookupAnswer"].is_object());
    let nf = g.http().get(format!("{}/nope", g.base)).send().unwrap();
    assert_eq!(nf.status().as_u16(), 404);
    assert!(nf.headers().get("x-request-id").is_some());
    let sd: serde_json::Value = g
        .http()
        .get(format!("{}/v1/reports/supply-demand", g.base))
        .bearer_auth(g.token(Role::Analyst, &[], &[]))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(sd["rows"].is_array());
}

fn pesgw(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_push_splits_retries_nothing_twice_and_query_and_record_read_back() {
    let g = TestGateway::start_with(pesgw!(), k1);
    let file = g.dir.path().join("export.ndjson");
    std::fs::write(&file, ndjson(0..250, REGION, SOURCE, 1)).unwrap();
    let token = g.pusher();
    let push = |g: &TestGateway| {
        pesgw(&[
            "push",
            "--quiet",
            "--wait",
            "--batch-rows",
            "100",
            "--source",
            SOURCE,
            "--url",
            &g.base,
            "--token",
            &token,
            file.to_str().unwrap(),
        ])
    };
    let (ok, out, err) = push(&g);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("pushed 3 batches")
            && out.contains("250 accepted")
            && out.contains("0 duplicate batches"),
        "{out}"
    );
    let (ok, out, _) = push(&g);
    assert!(ok);
    assert!(
        out.contains("0 accepted") && out.contains("3 duplicate batches"),
        "{out}"
    );
    let analyst = g.token(Role::Analyst, &[], &[]);
    let (ok, out, err) = pesgw(&[
        "query",
        "--json",
        "--url",
        &g.base,
        "--token",
        &analyst,
        "--dataset",
        "vacancy",
        "--group-by",
        "status",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let total: i64 = v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, expected(250).2);
    let (ok, table, _) = pesgw(&[
        "query",
        "--url",
        &g.base,
        "--token",
        &analyst,
        "--dataset",
        "vacancy",
        "--group-by",
        "status",
    ]);
    assert!(
        ok && table.contains("status")
            && table.contains("open")
            && table.contains("answered from rollup"),
        "{table}"
    );
    let id = record(0, REGION, SOURCE, 1).record_id;
    let want = match record(0, REGION, SOURCE, 1).body {
        pes_schemas::RecordBody::Person(p) => p.protected.unwrap().id_number,
        _ => unreachable!(),
    };
    let cw = g.token(Role::Caseworker, &[], &["case_management"]);
    let (ok, out, _) = pesgw(&["record", &id, "--url", &g.base, "--token", &cw]);
    assert!(
        ok && out.contains("person_key") && !out.contains(&want),
        "{out}"
    );
    let (ok, out, _) = pesgw(&[
        "record",
        &id,
        "--url",
        &g.base,
        "--token",
        &cw,
        "--purpose",
        "case_management",
        "--reveal",
    ]);
    assert!(ok && out.contains(&want), "{out}");
    let (ok, _, err) = pesgw(&[
        "record",
        &id,
        "--url",
        &g.base,
        "--token",
        &cw,
        "--purpose",
        "curiosity",
        "--reveal",
    ]);
    assert!(!ok && err.contains("403"), "{err}");
}

/// Pushes with an `Idempotency-Key`; returns status, body, and the `Idempotent-Replayed` header.
fn push_with_key(
    g: &TestGateway,
    token: &str,
    key: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value, Option<String>) {
    let r = g
        .http()
        .post(format!("{}/v1/ingest/{SOURCE}", g.base))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .header("idempotency-key", key)
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().unwrap(), replayed)
}

#[test]
fn idempotency_key_with_the_same_body_returns_the_original_answer() {
    let g = TestGateway::start_with(pesgw!(), k1);
    let token = g.pusher();
    let body = ndjson(0..30, REGION, SOURCE, 1);
    let (status, first, replayed) = push_with_key(&g, &token, "export-2026-03-05", body.clone());
    assert_eq!(status, 200, "{first}");
    assert_eq!(replayed, None);
    assert_eq!(first["accepted"], 30);
    g.wait_applied();
    let (status, again, replayed) = push_with_key(&g, &token, "export-2026-03-05", body);
    assert_eq!(status, 200, "{again}");
    assert_eq!(replayed.as_deref(), Some("true"));
    // The original answer: same batch, same counts and receipt, not a new duplicate push.
    for field in [
        "batch_id",
        "accepted",
        "quarantined",
        "duplicate",
        "journal_offset",
    ] {
        assert_eq!(again[field], first[field], "{field}");
    }
    assert_eq!(again["audit_receipt"], first["audit_receipt"]);
    // Its store outcome is known by now.
    assert_eq!(again["applied"], true);
    assert_eq!(again["unchanged"], 0);
    assert_eq!(g.total("person"), 10);
    // The replay was audited as a push of the same batch.
    let events = g.audit_events(0);
    let replays = events
        .iter()
        .filter(|e| e["counts"]["idempotent_replays"] == 1)
        .collect::<Vec<_>>();
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0]["batch_id"], first["batch_id"]);
}

#[test]
fn idempotency_key_reused_for_another_body_is_refused_audited_and_changes_nothing() {
    let g = TestGateway::start_with(pesgw!(), k1);
    let token = g.pusher();
    let (status, first, _) = push_with_key(&g, &token, "k-1", ndjson(0..30, REGION, SOURCE, 1));
    assert_eq!(status, 200, "{first}");
    let before = g.audit_events(0).len();
    let (status, p, _) = push_with_key(&g, &token, "k-1", ndjson(30..60, REGION, SOURCE, 1));
    assert_eq!(status, 422, "{p}");
    assert_eq!(
        p["type"],
        "https://pes.example/problems/idempotency-key-reused"
    );
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains(first["batch_id"].as_str().unwrap()));
    g.wait_applied();
    assert_eq!(g.total("person"), 10);
    let events = g.audit_events(before + 1);
    assert!(events[before..]
        .iter()
        .any(|e| e["reason"] == "idempotency-key-reused" && e["outcome"] == "invalid"));
    // Keys are scoped per pusher: another system may use the same key for its own body.
    let other = g.sign(&pes_gateway::auth::claims_for(
        "other-system",
        Role::Pusher,
        REGION,
        vec![SOURCE.into()],
        vec![],
        600,
    ));
    let (status, v, _) = push_with_key(&g, &other, "k-1", ndjson(30..60, REGION, SOURCE, 1));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 30);
    // A key that is not visible ASCII (or too long) is refused before anything is taken.
    let (status, p, _) = push_with_key(
        &g,
        &token,
        &"k".repeat(129),
        ndjson(60..63, REGION, SOURCE, 1),
    );
    assert_eq!(status, 400);
    assert_eq!(
        p["type"],
        "https://pes.example/problems/bad-idempotency-key"
    );
    g.wait_applied();
    assert_eq!(g.total("person"), 20);
}

#[test]
fn unchanged_is_given_exactly_when_it_is_known() {
    let g = TestGateway::start_with(pesgw!(), k1);
    g.push(ndjson(0..60, REGION, SOURCE, 1), true);
    // 30 records held already, 30 new; acknowledged without waiting for the store.
    let v = g.push(ndjson(30..90, REGION, SOURCE, 1), false);
    assert_eq!(v["accepted"], 60);
    if v["applied"] == true {
        assert_eq!(v["unchanged"], 30, "{v}");
    } else {
        assert!(
            v["unchanged"].is_null(),
            "not known before it is applied: {v}"
        );
    }
    // A duplicate changes nothing: once its batch is applied, all of it is unchanged.
    g.wait_applied();
    let dup = g.push(ndjson(30..90, REGION, SOURCE, 1), false);
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["applied"], true);
    assert_eq!(dup["unchanged"], 60);
    // Waiting gives the exact number.
    let w = g.push(ndjson(80..100, REGION, SOURCE, 1), true);
    assert_eq!(w["applied"], true);
    assert_eq!(w["unchanged"], 10);
}
