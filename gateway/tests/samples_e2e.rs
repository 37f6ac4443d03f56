//! Every shipped provincial sample, pushed through its mapping into a real gateway of that
//! region, is counted back by query exactly as the adapter decodes it locally.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::Gateway;
use pes_adapters::{build_adapter, DecodeContext, Decoded, Mapping};
use pes_gateway::config::SourceConfig;
use pes_schemas::person_key::PersonKeyer;

fn adapters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters")
}

/// Distinct record ids per record type, and row errors, as the adapter decodes the sample.
fn local_decode(
    mapping: &Mapping,
    body: &[u8],
    region: &str,
) -> (BTreeMap<String, usize>, usize, usize) {
    let adapter = build_adapter(mapping);
    let keyer = PersonKeyer::new(b"local");
    let ctx = DecodeContext {
        region,
        source: "prov",
        raw_sha256: &"0".repeat(64),
        ingested_at: "2026-01-01T00:00:00Z",
        keyer: &keyer,
    };
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut records, mut errors) = (0, 0);
    adapter
        .decode(&mut &body[..], &ctx, &mut |d| {
            match d {
                Decoded::Record(r) => {
                    records += 1;
                    ids.entry(r.record_type().as_str().to_string())
                        .or_default()
                        .insert(r.record_id.clone());
                }
                Decoded::RowError(_) => errors += 1,
            }
            Ok(())
        })
        .unwrap();
    (
        ids.into_iter().map(|(t, s)| (t, s.len())).collect(),
        records,
        errors,
    )
}

#[test]
fn every_shipped_sample_is_counted_back_by_query() {
    let samples = [
        ("gd_440000_csv.toml", "gd_440000_persons.csv"),
        ("zj_330000_json.toml", "zj_330000_persons.json"),
        ("bj_110000_xml.toml", "bj_110000_export.xml"),
        ("sc_510000_fixed.toml", "sc_510000_legacy.txt"),
    ];
    for (mapping_file, sample_file) in samples {
        let mapping_path = adapters_dir().join("mappings").join(mapping_file);
        let mapping = Mapping::from_path(&mapping_path).unwrap();
        let body = std::fs::read(adapters_dir().join("samples").join(sample_file)).unwrap();
        let (want, records, errors) = local_decode(&mapping, &body, &mapping.region);
        assert!(records > 0, "{sample_file} decodes to no records");
        let g = Gateway::start_in(&mapping.region, |c| {
            c.k = 1;
            c.sources.insert(
                "prov".into(),
                SourceConfig {
                    mapping: mapping_path.to_string_lossy().into_owned(),
                    pushers: vec![],
                },
            );
        });
        let ct = build_adapter(&mapping).content_types()[0];
        let token = g.token(pes_gateway::auth::Role::Pusher, &["prov"], &[]);
        let (status, v, _) = g.push_raw("prov", &token, ct, body.clone(), true);
        assert_eq!(status, 200, "{sample_file}: {v}");
        assert_eq!(v["accepted"], records as u64, "{sample_file}");
        assert_eq!(v["quarantined"], errors as u64, "{sample_file}");
        for (dataset, n) in &want {
            assert_eq!(g.total(dataset) as usize, *n, "{sample_file}: {dataset}");
        }
        // Pushing the same export again changes nothing.
        let (_, again, _) = g.push_raw("prov", &token, ct, body, true);
        assert_eq!(again["duplicate"], true);
        for (dataset, n) in &want {
            assert_eq!(
                g.total(dataset) as usize,
                *n,
                "{sample_file}: {dataset} after re-push"
            );
        }
    }
}
