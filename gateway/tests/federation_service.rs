//! `POST /v1/federation/query` on a real regional gateway (sled store, audit log) behind mTLS:
//! answered and signed for a member whose policy allows it, refused and audited otherwise.

use actix_web::web;
use pes_gateway::config::GatewayConfig;
use pes_gateway::federation::httpsig::{RequestToSign, RequestVerifier};
use pes_gateway::federation::inbound::InboundContext;
use pes_gateway::federation::outbound::{call_peer, PeerCall};
use pes_gateway::federation::service::{self, FederatedAnswer, QUERY_PATH};
use pes_gateway::federation::tls::{client_config, http_client, CallTimeouts};
use pes_gateway::node::Node;
use pes_testkit::peer::{denied, serve_mtls, url};
use pes_testkit::{free_listener, publish_trust, trust_store_with_root, Pki};
use serde_json::Value;

struct Served {
    port: u16,
    handle: actix_web::dev::ServerHandle,
    node: web::Data<Node>,
    trust: std::sync::Arc<pes_gateway::federation::trust::TrustStore>,
    root: pes_gateway::signed_note::SigningKey,
    dir: tempfile::TempDir,
}

fn audit_lines(s: &Served) -> Vec<Value> {
    let size = s.node.audit.size();
    s.node
        .audit
        .entries(0, size)
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice(e).unwrap())
        .collect()
}

fn start_gateway(
    pki: &Pki,
    region: &str,
    trust: &pes_gateway::federation::trust::TrustList,
) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let out = pes_gateway::keys::init(dir.path(), region, "127.0.0.1:0").unwrap();
    let cfg = GatewayConfig::load(&out.config_path).unwrap();
    let node = web::Data::new(Node::open(cfg).unwrap());
    let node_for_test = node.clone();
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let (store, root) = trust_store_with_root(dir.path(), trust);
    let fed = web::Data::new(InboundContext {
        trust: store.clone(),
        verifier: RequestVerifier::new(vec![format!("127.0.0.1:{port}")], 10_000),
        key: pki.signing_key(region),
    });
    let server = serve_mtls(pki, region, listener, move |app| {
        app.app_data(node.clone())
            .app_data(fed.clone())
            .configure(service::configure);
    });
    Served {
        port,
        handle: server.handle,
        node: node_for_test,
        trust: store,
        root,
        dir,
    }
}

/// Region 110000 serving, 440000 calling; both members of trust list version 1.
struct Setup {
    pki: Pki,
    trust: pes_gateway::federation::trust::TrustList,
    gw: Served,
    client: reqwest::Client,
    target: String,
    key: pes_gateway::federation::httpsig::SigningKey,
}

fn setup() -> Setup {
    let pki = Pki::new(&["110000", "440000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let gw = start_gateway(&pki, "110000", &trust);
    let config = client_config(&pki.client_files("440000"), pki.expect(&trust, "110000")).unwrap();
    Setup {
        client: http_client(config, CallTimeouts::default()).unwrap(),
        target: url(gw.port, QUERY_PATH),
        key: pki.signing_key("440000"),
        pki,
        trust,
        gw,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[actix_web::test]
async fn member_query_is_answered_signed_suppressed_and_audited_with_peer_and_purpose() {
    let Setup {
        pki: _pki,
        trust,
        gw,
        client,
        target,
        key,
    } = setup();
    let ask = |purpose: &str| {
        serde_json::json!({"dataset": "vacancy", "purpose": purpose})
            .to_string()
            .into_bytes()
    };

    let answer = call_peer(
        &client,
        &key,
        &trust,
        PeerCall {
            region: "110000",
            url: &target,
            request_id: "req-a",
            body: ask("statistics"),
        },
        now,
    )
    .await
    .unwrap();
    let fa: FederatedAnswer = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(fa.answer.region, "110000");
    assert_eq!(fa.answer.k, 5);
    let lines = audit_lines(&gw);
    let last = lines.last().unwrap();
    assert_eq!(fa.receipt.index as usize, lines.len() - 1);
    assert_eq!(last["action"], "federation_serve");
    assert_eq!(last["actor"]["peer_member"], "440000");
    assert_eq!(last["purpose"], "statistics");
    assert_eq!(last["dataset"], "vacancy");
    assert_eq!(last["outcome"], "ok");

    // A purpose the policy does not grant: a signed 403, audited.
    let err = call_peer(
        &client,
        &key,
        &trust,
        PeerCall {
            region: "110000",
            url: &target,
            request_id: "req-b",
            body: ask("marketing"),
        },
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(err, denied(403, "policy_denied"));
    let last = audit_lines(&gw).pop().unwrap();
    assert_eq!(last["outcome"], "denied");
    assert_eq!(last["reason"], "policy_denied");

    // A replayed request: refused before any work, and audited with the claimed peer.
    let body = ask("statistics");
    let signed = key
        .sign_request(
            &RequestToSign {
                method: "POST",
                target_uri: &target,
                content_type: Some("application/json"),
                request_id: "req-c",
                body: &body,
            },
            now(),
        )
        .unwrap();
    for expected in [200u16, 401] {
        let resp = client
            .post(&target)
            .header("content-type", "application/json")
            .header("x-request-id", "req-c")
            .header("content-digest", &signed.content_digest)
            .header("signature-input", &signed.signature_input)
            .header("signature", &signed.signature)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected);
    }
    let last = audit_lines(&gw).pop().unwrap();
    assert_eq!(last["reason"], "replayed_nonce");
    assert_eq!(last["actor"]["region"], "440000");
    // Not verified, so not recorded as the member.
    assert!(last["actor"]["peer_member"].is_null());
    gw.handle.stop(false).await;
}

#[actix_web::test]
async fn a_member_dropped_from_the_trust_list_is_refused_on_its_open_connection() {
    let s = setup();
    let (gw, trust) = (&s.gw, &s.trust);
    let call = |rid: &'static str| PeerCall {
        region: "110000",
        url: &s.target,
        request_id: rid,
        body: serde_json::json!({"dataset": "vacancy", "purpose": "statistics"})
            .to_string()
            .into_bytes(),
    };
    // Answered while a member; the client keeps the connection open.
    call_peer(&s.client, &s.key, trust, call("req-1"), now)
        .await
        .unwrap();

    // The peer identity is read from the certificate once per connection, but membership is
    // checked per request: after the reload the same client is refused.
    let v2 = s.pki.trust_list(&["110000"], 2);
    publish_trust(gw.dir.path(), &v2, &gw.root);
    assert!(matches!(
        gw.trust.reload(chrono::Utc::now()).unwrap(),
        pes_gateway::federation::trust::Reloaded::Updated { from: 1, to: 2 }
    ));
    let err = call_peer(&s.client, &s.key, trust, call("req-2"), now)
        .await
        .unwrap_err();
    assert_eq!(err, denied(403, "peer_not_member"));
    let last = audit_lines(gw).pop().unwrap();
    assert_eq!(last["reason"], "peer_not_member");
    assert!(last["actor"]["peer_member"].is_null());
    gw.handle.stop(false).await;
}
