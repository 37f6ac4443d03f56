//! Writes the generated seeds of the gateway corpora: the signed ones (made with the fixed keys
//! of `fixture`) and the hand-made hostile shapes. Regression seeds (`regress-*`) are added by
//! hand and never touched here.
//!
//! `cargo test -p pes-gateway --test fuzz_parsers -- --ignored regenerate`

use std::path::Path;

use pes_gateway::audit::checkpoint::Checkpoint;
use pes_gateway::federation::httpsig::{RequestToSign, ResponseToSign};
use pes_gateway::federation::trust::sign_trust_list;
use pes_gateway::signed_note::{KeyType, SigningKey};
use ring::signature::KeyPair as _;

use crate::auth::{attacker_key, claims, pinned_jwk, token, Signer};
use crate::fixture::{
    self, fed_key, impostor_key, log_key, root_key, trust_list, witness_key, GD, NOW, SC,
};
use crate::httpsig::Message;
use crate::notes::golden;
use crate::receipts::make_receipt;

fn put(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let dir = crate::mutate::corpus_dir(fixture::CRATE_DIR, target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(Path::new(&dir).join(name), bytes).unwrap();
}

#[test]
#[ignore = "rewrites the committed seed corpora; run after a format or key change"]
fn regenerate() {
    httpsig_seeds();
    note_seeds();
    receipt_seeds();
    trust_seeds();
    jwt_seeds();
    ndjson_seeds();
    peer_seeds();
}

fn httpsig_seeds() {
    let uri = "https://gd.example:8443/v1/federation/query";
    let body = br#"{"dataset":"vacancy","measures":["openings"],"group_by":["province"]}"#;
    let mut request_sigs = Vec::new();
    for (name, region, method, content_type, req_body) in [
        (
            "signed-gd-query.msg",
            GD,
            "POST",
            Some("application/json"),
            &body[..],
        ),
        ("signed-gd-get.msg", GD, "GET", None, &b""[..]),
        (
            "signed-sc-query.msg",
            SC,
            "POST",
            Some("application/json"),
            &body[..],
        ),
    ] {
        let id = format!("fuzz-{name}");
        let s = fed_key(region)
            .sign_request(
                &RequestToSign {
                    method,
                    target_uri: uri,
                    content_type,
                    request_id: &id,
                    body: req_body,
                },
                NOW,
            )
            .unwrap();
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        headers.extend([
            ("x-request-id", id.as_str()),
            ("content-digest", s.content_digest.as_str()),
            ("signature-input", s.signature_input.as_str()),
            ("signature", s.signature.as_str()),
        ]);
        put(
            "signed_request",
            name,
            Message::to_bytes(&format!("{method} {uri}"), &headers, req_body),
        );
        put(
            "signature_input",
            &format!("from-{}.txt", name.trim_end_matches(".msg")),
            s.signature_input.strip_prefix("pes=").unwrap(),
        );
        request_sigs.push((region, s.signature));
    }
    // Answers: Guangdong answers Sichuan's query, Sichuan answers Guangdong's.
    let answer = br#"{"rows":[{"province":"440000","openings":12}],"as_of":3}"#;
    for (name, region, asked_by) in [
        ("signed-gd-answer.msg", GD, SC),
        ("signed-sc-answer.msg", SC, GD),
    ] {
        let req_sig = &request_sigs.iter().find(|(r, _)| *r == asked_by).unwrap().1;
        let s = fed_key(region)
            .sign_response(
                &ResponseToSign {
                    status: 200,
                    content_type: Some("application/json"),
                    body: answer,
                    request_signature: req_sig,
                },
                NOW,
            )
            .unwrap();
        let headers = [
            ("x-fuzz-request-signature", req_sig.as_str()),
            ("content-type", "application/json"),
            ("content-digest", s.content_digest.as_str()),
            ("signature-input", s.signature_input.as_str()),
            ("signature", s.signature.as_str()),
        ];
        put(
            "signed_response",
            name,
            Message::to_bytes("200", &headers, answer),
        );
        put(
            "signature_input",
            &format!("from-{}.txt", name.trim_end_matches(".msg")),
            s.signature_input.strip_prefix("pes=").unwrap(),
        );
    }
    put(
        "signed_request",
        "unsigned.msg",
        Message::to_bytes(uri, &[("content-type", "application/json")], body),
    );
    for (name, text) in [
        (
            "rfc9421-b26.txt",
            r#"("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        ),
        (
            "rfc9421-b21-empty-list.txt",
            r#"();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#,
        ),
        (
            "request-binding.txt",
            r#"("@status" "content-digest" "signature";req;key="pes");created=1;expires=31;keyid="k";alg="ed25519";tag="pes-fed-v1""#,
        ),
        ("bad-escape.txt", r#"("a\x")"#),
        ("sixteen-digits.txt", r#"("a");created=1234567890123456"#),
        ("duplicate-param.txt", r#"("a");created=1;created=2"#),
        (
            "signature-params-covered.txt",
            r#"("@signature-params");created=1"#,
        ),
        ("empty.txt", ""),
    ] {
        put("signature_input", name, text);
    }
    for (name, text) in [
        ("rfc9530-sha256.txt", "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"),
        (
            "rfc9530-sha512-and-sha256.txt",
            "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:, sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",
        ),
        ("no-colons.txt", "sha-256=RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg="),
        ("empty-value.txt", "sha-256=::"),
        ("two-sha256.txt", "sha-256=:AAAA:, sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"),
        ("empty.txt", ""),
    ] {
        put("content_digest", name, text);
    }
}

fn note_seeds() {
    let body = "fuzz note\nsecond line with 中文 and — dashes\n";
    let note = log_key().sign(body).unwrap();
    put("signed_note", "signed-log.note", &note);
    let cosigned = format!(
        "{note}{}",
        witness_key().signature_line(body, 1_767_225_600)
    );
    put("signed_note", "signed-log-cosigned.note", &cosigned);
    put(
        "signed_note",
        "impostor.note",
        impostor_key().sign("forged\n").unwrap(),
    );
    put("signed_note", "crlf.note", note.replace('\n', "\r\n"));
    put("signed_note", "no-final-newline.note", note.trim_end());
    let mut many = note.clone();
    for _ in 0..100 {
        many.push_str(&impostor_key().signature_line(body, 0));
    }
    put("signed_note", "too-many-signatures.note", many);
    put(
        "signed_note",
        "hyphen-not-em-dash.note",
        note.replace('\u{2014}', "-"),
    );

    let private =
        SigningKey::from_seed("fuzz.example/test-only", KeyType::Ed25519, [0x12; 32]).unwrap();
    for (name, text) in [
        ("log.vkey", log_key().verifier().to_string()),
        ("witness.vkey", witness_key().verifier().to_string()),
        ("root.vkey", root_key().verifier().to_string()),
        ("golden.vkey", golden().0.to_string()),
        ("test-only.private", private.to_private_text()),
        ("wrong-id.vkey", {
            let v = log_key().verifier().to_string();
            let (name, rest) = v.split_once('+').unwrap();
            format!("{name}+00000000+{}", rest.split_once('+').unwrap().1)
        }),
        (
            "unsupported-type.vkey",
            "k+01234567+AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
        ),
        ("empty.vkey", String::new()),
    ] {
        put("note_key", name, text);
    }

    let cp = |size: u64, root: [u8; 32]| Checkpoint {
        origin: log_key().name().into(),
        size,
        root,
    };
    put(
        "checkpoint",
        "signed-size-0.note",
        cp(0, [0; 32]).sign(log_key()).unwrap(),
    );
    put(
        "checkpoint",
        "signed-size-1.note",
        cp(1, [1; 32]).sign(log_key()).unwrap(),
    );
    put(
        "checkpoint",
        "signed-size-max.note",
        cp(u64::MAX, [2; 32]).sign(log_key()).unwrap(),
    );
    let c = cp(24, [3; 32]);
    put(
        "checkpoint",
        "signed-cosigned.note",
        format!(
            "{}{}",
            c.sign(log_key()).unwrap(),
            witness_key().signature_line(&c.body(), 1_767_225_600)
        ),
    );
    let ext = format!("{}extension line\n", c.body());
    put(
        "checkpoint",
        "signed-extension-line.note",
        log_key().sign(&ext).unwrap(),
    );
    let leading_zero = c.body().replace("\n24\n", "\n024\n");
    put(
        "checkpoint",
        "size-with-leading-zero.note",
        log_key().sign(&leading_zero).unwrap(),
    );
    put(
        "checkpoint",
        "impostor.note",
        cp(5, [5; 32]).sign(impostor_key()).unwrap(),
    );
    for (i, g) in golden().1.iter().enumerate() {
        if [0, 11, 23].contains(&i) {
            put("checkpoint", &format!("golden-{}.note", i + 1), g);
        }
    }
}

fn receipt_seeds() {
    let entries: Vec<Vec<u8>> = std::fs::read_to_string(
        Path::new(fixture::CRATE_DIR).join("tests/fixtures/audit-golden/entries.ndjson"),
    )
    .unwrap()
    .lines()
    .map(|l| l.as_bytes().to_vec())
    .collect();
    for (name, index) in [("first", 0), ("middle", 11), ("last", entries.len() - 1)] {
        put(
            "receipt",
            &format!("signed-receipt-{name}.txt"),
            make_receipt(&entries, index, 1_767_225_600),
        );
    }
    let r = make_receipt(&entries[..1], 0, 0);
    put("receipt", "signed-receipt-single-entry.txt", &r);
    let (head, cp) = r.split_once("\n\n").unwrap();
    let no_extra: Vec<&str> = head.lines().filter(|l| !l.starts_with("extra ")).collect();
    put(
        "receipt",
        "no-extra.txt",
        format!("{}\n\n{cp}", no_extra.join("\n")),
    );
    put(
        "receipt",
        "proof-too-long.txt",
        format!(
            "{head}{}\n\n{cp}",
            "\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".repeat(65)
        ),
    );
    put("receipt", "wrong-header.txt", r.replacen("@v1", "@v2", 1));
}

fn trust_seeds() {
    let list = trust_list().clone();
    put(
        "trust_list",
        "signed-v7.note",
        sign_trust_list(&list, root_key()).unwrap(),
    );
    let mut minimal = list.clone();
    minimal.version = 8;
    minimal.members.truncate(1);
    minimal.policies.truncate(1);
    minimal.witnesses.clear();
    put(
        "trust_list",
        "signed-minimal-v8.note",
        sign_trust_list(&minimal, root_key()).unwrap(),
    );
    let json = serde_json::to_value(&list).unwrap();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let variants: Vec<(&str, Edit)> = vec![
        ("body-valid.json", Box::new(|_| {})),
        (
            "body-duplicate-region.json",
            Box::new(|v| v["members"][1]["region"] = v["members"][0]["region"].clone()),
        ),
        (
            "body-http-url.json",
            Box::new(|v| v["members"][0]["url"] = "http://gd.example".into()),
        ),
        (
            "body-unknown-field.json",
            Box::new(|v| v["members"][0]["admin"] = true.into()),
        ),
        (
            "body-bad-pin.json",
            Box::new(|v| v["members"][0]["spki_pins"][0] = "sha256/AAAA".into()),
        ),
        (
            "body-k-zero.json",
            Box::new(|v| v["policies"][0]["k"] = 0.into()),
        ),
        (
            "body-version-overflow.json",
            Box::new(|v| v["version"] = serde_json::from_str("18446744073709551616").unwrap()),
        ),
        (
            "body-far-dates.json",
            Box::new(|v| v["expires_at"] = "+262143-12-31T23:59:59Z".into()),
        ),
        (
            "body-witness-not-cosigner.json",
            Box::new(|v| v["witnesses"][0]["vkey"] = log_key().verifier().to_string().into()),
        ),
        (
            "body-short-key.json",
            Box::new(|v| v["members"][0]["signing_keys"][0]["public_key"] = "AAAA".into()),
        ),
    ];
    for (name, edit) in variants {
        let mut v = json.clone();
        edit(&mut v);
        put(
            "trust_list",
            name,
            serde_json::to_string_pretty(&v).unwrap(),
        );
    }
    put(
        "trust_list",
        "body-deep-nesting.json",
        format!("{{\"members\": {}{}}}", "[".repeat(200), "]".repeat(200)),
    );
}

fn jwt_seeds() {
    let kid = pinned_jwk().kid;
    let h = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    put(
        "jwt",
        "signed-admin.jwt",
        token(&h, &claims("admin"), Signer::Pinned),
    );
    put(
        "jwt",
        "signed-pusher.jwt",
        token(&h, &claims("pusher"), Signer::Pinned),
    );
    let mut expired = claims("admin");
    expired["exp"] = 1_600_000_000.into();
    put("jwt", "expired.jwt", token(&h, &expired, Signer::Pinned));
    put(
        "jwt",
        "alg-none.jwt",
        token(
            &serde_json::json!({"alg": "none", "kid": kid}),
            &claims("admin"),
            Signer::Unsigned,
        ),
    );
    put(
        "jwt",
        "hs256-keyed-with-public-key.jwt",
        token(
            &serde_json::json!({"alg": "HS256", "kid": kid}),
            &claims("admin"),
            Signer::HmacWithPublicKey,
        ),
    );
    let attacker = serde_json::to_value(pes_gateway::keys::Jwk::ed25519(
        attacker_key().public_key().as_ref(),
    ))
    .unwrap();
    put(
        "jwt",
        "embedded-attacker-jwk.jwt",
        token(
            &serde_json::json!({"alg": "EdDSA", "kid": kid, "jwk": attacker}),
            &claims("admin"),
            Signer::Attacker,
        ),
    );
    put(
        "jwt",
        "jku-attacker.jwt",
        token(
            &serde_json::json!({"alg": "EdDSA", "kid": kid, "jku": "https://attacker.example/jwks"}),
            &claims("admin"),
            Signer::Attacker,
        ),
    );
    put(
        "jwt",
        "unknown-kid.jwt",
        token(
            &serde_json::json!({"alg": "EdDSA", "kid": "nope"}),
            &claims("admin"),
            Signer::Pinned,
        ),
    );
    put("jwt", "two-parts.jwt", "eyJhbGciOiJFZERTQSJ9.e30");
    put("jwt", "empty.jwt", "");
}

fn ndjson_seeds() {
    use pes_gateway::native_sample::ndjson;
    let source = crate::ingest::SOURCE;
    let sample = ndjson(0..6, GD, source, 1);
    put("native_ndjson", "sample.ndjson", &sample);
    let text = String::from_utf8(sample.clone()).unwrap();
    let first = text.lines().next().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(first).unwrap();
    v["protected"]["id_number"] = "440106199913451234".into();
    put(
        "native_ndjson",
        "invalid-id-number.ndjson",
        format!("{v}\n"),
    );
    let mut v: serde_json::Value = serde_json::from_str(first).unwrap();
    v["protected"]["id_number"] = 440_106_199_001_011_234u64.into();
    put(
        "native_ndjson",
        "id-number-as-number.ndjson",
        format!("{v}\n"),
    );
    let mut v: serde_json::Value = serde_json::from_str(first).unwrap();
    v["region"] = "510000".into();
    put("native_ndjson", "wrong-region.ndjson", format!("{v}\n"));
    let mut v: serde_json::Value = serde_json::from_str(first).unwrap();
    v["surprise"] = 1.into();
    put("native_ndjson", "unknown-field.ndjson", format!("{v}\n"));
    put(
        "native_ndjson",
        "crlf-and-blank.ndjson",
        text.replace('\n', "\r\n\r\n"),
    );
    put(
        "native_ndjson",
        "not-json.ndjson",
        format!("{first}\nnot json\n"),
    );
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(&sample);
    put("native_ndjson", "bom.ndjson", bom);
    put(
        "native_ndjson",
        "deep-nesting.ndjson",
        format!("{}{}\n", "[".repeat(200), "]".repeat(200)),
    );
}

fn peer_seeds() {
    use rcgen::{CertificateParams, KeyPair, SanType, PKCS_ECDSA_P256_SHA256};
    for (name, uris) in [
        ("gd-leaf.der", vec!["pes://region/440000"]),
        (
            "two-regions.der",
            vec!["pes://region/440000", "pes://region/510000"],
        ),
        ("no-region.der", vec![]),
        ("short-region.der", vec!["pes://region/44000"]),
    ] {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        for u in uris {
            params
                .subject_alt_names
                .push(SanType::URI(u.try_into().unwrap()));
        }
        let cert = params.self_signed(&key).unwrap();
        put("peer_cert", name, cert.der());
    }
}
