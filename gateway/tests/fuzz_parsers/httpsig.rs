//! RFC 9421 `Signature-Input` / `Signature` and RFC 9530 `Content-Digest`
//! (`federation::httpsig`), alone and through the request and response verifiers.
//!
//! Seeds of `signed_request` and `signed_response` are messages in a small text form:
//!
//! ```text
//! POST https://gd.example:8443/v1/federation/query      (a response: its status alone)
//! header-name: value                                   (one per line)
//!
//! body bytes
//! ```
//!
//! A response seed carries the `Signature` of the request it answers in the pseudo-header
//! `x-fuzz-request-signature`.

use pes_gateway::federation::httpsig::{
    check_content_digest, content_digest, prepare_response_check, verify_response, ComponentId,
    Headers, ParamValue, ReceivedRequest, RequestToSign, RequestVerifier, ResponseToSign,
    SignatureError, SignatureParams,
};
use proptest::prelude::*;

use crate::fixture::{self, fed_key, peer, text, trust_list, GD, GD_AUTHORITY, NOW, SC};
use crate::mutate::{self, apply, mutated};

const SF_DICT: &[&[u8]] = &[
    b"(",
    b")",
    b"\"",
    b"\\\"",
    b";req",
    b";key=",
    b";created=",
    b";keyid=",
    b"=",
    b"@",
    b"\"@signature-params\"",
    b":",
    b"::",
    b"pes=",
    b", pes=",
    b"sha-256=",
    b"sha-512=:AA==:",
    b"999999999999999",
    b"9999999999999999",
    b"-999999999999999",
];

// ---- Signature-Input member values ------------------------------------------------------

fn check_signature_input(bytes: &[u8]) {
    let input = text(bytes);
    if let Ok(p) = SignatureParams::parse(&input) {
        let again = p.serialize();
        assert!(
            again.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{again:?}"
        );
        assert_eq!(SignatureParams::parse(&again).as_ref(), Ok(&p), "{input:?}");
    }
}

#[test]
fn signature_input_seeds_and_prefixes() {
    fixture::every_prefix("signature_input", check_signature_input);
}

/// sf-string content: printable ASCII, sometimes anything.
fn sf_text() -> impl Strategy<Value = String> {
    prop_oneof![8 => "[ -~]{0,16}", 1 => "\\PC{0,8}", 1 => ".{0,4}"]
}

fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn signature_params() -> impl Strategy<Value = SignatureParams> {
    let component = (
        prop_oneof![
            Just("@method".to_string()),
            Just("@target-uri".to_string()),
            Just("content-digest".to_string()),
            sf_text()
        ],
        any::<bool>(),
        proptest::option::of(sf_text()),
    )
        .prop_map(|(name, req, key)| ComponentId { name, req, key });
    let value = prop_oneof![
        (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(ParamValue::Int),
        sf_text().prop_map(ParamValue::Str),
    ];
    (
        proptest::collection::vec(component, 0..6),
        proptest::collection::btree_map("[a-z*][a-z0-9_.*-]{0,8}", value, 0..6),
    )
        .prop_map(|(components, params)| SignatureParams {
            components,
            params: params.into_iter().collect(),
        })
}

// ---- Content-Digest ---------------------------------------------------------------------

const DIGEST_BODY: &[u8] = b"{\"hello\": \"world\"}\n";

fn check_content_digest_header(bytes: &[u8]) {
    let header = text(bytes);
    for body in [DIGEST_BODY, b"".as_slice(), bytes] {
        let want = content_digest(body);
        match check_content_digest(&header, body) {
            Ok(()) => {
                let first = header
                    .split(',')
                    .map(str::trim)
                    .find(|m| m.starts_with("sha-256="));
                assert_eq!(first, Some(want.as_str()), "{header:?}");
            }
            Err(SignatureError::Malformed(_) | SignatureError::DigestMismatch) => {}
            Err(e) => panic!("unexpected error {e:?} for {header:?}"),
        }
    }
}

#[test]
fn content_digest_seeds_and_prefixes() {
    fixture::every_prefix("content_digest", check_content_digest_header);
}

// ---- Whole messages through the verifiers -----------------------------------------------

/// What a request signature covers: method, target URI, body, content type, request id.
type CoveredRequest = (String, String, Vec<u8>, Option<String>, Option<String>);
/// What a response signature covers: status, body, content type, the request's signature.
type CoveredResponse = (String, Vec<u8>, Option<String>, Option<String>);

/// A message in the seeds' text form.
#[derive(Debug, Clone)]
pub struct Message {
    /// Method and target URI, or the status of a response.
    pub start: Vec<String>,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Message {
    pub fn parse(bytes: &[u8]) -> Option<Message> {
        let split = bytes.windows(2).position(|w| w == b"\n\n")?;
        let head = text(&bytes[..split]);
        let body = bytes[split + 2..].to_vec();
        let mut lines = head.split('\n');
        let start = lines
            .next()?
            .split(' ')
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let mut headers = Headers::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            headers.push(name, value);
        }
        Some(Message {
            start,
            headers,
            body,
        })
    }

    pub fn to_bytes(start: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut out = start.as_bytes().to_vec();
        for (n, v) in headers {
            out.extend_from_slice(format!("\n{n}: {v}").as_bytes());
        }
        out.extend_from_slice(b"\n\n");
        out.extend_from_slice(body);
        out
    }

    /// What a request signature covers, as the verifier resolves it.
    fn covered_request(&self) -> Option<CoveredRequest> {
        let [method, uri] = self.start.as_slice() else {
            return None;
        };
        Some((
            method.to_ascii_uppercase(),
            uri.clone(),
            self.body.clone(),
            self.headers.get("content-type"),
            self.headers.get("x-request-id"),
        ))
    }

    /// What a response signature covers.
    fn covered_response(&self) -> Option<CoveredResponse> {
        Some((
            self.start.first()?.clone(),
            self.body.clone(),
            self.headers.get("content-type"),
            self.headers.get("x-fuzz-request-signature"),
        ))
    }
}

fn signer_of(seed_name: &str) -> &'static str {
    if seed_name.contains("-sc-") {
        SC
    } else {
        GD
    }
}

fn check_request(bytes: &[u8]) {
    let Some(m) = Message::parse(bytes) else {
        return;
    };
    let [method, uri] = m.start.as_slice() else {
        return;
    };
    let req = ReceivedRequest {
        method,
        target_uri: uri.clone(),
        headers: &m.headers,
        body: &m.body,
    };
    for region in [GD, SC] {
        let verifier = RequestVerifier::new(vec![GD_AUTHORITY.into()], 64);
        match verifier.verify(&req, &peer(region), trust_list(), NOW) {
            Ok(checked) => {
                // Only what a member signed verifies, and only for that member's peer.
                let signed = fixture::signed_seeds("signed_request").any(|s| {
                    signer_of(&s.name) == region
                        && Message::parse(&s.bytes).and_then(|s| s.covered_request())
                            == m.covered_request()
                });
                assert!(signed, "forged request verified for {region}: {m:?}");
                assert_eq!(checked.region(), region);
                assert_eq!(
                    Some(checked.request_id().to_owned()),
                    m.headers.get("x-request-id")
                );
                // The same nonce again is a replay.
                assert_eq!(
                    verifier.verify(&req, &peer(region), trust_list(), NOW),
                    Err(SignatureError::ReplayedNonce)
                );
            }
            Err(e) => assert!(!matches!(e, SignatureError::Key(_)), "{e:?}"),
        }
    }
}

fn check_response(bytes: &[u8]) {
    let Some(m) = Message::parse(bytes) else {
        return;
    };
    let Some(status) = m.start.first().and_then(|s| s.parse::<u16>().ok()) else {
        return;
    };
    let request_signature = m
        .headers
        .get("x-fuzz-request-signature")
        .unwrap_or_default();
    for region in [GD, SC] {
        let result = verify_response(
            status,
            &m.headers,
            &m.body,
            &request_signature,
            region,
            trust_list(),
            NOW,
        );
        if result.is_ok() {
            let signed = fixture::signed_seeds("signed_response").any(|s| {
                signer_of(&s.name) == region
                    && Message::parse(&s.bytes).and_then(|s| s.covered_response())
                        == m.covered_response()
            });
            assert!(signed, "forged response verified for {region}: {m:?}");
        }
        // The cheap half never accepts what the whole check refuses for its own reasons.
        if prepare_response_check(
            status,
            &m.headers,
            &request_signature,
            region,
            trust_list(),
            NOW,
        )
        .is_err()
        {
            assert!(result.is_err());
        }
    }
}

#[test]
fn signed_request_seeds_and_prefixes() {
    fixture::every_prefix("signed_request", check_request);
}

#[test]
fn signed_response_seeds_and_prefixes() {
    fixture::every_prefix("signed_response", check_response);
}

#[test]
fn signed_message_seeds_verify() {
    for s in fixture::signed_seeds("signed_request") {
        let m = Message::parse(&s.bytes).unwrap();
        let req = ReceivedRequest {
            method: &m.start[0],
            target_uri: m.start[1].clone(),
            headers: &m.headers,
            body: &m.body,
        };
        RequestVerifier::new(vec![GD_AUTHORITY.into()], 64)
            .verify(&req, &peer(signer_of(&s.name)), trust_list(), NOW)
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
    for s in fixture::signed_seeds("signed_response") {
        let m = Message::parse(&s.bytes).unwrap();
        verify_response(
            m.start[0].parse().unwrap(),
            &m.headers,
            &m.body,
            &m.headers.get("x-fuzz-request-signature").unwrap(),
            signer_of(&s.name),
            trust_list(),
            NOW,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
}

/// A request as a member would send it, with hostile but header-safe values.
#[derive(Debug, Clone)]
struct Outgoing {
    method: String,
    uri: String,
    content_type: Option<String>,
    request_id: String,
    body: Vec<u8>,
}

fn outgoing() -> impl Strategy<Value = Outgoing> {
    let method = prop_oneof![
        Just("POST".to_string()),
        Just("get".to_string()),
        "[A-Za-z]{1,8}"
    ];
    let uri = (
        prop_oneof![
            Just("https://gd.example:8443".to_string()),
            Just("https://GD.EXAMPLE:8443".to_string()),
            Just("https://user@gd.example:8443".to_string()),
            Just("https://gd.example".to_string()),
            Just("https://[::1]:8443".to_string()),
            Just("https://gd.example:443".to_string()),
            "[a-z]{1,6}://[a-z.]{0,12}(:[0-9]{1,6})?",
        ],
        "(/[a-zA-Z0-9%._~-]{0,8}){0,3}",
        proptest::option::of("[ -~]{0,16}"),
        proptest::option::of("[a-z0-9]{0,6}"),
    )
        .prop_map(|(base, path, query, frag)| {
            let mut u = base + &path;
            if let Some(q) = query {
                u.push('?');
                u.push_str(&q);
            }
            if let Some(f) = frag {
                u.push('#');
                u.push_str(&f);
            }
            u
        });
    let header_value = "[!-~]([ -~]{0,20}[!-~])?";
    (
        method,
        uri,
        proptest::option::of(header_value),
        header_value,
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(method, uri, content_type, request_id, body)| Outgoing {
            method,
            uri,
            content_type,
            request_id,
            body,
        })
}

/// Signs `o` as `region` and returns the headers it is sent with, and its `Signature`.
fn sign_and_send(region: &str, o: &Outgoing) -> Result<(Headers, String), SignatureError> {
    let signed = fed_key(region).sign_request(
        &RequestToSign {
            method: &o.method,
            target_uri: &o.uri,
            content_type: o.content_type.as_deref(),
            request_id: &o.request_id,
            body: &o.body,
        },
        NOW,
    )?;
    let mut h = Headers::new();
    if let Some(ct) = &o.content_type {
        h.push("content-type", ct);
    }
    h.push("x-request-id", &o.request_id);
    h.push("content-digest", &signed.content_digest);
    h.push("signature-input", &signed.signature_input);
    h.push("signature", &signed.signature);
    Ok((h, signed.signature))
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn signature_input_mutated((seed, muts) in mutated(fixture::corpus("signature_input").len(), SF_DICT.len())) {
        let seeds = fixture::corpus("signature_input");
        check_signature_input(&apply(&seeds[seed].bytes, &muts, SF_DICT, seeds));
    }

    #[test]
    fn signature_params_round_trip(p in signature_params()) {
        let all_printable = p.components.iter().all(|c| printable(&c.name) && c.key.as_deref().is_none_or(printable))
            && p.params.iter().all(|(_, v)| !matches!(v, ParamValue::Str(s) if !printable(s)));
        match SignatureParams::parse(&p.serialize()) {
            Ok(back) => prop_assert_eq!(back, p),
            // The serialiser's contract: callers pass printable ASCII only.
            Err(_) => prop_assert!(!all_printable, "{:?}", p.serialize()),
        }
    }

    #[test]
    fn content_digest_mutated((seed, muts) in mutated(fixture::corpus("content_digest").len(), SF_DICT.len())) {
        let seeds = fixture::corpus("content_digest");
        check_content_digest_header(&apply(&seeds[seed].bytes, &muts, SF_DICT, seeds));
    }

    #[test]
    fn content_digest_finds_its_member_among_others(
        body in proptest::collection::vec(any::<u8>(), 0..64),
        others in proptest::collection::vec(("[a-z0-9-]{1,10}", "[A-Za-z0-9+/=]{0,12}"), 0..4),
        at in any::<usize>(),
    ) {
        let mut members: Vec<String> = others
            .iter()
            .filter(|(alg, _)| alg != "sha-256")
            .map(|(alg, v)| format!("{alg}=:{v}:"))
            .collect();
        let pos = at % (members.len() + 1);
        members.insert(pos, content_digest(&body));
        let header = members.join(", ");
        prop_assert_eq!(check_content_digest(&header, &body), Ok(()));
        let mut other = body.clone();
        other.push(0);
        prop_assert_eq!(check_content_digest(&header, &other), Err(SignatureError::DigestMismatch));
    }

    #[test]
    fn signed_request_mutated((seed, muts) in mutated(fixture::corpus("signed_request").len(), SF_DICT.len())) {
        let seeds = fixture::corpus("signed_request");
        check_request(&apply(&seeds[seed].bytes, &muts, SF_DICT, seeds));
    }

    #[test]
    fn signed_response_mutated((seed, muts) in mutated(fixture::corpus("signed_response").len(), SF_DICT.len())) {
        let seeds = fixture::corpus("signed_response");
        check_response(&apply(&seeds[seed].bytes, &muts, SF_DICT, seeds));
    }

    /// Whatever a member signs verifies for that member, and the answer signed for it is bound
    /// to it; any other peer, or another request's signature, is refused.
    #[test]
    fn signed_requests_and_their_answers_verify(o in outgoing(), status in 100u16..600, answer in proptest::collection::vec(any::<u8>(), 0..32)) {
        let Ok((headers, signature)) = sign_and_send(GD, &o) else {
            // Only a target URI the signer cannot parse stops it.
            prop_assert!(reqwest::Url::parse(&o.uri).map_or(true, |u| u.host_str().is_none()), "{:?}", o);
            return Ok(());
        };
        let req = ReceivedRequest { method: &o.method, target_uri: o.uri.clone(), headers: &headers, body: &o.body };
        let verifier = RequestVerifier::new(Vec::new(), 64);
        let checked = verifier.verify(&req, &peer(GD), trust_list(), NOW);
        let checked = match checked {
            Ok(c) => c,
            // The signer lets a body go without a content type; the profile refuses that (every
            // caller in the gateway passes one).
            Err(SignatureError::Profile(_)) if o.content_type.is_none() && !o.body.is_empty() => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{e:?} for {o:?}"))),
        };
        prop_assert_eq!(checked.request_id(), o.request_id.as_str());
        let other_peer = RequestVerifier::new(Vec::new(), 64).verify(&req, &peer(SC), trust_list(), NOW);
        prop_assert!(matches!(other_peer, Err(SignatureError::KeyNotOfPeer { .. })), "{:?}", other_peer);
        let resp = fed_key(GD).sign_response(&ResponseToSign { status, content_type: Some("application/json"), body: &answer, request_signature: &signature }, NOW).unwrap();
        let mut h = Headers::new();
        h.push("content-type", "application/json");
        h.push("content-digest", &resp.content_digest);
        h.push("signature-input", &resp.signature_input);
        h.push("signature", &resp.signature);
        prop_assert!(verify_response(status, &h, &answer, &signature, GD, trust_list(), NOW).is_ok());
        prop_assert!(verify_response(status, &h, &answer, &signature, SC, trust_list(), NOW).is_err());
        let other = fed_key(GD).sign_request(&RequestToSign { method: "POST", target_uri: "https://gd.example:8443/x", content_type: None, request_id: "other", body: b"" }, NOW).unwrap();
        prop_assert!(verify_response(status, &h, &answer, &other.signature, GD, trust_list(), NOW).is_err());
    }
}
