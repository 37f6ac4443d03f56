//! Operations, as an operator sees them on a real `pesgw serve` process: the access log (JSON
//! and text), the metrics that must move (queries by route and outcome, audit log size, build
//! info, certificate and CRL expiry) and `systemctl reload` (SIGHUP).

use std::time::Duration;

use pes_gateway::auth::Role;
use pes_testkit::{pesgw, post, TestFederation, TestGateway};
use serde_json::{json, Value};

/// The value of the sample of `name` whose labels include every `labels` pair; `None` if the
/// series is absent.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = match series.split_once('{') {
            Some((m, r)) => (m, r),
            None => (series, ""),
        };
        if metric != name {
            return None;
        }
        labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())?
    })
}

/// Log lines are written as the request ends; wait until `n` access lines are there.
fn access_lines(g: &TestGateway, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let lines: Vec<Value> = g
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "pes::access")
            .collect();
        if lines.len() >= n {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("fewer than {n} access-log lines:\n{}", g.log_text());
}

#[test]
fn json_access_log_names_route_status_subject_and_request_id_never_ids_or_bodies() {
    let g = TestGateway::builder(pesgw!())
        .env("PES_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,pes::access=info")
        .start();

    // A record id in the path and a distinctive string in a body: neither may be logged.
    let caseworker = g.token(Role::Caseworker, &[], &["case_management"]);
    let r = g
        .http()
        .get(format!("{}/v1/records/rec-SECRET-ID-42", g.base))
        .bearer_auth(&caseworker)
        .header("x-request-id", "req-ops-1")
        .send()
        .unwrap();
    let record_status = r.status().as_u16();
    let analyst = g.token(Role::Analyst, &[], &[]);
    let r = g
        .http()
        .post(format!("{}/v1/query", g.base))
        .bearer_auth(&analyst)
        .header("x-request-id", "req-ops-2")
        .json(&json!({ "dataset": "person", "purpose": "BODY-MARKER-statistics" }))
        .send()
        .unwrap();
    let query_status = r.status().as_u16();
    let r = g
        .http()
        .post(format!("{}/v1/query", g.base))
        .header("x-request-id", "req-ops-3")
        .json(&json!({ "dataset": "person" }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let lines = access_lines(&g, 3);
    let log = g.log_text();
    assert!(!log.contains("SECRET-ID"), "a raw path was logged:\n{log}");
    assert!(!log.contains("BODY-MARKER"), "a body was logged:\n{log}");
    assert!(!log.contains('\u{1b}'), "colour escapes in a file:\n{log}");
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id}:\n{log}"))
            .clone()
    };
    let rec = by_id("req-ops-1");
    assert_eq!(rec["level"], "INFO");
    assert_eq!(rec["fields"]["method"], "GET");
    assert_eq!(rec["fields"]["route"], "/v1/records/{record_id}");
    assert_eq!(rec["fields"]["status"], record_status);
    assert_eq!(rec["fields"]["sub"], "caseworker-test");
    assert!(rec["fields"]["latency_ms"].as_f64().unwrap() >= 0.0);
    let q = by_id("req-ops-2");
    assert_eq!(q["fields"]["method"], "POST");
    assert_eq!(q["fields"]["route"], "/v1/query");
    assert_eq!(q["fields"]["status"], query_status);
    assert_eq!(q["fields"]["sub"], "analyst-test");
    let anon = by_id("req-ops-3");
    assert_eq!(anon["fields"]["status"], 401);
    assert_eq!(
        anon["fields"]["sub"], "-",
        "no subject without a valid token"
    );
    // Only the access log was asked for: the healthz polls are there, nothing else at info.
    assert!(lines.iter().any(|l| l["fields"]["route"] == "/healthz"));
}

#[test]
fn text_log_to_a_file_has_no_colour_and_access_lines_can_be_filtered_out() {
    let g = TestGateway::builder(pesgw!())
        .env("RUST_LOG", "info,pes::access=off")
        .start();
    g.query(json!({ "dataset": "person" }));
    drop(g.http().get(format!("{}/metrics", g.base)).send().unwrap());
    let log = g.log_text();
    assert!(
        log.contains("regional gateway listening"),
        "the startup line is logged as text:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "colour escapes in a file:\n{log}");
    assert!(!log.contains("pes::access"), "filtered out:\n{log}");
    assert!(!log.trim_start().starts_with('{'), "text, not JSON:\n{log}");
}

#[test]
fn queries_are_counted_by_route_and_outcome_local_and_fanned_out() {
    let g = TestGateway::start(pesgw!());
    let before = g.metrics();
    assert_eq!(
        sample(&before, "pes_queries_total", &[("route", "/v1/query")]),
        None,
        "{before}"
    );
    for _ in 0..3 {
        g.query(json!({ "dataset": "person" }));
    }
    let analyst = g.token(Role::Analyst, &[], &[]);
    // The fan-out branch (`regions`) used to be uncounted: here it is refused (no federation).
    let r = g
        .http()
        .post(format!("{}/v1/query", g.base))
        .bearer_auth(&analyst)
        .json(&json!({ "dataset": "person", "regions": ["all"] }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = g
        .http()
        .get(format!("{}/v1/reports/supply-demand", g.base))
        .bearer_auth(&analyst)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let m = g.metrics();
    let count = |labels: &[(&str, &str)]| sample(&m, "pes_queries_total", labels);
    assert_eq!(
        count(&[("route", "/v1/query"), ("outcome", "ok")]),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        count(&[("route", "/v1/query"), ("outcome", "refused")]),
        Some(1.0)
    );
    assert_eq!(
        count(&[("route", "/v1/reports/supply-demand"), ("outcome", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "pes_query_seconds_count", &[("route", "/v1/query")]),
        Some(4.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "pes_http_requests_total",
            &[("route", "/v1/query"), ("status", "200")]
        ),
        Some(3.0)
    );
    // Paths that match no route share one label, whatever the path.
    let _ = g.http().get(format!("{}/no/such/{}", g.base, 7)).send();
    let m = g.metrics();
    assert_eq!(
        sample(
            &m,
            "pes_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn audit_log_size_and_build_info_are_reported() {
    let g = TestGateway::start(pesgw!());
    let m = g.metrics();
    let info = m
        .lines()
        .find(|l| l.starts_with("pes_build_info{"))
        .unwrap_or_else(|| panic!("{m}"));
    assert!(
        info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{info}"
    );
    assert!(info.contains("commit=\""), "{info}");
    assert!(info.ends_with(" 1"), "{info}");
    let entries = sample(&m, "pes_audit_log_entries", &[]).unwrap();
    let bytes = sample(&m, "pes_audit_log_bytes", &[]).unwrap();
    // Every query is audited: the log grows by at least one entry each.
    for _ in 0..5 {
        g.query(json!({ "dataset": "person" }));
    }
    let m = g.metrics();
    assert!(
        sample(&m, "pes_audit_log_entries", &[]).unwrap() >= entries + 5.0,
        "{m}"
    );
    assert!(
        sample(&m, "pes_audit_log_bytes", &[]).unwrap() > bytes,
        "{m}"
    );
    assert_eq!(
        sample(&m, "pes_federation_crl_expiry_seconds", &[]),
        None,
        "no federation, no expiry series"
    );
}

#[actix_web::test]
async fn federation_expiry_metrics_follow_the_files_and_sighup_reloads_the_trust_list() {
    let federation = TestFederation::new(&["440000"], 1);
    // Output in a file, to see when SIGHUP has been handled.
    let mut gw = federation
        .member(pesgw!(), "440000")
        .env("PES_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,pes::access=off")
        .create();
    gw.spawn();
    gw.ready().await;
    let http = reqwest::Client::new();
    let metrics = || gw.metrics_async(&http);
    const DAY: f64 = 86_400.0;
    let m = metrics().await;
    // pes_certs' defaults: certificates for 365 days, the CRL for 30.
    for cert in ["server", "client", "ca"] {
        let left = sample(&m, "pes_federation_cert_expiry_seconds", &[("cert", cert)])
            .unwrap_or_else(|| panic!("no {cert} expiry:\n{m}"));
        assert!(
            (364.0 * DAY..=365.0 * DAY).contains(&left),
            "{cert}: {left}"
        );
    }
    let crl = sample(&m, "pes_federation_crl_expiry_seconds", &[]).unwrap();
    assert!((29.0 * DAY..=30.0 * DAY).contains(&crl), "{crl}");

    // The CRL re-signed for 2 days: the gauge follows at the next scrape.
    pes_certs::resign_crl(
        federation.pki.path(),
        time::OffsetDateTime::now_utc(),
        time::Duration::days(2),
    )
    .unwrap();
    let m = metrics().await;
    let crl = sample(&m, "pes_federation_crl_expiry_seconds", &[]).unwrap();
    assert!((1.0 * DAY..=2.0 * DAY).contains(&crl), "{crl}");

    // A fanned-out query is counted like a local one.
    let analyst = gw.token_as(Role::Analyst, "analyst", &[], &[]);
    let (s, a) = post(
        &http,
        &format!("{}/v1/query", gw.base),
        &analyst,
        &json!({ "dataset": "person", "measures": ["count"], "purpose": "statistics", "regions": ["all"] }),
    )
    .await;
    assert_eq!(s, 200, "{a}");
    let m = metrics().await;
    assert_eq!(
        sample(
            &m,
            "pes_queries_total",
            &[("route", "/v1/query"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{m}"
    );

    // SIGHUP (systemctl reload): the gateway stays up and version 2 is in force at once, so
    // an admin reload right after finds nothing new.
    federation.publish(&federation.policy_trust(2));
    let pid = gw.pid().unwrap() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid, which has not been waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let mut handled = false;
    for _ in 0..400 {
        if gw
            .log_text()
            .contains("SIGHUP: trust list and CRL reloaded")
        {
            handled = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(handled, "{}", gw.log_text());
    let admin = gw.token_as(Role::Admin, "admin", &[], &[]);
    let (s, r) = post(
        &http,
        &format!("{}/v1/admin/reload", gw.base),
        &admin,
        &json!({}),
    )
    .await;
    assert_eq!(s, 200, "the gateway survived SIGHUP: {r}");
    assert_eq!(r["trust_list_version"], 2, "{r}");
    assert_eq!(r["changed"], false, "SIGHUP had already reloaded it: {r}");
}

#[actix_web::test]
async fn peer_queries_on_the_mtls_listener_are_logged_and_counted() {
    let federation = TestFederation::new(&["100000", "440000"], 1);
    let mut national = federation
        .member(pesgw!(), "100000")
        .env("PES_LOG_FORMAT", "json")
        .create();
    let mut province = federation
        .member(pesgw!(), "440000")
        .env("PES_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,pes::access=info")
        .create();
    national.spawn();
    province.spawn();
    national.ready().await;
    province.ready().await;
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{}/v1/query", national.base))
        .bearer_auth(national.token_as(Role::Analyst, "analyst-nat", &[], &[]))
        .header("x-request-id", "req-national-7")
        .json(&json!({ "dataset": "person", "measures": ["count"], "purpose": "statistics", "regions": ["440000"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["regions"][0]["status"], "ok", "{a}");

    // The province answered a peer: counted as a query of its mTLS route, and logged with the
    // national request id.
    let m = http
        .get(format!("{}/metrics", province.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(
            &m,
            "pes_queries_total",
            &[("route", "/v1/federation/query"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{m}"
    );
    let lines = access_lines(&province, 1);
    let peer = lines
        .iter()
        .find(|l| l["fields"]["route"] == "/v1/federation/query")
        .unwrap_or_else(|| panic!("{}", province.log_text()));
    assert_eq!(peer["fields"]["status"], 200);
    assert_eq!(peer["fields"]["request_id"], "req-national-7");
    assert_eq!(peer["fields"]["sub"], "-");
}
