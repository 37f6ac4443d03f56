//! RFC 9421 signatures between real gateways over mTLS on 127.0.0.1: what is accepted, and each
//! refusal with its stable problem type.

use pes_gateway::federation::httpsig::{
    RequestToSign, SignatureError, SignedHeaders, REQUEST_ID_HEADER,
};
use pes_gateway::federation::outbound::{call_peer, CallError, PeerCall};
use pes_gateway::federation::tls::{client_config, http_client, CallTimeouts};
use pes_gateway::federation::trust::TrustList;
use pes_testkit::peer::{start_signed, url, Behaviour};
use pes_testkit::Pki;

const PATH: &str = "/v1/federation/echo";

struct Setup {
    pki: Pki,
    trust: TrustList,
}

fn setup() -> Setup {
    let pki = Pki::new(&["110000", "440000", "510000"]);
    let trust = pki.trust_list(&["110000", "440000", "510000"], 1);
    Setup { pki, trust }
}

fn client(s: &Setup, from: &str, to: &str) -> reqwest::Client {
    let config = client_config(&s.pki.client_files(from), s.pki.expect(&s.trust, to)).unwrap();
    http_client(config, CallTimeouts::default()).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Sends pre-signed headers with `body` and returns (status, problem slug).
async fn send_raw(
    client: &reqwest::Client,
    target: &str,
    signed: &SignedHeaders,
    request_id: &str,
    body: &'static [u8],
) -> (u16, String) {
    let resp = client
        .post(target)
        .header("content-type", "application/json")
        .header(REQUEST_ID_HEADER, request_id)
        .header("content-digest", &signed.content_digest)
        .header("signature-input", &signed.signature_input)
        .header("signature", &signed.signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let slug = json["type"]
        .as_str()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_owned();
    (status, slug)
}

fn sign(s: &Setup, key_of: &str, target: &str, body: &[u8], at: i64) -> SignedHeaders {
    s.pki
        .signing_key(key_of)
        .sign_request(
            &RequestToSign {
                method: "POST",
                target_uri: target,
                content_type: Some("application/json"),
                request_id: "req-1",
                body,
            },
            at,
        )
        .unwrap()
}

#[actix_web::test]
async fn signed_request_from_a_member_gets_a_signed_answer_bound_to_it() {
    let s = setup();
    let server = start_signed(&s.pki, "110000", s.trust.clone(), Behaviour::Honest);
    let target = url(server.port, PATH);
    let answer = call_peer(
        &client(&s, "440000", "110000"),
        &s.pki.signing_key("440000"),
        &s.trust,
        PeerCall {
            region: "110000",
            url: &target,
            request_id: "req-ok",
            body: br#"{"dataset":"vacancy"}"#.to_vec(),
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.checked.region(), "110000");
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["caller"], "440000");
    assert_eq!(json["request_id"], "req-ok");
    assert_eq!(json["echo"], r#"{"dataset":"vacancy"}"#);
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn valid_certificate_with_another_members_signing_key_is_refused() {
    let s = setup();
    let server = start_signed(&s.pki, "110000", s.trust.clone(), Behaviour::Honest);
    let target = url(server.port, PATH);
    // mTLS as 440000, signature by 510000's key.
    let err = call_peer(
        &client(&s, "440000", "110000"),
        &s.pki.signing_key("510000"),
        &s.trust,
        PeerCall {
            region: "110000",
            url: &target,
            request_id: "req-x",
            body: b"{}".to_vec(),
        },
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        CallError::Denied {
            status: 403,
            problem: "key_not_of_peer".into()
        }
    );
    assert_eq!(err.status_label().as_str(), "denied");
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn replayed_nonce_is_refused() {
    let s = setup();
    let server = start_signed(&s.pki, "110000", s.trust.clone(), Behaviour::Honest);
    let target = url(server.port, PATH);
    let c = client(&s, "440000", "110000");
    let body: &'static [u8] = b"{\"q\":1}";
    let signed = sign(&s, "440000", &target, body, now());
    assert_eq!(send_raw(&c, &target, &signed, "req-1", body).await.0, 200);
    assert_eq!(
        send_raw(&c, &target, &signed, "req-1", body).await,
        (401, "replayed_nonce".into())
    );
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn request_older_than_the_window_is_refused() {
    let s = setup();
    let server = start_signed(&s.pki, "110000", s.trust.clone(), Behaviour::Honest);
    let target = url(server.port, PATH);
    let body: &'static [u8] = b"{}";
    let signed = sign(&s, "440000", &target, body, now() - 120);
    assert_eq!(
        send_raw(
            &client(&s, "440000", "110000"),
            &target,
            &signed,
            "req-1",
            body
        )
        .await,
        (401, "expired_signature".into())
    );
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn tampered_body_is_refused_as_a_digest_mismatch() {
    let s = setup();
    let server = start_signed(&s.pki, "110000", s.trust.clone(), Behaviour::Honest);
    let target = url(server.port, PATH);
    let signed = sign(&s, "440000", &target, b"{\"regions\":[\"110000\"]}", now());
    assert_eq!(
        send_raw(
            &client(&s, "440000", "110000"),
            &target,
            &signed,
            "req-1",
            b"{\"regions\":\"all\"}"
        )
        .await,
        (400, "digest_mismatch".into())
    );
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn unsigned_request_or_request_signed_for_another_gateway_is_refused() {
    let s = setup();
    let server = start_signed(&s.pki, "110000", s.trust.clone(), Behaviour::Honest);
    let target = url(server.port, PATH);
    let c = client(&s, "440000", "110000");
    let resp = c.post(&target).body("{}").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Signed for another gateway's authority, replayed here.
    let body: &'static [u8] = b"{}";
    let elsewhere = url(server.port.wrapping_add(1), PATH);
    let signed = sign(&s, "440000", &elsewhere, body, now());
    assert_eq!(
        send_raw(&c, &target, &signed, "req-1", body).await,
        (401, "bad_signature".into())
    );
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn response_with_a_bad_signature_is_refused_by_the_caller() {
    let s = setup();
    for (behaviour, expect_key_not_of_peer) in [
        (Behaviour::TamperAfterSigning, false),
        (Behaviour::SignWithKeyOf("510000"), true),
    ] {
        let server = start_signed(&s.pki, "110000", s.trust.clone(), behaviour);
        let target = url(server.port, PATH);
        let err = call_peer(
            &client(&s, "440000", "110000"),
            &s.pki.signing_key("440000"),
            &s.trust,
            PeerCall {
                region: "110000",
                url: &target,
                request_id: "req-r",
                body: b"{}".to_vec(),
            },
            now,
        )
        .await
        .unwrap_err();
        assert_eq!(err.status_label().as_str(), "bad_signature");
        match err {
            CallError::BadSignature(SignatureError::KeyNotOfPeer { .. }) => {
                assert!(expect_key_not_of_peer)
            }
            CallError::BadSignature(SignatureError::DigestMismatch) => {
                assert!(!expect_key_not_of_peer)
            }
            other => panic!("unexpected {other:?}"),
        }
        server.handle.stop(false).await;
    }
}
