//! Hostile requests against a real `pesgw serve` on 127.0.0.1 (the hostile-load issue): each is
//! refused with a specific problem+json answer and audited, anonymous refusals aggregated per
//! client and interval, and every read of the audit log is itself in the log.

use pes_gateway::auth::{claims_for, now_secs, Role};
use pes_testkit::{pesgw, TestGateway, REGION};
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
    let g = TestGateway::start(pesgw!());
    let before = g.audit_events(0).len();
    let mut c = claims_for("early-bird", Role::Analyst, REGION, vec![], vec![], 3600);
    c.nbf = Some(now_secs() + 600);
    let r = g
        .http()
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
        .http()
        .get(format!("{}/v1/reports/supply-demand", g.base))
        .bearer_auth(g.sign(&c))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn wrong_methods_on_known_paths_get_405_with_allow_and_unknown_paths_404() {
    let g = TestGateway::start(pesgw!());
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
            .http()
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
            .http()
            .request(method.clone(), format!("{}{path}", g.base))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {path}");
        assert!(r.headers().get("allow").is_none());
        let p: Value = r.json().unwrap();
        assert_eq!(p["type"], "https://pes.example/problems/not-found");
    }
}

/// `GET` of an audit route with `token`: status, headers and body.
fn audit_get(
    g: &TestGateway,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut rq = g.http().get(format!("{}{path}", g.base));
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().unwrap())
}

fn ndjson_lines(body: &str) -> Vec<&str> {
    body.lines().filter(|l| !l.is_empty()).collect()
}

#[test]
fn every_read_of_the_audit_log_and_every_refusal_on_it_is_audited() {
    use pes_gateway::audit::{checkpoint, merkle};
    let g = TestGateway::start(pesgw!());
    let auditor = g.token(Role::Auditor, &[], &[]);

    // Each read adds exactly its own entry; the answer holds the log as it was before it.
    let (s, h, body) = audit_get(&g, "/v1/audit/entries", Some(&auditor));
    assert_eq!(s, 200);
    let n1 = ndjson_lines(&body).len();
    let first_index: usize = h["x-audit-index"].to_str().unwrap().parse().unwrap();
    assert_eq!(
        first_index, n1,
        "the read's own entry comes right after what it read"
    );
    let first_request = h["x-request-id"].to_str().unwrap().to_string();

    // A checkpoint and proofs against it still verify while reads keep extending the log.
    let (s, _, key) = audit_get(&g, "/v1/audit/key", Some(&auditor));
    assert_eq!(s, 200);
    let key = pes_gateway::signed_note::VerifierKey::parse(&key).unwrap();
    let mut cp = None;
    let mut checkpoint_reads = 0;
    for _ in 0..100 {
        checkpoint_reads += 1;
        let (s, _, text) = audit_get(&g, "/v1/audit/checkpoint", Some(&auditor));
        assert_eq!(s, 200);
        let c = checkpoint::verify_checkpoint(&text, &key, &[])
            .unwrap()
            .checkpoint;
        if c.size > n1 as u64 {
            cp = Some(c);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let cp = cp.expect("a checkpoint covering the first read");
    let (s, _, body) = audit_get(
        &g,
        &format!("/v1/audit/entries?from=0&to={}", cp.size),
        Some(&auditor),
    );
    assert_eq!(s, 200);
    let lines = ndjson_lines(&body);
    assert_eq!(lines.len() as u64, cp.size);
    let mut tree = merkle::CompactRange::new();
    for l in &lines {
        tree.push(merkle::leaf_hash(l.as_bytes()), |_| {});
    }
    assert_eq!(tree.root(), cp.root, "entries agree with the checkpoint");
    let (s, _, proof) = audit_get(
        &g,
        &format!(
            "/v1/audit/proof/inclusion?index={first_index}&size={}",
            cp.size
        ),
        Some(&auditor),
    );
    assert_eq!(s, 200, "{proof}");
    let proof: Value = serde_json::from_str(&proof).unwrap();
    let hashes: Vec<merkle::Hash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    merkle::verify_inclusion(
        first_index as u64,
        cp.size,
        &merkle::leaf_hash(lines[first_index].as_bytes()),
        &hashes,
        &cp.root,
    )
    .unwrap();
    let first: Value = serde_json::from_str(lines[first_index]).unwrap();
    assert_eq!(first["action"], "audit_read");
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["actor"]["sub"], "auditor-test");
    assert_eq!(first["actor"]["role"], "auditor");
    assert_eq!(first["request_id"], first_request.as_str());

    // Refusals: a role that may not read, no token, a method the route does not take.
    let analyst = g.token(Role::Analyst, &[], &[]);
    let (s, ..) = audit_get(&g, "/v1/audit/entries", Some(&analyst));
    assert_eq!(s, 403);
    let (s, ..) = audit_get(&g, "/v1/audit/checkpoint", None);
    assert_eq!(s, 401);
    let r = g
        .http()
        .delete(format!("{}/v1/audit/entries", g.base))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);

    let (s, h, body) = audit_get(&g, "/v1/audit/entries", Some(&auditor));
    assert_eq!(s, 200);
    let all: Vec<Value> = ndjson_lines(&body)
        .into_iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last_index: usize = h["x-audit-index"].to_str().unwrap().parse().unwrap();
    assert_eq!(last_index, all.len());
    // Since the first read: one entry per request and nothing else. The first read, the key,
    // the checkpoints, the entries and the proof read, then the three refusals.
    let reads = auditor_reads_from(&all, first_index);
    assert_eq!(reads, 4 + checkpoint_reads);
    assert_eq!(
        all.len() - first_index,
        reads + 3,
        "{:?}",
        &all[first_index..]
    );
    let tail = &all[all.len() - 3..];
    assert_eq!(tail[0]["action"], "access_denied");
    assert_eq!(tail[0]["reason"], "forbidden");
    assert_eq!(tail[0]["actor"]["sub"], "analyst-test");
    assert_eq!(tail[1]["action"], "access_denied");
    assert_eq!(tail[1]["reason"], "unauthorized");
    assert_eq!(tail[1]["actor"]["sub"], "anonymous");
    assert_eq!(tail[1]["client"], "127.0.0.1");
    assert_eq!(tail[1]["counts"]["count"], 1);
    assert_eq!(tail[2]["action"], "audit_read");
    assert_eq!(tail[2]["outcome"], "invalid");
    assert_eq!(tail[2]["reason"], "method-not-allowed");
    assert_eq!(tail[2]["actor"]["sub"], "auditor-test");
}

/// Entries from `from` on that are successful reads of the log by the auditor.
fn auditor_reads_from(all: &[Value], from: usize) -> usize {
    all[from..]
        .iter()
        .filter(|e| {
            e["action"] == "audit_read"
                && e["outcome"] == "ok"
                && e["actor"]["sub"] == "auditor-test"
        })
        .count()
}

#[test]
fn anonymous_refusals_are_aggregated_per_client_and_interval() {
    let g = TestGateway::start_with(pesgw!(), |c| c.audit.anonymous_refusal_interval_secs = 2);
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
        let rq = g.http().get(&url);
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
        let r = g.http().get(&url).bearer_auth(&pusher).send().unwrap();
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

#[test]
fn content_coded_bodies_are_refused_with_415_before_they_are_read_and_audited() {
    let g = TestGateway::start_with(pesgw!(), |c| c.k = 1);
    let before = g.audit_events(0).len();
    let pusher = g.pusher();
    let body = pes_gateway::native_sample::ndjson(0..5, REGION, pes_testkit::SOURCE, 1);
    let push = |encoding: &str, token: Option<&str>| {
        let mut rq = g
            .http()
            .post(format!(
                "{}/v1/ingest/{}?wait=applied",
                g.base,
                pes_testkit::SOURCE
            ))
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", encoding)
            .body(body.clone());
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        rq.send().unwrap()
    };
    for encoding in [
        "gzip",
        "deflate",
        "br",
        "zstd",
        "gzip, identity",
        "x-custom",
    ] {
        let r = push(encoding, Some(&pusher));
        assert_eq!(r.status().as_u16(), 415, "{encoding}");
        assert_eq!(r.headers()["accept-encoding"], "identity");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().unwrap();
        assert_eq!(
            p["type"], "https://pes.example/problems/unsupported-content-encoding",
            "{encoding}"
        );
    }
    // Nothing was taken.
    assert_eq!(g.total("person"), 0);
    // Other routes take the same check, whoever asks.
    let r = g
        .http()
        .post(format!("{}/v1/query", g.base))
        .bearer_auth(g.token(Role::Analyst, &[], &[]))
        .header("content-encoding", "gzip")
        .json(&serde_json::json!({ "dataset": "person" }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(push("gzip", None).status().as_u16(), 415);

    // Each refusal is audited: the pusher's one by one, the anonymous one aggregated.
    let events = g.audit_events(before + 8);
    let refused: Vec<&Value> = events[before..]
        .iter()
        .filter(|e| e["reason"] == "unsupported-content-encoding")
        .collect();
    assert_eq!(refused.len(), 8, "{refused:?}");
    assert!(refused[..6]
        .iter()
        .all(|e| e["actor"]["sub"] == "pusher-test"
            && e["action"] == "ingest_push"
            && e["outcome"] == "invalid"));
    assert_eq!(refused[6]["action"], "query_aggregate");
    assert_eq!(refused[7]["actor"]["sub"], "anonymous");
    assert_eq!(refused[7]["client"], "127.0.0.1");
    assert_eq!(refused[7]["counts"]["count"], 1);

    // `identity`, in any case, is no coding at all.
    let rows = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    for (encoding, accepted) in [("identity", rows), ("IDENTITY", 0)] {
        let r = push(encoding, Some(&pusher));
        assert_eq!(r.status().as_u16(), 200, "{encoding}");
        let v: Value = r.json().unwrap();
        assert_eq!(v["accepted"], accepted, "{v}");
    }
    assert!(g.total("person") > 0);
}

#[test]
fn pushed_ids_with_bidi_controls_are_quarantined_with_their_code() {
    let g = TestGateway::start(pesgw!());
    let body = pes_gateway::native_sample::ndjson(0..2, REGION, pes_testkit::SOURCE, 1);
    let text = String::from_utf8(body).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // "…<RLO>…": displayed reversed after the override, so it would read as another id.
    let spoofed = format!(
        "{}\u{202E}1-",
        lines[0]["source_record_id"].as_str().unwrap()
    );
    lines[0]["record_id"] = format!("{REGION}:{}:{spoofed}", pes_testkit::SOURCE).into();
    lines[0]["source_record_id"] = spoofed.into();
    let body: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let v = g.push(body, true);
    assert_eq!(v["quarantined"], 1, "{v}");
    assert_eq!(v["accepted"], lines.len() as u64 - 1, "{v}");
    assert_eq!(v["row_errors"][0]["code"], "bidi_control", "{v}");
    assert_eq!(v["row_errors"][0]["field"], "/source_record_id", "{v}");
}
