//! The native adapter: NDJSON of records already in the national schema. Records pass through
//! with this push's batch hash and ingest time; a line that is JSON but not a valid record of
//! this push is a row error; a line that is not JSON, or a body that is not UTF-8, is a fault.

mod common;

use pes_adapters::national::PersonKeyer;
use pes_adapters::{
    Adapter, AdapterError, DecodeContext, DecodeSummary, Decoded, NativeAdapter, RowError,
    RowErrorCode,
};
use pes_schemas::Record;

const REGION: &str = "440000";
const SOURCE: &str = "gd-hrss-csv";
const RAW_SHA256: &str = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";
const INGESTED_AT: &str = "2026-12-03T08:00:00.000Z";

/// Valid national records of region 440000 and source `gd-hrss-csv`: the Guangdong sample's,
/// decoded by its mapping.
fn records() -> Vec<Record> {
    let m = common::mapping("gd_440000_csv.toml");
    let r = common::run_file(
        &m,
        &common::crate_dir().join("samples/gd_440000_persons.csv"),
    );
    assert!(r.records.len() >= 3);
    r.records
}

fn line(r: &Record) -> String {
    serde_json::to_string(r).unwrap()
}

/// What decoding `body` gave: items in order, and the summary or the fault.
struct Run {
    records: Vec<Record>,
    errors: Vec<RowError>,
    result: Result<DecodeSummary, AdapterError>,
}

fn run(body: &[u8]) -> Run {
    let keyer = PersonKeyer::new(b"unused");
    let ctx = DecodeContext {
        region: REGION,
        source: SOURCE,
        raw_sha256: RAW_SHA256,
        ingested_at: INGESTED_AT,
        keyer: &keyer,
    };
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    let result = NativeAdapter::new(REGION).decode_bytes(body, &ctx, &mut |d| {
        match d {
            Decoded::Record(r) => records.push(*r),
            Decoded::RowError(e) => errors.push(*e),
            Decoded::FailedRow(f) => panic!("native rows fail alone: {f:?}"),
        }
        Ok(())
    });
    Run {
        records,
        errors,
        result,
    }
}

#[test]
fn records_pass_through_with_this_pushs_batch_hash_and_ingest_time() {
    let records = records();
    let body: String = records.iter().map(|r| line(r) + "\n").collect();
    let got = run(body.as_bytes());
    let summary = got.result.unwrap();
    assert_eq!(
        summary,
        DecodeSummary {
            rows: records.len() as u64,
            records: records.len() as u64,
            row_errors: 0,
            failed_rows: 0,
        }
    );
    assert!(got.errors.is_empty());
    assert_eq!(got.records.len(), records.len());
    for (want, got) in records.iter().zip(&got.records) {
        assert_eq!(&*got.provenance.raw_sha256, RAW_SHA256);
        assert_eq!(&*got.provenance.ingested_at, INGESTED_AT);
        // Everything else, the pusher's provenance included, is as pushed.
        let mut want = want.clone();
        want.provenance.raw_sha256 = RAW_SHA256.into();
        want.provenance.ingested_at = INGESTED_AT.into();
        assert_eq!(&want, got);
    }
}

#[test]
fn blank_lines_are_skipped_and_counted_in_line_locations() {
    let r = &records()[0];
    let body = format!("\n  \r\n{{\"record_id\":\"x\"}}\r\n\n{}\n", line(r));
    let got = run(body.as_bytes());
    assert_eq!(got.result.unwrap().rows, 2);
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.errors.len(), 1);
    assert_eq!(got.errors[0].location, "line:3");
    assert_eq!(got.errors[0].line, Some(3));
}

#[test]
fn json_that_is_not_a_national_record_is_a_row_error_that_quotes_no_value() {
    let mut v: serde_json::Value = serde_json::to_value(&records()[0]).unwrap();
    v["record_version"] = serde_json::json!("110101199003077777");
    let bad = v.to_string();
    let got = run(format!("{bad}\n{{\"record_id\":\"x\"}}\n").as_bytes());
    assert_eq!(got.errors.len(), 2);
    let e = &got.errors[0];
    assert_eq!(
        (e.code, e.detail_code.as_deref(), e.field.as_deref()),
        (RowErrorCode::Invalid, None, None)
    );
    assert!(
        e.message
            .starts_with("not a valid national record: invalid type"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("110101199003077777"), "{}", e.message);
    // The raw line is kept for quarantine.
    assert_eq!(e.raw_row, bad);
    let e = &got.errors[1];
    assert!(
        e.message
            .starts_with("not a valid national record: missing field `"),
        "{}",
        e.message
    );
    assert!(!e.message.contains(" at line"), "{}", e.message);
}

#[test]
fn an_invalid_record_names_the_first_validator_code_and_every_message() {
    let mut r = records()[0].clone();
    let Some(pes_schemas::RecordBody::Person(p)) = Some(&mut r.body) else {
        panic!("the first sample record is a person");
    };
    p.hukou_division = "999999".into();
    p.residence_division = "999998".into();
    let got = run(format!("{}\n", line(&r)).as_bytes());
    assert!(got.records.is_empty());
    let e = &got.errors[0];
    let errors = pes_schemas::validate::validate_record(&{
        let mut stamped = r.clone();
        stamped.provenance.raw_sha256 = RAW_SHA256.into();
        stamped.provenance.ingested_at = INGESTED_AT.into();
        stamped
    })
    .unwrap_err();
    assert!(errors.len() >= 2, "{errors:?}");
    assert_eq!(e.code, RowErrorCode::Invalid);
    assert_eq!(e.detail_code.as_deref(), Some(errors[0].code));
    assert_eq!(e.field.as_deref(), Some(errors[0].path.as_str()));
    let all: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(e.message, all.join("; "));
    assert_eq!((e.location.as_str(), e.line), ("line:1", Some(1)));
}

#[test]
fn a_record_of_another_region_source_or_id_is_a_row_error_on_that_field() {
    let r = &records()[0];
    let mut region = r.clone();
    region.region = "510000".into();
    region.record_id = Record::make_id("510000", SOURCE, &r.source_record_id);
    let mut source = r.clone();
    source.source = "other".into();
    source.record_id = Record::make_id(REGION, "other", &r.source_record_id);
    let mut id = r.clone();
    id.record_id = format!("{}x", r.record_id);
    let body: String = [&region, &source, &id, r]
        .iter()
        .map(|r| line(r) + "\n")
        .collect();
    let got = run(body.as_bytes());
    let fields: Vec<_> = got
        .errors
        .iter()
        .map(|e| (e.field.as_deref().unwrap(), e.code, e.location.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("region", RowErrorCode::Invalid, "line:1"),
            ("source", RowErrorCode::Invalid, "line:2"),
            // The validator already checks the id's form, and comes first.
            ("/record_id", RowErrorCode::Invalid, "line:3"),
        ]
    );
    assert_eq!(
        got.errors[0].message,
        "record region 510000 is not this gateway's region 440000"
    );
    assert_eq!(got.records.len(), 1);
}

#[test]
fn a_line_that_is_not_json_makes_the_body_malformed_at_that_line() {
    let r = &records()[0];
    let body = format!("{}\n{{\"record_id\": \n{}\n", line(r), line(r));
    let got = run(body.as_bytes());
    match got.result {
        Err(AdapterError::Malformed { location, message }) => {
            assert_eq!(location, "line:2");
            assert!(message.starts_with("not JSON (column "), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Items before the fault have reached the sink (the gateway drops the whole body).
    assert_eq!(got.records.len(), 1);
}

#[test]
fn a_body_that_is_not_utf8_is_refused_before_any_line() {
    let r = &records()[0];
    let mut body = format!("{}\n", line(r)).into_bytes();
    let at = body.len() + 3;
    body.extend_from_slice(b"{\"a\xff\": 1}\n");
    let got = run(&body);
    match got.result {
        Err(AdapterError::Encoding { encoding, location }) => {
            assert_eq!(encoding, "UTF-8");
            assert_eq!(location, format!("byte {at}"));
        }
        other => panic!("{other:?}"),
    }
    assert!(got.records.is_empty() && got.errors.is_empty());
}

#[test]
fn decode_from_a_reader_gives_what_decode_bytes_gives() {
    let records = records();
    let body: String = records.iter().map(|r| line(r) + "\n").collect::<String>() + "{}\n";
    let keyer = PersonKeyer::new(b"unused");
    let ctx = DecodeContext {
        region: REGION,
        source: SOURCE,
        raw_sha256: RAW_SHA256,
        ingested_at: INGESTED_AT,
        keyer: &keyer,
    };
    let mut items = Vec::new();
    let summary = NativeAdapter::new(REGION)
        .decode(&mut body.as_bytes(), &ctx, &mut |d| {
            items.push(format!("{d:?}"));
            Ok(())
        })
        .unwrap();
    let bytes = run(body.as_bytes());
    assert_eq!(summary, bytes.result.unwrap());
    assert_eq!(items.len(), records.len() + 1);
}

#[test]
fn a_native_row_is_retried_as_its_own_line() {
    let adapter = NativeAdapter::new(REGION);
    assert_eq!(
        adapter.content_types(),
        ["application/x-ndjson", "application/jsonl"]
    );
    let body = "{\"record_id\":\"x\"}\n";
    assert_eq!(adapter.retry_header(body.as_bytes()), None);
    let got = run(body.as_bytes());
    let e = &got.errors[0];
    let retry = adapter.retry_body(&e.raw_row, None, &e.location).unwrap();
    assert_eq!(retry, body.as_bytes());
    let again = run(&retry);
    assert_eq!(again.errors[0].message, e.message);
}
