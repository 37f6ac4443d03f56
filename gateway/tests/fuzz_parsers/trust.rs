//! The federation trust list (`federation::trust`): its JSON body and the signed note around it.

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use pes_gateway::federation::trust::{
    sign_trust_list, verify_trust_list, CallerPolicy, Member, MemberKey, TrustError, TrustList,
    WitnessKey,
};
use pes_gateway::signed_note::Note;
use proptest::prelude::*;

use crate::fixture::{self, now, root_key, text, witness_key};
use crate::mutate::{self, apply, mutated};

const TRUST_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"\"440000\"",
    b"\"https://",
    b"\"http://",
    b"sha256/",
    b"\"9999-12-31T23:59:59Z\"",
    b"\"+262143-01-01T00:00:00Z\"",
    b"18446744073709551616",
    b"\"k\": 0",
    b"\xe2\x80\x94 pes-federation-root ",
];

/// The lists the root key signed (the signed seeds).
fn signed_lists() -> &'static Vec<TrustList> {
    static L: OnceLock<Vec<TrustList>> = OnceLock::new();
    L.get_or_init(|| {
        fixture::signed_seeds("trust_list")
            .map(|s| {
                verify_trust_list(&text(&s.bytes), root_key().verifier(), now())
                    .unwrap_or_else(|e| panic!("{}: {e}", s.name))
            })
            .collect()
    })
}

fn check_body(json: &str) {
    match TrustList::from_json(json) {
        Ok(l) => {
            l.check().unwrap();
            let again = serde_json::to_string_pretty(&l).unwrap();
            assert_eq!(TrustList::from_json(&again).unwrap(), l);
        }
        Err(TrustError::Invalid(_)) => {}
        Err(e) => panic!("{e:?}"),
    }
}

fn check_trust_list(input: &str) {
    check_body(input);
    if let Ok(note) = Note::parse(input) {
        check_body(&note.body);
    }
    match verify_trust_list(input, root_key().verifier(), now()) {
        Ok(l) => assert!(
            signed_lists().contains(&l),
            "forged trust list verified: {input:?}"
        ),
        Err(TrustError::BadSignature(_) | TrustError::Invalid(_) | TrustError::Expired { .. }) => {}
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn trust_list_seeds_and_prefixes() {
    assert!(!signed_lists().is_empty());
    fixture::every_prefix("trust_list", |b| check_trust_list(&text(b)));
}

/// A trust list with hostile but mostly well-formed members, keys, pins and policies.
fn trust_list() -> impl Strategy<Value = TrustList> {
    use base64::Engine as _;
    let b64 = |v: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(v);
    let time = (0i64..4_102_444_800).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap());
    let region = prop_oneof![
        4 => "[1-6][0-9]0000",
        1 => "\\PC{0,7}",
    ];
    let key = (
        "[a-z0-9-]{1,8}",
        prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 32).prop_map(b64),
            1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(b64),
        ],
        time.clone(),
        time.clone(),
    )
        .prop_map(|(kid, public_key, not_before, not_after)| MemberKey {
            kid,
            public_key,
            not_before,
            not_after,
        });
    let pin = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 32).prop_map(move |v| format!("sha256/{}", b64(v))),
        1 => "\\PC{0,12}",
    ];
    let member = (
        region.clone(),
        "\\PC{0,8}",
        prop_oneof![4 => Just("https://gw.example:8443"), 1 => Just("http://gw.example")],
        proptest::collection::vec(pin, 0..3),
        proptest::collection::vec(key, 0..3),
        proptest::option::of(prop_oneof![
            Just(fixture::log_key().verifier().to_string()),
            "\\PC{0,12}"
        ]),
    )
        .prop_map(
            |(region, name, url, spki_pins, signing_keys, log_key)| Member {
                region,
                name,
                url: url.into(),
                spki_pins,
                signing_keys,
                log_key,
            },
        );
    let policy = (
        region,
        proptest::collection::vec("[a-z_]{1,10}", 0..3),
        0u32..8,
    )
        .prop_map(|(caller, datasets, k)| CallerPolicy {
            caller,
            datasets,
            purposes: vec!["statistics".into()],
            protected_fields: Vec::new(),
            k,
        });
    let witness = prop_oneof![
        Just(WitnessKey {
            name: witness_key().name().into(),
            vkey: witness_key().verifier().to_string(),
            member: None,
        }),
        Just(WitnessKey {
            name: "w".into(),
            vkey: witness_key().verifier().to_string(),
            member: None,
        }),
        Just(WitnessKey {
            name: fixture::log_key().name().into(),
            vkey: fixture::log_key().verifier().to_string(),
            member: None,
        }),
    ];
    (
        prop_oneof![9 => Just("pes-federation-v1".to_string()), 1 => "\\PC{0,8}"],
        any::<u64>(),
        time.clone(),
        time,
        proptest::collection::vec(member, 0..4),
        proptest::collection::vec(policy, 0..3),
        proptest::collection::vec(witness, 0..2),
    )
        .prop_map(
            |(format, version, issued_at, expires_at, members, policies, witnesses)| TrustList {
                format,
                version,
                issued_at,
                expires_at,
                members,
                policies,
                witnesses,
            },
        )
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn trust_list_mutated((seed, muts) in mutated(fixture::corpus("trust_list").len(), TRUST_DICT.len())) {
        let seeds = fixture::corpus("trust_list");
        check_trust_list(&text(&apply(&seeds[seed].bytes, &muts, TRUST_DICT, seeds)));
    }

    /// A list that passes its checks signs and verifies back to itself (unless it expired), and
    /// its JSON round-trips; one that fails them cannot be signed.
    #[test]
    fn checked_lists_sign_and_verify_back(list in trust_list()) {
        let json = serde_json::to_string(&list).unwrap();
        match list.check() {
            Ok(()) => {
                prop_assert_eq!(&TrustList::from_json(&json).unwrap(), &list);
                let signed = sign_trust_list(&list, root_key()).unwrap();
                match verify_trust_list(&signed, root_key().verifier(), now()) {
                    Ok(back) => prop_assert_eq!(back, list),
                    Err(TrustError::Expired { .. }) => prop_assert!(list.expires_at <= now()),
                    Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
                }
                prop_assert!(verify_trust_list(&signed, fixture::log_key().verifier(), now()).is_err());
            }
            Err(_) => {
                prop_assert!(TrustList::from_json(&json).is_err());
                prop_assert!(sign_trust_list(&list, root_key()).is_err());
            }
        }
    }
}
