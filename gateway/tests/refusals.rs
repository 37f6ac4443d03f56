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
