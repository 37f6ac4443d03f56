//! Bearer tokens (`auth::Verifier`): how a JWT header is read. The algorithm is pinned and keys
//! come only from the pinned JWKS, never from the header (`jwk`, `jku`, `x5u`, `x5c`).

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pes_gateway::auth::{AuthError, Role, Verifier, AUDIENCE, ISSUER};
use pes_gateway::keys::{Jwk, Jwks};
use proptest::prelude::*;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use crate::fixture::{self, text, GD};
use crate::mutate::{self, apply, mutated};

const ROLES: &[Role] = &[
    Role::Pusher,
    Role::Analyst,
    Role::Caseworker,
    Role::Auditor,
    Role::Admin,
];

/// The token issuer's key, pinned in the verifier's JWKS.
pub fn issuer_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[0x66; 32]).unwrap()
}

/// An attacker's key, never pinned.
pub fn attacker_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[0x77; 32]).unwrap()
}

pub fn pinned_jwk() -> Jwk {
    Jwk::ed25519(issuer_key().public_key().as_ref())
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::new(
            &Jwks {
                keys: vec![pinned_jwk()],
            },
            GD,
        )
    })
}

/// Valid claims for Guangdong, expiring in 2100.
pub fn claims(role: &str) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "fuzz", "exp": 4_102_444_800u64,
        "iat": fixture::NOW, "role": role, "region": GD, "sources": ["gd-hrss-csv"],
    })
}

/// How a token is signed.
#[derive(Debug, Clone, Copy)]
pub enum Signer {
    Pinned,
    Attacker,
    /// HMAC-SHA256 keyed with the pinned public key (the algorithm-confusion attack).
    HmacWithPublicKey,
    Unsigned,
}

/// A token with the given header (as JSON) and claims.
pub fn token(header: &serde_json::Value, claims: &serde_json::Value, signer: Signer) -> String {
    let msg = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = match signer {
        Signer::Pinned => issuer_key().sign(msg.as_bytes()).as_ref().to_vec(),
        Signer::Attacker => attacker_key().sign(msg.as_bytes()).as_ref().to_vec(),
        Signer::HmacWithPublicKey => {
            let k =
                ring::hmac::Key::new(ring::hmac::HMAC_SHA256, issuer_key().public_key().as_ref());
            ring::hmac::sign(&k, msg.as_bytes()).as_ref().to_vec()
        }
        Signer::Unsigned => Vec::new(),
    };
    format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The signed content (`header.payload`) of the valid token seeds.
fn signed_messages() -> &'static Vec<String> {
    static M: OnceLock<Vec<String>> = OnceLock::new();
    M.get_or_init(|| {
        fixture::signed_seeds("jwt")
            .map(|s| {
                let t = text(&s.bytes);
                verifier()
                    .verify(&t, ROLES)
                    .unwrap_or_else(|e| panic!("{}: {e}", s.name));
                t.rsplit_once('.').unwrap().0.to_owned()
            })
            .collect()
    })
}

fn check_token(input: &str) {
    let bearer = format!("Bearer {input}");
    let token = Verifier::bearer(Some(&bearer)).unwrap();
    if let Ok(a) = verifier().verify(token, ROLES) {
        let msg = token.rsplit_once('.').map(|(m, _)| m.to_owned());
        assert!(
            msg.is_some_and(|m| signed_messages().contains(&m)),
            "forged token verified: {token:?}"
        );
        assert_eq!(a.region(), GD);
    }
}

#[test]
fn jwt_seeds_and_prefixes() {
    assert!(!signed_messages().is_empty());
    fixture::every_prefix("jwt", |b| check_token(&text(b)));
}

const JWT_DICT: &[&[u8]] = &[
    b".",
    b"..",
    b"=",
    b"-",
    b"_",
    b"+",
    b"/",
    b"eyJ",
    b"eyJhbGciOiJub25lIn0",
    b"e30",
];

fn header() -> impl Strategy<Value = (serde_json::Value, bool)> {
    let pinned_kid = pinned_jwk().kid;
    let attacker_jwk =
        serde_json::to_value(Jwk::ed25519(attacker_key().public_key().as_ref())).unwrap();
    let alg = prop_oneof![
        4 => Just(serde_json::json!("EdDSA")),
        1 => Just(serde_json::json!("none")),
        1 => Just(serde_json::json!("HS256")),
        1 => Just(serde_json::json!("RS256")),
        1 => Just(serde_json::json!("ES256")),
        1 => Just(serde_json::json!("eddsa")),
        1 => Just(serde_json::json!(null)),
    ];
    let kid = prop_oneof![
        4 => Just(Some(serde_json::json!(pinned_kid.clone()))),
        1 => Just(None),
        1 => Just(Some(serde_json::json!("../../keys/jwks.json"))),
        1 => Just(Some(serde_json::json!(""))),
        1 => Just(Some(serde_json::json!(7))),
        1 => "\\PC{0,12}".prop_map(|s| Some(serde_json::json!(s))),
    ];
    let extras = proptest::collection::vec(
        prop_oneof![
            Just(("jwk", attacker_jwk.clone())),
            Just((
                "jku",
                serde_json::json!("https://attacker.example/jwks.json")
            )),
            Just((
                "x5u",
                serde_json::json!("https://attacker.example/cert.pem")
            )),
            Just(("x5c", serde_json::json!(["MIIB"]))),
            Just(("crit", serde_json::json!(["exp"]))),
            Just(("typ", serde_json::json!("at+jwt"))),
            Just(("cty", serde_json::json!("JWT"))),
            Just(("b64", serde_json::json!(false))),
        ],
        0..4,
    );
    (alg, kid, extras).prop_map(move |(alg, kid, extras)| {
        let mut h = serde_json::Map::new();
        h.insert("alg".into(), alg.clone());
        if let Some(k) = &kid {
            h.insert("kid".into(), k.clone());
        }
        for (name, v) in extras {
            h.insert(name.into(), v);
        }
        let pinned = alg == "EdDSA" && kid == Some(serde_json::json!(pinned_kid.clone()));
        (serde_json::Value::Object(h), pinned)
    })
}

fn signer() -> impl Strategy<Value = Signer> {
    prop_oneof![
        3 => Just(Signer::Pinned),
        1 => Just(Signer::Attacker),
        1 => Just(Signer::HmacWithPublicKey),
        1 => Just(Signer::Unsigned),
    ]
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn jwt_mutated((seed, muts) in mutated(fixture::corpus("jwt").len(), JWT_DICT.len())) {
        let seeds = fixture::corpus("jwt");
        check_token(&text(&apply(&seeds[seed].bytes, &muts, JWT_DICT, seeds)));
    }

    /// Only the pinned key, under EdDSA and the pinned kid, makes a token valid, whatever else
    /// the header names; an embedded or linked key is never used.
    #[test]
    fn only_the_pinned_key_under_the_pinned_algorithm_verifies((header, pinned) in header(), signer in signer()) {
        let t = token(&header, &claims("admin"), signer);
        let result = verifier().verify(&t, ROLES);
        if pinned && matches!(signer, Signer::Pinned) {
            prop_assert!(result.is_ok(), "{:?}: {:?}", header, result);
        } else {
            prop_assert!(result.is_err(), "{:?} signed {:?} verified", header, signer);
        }
        if header["alg"] != "EdDSA" {
            prop_assert!(matches!(result, Err(AuthError::BadHeader)), "{:?}", result);
        }
    }
}
