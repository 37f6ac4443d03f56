//! `POST /v1/federation/query` on a real regional gateway (sled store, audit log) behind mTLS:
//! answered and signed for a member whose policy allows it, refused and audited otherwise.

mod fed;

use actix_web::{web, App, HttpServer};
use fed::{free_listener, trust_store, url, Pki};
use pes_gateway::config::GatewayConfig;
use pes_gateway::federation::httpsig::{RequestToSign, RequestVerifier};
use pes_gateway::federation::inbound::InboundContext;
use pes_gateway::federation::outbound::{call_peer, CallError, PeerCall};
use pes_gateway::federation::service::{self, FederatedAnswer, QUERY_PATH};
use pes_gateway::federation::tls::{self, client_config, http_client, CallTimeouts};
use pes_gateway::node::Node;
use serde_json::Value;

struct Served {
    port: u16,
    handle: actix_web::dev::ServerHandle,
    audit_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn audit_lines(s: &Served) -> Vec<Value> {
    std::fs::read_to_string(&s.audit_path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
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
    let audit_path = cfg.data_dir.join("audit/audit-events.jsonl");
    let node = web::Data::new(Node::open(cfg).unwrap());
    let (config, _verifier) = tls::server_config(&pki.server_files(region)).unwrap();
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let fed = web::Data::new(InboundContext {
        trust: trust_store(dir.path(), trust),
        verifier: RequestVerifier::new(vec![format!("127.0.0.1:{port}")], 10_000),
        key: pki.signing_key(region),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(node.clone())
            .app_data(fed.clone())
            .configure(service::configure)
    })
    .workers(1)
    .on_connect(tls::on_connect)
    .listen_rustls_0_23(listener, config)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Served {
        port,
        handle,
        audit_path,
        _dir: dir,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[actix_web::test]
async fn member_query_is_answered_signed_suppressed_and_audited_with_peer_and_purpose() {
    let pki = Pki::new(&["110000", "440000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let gw = start_gateway(&pki, "110000", &trust);
    let config = client_config(&pki.client_files("440000"), pki.expect(&trust, "110000")).unwrap();
    let client = http_client(config, CallTimeouts::default()).unwrap();
    let target = url(gw.port, QUERY_PATH);
    let key = pki.signing_key("440000");
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
    assert_eq!(last["action"], "federation.query");
    assert_eq!(last["actor_sub"], "member:440000");
    assert_eq!(last["detail"]["purpose"], "statistics");
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
    assert_eq!(
        err,
        CallError::Denied {
            status: 403,
            problem: "policy_denied".into()
        }
    );
    let last = audit_lines(&gw).pop().unwrap();
    assert_eq!(last["outcome"], "refused");
    assert_eq!(last["detail"]["problem"], "policy_denied");

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
    assert_eq!(last["detail"]["problem"], "replayed_nonce");
    assert_eq!(last["actor_sub"], "peer:440000");
    gw.handle.stop(false).await;
}
