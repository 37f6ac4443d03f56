//! Retrying one quarantined row: `retry_body` puts the row back into a body of its own, in the
//! export's format and encoding (under its CSV header, after the fixed-width lines to skip,
//! inside its JSON array or XML ancestors), and that body decodes to the same row error again.

mod common;

use pes_adapters::check::CheckReport;
use pes_adapters::national::PersonKeyer;
use pes_adapters::{build_adapter, Adapter, DecodeContext, Mapping, RowError};

fn run(adapter: &dyn Adapter, region: &str, bytes: &[u8]) -> CheckReport {
    let keyer = PersonKeyer::new(common::LINKAGE_KEY);
    let ctx = DecodeContext {
        region,
        source: adapter.id(),
        raw_sha256: common::RAW_SHA256,
        ingested_at: common::INGESTED_AT,
        keyer: &keyer,
    };
    CheckReport::run(adapter, &mut &bytes[..], &ctx)
}

/// The body `adapter` builds to retry `e`, a row error of `body`.
fn retry_body(adapter: &dyn Adapter, body: &[u8], e: &RowError) -> Vec<u8> {
    let header = adapter.retry_header(body);
    adapter
        .retry_body(&e.raw_row, header.as_deref(), &e.location)
        .unwrap_or_else(|| panic!("{e:?} cannot be retried"))
}

/// Every row error of `body` survives a retry unchanged but for its location: the retry body
/// decodes without a fault, to the same error of the same raw row. Returns the retries' reports.
fn every_error_survives_a_retry(mapping: &Mapping, body: &[u8]) -> Vec<CheckReport> {
    let adapter = build_adapter(mapping);
    let first = run(adapter.as_ref(), &mapping.region, body);
    assert!(first.fault.is_none(), "{:?}", first.fault);
    assert!(
        !first.errors.is_empty(),
        "the body has no row error to retry"
    );
    let mut reports = Vec::new();
    for e in &first.errors {
        let retry = retry_body(adapter.as_ref(), body, e);
        let again = run(adapter.as_ref(), &mapping.region, &retry);
        assert!(again.fault.is_none(), "{e:?}: {:?}", again.fault);
        let same = |a: &RowError| {
            (
                a.code,
                &a.detail_code,
                &a.field,
                &a.raw_value,
                &a.message,
                &a.raw_row,
            ) == (
                e.code,
                &e.detail_code,
                &e.field,
                &e.raw_value,
                &e.message,
                &e.raw_row,
            )
        };
        assert!(
            again.errors.iter().any(same),
            "{e:?} became {:?}",
            again.errors
        );
        reports.push(again);
    }
    reports
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(common::crate_dir().join("samples").join(name)).unwrap()
}

#[test]
fn every_shipped_samples_row_errors_survive_a_retry() {
    for (mapping, sample) in common::shipped() {
        let mapping = Mapping::from_path(&mapping).unwrap();
        every_error_survives_a_retry(&mapping, &std::fs::read(sample).unwrap());
    }
}

#[test]
fn a_gb18030_csv_row_is_retried_under_its_header_in_gb18030() {
    let mapping = common::mapping("gd_440000_csv.toml");
    let adapter = build_adapter(&mapping);
    let body = sample("gd_440000_persons.csv");
    let (text, _, bad) = encoding_rs::GB18030.decode(&body);
    assert!(!bad);
    let header = text.lines().next().unwrap();
    // The header is kept decoded, Chinese column names intact.
    assert_eq!(adapter.retry_header(&body).as_deref(), Some(header));
    assert!(header.contains("身份证号码"), "{header}");
    let report = run(adapter.as_ref(), &mapping.region, &body);
    let e = report
        .errors
        .iter()
        .find(|e| e.code.as_str() == "unknown_local_code")
        .unwrap();
    let retry = retry_body(adapter.as_ref(), &body, e);
    // GB 18030 bytes, not UTF-8: the body is in the export's own encoding.
    assert!(std::str::from_utf8(&retry).is_err());
    let want = format!("{header}\n{}\n", e.raw_row);
    assert_eq!(retry, encoding_rs::GB18030.encode(&want).0.as_ref());
    // The row is atomic: its valid person is withheld again while its registration fails.
    let again = run(adapter.as_ref(), &mapping.region, &retry);
    assert_eq!((again.records.len(), again.errors.len()), (0, 1));
    assert_eq!(again.errors[0].location, "row:1");
    // Without the header the row cannot be placed alone.
    assert_eq!(adapter.retry_body(&e.raw_row, None, &e.location), None);
}

fn mapping_of(format: &str, record: &str) -> Mapping {
    let text = format!(
        "id = \"t\"\nversion = \"1\"\nregion = \"110000\"\n\n[format]\n{format}\n\n[[records]]\n{record}"
    );
    Mapping::from_toml_str(&text, None).unwrap()
}

const SERVICE: &str = r#"type = "service_event"
[records.fields]
source_record_id = { from = "0" }
station_id = { from = "1" }
division = { from = "2" }
service = { from = "3" }
date = { from = "4", transforms = [{ date = ["%Y-%m-%d"] }] }
outcome = { value = "completed" }
"#;

#[test]
fn a_headerless_csv_row_is_retried_alone() {
    let mapping = mapping_of("type = \"csv\"\nheader = false\ndelimiter = \"|\"", SERVICE);
    let body = "S1|st-1|110105|referral|2024-03-01\nS2|st-1|110105|no_such_kind|2024-03-02\n";
    let adapter = build_adapter(&mapping);
    assert_eq!(adapter.retry_header(body.as_bytes()), None);
    let reports = every_error_survives_a_retry(&mapping, body.as_bytes());
    assert_eq!(reports.len(), 1);
    let e = &run(adapter.as_ref(), "110000", body.as_bytes()).errors[0];
    assert_eq!(
        adapter.retry_body(&e.raw_row, None, &e.location).unwrap(),
        b"S2|st-1|110105|no_such_kind|2024-03-02\n"
    );
}

#[test]
fn a_fixed_width_line_is_retried_after_the_lines_to_skip() {
    let mapping = common::mapping("sc_510000_fixed.toml");
    let body = sample("sc_510000_legacy.txt");
    let reports = every_error_survives_a_retry(&mapping, &body);
    assert_eq!(reports[0].errors[0].location, format!("line:{}", 2));
}

#[test]
fn a_nested_json_element_is_retried_with_its_whole_item() {
    // Zhejiang: one person item nests registrations, history and services; the failing
    // history entry is retried within its item, which becomes the array's only item.
    let mapping = common::mapping("zj_330000_json.toml");
    let body = sample("zj_330000_persons.json");
    let reports = every_error_survives_a_retry(&mapping, &body);
    let nested: Vec<_> = reports
        .iter()
        .flat_map(|r| &r.errors)
        .filter(|e| e.location.contains("/employmentHistory/"))
        .map(|e| e.location.as_str())
        .collect();
    assert_eq!(nested, ["/0/employmentHistory/2"]);
}

#[test]
fn an_ndjson_line_is_retried_alone() {
    let record = SERVICE
        .replace("\"0\"", "\"/id\"")
        .replace("\"1\"", "\"/station\"")
        .replace("\"2\"", "\"/division\"")
        .replace("\"3\"", "\"/kind\"")
        .replace("\"4\"", "\"/date\"");
    let mapping = mapping_of("type = \"json\"\nlayout = \"ndjson\"", &record);
    let body = concat!(
        r#"{"id":"S1","station":"st-1","division":"110105","kind":"referral","date":"2024-03-01"}"#,
        "\n",
        r#"{"id":"S2","station":"st-1","division":"110105","kind":"nope","date":"2024-03-02"}"#,
        "\n"
    );
    let reports = every_error_survives_a_retry(&mapping, body.as_bytes());
    assert_eq!(reports[0].errors[0].location, "line:1");
}

#[test]
fn a_nested_xml_item_in_gb18030_is_retried_inside_its_ancestors() {
    let record = r#"type = "service_event"
item = "/Export/Stations/Station"
each = "Service"
[records.fields]
source_record_id = { from = "@id" }
station_id = { from = "^@code" }
division = { from = "^@division" }
service = { from = "@kind" }
date = { from = "@date", transforms = [{ date = ["%Y-%m-%d"] }] }
outcome = { value = "completed" }
"#;
    let mapping = mapping_of("type = \"xml\"\nencoding = \"gb18030\"", record);
    let body = r#"<?xml version="1.0" encoding="GB18030"?>
<Export>
  <Stations>
    <Station code="st-0" division="110105"><名称>朝阳站</名称></Station>
    <Station code="st-1" division="110105">
      <名称>朝阳区零工市场</名称>
      <Service id="S1" kind="referral" date="2024-03-01"/>
      <Service id="S2" kind="nope" date="2024-03-02"/>
    </Station>
  </Stations>
</Export>
"#;
    let body = encoding_rs::GB18030.encode(body).0.into_owned();
    let adapter = build_adapter(&mapping);
    let first = run(adapter.as_ref(), "110000", &body);
    // The item is one source row: its valid service is withheld while the other fails.
    assert_eq!(first.records.len(), 0);
    let e = &first.errors[0];
    assert_eq!(e.location, "/Export/Stations/Station[2]/Service[2]");
    let retry = retry_body(adapter.as_ref(), &body, e);
    let (text, _, bad) = encoding_rs::GB18030.decode(&retry);
    assert!(!bad);
    assert_eq!(
        text,
        format!("<Export><Stations>{}</Stations></Export>\n", e.raw_row)
    );
    assert!(std::str::from_utf8(&retry).is_err(), "not in GB 18030");
    let reports = every_error_survives_a_retry(&mapping, &body);
    // The whole item comes back, withheld again, the failing service at its new place.
    assert_eq!(reports[0].records.len(), 0);
    assert_eq!(
        reports[0].errors[0].location,
        "/Export/Stations/Station[1]/Service[2]"
    );
    // A location naming another element cannot place the row.
    assert_eq!(
        adapter.retry_body(&e.raw_row, None, "/Export/Employers/Employer[1]"),
        None
    );
}
