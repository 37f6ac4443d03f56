//! Shared helpers of the adapter tests: shipped mappings, a fixed decode context, collecting runs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pes_adapters::check::CheckReport;
use pes_adapters::national::PersonKeyer;
use pes_adapters::{build_adapter, DecodeContext, Mapping};

/// Fixed ingest time of golden runs.
pub const INGESTED_AT: &str = "2024-04-01T00:00:00Z";
/// Fixed batch hash of golden runs.
pub const RAW_SHA256: &str = "5a3f0c1e9b7d2a4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d";
/// Fixed linkage key of golden runs.
pub const LINKAGE_KEY: &[u8] = b"golden-test-linkage-key";

/// The crate directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The four shipped mappings with their samples: (mapping file, sample file).
pub fn shipped() -> Vec<(PathBuf, PathBuf)> {
    let d = crate_dir();
    [
        ("gd_440000_csv.toml", "gd_440000_persons.csv"),
        ("sc_510000_fixed.toml", "sc_510000_legacy.txt"),
        ("zj_330000_json.toml", "zj_330000_persons.json"),
        ("bj_110000_xml.toml", "bj_110000_export.xml"),
    ]
    .into_iter()
    .map(|(m, s)| (d.join("mappings").join(m), d.join("samples").join(s)))
    .collect()
}

/// Loads a shipped mapping by file name.
pub fn mapping(name: &str) -> Mapping {
    Mapping::from_path(&crate_dir().join("mappings").join(name)).expect("shipped mapping loads")
}

/// Decodes `bytes` with `mapping` in the fixed golden context.
pub fn run(mapping: &Mapping, bytes: &[u8]) -> CheckReport {
    let keyer = PersonKeyer::new(LINKAGE_KEY);
    let source = mapping.id.clone();
    let ctx = DecodeContext {
        region: &mapping.region,
        source: &source,
        raw_sha256: RAW_SHA256,
        ingested_at: INGESTED_AT,
        keyer: &keyer,
    };
    let adapter = build_adapter(mapping);
    CheckReport::run(adapter.as_ref(), &mut &bytes[..], &ctx)
}

/// Decodes a file.
pub fn run_file(mapping: &Mapping, path: &Path) -> CheckReport {
    run(mapping, &std::fs::read(path).expect("sample readable"))
}
