//! `pesgw serve` with a `[federation]` section, as an operator runs it: a national gateway and two
//! provincial ones, each its own process with its HTTP API and its mTLS listener on 127.0.0.1.
//! `POST /v1/query` with `regions` fans out and merges; the supply-and-demand report works across
//! regions; `POST /v1/admin/reload` is for admins and refuses a lower trust-list version.

use std::process::{Command, Stdio};

use pes_gateway::auth::Role;
use pes_testkit::{pesgw, post, TestFederation, TestGateway, SOURCE};
use serde_json::{json, Value};

#[actix_web::test]
async fn serve_with_federation_section_fans_out_reports_and_reloads() {
    let federation = TestFederation::new(&["100000", "110000", "440000"], 2);
    let gws = federation.start_all(pesgw!()).await;
    let http = reqwest::Client::new();
    for (i, gw) in gws.iter().enumerate().skip(1) {
        let body =
            pes_gateway::native_sample::ndjson(0..(300 + 150 * i as u64), &gw.region, SOURCE, 1);
        gw.push_async(&http, body).await;
    }

    // Regional truths, each asked locally (no `regions`).
    let q = json!({ "dataset": "person", "measures": ["count"], "purpose": "statistics" });
    let mut truth = 0;
    for gw in &gws[1..] {
        let (s, a) = post(
            &http,
            &format!("{}/v1/query", gw.base),
            &gw.token_as(Role::Analyst, "analyst", &[], &[]),
            &q,
        )
        .await;
        assert_eq!(s, 200, "{a}");
        assert_eq!(a["region"], gw.region.as_str());
        assert!(
            a.get("regions").is_none(),
            "a local answer is not fanned out"
        );
        truth += a["cells"][0]["count"].as_i64().unwrap();
    }
    assert!(truth > 0);

    let national = &gws[0];
    let analyst = national.token_as(Role::Analyst, "analyst-nat", &[], &[]);
    let mut fq = q.clone();
    fq["regions"] = json!(["all"]);
    let (s, a) = post(&http, &format!("{}/v1/query", national.base), &analyst, &fq).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["complete"], true, "{a}");
    assert_eq!(a["cells"][0]["count"].as_i64(), Some(truth));
    let statuses: Vec<(&str, &str)> = a["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["region"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![("100000", "ok"), ("110000", "ok"), ("440000", "ok")]
    );
    for r in &a["regions"].as_array().unwrap()[1..] {
        assert!(r["latency_ms"].is_number());
        assert!(r["receipt"]["index"].is_u64(), "{r}");
    }
    assert!(a["receipt"]["index"].is_u64());

    // An explicit list asks only those regions.
    fq["regions"] = json!(["440000"]);
    let (s, only) = post(&http, &format!("{}/v1/query", national.base), &analyst, &fq).await;
    assert_eq!(s, 200, "{only}");
    assert_eq!(only["regions"].as_array().unwrap().len(), 1);

    // A purpose the regions' policies do not allow: each region refuses, the answer says so.
    let mut denied = fq.clone();
    denied["regions"] = json!(["110000"]);
    denied["purpose"] = json!("marketing");
    let (s, d) = post(
        &http,
        &format!("{}/v1/query", national.base),
        &analyst,
        &denied,
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["complete"], false);
    assert_ne!(d["regions"][0]["status"], "ok");

    // Supply and demand across regions: rows of both provinces, with per-region status.
    let r = http
        .get(format!(
            "{}/v1/reports/supply-demand?regions=all",
            national.base
        ))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let sd: Value = r.json().await.unwrap();
    let row_regions: std::collections::BTreeSet<&str> = sd["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert!(
        row_regions.contains("110000") && row_regions.contains("440000"),
        "{sd}"
    );
    assert_eq!(sd["regions"].as_array().unwrap().len(), 3);
    // The national total of active seekers equals the sum of the provinces' own reports
    // (suppressed cells excluded on both sides).
    let seekers = |v: &Value, region: Option<&str>| -> i64 {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| region.is_none_or(|g| r["region"] == g))
            .filter_map(|r| r["active_seekers"].as_i64())
            .sum()
    };
    for gw in &gws[1..] {
        let local: Value = http
            .get(format!("{}/v1/reports/supply-demand", gw.base))
            .bearer_auth(gw.token_as(Role::Analyst, "a", &[], &[]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seekers(&sd, Some(&gw.region)), seekers(&local, None));
    }

    // Reload: admins only; the same list is unchanged; a lower version is refused (409) and
    // the last good list stays in force.
    let reload = format!("{}/v1/admin/reload", national.base);
    let (s, _) = post(&http, &reload, &analyst, &json!({})).await;
    assert_eq!(s, 403);
    let admin = national.token_as(Role::Admin, "admin", &[], &[]);
    let (s, r) = post(&http, &reload, &admin, &json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["trust_list_version"], 2);
    assert_eq!(r["changed"], false);
    federation.publish(&federation.policy_trust(1));
    let (s, r) = post(&http, &reload, &admin, &json!({})).await;
    assert_eq!(s, 409, "{r}");
    fq["regions"] = json!(["all"]);
    let (s, a) = post(&http, &format!("{}/v1/query", national.base), &analyst, &fq).await;
    assert_eq!(s, 200);
    assert_eq!(a["cells"][0]["count"].as_i64(), Some(truth));
    federation.publish(&federation.policy_trust(3));
    let (s, r) = post(&http, &reload, &admin, &json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["trust_list_version"], 3);
    assert_eq!(r["changed"], true);
}

#[actix_web::test]
async fn regions_without_a_federation_section_is_a_clear_400() {
    let mut gw = TestGateway::builder(pesgw!()).create();
    gw.spawn();
    gw.ready().await;
    let http = reqwest::Client::new();
    let (s, p) = post(
        &http,
        &format!("{}/v1/query", gw.base),
        &gw.token_as(Role::Analyst, "a", &[], &[]),
        &json!({ "dataset": "person", "measures": ["count"], "regions": ["all"] }),
    )
    .await;
    gw.kill();
    assert_eq!(s, 400, "{p}");
    assert!(p["type"]
        .as_str()
        .unwrap()
        .ends_with("federation-not-configured"));
}

#[actix_web::test]
async fn restart_with_an_older_trust_list_is_refused_naming_both_versions() {
    let federation = TestFederation::new(&["100000", "440000"], 3);
    let mut gw = federation.member(pesgw!(), "440000").create();
    gw.spawn();
    gw.ready().await;
    gw.kill();

    // The operator (or an attacker with write access to the file) puts version 2 back.
    federation.publish(&federation.policy_trust(2));
    let out = Command::new(pesgw!())
        .args(["serve", "--config"])
        .arg(&gw.config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("trust list version 2") && err.contains("older than version 3"),
        "{err}"
    );

    // Version 3 again (or newer) starts fine: the state did not move backwards.
    federation.publish(&federation.trust);
    gw.spawn();
    gw.ready().await;
}

#[actix_web::test]
async fn regions_naming_no_member_are_refused_naming_them() {
    let federation = TestFederation::new(&["100000", "440000"], 1);
    let mut gw = federation.member(pesgw!(), "440000").create();
    gw.spawn();
    gw.ready().await;
    let http = reqwest::Client::new();
    let analyst = gw.token_as(Role::Analyst, "analyst", &[], &[]);
    let query = format!("{}/v1/query", gw.base);
    let q = |regions: Value| json!({ "dataset": "person", "measures": ["count"], "purpose": "statistics", "regions": regions });

    let (s, p) = post(&http, &query, &analyst, &q(json!(["999999", "990000"]))).await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["type"], "https://pes.example/problems/no-member-region");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("999999") && detail.contains("990000"),
        "{detail}"
    );

    // One member among them is enough: the others are reported per region, as before.
    let (s, a) = post(&http, &query, &analyst, &q(json!(["999999", "440000"]))).await;
    assert_eq!(s, 200, "{a}");
    let statuses: Vec<(&str, &str)> = a["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["region"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, vec![("440000", "ok"), ("999999", "error")]);
    let (s, _) = post(&http, &query, &analyst, &q(json!(["all"]))).await;
    assert_eq!(s, 200);

    // The report and the person lookup take the same check.
    let r = http
        .get(format!(
            "{}/v1/reports/supply-demand?regions=999999",
            gw.base
        ))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://pes.example/problems/no-member-region");
    let (s, p) = post(
        &http,
        &format!("{}/v1/persons/lookup", gw.base),
        &gw.token_as(Role::Caseworker, "cw", &[], &["statistics"]),
        &json!({
            "person_key": "A".repeat(43),
            "purpose": "statistics",
            "legal_basis": "test",
            "regions": ["999999"],
        }),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["type"], "https://pes.example/problems/no-member-region");

    // Each refusal is audited with its problem type.
    let auditor = gw.token_as(Role::Auditor, "auditor", &[], &[]);
    let log = http
        .get(format!("{}/v1/audit/entries", gw.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["reason"] == "no-member-region")
        .collect();
    assert_eq!(refused.len(), 3, "{log}");
    assert!(refused.iter().all(|e| e["outcome"] == "invalid"));
}
