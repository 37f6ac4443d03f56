//! The native NDJSON decoder (`ingest::decode::decode_native`), reached without a server.

use chrono::NaiveDate;
use pes_gateway::ingest::decode::{decode_native, DecodeInput, EntrySink};
use pes_gateway::ingest::IngestError;
use pes_gateway::keys::DataKey;
use proptest::prelude::*;

use crate::fixture::{self, GD};
use crate::mutate::{self, apply, mutated};

pub const SOURCE: &str = "native-fuzz";

const NDJSON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"\n",
    b"\"record_type\":",
    b"\"person\"",
    b"\"protected\":",
    b"\"id_number\":",
    b"\"440000\"",
    b"[[[[[[[[[[[[[[[[",
];

/// Protected values quoted anywhere in a line (`protected.name`, `id_number`, `phone`).
fn protected_values(line: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    ["name", "id_number", "phone"]
        .iter()
        .filter_map(|f| v["protected"][f].as_str())
        .filter(|s| s.chars().count() >= 4)
        .map(str::to_owned)
        .collect()
}

/// What decoding takes besides the body, for this target: every bad line is quarantined (the
/// caps are not what it checks).
fn decode_input(key: &DataKey) -> DecodeInput<'_> {
    DecodeInput {
        region: GD,
        source: SOURCE,
        batch_id: &[0; 32],
        ingested_at: "2026-01-01T00:00:00Z",
        today: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        key,
        max_rows: 1000,
        max_quarantined: 1000,
        max_quarantined_share: 1.0,
    }
}

fn check_ndjson(bytes: &[u8]) {
    let key = DataKey::from_bytes(&[7; 32]).unwrap();
    let input = decode_input(&key);
    let mut sink = EntrySink::new(&input, bytes.len());
    match decode_native(bytes, &mut sink) {
        Ok(()) => {
            let d = sink.finish();
            let text = std::str::from_utf8(bytes).unwrap();
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            // Nothing is silently dropped: each line is a record or a quarantined row.
            assert_eq!(d.accepted + d.quarantined, lines.len() as u64);
            assert_eq!(d.row_errors.len() as u64, d.quarantined);
            for p in &d.row_errors {
                let line = lines[p.row as usize];
                for v in protected_values(line) {
                    assert!(
                        !p.message.contains(&v),
                        "row error quotes a protected value: {p:?}"
                    );
                }
                assert!(p.location.starts_with("line:"));
            }
        }
        Err(
            IngestError::Encoding { .. }
            | IngestError::Malformed { .. }
            | IngestError::TooManyRows { .. },
        ) => {}
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn native_ndjson_seeds_and_prefixes() {
    fixture::every_prefix("native_ndjson", check_ndjson);
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn native_ndjson_mutated((seed, muts) in mutated(fixture::corpus("native_ndjson").len(), NDJSON_DICT.len())) {
        let seeds = fixture::corpus("native_ndjson");
        check_ndjson(&apply(&seeds[seed].bytes, &muts, NDJSON_DICT, seeds));
    }

    /// Valid records in any order and mix, with blank and CRLF lines, are all accepted.
    #[test]
    fn native_records_are_all_accepted(ids in proptest::collection::vec(0u64..500, 0..20), crlf in any::<bool>(), blank in any::<bool>()) {
        let mut body = Vec::new();
        for i in &ids {
            body.extend(pes_gateway::native_sample::ndjson(*i..*i + 1, GD, SOURCE, 1));
            if crlf {
                body.pop();
                body.extend_from_slice(b"\r\n");
            }
            if blank {
                body.extend_from_slice(b" \n");
            }
        }
        let key = DataKey::from_bytes(&[7; 32]).unwrap();
        let input = decode_input(&key);
        let mut sink = EntrySink::new(&input, body.len());
        decode_native(&body, &mut sink).unwrap();
        let d = sink.finish();
        prop_assert_eq!(d.accepted, ids.len() as u64);
        prop_assert_eq!(d.quarantined, 0);
    }
}
