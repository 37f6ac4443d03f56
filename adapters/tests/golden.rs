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

#[test]
fn beijing_exports_its_service_stations_and_the_kind_of_each_events_station() {
    use pes_schemas::{RecordBody, StationKind, StationStatus};
    let mapping = common::mapping("bj_110000_xml.toml");
    let report = common::run_file(
        &mapping,
        &common::crate_dir().join("samples/bj_110000_export.xml"),
    );
    let stations: Vec<_> = report
        .records
        .iter()
        .filter_map(|r| match &r.body {
            RecordBody::ServiceStation(s) => Some(s),
            _ => None,
        })
        .collect();
    /// Station id, kind, division, township, status, number of services.
    type Station<'a> = (
        &'a str,
        StationKind,
        &'a str,
        Option<&'a str>,
        StationStatus,
        usize,
    );
    let got: Vec<Station> = stations
        .iter()
        .map(|s| {
            (
                s.station_id.as_str(),
                s.kind,
                s.division.as_str(),
                s.township.as_deref(),
                s.status,
                s.services.len(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "bj-cy-lgsc-01",
                StationKind::GigMarket,
                "110105",
                None,
                StationStatus::Operating,
                3
            ),
            (
                "bj-hd-zgc-01",
                StationKind::StreetTownWindow,
                "110108",
                Some("110108013"),
                StationStatus::Operating,
                4
            ),
            (
                "bj-mtg-cun-07",
                StationKind::CommunityVillagePoint,
                "110109",
                Some("110109104201"),
                StationStatus::Suspended,
                1
            ),
        ]
    );
    // Stations carry schema 1.1 and the station-kind code list.
    for r in &report.records {
        assert_eq!(&*r.schema_version, pes_schemas::SCHEMA_VERSION);
    }
    // The planted stations (opened in 2099; a prefecture for a division) are quarantined.
    let bad: BTreeSet<(&str, Option<&str>, Option<&str>)> = report
        .errors
        .iter()
        .filter(|e| e.location.starts_with("/Export/ServiceStations/"))
        .map(|e| {
            (
                e.location.as_str(),
                e.field.as_deref(),
                e.detail_code.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        bad,
        [
            (
                "/Export/ServiceStations/Station[4]",
                Some("service_station.opened_on"),
                Some("future_date")
            ),
            (
                "/Export/ServiceStations/Station[5]",
                Some("service_station.division"),
                Some("division_not_county")
            ),
        ]
        .into_iter()
        .collect()
    );
    // Every service event names a station of the export and carries that station's kind.
    for r in &report.records {
        if let RecordBody::ServiceEvent(e) = &r.body {
            let s = stations
                .iter()
                .find(|s| s.station_id == e.station_id)
                .unwrap_or_else(|| panic!("{} names no station", e.station_id));
            assert_eq!(e.station_kind, Some(s.kind));
            assert_eq!(e.division, s.division);
        }
    }
}
