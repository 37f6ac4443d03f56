//! The fixed keys, trust list and clock of the gateway fuzz targets, and corpus helpers.

use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use pes_gateway::federation::httpsig;
use pes_gateway::federation::tls::{PeerIdentity, VerifiedPeer};
use pes_gateway::federation::trust::{CallerPolicy, Member, MemberKey, TrustList, WitnessKey};
use pes_gateway::signed_note::{KeyType, SigningKey};
use ring::signature::KeyPair as _;

use crate::mutate::{self, Seed};

pub const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The fixed clock of every target: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

pub fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(NOW, 0).unwrap()
}

/// The seeds of `target` (a folder of `tests/fuzz/corpus/`).
pub fn corpus(target: &str) -> &'static [Seed] {
    static ALL: OnceLock<Vec<(String, Vec<Seed>)>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let dir = mutate::corpus_dir(CRATE_DIR, "");
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .map(|name| {
                let seeds = mutate::corpus(CRATE_DIR, &name);
                (name, seeds)
            })
            .collect()
    });
    &all.iter()
        .find(|(n, _)| n == target)
        .unwrap_or_else(|| panic!("no corpus folder {target}"))
        .1
}

/// Seeds whose name starts with `signed-`.
pub fn signed_seeds(target: &str) -> impl Iterator<Item = &'static Seed> {
    corpus(target)
        .iter()
        .filter(|s| s.name.starts_with("signed-"))
}

/// Text parsers never see invalid UTF-8 (headers and files are read as text first): mutated
/// bytes reach them as lossy text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `check` on every prefix of every seed of `target`, naming the seed on failure.
pub fn every_prefix(target: &str, check: impl Fn(&[u8])) {
    for seed in corpus(target) {
        for p in mutate::prefixes(&seed.bytes) {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(p)));
            if let Err(e) = run {
                eprintln!(
                    "{target}: seed {} cut at byte {} of {}",
                    seed.name,
                    p.len(),
                    seed.bytes.len()
                );
                std::panic::resume_unwind(e);
            }
        }
    }
}

// ---- Signed-note keys ------------------------------------------------------------------

/// The audit log's key.
pub fn log_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| {
        SigningKey::from_seed("fuzz.example/log", KeyType::Ed25519, [0x11; 32]).unwrap()
    })
}

/// A witness's cosigning key.
pub fn witness_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| {
        SigningKey::from_seed("fuzz.example/witness", KeyType::Cosignature, [0x22; 32]).unwrap()
    })
}

/// A key nobody trusts, with the log key's name (an impostor).
pub fn impostor_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| {
        SigningKey::from_seed("fuzz.example/log", KeyType::Ed25519, [0x99; 32]).unwrap()
    })
}

/// The national authority's root key, which signs trust lists.
pub fn root_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| {
        SigningKey::from_seed("pes-federation-root", KeyType::Ed25519, [0x33; 32]).unwrap()
    })
}

// ---- Federation: request-signing keys and the trust list --------------------------------

pub const GD: &str = "440000";
pub const SC: &str = "510000";
pub const GD_KID: &str = "gd-fuzz-1";
pub const SC_KID: &str = "sc-fuzz-1";
/// The `@authority` the Guangdong gateway answers as.
pub const GD_AUTHORITY: &str = "gd.example:8443";

fn ed25519_public(seed: [u8; 32]) -> Vec<u8> {
    ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec()
}

/// A member's RFC 9421 signing key.
pub fn fed_key(region: &str) -> httpsig::SigningKey {
    let (kid, seed) = match region {
        GD => (GD_KID, [0x44; 32]),
        _ => (SC_KID, [0x55; 32]),
    };
    httpsig::SigningKey::from_seed(kid, &seed, &ed25519_public(seed)).unwrap()
}

/// The `sha256/<base64>` pin every member's certificate has here.
pub fn pin(region: &str) -> String {
    use base64::Engine as _;
    let b = if region == GD { [1u8; 32] } else { [2u8; 32] };
    format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(b)
    )
}

/// The trust list in force: two members, their keys, a witness run by Guangdong.
pub fn trust_list() -> &'static TrustList {
    static T: OnceLock<TrustList> = OnceLock::new();
    T.get_or_init(|| {
        use base64::Engine as _;
        let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
        let t = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
        let member = |region: &str, name: &str, host: &str, kid: &str, seed: [u8; 32]| Member {
            region: region.into(),
            name: name.into(),
            url: format!("https://{host}"),
            spki_pins: vec![pin(region)],
            signing_keys: vec![MemberKey {
                kid: kid.into(),
                public_key: b64(&ed25519_public(seed)),
                not_before: t(2025, 1, 1),
                not_after: t(2030, 1, 1),
            }],
            log_key: Some(log_key().verifier().to_string()),
        };
        let list = TrustList {
            format: "pes-federation-v1".into(),
            version: 7,
            issued_at: t(2025, 12, 1),
            expires_at: t(2030, 1, 1),
            members: vec![
                member(GD, "广东", GD_AUTHORITY, GD_KID, [0x44; 32]),
                member(SC, "四川", "sc.example:8443", SC_KID, [0x55; 32]),
            ],
            policies: [GD, SC]
                .iter()
                .map(|r| CallerPolicy {
                    caller: (*r).into(),
                    datasets: vec!["vacancy".into()],
                    purposes: vec!["statistics".into()],
                    protected_fields: Vec::new(),
                    k: 5,
                })
                .collect(),
            witnesses: vec![WitnessKey {
                name: witness_key().name().into(),
                vkey: witness_key().verifier().to_string(),
                member: Some(GD.into()),
            }],
        };
        list.check().unwrap();
        list
    })
}

/// The mTLS peer `region`, as the TLS layer would have verified it.
pub fn peer(region: &str) -> VerifiedPeer {
    VerifiedPeer::check_identity(
        PeerIdentity {
            region: region.into(),
            spki_pin: pin(region),
        },
        trust_list(),
    )
    .unwrap()
}
