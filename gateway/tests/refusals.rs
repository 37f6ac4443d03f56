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

#[test]
fn anonymous_refusals_are_aggregated_per_client_and_interval() {
    let g = Gateway::start_with(|c| c.audit.anonymous_refusal_interval_secs = 2);
    let before = g.audit_events(0).len();
    // No token, a malformed one, a forged signature (this issuer's key id, another key), an
    // expired one: all anonymous.
    let kid = jsonwebtoken::decode_header(&g.pusher())
        .unwrap()
        .kid
        .unwrap();
    let other_key = pes_gateway::keys::generate_ed25519().unwrap();
    let analyst_claims = claims_for("intruder", Role::Analyst, REGION, vec![], vec![], 600);
    let forged = pes_gateway::auth::issue(&other_key, &kid, &analyst_claims).unwrap();
    let mut expired_claims = analyst_claims.clone();
    expired_claims.exp = now_secs() - 3600;
    let expired = g.sign(&expired_claims);
    let url = format!("{}/v1/reports/supply-demand", g.base);
    for i in 0..200 {
        let rq = g.http.get(&url);
        let rq = match i % 4 {
            0 => rq,
            1 => rq.bearer_auth("not-a-token"),
            2 => rq.bearer_auth(&forged),
            _ => rq.bearer_auth(&expired),
        };
        assert_eq!(rq.send().unwrap().status().as_u16(), 401, "request {i}");
    }
    // Refusals of tokens of this issuer stay one entry each.
    let pusher = g.pusher();
    for _ in 0..3 {
        let r = g.http.get(&url).bearer_auth(&pusher).send().unwrap();
        assert_eq!(r.status().as_u16(), 403);
    }

    let mut anonymous = Vec::new();
    let mut forbidden = 0;
    for _ in 0..200 {
        let events = g.audit_events(before);
        let denied = denials(&events, before);
        anonymous = denied
            .iter()
            .filter(|e| e["actor"]["sub"] == "anonymous" && e["reason"] == "unauthorized")
            .map(|e| (*e).clone())
            .collect();
        forbidden = denied.iter().filter(|e| e["reason"] == "forbidden").count();
        let counted: u64 = anonymous
            .iter()
            .map(|e| e["counts"]["count"].as_u64().unwrap())
            .sum();
        if counted == 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let counted: u64 = anonymous
        .iter()
        .map(|e| e["counts"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 200, "{anonymous:?}");
    assert!(
        anonymous.len() <= 6,
        "{} entries for 200 refusals: {anonymous:?}",
        anonymous.len()
    );
    assert!(anonymous.iter().all(|e| e["client"] == "127.0.0.1"));
    assert_eq!(forbidden, 3);
}
