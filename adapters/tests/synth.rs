//! Synthetic exports: the adapter finds exactly the generated records and the planted defects.

mod common;

use std::collections::BTreeSet;

use pes_adapters::check::CheckReport;
use pes_adapters::national::PersonKeyer;
use pes_adapters::synth::{
    self, DefectKind, SynthOptions, EXPECTED_INGESTED_AT, EXPECTED_LINKAGE_KEY, EXPECTED_RAW_SHA256,
};
use pes_adapters::{build_adapter, DecodeContext, Mapping};

fn decode(mapping: &Mapping, bytes: &[u8]) -> CheckReport {
    let keyer = PersonKeyer::new(EXPECTED_LINKAGE_KEY);
    let ctx = DecodeContext {
        region: &mapping.region,
        source: &mapping.id,
        raw_sha256: EXPECTED_RAW_SHA256,
        ingested_at: EXPECTED_INGESTED_AT,
        keyer: &keyer,
    };
    CheckReport::run(build_adapter(mapping).as_ref(), &mut &bytes[..], &ctx)
}

fn generate(
    mapping: &Mapping,
    rows: u64,
    seed: u64,
    defects: f64,
) -> (Vec<u8>, synth::SynthReport) {
    let opts = SynthOptions {
        rows,
        seed,
        defect_rate: defects,
        keep_expected: true,
        // The fixed reference day, so a seed gives the same records on every day.
        ..Default::default()
    };
    let mut out = Vec::new();
    let report = synth::write_export(mapping, &opts, &mut out).unwrap();
    (out, report)
}

#[test]
fn adapters_find_exactly_the_generated_records_and_planted_defects() {
    let mut kinds = BTreeSet::new();
    for (path, _) in common::shipped() {
        let mapping = Mapping::from_path(&path).unwrap();
        let (bytes, report) = generate(&mapping, 400, 7, 0.1);
        let decoded = decode(&mapping, &bytes);
        assert!(
            decoded.fault.is_none(),
            "{}: {:?}",
            mapping.id,
            decoded.fault
        );
        assert_eq!(report.rows, 400);
        assert_eq!(
            decoded.records.len() as u64,
            report.record_count(),
            "{}",
            mapping.id
        );
        assert!(
            decoded.records == report.expected,
            "{}: decoded records differ from the generated ones",
            mapping.id
        );

        let mut want: Vec<(String, String)> = report
            .defects
            .iter()
            .flat_map(|d| {
                d.errors
                    .iter()
                    .map(|e| (e.location.clone(), e.code.as_str().to_string()))
            })
            .collect();
        let mut got: Vec<(String, String)> = decoded
            .errors
            .iter()
            .map(|e| (e.location.clone(), e.code.as_str().to_string()))
            .collect();
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "{}: row errors differ from the planted defects",
            mapping.id
        );
        assert!(
            report.defects.len() >= 20,
            "{}: only {} defects planted",
            mapping.id,
            report.defects.len()
        );
        kinds.extend(report.defects.iter().map(|d| d.kind));
    }
    assert_eq!(
        kinds,
        DefectKind::ALL.into_iter().collect(),
        "every defect kind is planted somewhere"
    );
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let mapping = common::mapping("gd_440000_csv.toml");
    let (a, _) = generate(&mapping, 200, 42, 0.05);
    let (b, _) = generate(&mapping, 200, 42, 0.05);
    let (c, _) = generate(&mapping, 200, 43, 0.05);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn generated_exports_cover_every_record_type_and_use_the_mapping_encoding() {
    let mut types = BTreeSet::new();
    for (path, _) in common::shipped() {
        let mapping = Mapping::from_path(&path).unwrap();
        let (bytes, report) = generate(&mapping, 300, 3, 0.0);
        types.extend(report.records.keys().copied());
        if mapping.id == "gd-hrss-csv" {
            assert!(
                std::str::from_utf8(&bytes).is_err(),
                "GB18030 output is not UTF-8"
            );
            let header = encoding_rs::GB18030.decode(&bytes).0;
            assert!(header.starts_with("记录编号") || header.contains("身份证号码"));
        }
    }
    assert_eq!(types.len(), pes_schemas::RecordType::ALL.len());
}

#[test]
fn generated_people_follow_regional_patterns() {
    // Guangdong draws many migrant workers from other provinces; Beijing's exports hold no persons.
    let mapping = common::mapping("gd_440000_csv.toml");
    let (_, report) = generate(&mapping, 2000, 11, 0.0);
    let persons: Vec<_> = report
        .expected
        .iter()
        .filter_map(|r| match &r.body {
            pes_schemas::RecordBody::Person(p) => Some(p),
            _ => None,
        })
        .collect();
    let outside = persons
        .iter()
        .filter(|p| !p.hukou_division.starts_with("44"))
        .count();
    let share = outside as f64 / persons.len() as f64;
    assert!((0.2..0.5).contains(&share), "migrant share {share}");
    let young = persons
        .iter()
        .filter(|p| p.birth_date.to_string().as_str() > "1984-06-30")
        .count();
    assert!(young * 2 > persons.len(), "most job seekers are under 40");
}

#[test]
fn generated_stations_are_the_ones_service_events_name() {
    use pes_schemas::RecordBody;
    let mapping = common::mapping("bj_110000_xml.toml");
    let (bytes, report) = generate(&mapping, 400, 7, 0.0);
    let decoded = decode(&mapping, &bytes);
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    let mut stations = std::collections::BTreeMap::new();
    for r in &decoded.records {
        if let RecordBody::ServiceStation(s) = &r.body {
            assert!(
                pes_schemas::codes::current_division(&s.division).is_some(),
                "{}",
                s.division
            );
            stations.insert(s.station_id.clone(), (s.kind, s.division.clone()));
        }
    }
    // 100 station rows (a quarter of the rows) describe the pool of 40 stations.
    assert_eq!(stations.len(), 40);
    let mut events = 0;
    for r in &decoded.records {
        if let RecordBody::ServiceEvent(e) = &r.body {
            let (kind, division) = &stations[&e.station_id];
            assert_eq!(e.station_kind, Some(*kind));
            assert_eq!(&e.division, division);
            events += 1;
        }
    }
    assert!(events > 0);
    assert_eq!(
        report.records.get(&pes_schemas::RecordType::ServiceStation),
        Some(&100)
    );
}
