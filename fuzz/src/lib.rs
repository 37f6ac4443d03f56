//! Shared helpers of the coverage-guided fuzz targets (`cargo +nightly fuzz`, see
//! `docs/fuzzing.md`). Each target calls one parser; the stable proptest targets
//! (`adapters/tests/fuzz_formats.rs`, `gateway/tests/fuzz_parsers/`) hold the fuller properties.

use std::path::Path;

use pes_adapters::national::PersonKeyer;
use pes_adapters::{build_adapter, Adapter, DecodeContext, Decoded, Mapping};

/// A shipped mapping with its adapter, the mapping's TOML text edited by `edit`.
pub fn adapter(file: &str, edit: impl Fn(String) -> String) -> (Mapping, Box<dyn Adapter>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/mappings");
    let text = std::fs::read_to_string(dir.join(file)).expect("shipped mapping");
    let mapping = Mapping::from_toml_str(&edit(text), Some(&dir)).expect("shipped mapping parses");
    let adapter = build_adapter(&mapping);
    (mapping, adapter)
}

/// Decodes `data`; every record that reaches the sink must be valid.
pub fn decode(mapping: &Mapping, adapter: &dyn Adapter, data: &[u8]) {
    let keyer = PersonKeyer::new(b"fuzz-linkage-key");
    let ctx = DecodeContext {
        region: &mapping.region,
        source: &mapping.id,
        raw_sha256: "00",
        ingested_at: "2026-01-01T00:00:00Z",
        keyer: &keyer,
    };
    let _ = adapter.decode(&mut &data[..], &ctx, &mut |d| {
        if let Decoded::Record(r) = d {
            assert!(pes_schemas::validate::validate_record(&r).is_ok());
        }
        Ok(())
    });
}

/// Declares a fuzz target decoding its input with one shipped mapping.
#[macro_export]
macro_rules! adapter_target {
    ($file:expr, $edit:expr) => {
        static ADAPTER: std::sync::OnceLock<(
            pes_adapters::Mapping,
            Box<dyn pes_adapters::Adapter>,
        )> = std::sync::OnceLock::new();
        libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            let (m, a) = ADAPTER.get_or_init(|| pes_fuzz::adapter($file, $edit));
            pes_fuzz::decode(m, a.as_ref(), data);
        });
    };
}

/// The keys the committed gateway seeds are signed with (`gateway/tests/fuzz_parsers/fixture.rs`).
pub mod keys {
    use pes_gateway::signed_note::{KeyType, SigningKey, VerifierKey};

    /// The audit log's verifier key.
    pub fn log() -> VerifierKey {
        key("fuzz.example/log", KeyType::Ed25519, 0x11)
    }

    /// The witness's verifier key.
    pub fn witness() -> VerifierKey {
        key("fuzz.example/witness", KeyType::Cosignature, 0x22)
    }

    /// The trust-list root's verifier key.
    pub fn root() -> VerifierKey {
        key("pes-federation-root", KeyType::Ed25519, 0x33)
    }

    fn key(name: &str, kind: KeyType, seed: u8) -> VerifierKey {
        SigningKey::from_seed(name, kind, [seed; 32])
            .expect("fixed seed")
            .verifier()
            .clone()
    }
}
