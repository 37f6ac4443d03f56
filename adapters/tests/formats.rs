//! Format options beyond the shipped mappings: headerless CSV with another delimiter and a BOM,
//! GB18030 XML, UTF-8 fixed-width, NDJSON, list splitting and defaults.

mod common;

use pes_adapters::Mapping;
use pes_schemas::RecordBody;

const FIELDS: &str = r#"
[records.fields]
source_record_id = { from = "ID" }
station_id = { from = "ST", transforms = ["trim", "lower"] }
division = { from = "DIV", transforms = ["trim"] }
service = { from = "KIND", transforms = ["trim"], default = "referral" }
date = { from = "DATE", transforms = [{ date = ["%Y/%m/%d"] }] }
outcome = { value = "completed" }
"#;

fn mapping(format: &str, sources: [&str; 5], item: Option<&str>) -> Mapping {
    let mut fields = FIELDS.to_string();
    for (name, src) in ["\"ID\"", "\"ST\"", "\"DIV\"", "\"KIND\"", "\"DATE\""]
        .iter()
        .zip(sources)
    {
        fields = fields.replacen(name, &format!("\"{src}\""), 1);
    }
    let item = item
        .map(|i| format!("item = \"{i}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "id = \"t\"\nversion = \"1\"\nregion = \"110000\"\n\n[format]\n{format}\n\n[[records]]\ntype = \"service_event\"\n{item}{fields}"
    );
    Mapping::from_toml_str(&text, None).unwrap()
}

fn stations(bytes: &[u8], m: &Mapping) -> Vec<(String, String, String)> {
    let r = common::run(m, bytes);
    assert!(r.fault.is_none(), "{:?}", r.fault);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.records
        .into_iter()
        .map(|rec| match rec.body {
            RecordBody::ServiceEvent(s) => {
                (s.station_id, s.date.to_string(), format!("{:?}", s.service))
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn headerless_semicolon_csv_with_bom_reads_columns_by_index() {
    let m = mapping(
        "type = \"csv\"\nheader = false\ndelimiter = \";\"",
        ["0", "1", "2", "3", "4"],
        None,
    );
    let bytes = "\u{feff}S1; BJ-A ;110105;gig_match;2024/3/5\nS2;bj-b;110105;;2024/03/06\n";
    assert_eq!(
        stations(bytes.as_bytes(), &m),
        [
            ("bj-a".into(), "2024-03-05".into(), "GigMatch".into()),
            ("bj-b".into(), "2024-03-06".into(), "Referral".into())
        ]
    );
}

#[test]
fn gb18030_xml_is_decoded_before_parsing() {
    let m = mapping(
        "type = \"xml\"\nencoding = \"gb18030\"",
        ["@id", "Station", "Station/@division", "Kind", "Date"],
        Some("/导出/服务"),
    );
    let xml = "<?xml version=\"1.0\" encoding=\"GB18030\"?><导出><!-- 朝阳 --><服务 id=\"S1\"><Station division=\"110105\">bj-cy</Station><Date>2024/3/5</Date></服务></导出>";
    let bytes = encoding_rs::GB18030.encode(xml).0.into_owned();
    assert_eq!(
        stations(&bytes, &m),
        [("bj-cy".into(), "2024-03-05".into(), "Referral".into())]
    );
}

#[test]
fn utf8_fixed_width_uses_byte_offsets() {
    let m = mapping(
        "type = \"fixed_width\"\n[format.columns]\nID = { start = 1, length = 3 }\nNOTE = { start = 4, length = 6 }\nST = { start = 10, length = 5 }\nDIV = { start = 15, length = 6 }\nKIND = { start = 21, length = 2 }\nDATE = { start = 23, length = 10 }",
        ["ID", "ST", "DIV", "KIND", "DATE"],
        None,
    );
    // 站点 is six bytes in UTF-8, filling NOTE; the columns after it are byte positions.
    let line = "S01站点bj-a 110105  2024/03/05\n";
    assert_eq!(
        stations(line.as_bytes(), &m),
        [("bj-a".into(), "2024-03-05".into(), "Referral".into())]
    );
}

#[test]
fn ndjson_items_skip_blank_lines() {
    let m = mapping(
        "type = \"json\"\nlayout = \"ndjson\"",
        ["/id", "/st", "/div", "/kind", "/date"],
        None,
    );
    let text = "{\"id\":\"S1\",\"st\":\"a\",\"div\":\"110105\",\"date\":\"2024/3/5\"}\n\n{\"id\":\"S2\",\"st\":\"b\",\"div\":\"110105\",\"kind\":\"counselling\",\"date\":\"2024/3/6\"}\n";
    assert_eq!(stations(text.as_bytes(), &m).len(), 2);
}

/// A source without a version column may use its export or update date: the date becomes the
/// version `YYYYMMDD`, so a later export of a record supersedes an earlier one.
#[test]
fn a_date_column_is_a_record_version() {
    let text = format!(
        "id = \"t\"\nversion = \"1\"\nregion = \"110000\"\n\n[format]\ntype = \"csv\"\n\n[[records]]\ntype = \"service_event\"\n{}",
        FIELDS.replace(
            "source_record_id = { from = \"ID\" }",
            "source_record_id = { from = \"ID\" }\nrecord_version = { from = \"UPDATED\", transforms = [{ date = [\"%Y-%m-%d\"] }] }",
        )
    );
    let m = Mapping::from_toml_str(&text, None).unwrap();
    let csv = "ID,ST,DIV,KIND,DATE,UPDATED\nS1,bj-a,110105,referral,2024/3/5,2024-03-07\nS2,bj-b,110105,referral,2024/3/5,\n";
    let r = common::run(&m, csv.as_bytes());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let versions: Vec<u64> = r.records.iter().map(|rec| rec.record_version).collect();
    // Without a date the version stays the default 1.
    assert_eq!(versions, [20240307, 1]);
}

/// `$ingested_at` as `record_version`: the push's ingest time in milliseconds, so a later push
/// of the record wins; it cannot feed any other field.
#[test]
fn ingested_at_is_a_record_version() {
    let text = format!(
        "id = \"t\"\nversion = \"1\"\nregion = \"110000\"\n\n[format]\ntype = \"csv\"\n\n[[records]]\ntype = \"service_event\"\n{}",
        FIELDS.replace(
            "source_record_id = { from = \"ID\" }",
            "source_record_id = { from = \"ID\" }\nrecord_version = { from = \"$ingested_at\" }",
        )
    );
    let m = Mapping::from_toml_str(&text, None).unwrap();
    let csv = "ID,ST,DIV,KIND,DATE\nS1,bj-a,110105,referral,2024/3/5\n";
    let r = common::run(&m, csv.as_bytes());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let want = chrono::DateTime::parse_from_rfc3339(common::INGESTED_AT)
        .unwrap()
        .timestamp_millis() as u64;
    assert_eq!(r.records[0].record_version, want);
    let elsewhere = text.replace("from = \"ST\"", "from = \"$ingested_at\"");
    let e = Mapping::from_toml_str(&elsewhere, None).unwrap_err();
    assert!(e.message.contains("can only give record_version"), "{e}");
}
