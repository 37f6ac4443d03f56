//! Property: no adapter panics on any input, and whatever it emits as a record is valid.

mod common;

use pes_adapters::Mapping;
use proptest::prelude::*;

fn mappings_and_samples() -> Vec<(Mapping, Vec<u8>)> {
    common::shipped()
        .into_iter()
        .map(|(m, s)| (Mapping::from_path(&m).unwrap(), std::fs::read(s).unwrap()))
        .collect()
}

fn check(mapping: &Mapping, bytes: &[u8]) {
    let report = common::run(mapping, bytes);
    for r in &report.records {
        assert!(
            pes_schemas::validate::validate_record(r).is_ok(),
            "{} emitted an invalid record",
            mapping.id
        );
    }
}

/// An edit of a sample: flip, insert or delete bytes, or cut it short.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (
            any::<usize>(),
            proptest::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    Just(b'"'),
                    Just(b'<'),
                    Just(b'{'),
                    Just(b'\n'),
                    Just(b',')
                ],
                1..8
            )
        )
            .prop_map(|(i, v)| Edit::Insert(i, v)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len().max(1);
        match e {
            Edit::Set(i, b) => {
                if !bytes.is_empty() {
                    bytes[i % len] = *b;
                }
            }
            Edit::Insert(i, v) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, v.iter().copied());
            }
            Edit::Delete(i, n) => {
                let at = i % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Edit::Truncate(i) => bytes.truncate(i % len),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for (m, _) in mappings_and_samples() {
            check(&m, &bytes);
        }
    }

    #[test]
    fn edited_samples_never_panic_and_emit_only_valid_records(edits in proptest::collection::vec(edit(), 1..6)) {
        for (m, sample) in mappings_and_samples() {
            check(&m, &apply(sample, &edits));
        }
    }
}
