//! Golden files: each shipped mapping's sample decodes to exactly the committed normalised JSON
//! (records, row errors with their raw rows, summary). Regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p pes-adapters --test golden` and review the diff.

mod common;

use std::collections::BTreeSet;

use pes_schemas::RecordType;
use serde_json::json;

fn golden_json(report: &pes_adapters::check::CheckReport) -> serde_json::Value {
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap();
            v["raw_row"] = json!(e.raw_row);
            if e.code == pes_adapters::RowErrorCode::Invalid {
                // The validator's wording belongs to pes-schemas; its stable code is kept.
                v.as_object_mut().unwrap().remove("message");
            }
            v
        })
        .collect();
    json!({
        "adapter_id": report.adapter_id,
        "adapter_version": report.adapter_version,
        "summary": report.summary,
        "records": report.records,
        "errors": errors,
        "fault": report.fault,
    })
}

#[test]
fn every_shipped_sample_matches_its_golden_file() {
    let mut mismatches = Vec::new();
    for (mapping_path, sample) in common::shipped() {
        let mapping = pes_adapters::Mapping::from_path(&mapping_path).unwrap();
        let report = common::run_file(&mapping, &sample);
        assert!(report.fault.is_none(), "{}: {:?}", mapping.id, report.fault);
        let got = serde_json::to_string_pretty(&golden_json(&report)).unwrap() + "\n";
        let golden = common::crate_dir()
            .join("tests/golden")
            .join(format!("{}.json", mapping.id));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create)",
                golden.display()
            )
        });
        if got != want {
            mismatches.push(golden.display().to_string());
        }
    }
    assert!(
        mismatches.is_empty(),
        "output differs from golden files: {mismatches:?}"
    );
}

#[test]
fn shipped_samples_together_produce_every_record_type() {
    let mut seen = BTreeSet::new();
    for (mapping_path, sample) in common::shipped() {
        let mapping = pes_adapters::Mapping::from_path(&mapping_path).unwrap();
        for r in common::run_file(&mapping, &sample).records {
            seen.insert(r.record_type());
        }
    }
    let all: BTreeSet<RecordType> = RecordType::ALL.into_iter().collect();
    assert_eq!(seen, all);
}

#[test]
fn every_record_passes_validation_and_carries_provenance() {
    for (mapping_path, sample) in common::shipped() {
        let mapping = pes_adapters::Mapping::from_path(&mapping_path).unwrap();
        for r in common::run_file(&mapping, &sample).records {
            pes_schemas::validate::validate_record(&r).unwrap();
            assert_eq!(*r.provenance.adapter_id, *mapping.id);
            assert_eq!(*r.provenance.adapter_version, *mapping.version);
            assert_eq!(&*r.provenance.raw_sha256, common::RAW_SHA256);
            assert!(!r.provenance.location.is_empty());
            assert!(!r.code_lists.is_empty());
            assert_eq!(*r.region, *mapping.region);
        }
    }
}

#[test]
fn gb18030_name_outside_the_bmp_survives_intact() {
    // U+20BB7 is four bytes in GB18030 (0x95 0x34 0xB2 0x35).
    let mapping = common::mapping("gd_440000_csv.toml");
    let sample = std::fs::read(common::crate_dir().join("samples/gd_440000_persons.csv")).unwrap();
    assert!(sample.windows(4).any(|w| w == [0x95, 0x34, 0xB2, 0x35]));
    let report = common::run(&mapping, &sample);
    let names: Vec<String> = report
        .records
        .iter()
        .filter_map(|r| match &r.body {
            pes_schemas::RecordBody::Person(p) => p.protected.as_ref().map(|x| x.name.clone()),
            _ => None,
        })
        .collect();
    assert!(names.contains(&"𠮷田雅".to_string()), "{names:?}");
}

#[test]
fn protected_values_never_appear_in_error_messages_or_raw_values() {
    let mapping = common::mapping("gd_440000_csv.toml");
    let report = common::run_file(
        &mapping,
        &common::crate_dir().join("samples/gd_440000_persons.csv"),
    );
    let bad_id = "440111197901010550";
    let with_bad_id: Vec<_> = report
        .errors
        .iter()
        .filter(|e| e.location == "row:4")
        .collect();
    assert!(!with_bad_id.is_empty());
    for e in &report.errors {
        assert!(!e.message.contains(bad_id));
        assert_ne!(e.raw_value.as_deref(), Some(bad_id));
        assert!(
            !format!("{e:?}").contains(bad_id),
            "Debug leaks the raw row"
        );
        assert!(!e.to_string().contains(bad_id));
    }
    // The raw row is kept for quarantine, unmasked.
    assert!(with_bad_id[0].raw_row.contains(bad_id));
}
