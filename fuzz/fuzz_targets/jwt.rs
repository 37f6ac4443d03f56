//! Bearer tokens: how a JWT header is read. Nothing verifies without the pinned key.
#![no_main]
use std::sync::OnceLock;

use pes_gateway::auth::{Role, Verifier};
use pes_gateway::keys::{Jwk, Jwks};
use ring::signature::KeyPair as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static V: OnceLock<Verifier> = OnceLock::new();
    let v = V.get_or_init(|| {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[0x66; 32]).expect("seed");
        let jwks = Jwks {
            keys: vec![Jwk::ed25519(pair.public_key().as_ref())],
        };
        Verifier::new(&jwks, "440000")
    });
    let _ = v.verify(&String::from_utf8_lossy(data), &[Role::Admin, Role::Pusher]);
});
