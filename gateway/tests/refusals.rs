//! Refusals of hostile requests, against a real `pesgw serve` on 127.0.0.1: each is refused with
//! a specific problem+json answer, and audited.

mod common;

use common::{Gateway, REGION};
use pes_gateway::auth::{claims_for, now_secs, Role};
use serde_json::Value;

/// Audit entries refusing access, from index `from` on.
fn denials(events: &[Value], from: usize) -> Vec<&Value> {
    events[from..]
        .iter()
        .filter(|e| e["action"] == "access_denied" && e["outcome"] == "denied")
        .collect()
}

#[test]
fn token_not_yet_valid_is_refused_and_audited() {
    let g = Gateway::start();
    let before = g.audit_events(0).len();
    let mut c = claims_for("early-bird", Role::Analyst, REGION, vec![], vec![], 3600);
    c.nbf = Some(now_secs() + 600);
    let r = g
        .http
        .get(format!("{}/v1/reports/supply-demand", g.base))
        .bearer_auth(g.sign(&c))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let p: Value = r.json().unwrap();
    assert_eq!(p["type"], "https://pes.example/problems/unauthorized");
    assert!(
        p["detail"].as_str().unwrap().contains("not yet valid"),
        "{p}"
    );
    let events = g.audit_events(before + 1);
    let denied = denials(&events, before);
    assert_eq!(denied.len(), 1, "{events:?}");
    assert_eq!(denied[0]["reason"], "unauthorized");

    // The same token once its `nbf` has passed is fine: only the time was wrong.
    c.nbf = Some(now_secs() - 1);
    let r = g
        .http
        .get(format!("{}/v1/reports/supply-demand", g.base))
        .bearer_auth(g.sign(&c))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn wrong_methods_on_known_paths_get_405_with_allow_and_unknown_paths_404() {
    let g = Gateway::start();
    let analyst = g.token(Role::Analyst, &[], &[]);
    let trace = reqwest::Method::from_bytes(b"TRACE").unwrap();
    for (method, path, allow) in [
        (trace.clone(), "/v1/query", "POST"),
        (reqwest::Method::PUT, "/v1/query", "POST"),
        (trace.clone(), "/v1/ingest/gd-hr", "POST"),
        (reqwest::Method::DELETE, "/v1/ingest/gd-hr", "POST"),
        (reqwest::Method::PUT, "/v1/records/440000:gd-hr:1", "GET"),
        (reqwest::Method::DELETE, "/v1/records/440000:gd-hr:1", "GET"),
        (trace.clone(), "/v1/audit/checkpoint", "GET"),
        (reqwest::Method::DELETE, "/v1/audit/entries", "GET"),
        (
            reqwest::Method::PUT,
            "/v1/audit/witness/add-checkpoint",
            "POST",
        ),
        (trace.clone(), "/healthz", "GET"),
        (reqwest::Method::DELETE, "/metrics", "GET"),
        (reqwest::Method::PUT, "/ui/merkle.js", "GET"),
    ] {
        let r = g
            .http
            .request(method.clone(), format!("{}{path}", g.base))
            .bearer_auth(&analyst)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 405, "{method} {path}");
        let allowed = r.headers()["allow"].to_str().unwrap().to_string();
        assert!(
            allowed.split(',').any(|m| m.trim() == allow),
            "{method} {path}: Allow: {allowed}"
        );
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert!(r.headers().contains_key("x-request-id"));
        let p: Value = r.json().unwrap();
        assert_eq!(p["type"], "https://pes.example/problems/method-not-allowed");
        assert_eq!(p["status"], 405);
        assert!(p["request_id"].is_string(), "{p}");
    }
    for (method, path) in [
        (trace, "/v1/nothing-here"),
        (reqwest::Method::GET, "/v1/audit/nothing-here"),
        (reqwest::Method::DELETE, "/v1/ingest"),
    ] {
        let r = g
            .http
            .request(method.clone(), format!("{}{path}", g.base))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {path}");
        assert!(r.headers().get("allow").is_none());
        let p: Value = r.json().unwrap();
        assert_eq!(p["type"], "https://pes.example/problems/not-found");
    }
}
