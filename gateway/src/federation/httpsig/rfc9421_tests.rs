//! RFC 9421 Appendix B.2.6 ("Signing a Request Using ed25519"), byte for byte: the signature base
//! our builder produces equals the RFC's, and signing it with test-key-ed25519 (Appendix B.1.4)
//! yields the RFC's signature value (Ed25519 is deterministic).

use super::base::{binary, parse_binary};
use super::*;

/// Appendix B.1.4, `test-key-ed25519`, PKCS#8 (v1) private key.
const TEST_KEY_ED25519_PKCS8: &str =
    "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
/// Appendix B.1.4, its SubjectPublicKeyInfo.
const TEST_KEY_ED25519_SPKI: &str = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

/// Appendix B.2.6 signature base (RFC 8792 line wrapping undone).
const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
\"@method\": POST\n\
\"@path\": /foo\n\
\"@authority\": example.com\n\
\"content-type\": application/json\n\
\"content-length\": 18\n\
\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";

/// Appendix B.2.6 `Signature-Input` and `Signature` members.
const B26_INPUT: &str = "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

/// Appendix B.2 test-request.
fn test_request_headers() -> Headers {
    let mut h = Headers::new();
    h.push("Host", "example.com");
    h.push("Date", "Tue, 20 Apr 2021 02:07:55 GMT");
    h.push("Content-Type", "application/json");
    h.push(
        "Content-Digest",
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    );
    h.push("Content-Length", "18");
    h
}

fn decode(b64: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

fn b26_base() -> String {
    let headers = test_request_headers();
    let target = Target::parse("https://example.com/foo?param=Value&Pet=dog").unwrap();
    let params = SignatureParams {
        components: [
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ]
        .iter()
        .map(|n| ComponentId::new(n))
        .collect(),
        params: Vec::new(),
    }
    .int("created", 1618884473)
    .string("keyid", "test-key-ed25519");
    // The Signature-Input member we would emit is the RFC's, too.
    assert_eq!(format!("sig-b26={}", params.serialize()), B26_INPUT);
    signature_base(&params, |c| match c.name.as_str() {
        "@method" => Some("POST".into()),
        "@path" => Some(target.path.clone()),
        "@authority" => Some(target.authority.clone()),
        name => headers.get(name),
    })
    .unwrap()
}

#[test]
fn b26_signature_base_matches_the_rfc_byte_for_byte() {
    assert_eq!(b26_base(), B26_BASE);
}

#[test]
fn b26_signature_with_test_key_ed25519_matches_the_rfc() {
    let key = SigningKey::from_pkcs8("test-key-ed25519", &decode(TEST_KEY_ED25519_PKCS8)).unwrap();
    // The SPKI's last 32 bytes are the raw public key.
    assert_eq!(key.public_key(), &decode(TEST_KEY_ED25519_SPKI)[12..]);
    let signature = key.sign(&b26_base());
    assert_eq!(format!("sig-b26={}", binary(&signature)), B26_SIGNATURE);
}

#[test]
fn b26_rfc_signature_verifies_and_a_changed_base_does_not() {
    let public = &decode(TEST_KEY_ED25519_SPKI)[12..];
    let (_, value) = base::single_member(B26_SIGNATURE).unwrap();
    let signature = parse_binary(value).unwrap();
    verify_ed25519(public, B26_BASE, &signature).unwrap();
    let tampered = B26_BASE.replace("POST", "PUT");
    assert_eq!(
        verify_ed25519(public, &tampered, &signature),
        Err(SignatureError::BadSignature)
    );
    // And the parser reads the RFC's Signature-Input back to the same parameters.
    let (_, input) = base::single_member(B26_INPUT).unwrap();
    let parsed = SignatureParams::parse(input).unwrap();
    assert_eq!(parsed.get_int("created"), Some(1618884473));
    assert_eq!(parsed.get_str("keyid"), Some("test-key-ed25519"));
    assert_eq!(parsed.components.len(), 6);
}
