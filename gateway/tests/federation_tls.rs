//! Mutual TLS between gateways with real certificates and real servers on 127.0.0.1.

use std::io::{Read, Write};
use std::sync::Arc;

use pes_certs::{CertKind, RevokeTarget};
use pes_gateway::federation::tls::{
    self, client_config, http_client, CallTimeouts, PeerCertificate, PeerError, VerifiedPeer,
};
use pes_testkit::peer::{start_whoami, url};
use pes_testkit::Pki;

async fn call(
    pki: &Pki,
    client_region: &str,
    expect: tls::ExpectedPeer,
    port: u16,
) -> reqwest::Result<(u16, String)> {
    let config = client_config(&pki.client_files(client_region), expect).unwrap();
    let client = http_client(config, CallTimeouts::default()).unwrap();
    let resp = client.get(url(port, "/whoami")).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}

#[actix_web::test]
async fn member_with_valid_certificate_is_identified_by_its_san() {
    let pki = Pki::new(&["110000", "440000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let server = start_whoami(&pki, "110000", trust.clone());
    let (status, body) = call(&pki, "440000", pki.expect(&trust, "110000"), server.port)
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "440000"));
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn revoked_client_certificate_is_refused_in_the_handshake() {
    let pki = Pki::new(&["110000", "440000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let server = start_whoami(&pki, "110000", trust.clone());
    // Accepted before revocation...
    assert!(
        call(&pki, "440000", pki.expect(&trust, "110000"), server.port)
            .await
            .is_ok()
    );
    pes_certs::revoke(
        pki.path(),
        &RevokeTarget::Region {
            region: "440000".into(),
            kind: Some(CertKind::Client),
        },
        time::Duration::days(1),
    )
    .unwrap();
    // ...and refused once the running server reloads the CRL.
    let files = pki.server_files("110000");
    server
        .verifier
        .reload(
            &tls::load_certs(&files.ca).unwrap(),
            tls::load_crls(&files.crl).unwrap(),
        )
        .unwrap();
    let err = call(&pki, "440000", pki.expect(&trust, "110000"), server.port).await;
    assert!(err.is_err(), "revoked certificate was accepted: {err:?}");
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn expired_crl_makes_the_server_refuse_clients() {
    let pki = Pki::new(&["110000", "440000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let now = time::OffsetDateTime::now_utc();
    pes_certs::resign_crl(
        pki.path(),
        now - time::Duration::days(10),
        time::Duration::days(1),
    )
    .unwrap();
    let server = start_whoami(&pki, "110000", trust.clone());
    // The server loaded the expired CRL; the client gets a fresh one, so only the server refuses.
    pes_certs::resign_crl(pki.path(), now, time::Duration::days(1)).unwrap();
    let err = call(&pki, "440000", pki.expect(&trust, "110000"), server.port).await;
    assert!(err.is_err(), "expired CRL was accepted: {err:?}");
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn certificate_from_an_unknown_ca_is_refused() {
    let pki = Pki::new(&["110000", "440000"]);
    let rogue = Pki::new(&["440000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let server = start_whoami(&pki, "110000", trust.clone());
    // The rogue client trusts the real CA (so only its own certificate is at stake).
    let mut files = rogue.client_files("440000");
    files.ca = pki.paths("110000").ca_cert;
    files.crl = pki.paths("110000").crl;
    let config = client_config(&files, pki.expect(&trust, "110000")).unwrap();
    let client = http_client(config, CallTimeouts::default()).unwrap();
    let err = client.get(url(server.port, "/whoami")).send().await;
    assert!(err.is_err(), "unknown CA accepted: {err:?}");
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn valid_certificate_whose_san_is_not_a_member_is_refused_by_the_trust_list() {
    let pki = Pki::new(&["110000", "440000", "650000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let server = start_whoami(&pki, "110000", trust.clone());
    let (status, body) = call(&pki, "650000", pki.expect(&trust, "110000"), server.port)
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert_eq!(body, PeerError::NotMember("650000".into()).to_string());
    server.handle.stop(false).await;
}

#[actix_web::test]
async fn client_refuses_a_server_that_is_not_the_member_it_dialled() {
    let pki = Pki::new(&["110000", "440000", "510000"]);
    let trust = pki.trust_list(&["110000", "440000", "510000"], 1);
    // 510000's server answers where the client expects 110000.
    let server = start_whoami(&pki, "510000", trust.clone());
    let err = call(&pki, "440000", pki.expect(&trust, "110000"), server.port).await;
    assert!(err.is_err(), "wrong server accepted: {err:?}");
    server.handle.stop(false).await;
}

#[test]
fn pin_mismatch_is_refused_even_with_a_member_san() {
    let pki = Pki::new(&["110000", "440000"]);
    let mut trust = pki.trust_list(&["110000", "440000"], 1);
    let der = tls::load_certs(&pki.paths("440000").client_cert).unwrap();
    let leaf = PeerCertificate(der[0].clone());
    assert_eq!(
        VerifiedPeer::check(&leaf, &trust).unwrap().region(),
        "440000"
    );
    // Another key pinned for 440000 (e.g. after re-keying): the old certificate no longer counts.
    trust.members[1].spki_pins = trust.members[0].spki_pins.clone();
    assert_eq!(
        VerifiedPeer::check(&leaf, &trust),
        Err(PeerError::PinMismatch("440000".into()))
    );
}

#[test]
fn identity_comes_from_the_san_uri_never_the_cn() {
    // A certificate whose CN says a region but whose SAN has no pes:// URI identifies nobody.
    let key = rcgen_key();
    let mut params = rcgen_params();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pes://region/440000");
    params.subject_alt_names = vec![rcgen::SanType::DnsName("localhost".try_into().unwrap())];
    let cert = params.self_signed(&key).unwrap();
    assert_eq!(
        tls::PeerIdentity::from_leaf(cert.der()),
        Err(PeerError::NoRegionSan)
    );
    // Two region URIs are ambiguous and refused too.
    let mut params = rcgen_params();
    params.subject_alt_names = vec![
        rcgen::SanType::URI("pes://region/440000".try_into().unwrap()),
        rcgen::SanType::URI("pes://region/110000".try_into().unwrap()),
    ];
    let cert = params.self_signed(&key).unwrap();
    assert_eq!(
        tls::PeerIdentity::from_leaf(cert.der()),
        Err(PeerError::NoRegionSan)
    );
}

fn rcgen_key() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

fn rcgen_params() -> rcgen::CertificateParams {
    rcgen::CertificateParams::default()
}

#[actix_web::test]
async fn tls12_client_is_refused() {
    let pki = Pki::new(&["110000", "440000"]);
    let trust = pki.trust_list(&["110000", "440000"], 1);
    let server = start_whoami(&pki, "110000", trust.clone());
    let files = pki.client_files("440000");
    let port = server.port;
    // Blocking I/O off the test's runtime thread, which also drives the server.
    let result = actix_web::rt::task::spawn_blocking(move || {
        let mut roots = rustls::RootCertStore::empty();
        for c in tls::load_certs(&files.ca).unwrap() {
            roots.add(c).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                tls::load_certs(&files.cert).unwrap(),
                tls::load_key(&files.key).unwrap(),
            )
            .unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .and_then(|_| {
                let mut buf = Vec::new();
                tls.read_to_end(&mut buf).map(|_| buf)
            })
    })
    .await
    .unwrap();
    let err = result.expect_err("TLS 1.2 handshake succeeded");
    let text = err.to_string();
    assert!(
        text.contains("ProtocolVersion") || text.contains("protocol version"),
        "unexpected error: {text}"
    );
    server.handle.stop(false).await;
}
