//! Malformed input: a clear fault that says where, and every good row before it delivered.

mod common;

use pes_adapters::national::PersonKeyer;
use pes_adapters::{
    build_adapter, AdapterError, DecodeContext, Decoded, Mapping, RowErrorCode, SinkError,
};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(common::crate_dir().join("samples").join(name)).unwrap()
}

fn gb(s: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(s).0.into_owned()
}

/// The first `n` lines of a file (with their line ends).
fn first_lines(bytes: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n').take(n) {
        out.extend_from_slice(line);
    }
    out
}

#[test]
fn broken_csv_quoting_stops_at_its_line_after_delivering_earlier_rows() {
    let m = common::mapping("gd_440000_csv.toml");
    let mut bytes = first_lines(&sample("gd_440000_persons.csv"), 3);
    bytes.extend(gb(
        "GD2024000199,\"440106199804120232,陈志强,13800138000,本科\r\n",
    ));
    bytes.extend(
        first_lines(&sample("gd_440000_persons.csv"), 5)
            .split_off(first_lines(&sample("gd_440000_persons.csv"), 4).len()),
    );
    let r = common::run(&m, &bytes);
    let fault = r.fault.expect("broken quoting is a fault");
    assert!(
        fault.contains("line 4") && fault.contains("quoting"),
        "{fault}"
    );
    // Rows 1 and 2 (person + registration, and a hire for row 2) arrived before the fault.
    assert_eq!(r.records.len(), 5);
    assert_eq!(r.records.last().unwrap().provenance.location, "row:2");
}

#[test]
fn invalid_gb18030_bytes_stop_with_their_offset_after_earlier_rows() {
    let m = common::mapping("gd_440000_csv.toml");
    let good = first_lines(&sample("gd_440000_persons.csv"), 4);
    let mut bytes = good.clone();
    bytes.extend_from_slice(b"GD2024000199,\xff\xff\xff\r\n");
    let r = common::run(&m, &bytes);
    let fault = r.fault.expect("invalid bytes are a fault");
    let offset = good.len() + "GD2024000199,".len();
    assert!(
        fault.contains("GB18030") && fault.contains(&format!("byte {offset}")),
        "{fault}"
    );
    assert_eq!(r.records.len(), 7, "rows 1-3 are delivered");
}

#[test]
fn truncated_xml_is_a_fault_after_the_complete_items() {
    let m = common::mapping("bj_110000_xml.toml");
    let full = sample("bj_110000_export.xml");
    let text = String::from_utf8(full).unwrap();
    let cut = text.find("<Title><![CDATA[").unwrap();
    let r = common::run(&m, &text.as_bytes()[..cut]);
    let fault = r.fault.expect("truncated XML is a fault");
    assert!(fault.contains("truncated XML"), "{fault}");
    let ids: Vec<_> = r
        .records
        .iter()
        .map(|r| r.source_record_id.as_str())
        .collect();
    assert_eq!(ids, ["BJE-0001", "BJE-0002", "BJV-0001"]);
}

#[test]
fn truncated_json_is_a_fault_after_the_complete_items() {
    let m = common::mapping("zj_330000_json.toml");
    let text = String::from_utf8(sample("zj_330000_persons.json")).unwrap();
    let cut = text.find("ZJP-000002").unwrap();
    let r = common::run(&m, &text.as_bytes()[..cut]);
    let fault = r.fault.expect("truncated JSON is a fault");
    assert!(fault.contains("truncated JSON"), "{fault}");
    assert_eq!(
        r.records.len(),
        4,
        "the first person and its nested records"
    );
}

#[test]
fn dtd_and_entity_expansion_are_refused() {
    let m = common::mapping("bj_110000_xml.toml");
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<Export><Employers><Employer id="x"><Name>&lol2;</Name></Employer></Employers></Export>"#;
    let fault = common::run(&m, laughs.as_bytes())
        .fault
        .expect("DTD refused");
    assert!(
        fault.contains("refused") && fault.contains("DOCTYPE"),
        "{fault}"
    );

    let undeclared =
        r#"<Export><Employers><Employer id="x"><Name>&xxe;</Name></Employer></Employers></Export>"#;
    let fault = common::run(&m, undeclared.as_bytes())
        .fault
        .expect("entity refused");
    assert!(
        fault.contains("refused") && fault.contains("&xxe;"),
        "{fault}"
    );
}

#[test]
fn a_row_with_the_wrong_field_count_is_a_row_error_and_decoding_goes_on() {
    let m = common::mapping("gd_440000_csv.toml");
    let full = sample("gd_440000_persons.csv");
    let mut bytes = first_lines(&full, 2);
    bytes.extend(gb("GD2024000199,too,few\r\n"));
    bytes.extend_from_slice(&full[first_lines(&full, 2).len()..]);
    let r = common::run(&m, &bytes);
    assert!(r.fault.is_none());
    let e = &r.errors[0];
    assert_eq!(
        (e.location.as_str(), e.code),
        ("row:2", RowErrorCode::BadRow)
    );
    assert!(
        e.message.contains("3 fields, the header has 20"),
        "{}",
        e.message
    );
    assert_eq!(e.raw_row, "GD2024000199,too,few");
    // The sample's row 5 has a registration with an unknown local code: with atomic rows its
    // person is withheld too, so 7 records rather than 8.
    assert_eq!(r.records.len(), 7, "all other rows still decode");
}

#[test]
fn a_header_without_a_mapped_column_is_a_fault_naming_it() {
    let m = common::mapping("gd_440000_csv.toml");
    let bytes = gb("记录编号,身份证号码\r\nA,B\r\n");
    let fault = common::run(&m, &bytes).fault.unwrap();
    assert!(
        fault.contains("line 1") && fault.contains("姓名"),
        "{fault}"
    );
}

#[test]
fn a_bad_ndjson_line_is_a_row_error_and_the_next_lines_decode() {
    let text = std::fs::read_to_string(common::crate_dir().join("mappings/zj_330000_json.toml"))
        .unwrap()
        .replace("layout = \"array\"", "layout = \"ndjson\"");
    let m = Mapping::from_toml_str(&text, None).unwrap();
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(&sample("zj_330000_persons.json")).unwrap();
    let mut nd = String::new();
    nd.push_str(&serde_json::to_string(&items[0]).unwrap());
    nd.push_str("\n{\"personId\": oops}\n\n");
    // A clean item after the bad line (the sample's second item has a bad nested element, so
    // with atomic rows none of its records would be stored).
    let mut next = items[0].clone();
    next["personId"] = "ZJP-999999".into();
    nd.push_str(&serde_json::to_string(&next).unwrap());
    nd.push('\n');
    let r = common::run(&m, nd.as_bytes());
    assert!(r.fault.is_none(), "{:?}", r.fault);
    let bad: Vec<_> = r
        .errors
        .iter()
        .filter(|e| e.code == RowErrorCode::BadRow)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].location, "line:2");
    assert_eq!(bad[0].raw_row, "{\"personId\": oops}");
    assert!(r
        .records
        .iter()
        .any(|r| r.provenance.location.starts_with("line:4")));
}

#[test]
fn fixed_width_invalid_bytes_name_the_line() {
    let m = common::mapping("sc_510000_fixed.toml");
    let mut bytes = first_lines(&sample("sc_510000_legacy.txt"), 3);
    bytes.extend_from_slice(b"T\x81\x20broken\r\n");
    let r = common::run(&m, &bytes);
    let fault = r.fault.unwrap();
    assert!(fault.contains("line 4"), "{fault}");
    assert_eq!(r.records.len(), 2);
}

#[test]
fn a_refusing_sink_stops_the_run() {
    let m = common::mapping("zj_330000_json.toml");
    let keyer = PersonKeyer::new(common::LINKAGE_KEY);
    let ctx = DecodeContext {
        region: "330000",
        source: "zj",
        raw_sha256: common::RAW_SHA256,
        ingested_at: common::INGESTED_AT,
        keyer: &keyer,
    };
    let adapter = build_adapter(&m);
    let mut seen = 0;
    let bytes = sample("zj_330000_persons.json");
    let result = adapter.decode(&mut &bytes[..], &ctx, &mut |d: Decoded| {
        seen += 1;
        match d {
            Decoded::Record(_) if seen >= 2 => Err(SinkError("client went away".into())),
            _ => Ok(()),
        }
    });
    assert!(matches!(result, Err(AdapterError::Sink(_))));
    assert_eq!(seen, 2);
}

#[test]
fn an_oversized_line_is_a_fault_not_an_unbounded_buffer() {
    let text = std::fs::read_to_string(common::crate_dir().join("mappings/zj_330000_json.toml"))
        .unwrap()
        .replace("layout = \"array\"", "layout = \"ndjson\"");
    let m = Mapping::from_toml_str(&text, None).unwrap();
    let mut bytes = b"{\"personId\": \"".to_vec();
    bytes.resize(bytes.len() + (64 << 20) + 10, b'a');
    let fault = common::run(&m, &bytes)
        .fault
        .expect("oversized line refused");
    assert!(
        fault.contains("line 1") && fault.contains("longer than"),
        "{fault}"
    );
}

/// A source list is a set: `农民工、农民工` (or two local codes for one national code) keeps the
/// group once instead of refusing the person as a duplicate.
#[test]
fn a_repeated_item_of_a_split_list_is_kept_once() {
    let m = common::mapping("gd_440000_csv.toml");
    let csv = String::from_utf8(
        encoding_rs::GB18030
            .decode(&first_lines(&sample("gd_440000_persons.csv"), 2))
            .0
            .into_owned()
            .into_bytes(),
    )
    .unwrap();
    let repeated = csv.replacen(",高校毕业生,", ",农民工、高校毕业生、农民工,", 1);
    assert_ne!(repeated, csv, "the sample's first row lists 高校毕业生");
    let r = common::run(&m, &gb(&repeated));
    assert!(r.fault.is_none(), "{:?}", r.fault);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let groups = r
        .records
        .iter()
        .find_map(|rec| match &rec.body {
            pes_schemas::RecordBody::Person(p) => Some(serde_json::to_value(&p.key_groups)),
            _ => None,
        })
        .expect("the person is stored")
        .unwrap();
    assert_eq!(
        groups,
        serde_json::json!(["migrant_worker", "college_graduate"])
    );
}

/// A row is stored whole or not at all by default; `atomic_rows = false` keeps the good records
/// of a row whose other record failed.
#[test]
fn a_failed_record_withholds_its_row_unless_rows_are_not_atomic() {
    let body = sample("gd_440000_persons.csv");
    let row5 = |r: &pes_adapters::check::CheckReport| {
        r.records
            .iter()
            .filter(|rec| rec.provenance.location == "row:5")
            .count()
    };
    let atomic = common::run(&common::mapping("gd_440000_csv.toml"), &body);
    // Row 5's registration has an unknown local code: its valid person is withheld too.
    assert!(atomic.errors.iter().any(|e| e.location == "row:5"));
    assert_eq!(row5(&atomic), 0);
    assert_eq!(atomic.summary.records, atomic.records.len() as u64);

    let text = std::fs::read_to_string(common::crate_dir().join("mappings/gd_440000_csv.toml"))
        .unwrap()
        .replace(
            "region = \"440000\"",
            "region = \"440000\"\natomic_rows = false",
        );
    let base = common::crate_dir().join("mappings");
    let loose = Mapping::from_toml_str(&text, Some(&base)).unwrap();
    let split = common::run(&loose, &body);
    assert_eq!(row5(&split), 1, "the person of row 5 is stored");
    assert_eq!(split.errors.len(), atomic.errors.len());
    assert_eq!(split.records.len(), atomic.records.len() + 1);
}

/// Every item a decode run sends, in order, and its summary.
fn items(m: &Mapping, bytes: &[u8]) -> (Vec<Decoded>, pes_adapters::DecodeSummary) {
    let keyer = PersonKeyer::new(common::LINKAGE_KEY);
    let ctx = DecodeContext {
        region: &m.region,
        source: "prov",
        raw_sha256: common::RAW_SHA256,
        ingested_at: common::INGESTED_AT,
        keyer: &keyer,
    };
    let mut items = Vec::new();
    let summary = build_adapter(m)
        .decode(&mut &bytes[..], &ctx, &mut |d| {
            items.push(d);
            Ok(())
        })
        .unwrap();
    (items, summary)
}

/// The failed rows sent: (0-based row index, the problems' locations and codes).
fn failed_rows(items: &[Decoded]) -> Vec<(u64, Vec<(String, RowErrorCode)>)> {
    items
        .iter()
        .filter_map(|d| match d {
            Decoded::FailedRow(f) => Some((
                f.row,
                f.problems
                    .iter()
                    .map(|e| (e.location.clone(), e.code))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

/// With atomic rows a failed source row comes as one item holding all its problems and the
/// row's index among the source rows; without, each failed record comes alone as today.
#[test]
fn a_failed_row_comes_whole_with_its_index_and_every_problem() {
    let body = sample("gd_440000_persons.csv");
    let (atomic, summary) = items(&common::mapping("gd_440000_csv.toml"), &body);
    // Row 4 (line 5) has a bad ID number, read by its person and its registration: two
    // problems, one row. Row 5's registration has an unknown occupation code.
    let bad_id = (String::from("row:4"), RowErrorCode::BadIdNumber);
    assert_eq!(
        failed_rows(&atomic),
        vec![
            (3, vec![bad_id.clone(), bad_id]),
            (
                4,
                vec![("row:5".to_string(), RowErrorCode::UnknownLocalCode)]
            ),
        ]
    );
    assert!(!atomic.iter().any(|d| matches!(d, Decoded::RowError(_))));
    assert_eq!((summary.failed_rows, summary.row_errors), (2, 3));
    // A failed row's raw text is the row's, in each problem.
    let Some(Decoded::FailedRow(f)) = atomic.iter().find(|d| matches!(d, Decoded::FailedRow(_)))
    else {
        unreachable!()
    };
    assert!(f
        .problems
        .iter()
        .all(|e| e.raw_row.starts_with("GD2024000104,")));

    let text = std::fs::read_to_string(common::crate_dir().join("mappings/gd_440000_csv.toml"))
        .unwrap()
        .replace(
            "region = \"440000\"",
            "region = \"440000\"\natomic_rows = false",
        );
    let loose = Mapping::from_toml_str(&text, Some(&common::crate_dir().join("mappings"))).unwrap();
    let (split, summary) = items(&loose, &body);
    assert!(failed_rows(&split).is_empty());
    let errors = split
        .iter()
        .filter(|d| matches!(d, Decoded::RowError(_)))
        .count();
    assert_eq!(errors, 3);
    assert_eq!((summary.failed_rows, summary.row_errors), (2, 3));
}

/// A JSON item whose nested element fails is one failed row, numbered by item, its problem
/// naming the nested element.
#[test]
fn a_json_item_with_a_failed_nested_element_is_one_failed_row() {
    let (items, summary) = items(
        &common::mapping("zj_330000_json.toml"),
        &sample("zj_330000_persons.json"),
    );
    let failed = failed_rows(&items);
    assert_eq!(failed.len() as u64, summary.failed_rows);
    assert_eq!(
        failed[0],
        (
            1,
            vec![(
                "/1/employmentHistory/2".to_string(),
                RowErrorCode::UnknownLocalCode
            )]
        )
    );
}
