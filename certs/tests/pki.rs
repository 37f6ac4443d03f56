//! The development PKI: files, SANs, key modes, revocation and the CRL.

use std::os::unix::fs::PermissionsExt;

use pes_certs::{
    init, issue_gateway, load_index, revoke, spki_pin, CertKind, CertsError, GatewayPaths,
    InitOptions, RevokeTarget,
};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;

fn regions() -> Vec<String> {
    vec!["110000".into(), "440000".into()]
}

fn cert_der(path: &std::path::Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    let (_, pem) = parse_x509_pem(&pem).unwrap();
    pem.contents
}

#[test]
fn init_writes_ca_crl_and_per_gateway_certs_with_region_uri_localhost_and_ip_sans() {
    let dir = tempfile::tempdir().unwrap();
    let index = init(dir.path(), &regions(), &InitOptions::default()).unwrap();
    assert_eq!(index.certs.len(), 4);
    assert_eq!(index.signing_keys.len(), 2);
    assert_eq!(index.crl_number, 1);
    for region in regions() {
        let paths = GatewayPaths::new(dir.path(), &region);
        for (cert, eku_server) in [(&paths.server_cert, true), (&paths.client_cert, false)] {
            let der = cert_der(cert);
            let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
            let san = x509.subject_alternative_name().unwrap().unwrap();
            let names: Vec<String> = san
                .value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
                    other => format!("{other:?}"),
                })
                .collect();
            assert_eq!(
                names,
                vec![
                    format!("URI:pes://region/{region}"),
                    "DNS:localhost".to_string(),
                    "IP:[127, 0, 0, 1]".to_string()
                ]
            );
            let eku = x509.extended_key_usage().unwrap().unwrap().value;
            assert_eq!(eku.server_auth, eku_server);
            assert_eq!(eku.client_auth, !eku_server);
            assert!(!x509.is_ca());
            let pin = spki_pin(&der).unwrap();
            assert!(index
                .certs
                .iter()
                .any(|c| c.spki_pin == pin && c.region == region));
        }
    }
    let ca = cert_der(&dir.path().join("ca.pem"));
    let (_, ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
    assert!(ca.is_ca());
}

#[test]
fn private_keys_are_written_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &regions(), &InitOptions::default()).unwrap();
    let paths = GatewayPaths::new(dir.path(), "440000");
    for key in [
        dir.path().join("ca.key"),
        paths.server_key,
        paths.client_key,
        paths.signing_key,
    ] {
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
}

#[test]
fn init_refuses_to_overwrite_an_existing_ca_and_bad_region_codes() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &regions(), &InitOptions::default()).unwrap();
    let ca_before = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let err = init(dir.path(), &regions(), &InitOptions::default()).unwrap_err();
    assert!(matches!(err, CertsError::AlreadyExists(_)));
    assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca_before);

    let other = tempfile::tempdir().unwrap();
    let err = init(other.path(), &["44000".into()], &InitOptions::default()).unwrap_err();
    assert!(matches!(err, CertsError::BadRegion(_)));
}

fn crl_serials(dir: &std::path::Path) -> (u64, Vec<String>) {
    let pem = std::fs::read(dir.join("crl.pem")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    assert_eq!(pem.label, "X509 CRL");
    let (_, crl) = x509_parser::parse_x509_crl(&pem.contents).unwrap();
    let number = crl.crl_number().unwrap().to_u64_digits()[0];
    let serials = crl
        .iter_revoked_certificates()
        .map(|r| hex::encode(r.raw_serial()))
        .collect();
    (number, serials)
}

#[test]
fn revoke_lists_the_serial_in_a_new_crl_with_a_higher_number() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &regions(), &InitOptions::default()).unwrap();
    assert_eq!(crl_serials(dir.path()), (1, vec![]));
    let revoked = revoke(
        dir.path(),
        &RevokeTarget::Region {
            region: "440000".into(),
            kind: Some(CertKind::Client),
        },
        time::Duration::days(1),
    )
    .unwrap();
    assert_eq!(revoked.len(), 1);
    let (number, serials) = crl_serials(dir.path());
    assert_eq!(number, 2);
    assert_eq!(serials, vec![revoked[0].serial.clone()]);
    // The index records it, and revoking again finds nothing.
    let index = load_index(dir.path()).unwrap();
    assert!(index
        .certs
        .iter()
        .any(|c| c.serial == revoked[0].serial && c.revoked_at.is_some()));
    let again = revoke(
        dir.path(),
        &RevokeTarget::Serial(revoked[0].serial.clone()),
        time::Duration::days(1),
    );
    assert!(matches!(again, Err(CertsError::NothingToRevoke(_))));
}

#[test]
fn issue_gateway_adds_a_region_signed_by_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &regions(), &InitOptions::default()).unwrap();
    let pair = issue_gateway(dir.path(), "650000", &InitOptions::default()).unwrap();
    assert_eq!(pair[0].region, "650000");
    assert!(GatewayPaths::new(dir.path(), "650000").client_cert.exists());
    assert!(matches!(
        issue_gateway(dir.path(), "650000", &InitOptions::default()),
        Err(CertsError::RegionExists(_))
    ));
    let der = cert_der(&GatewayPaths::new(dir.path(), "650000").server_cert);
    let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
    let ca = cert_der(&dir.path().join("ca.pem"));
    let (_, ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
    x509.verify_signature(Some(ca.public_key())).unwrap();
}
