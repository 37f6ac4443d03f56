//! Fuzz targets of the four adapter formats (and the NDJSON layout), one proptest each, run
//! over the shipped mappings. See `docs/fuzzing.md`.
//!
//! Every target checks, for seeds, every prefix of a seed, mutated seeds and inputs generated
//! from the sample's own structure:
//! - decoding never panics and stops with a typed `AdapterError` (a `fault`) at worst;
//! - every record handed to the sink passes the national validators;
//! - the summary counts what was handed to the sink;
//! - the result does not depend on how the input is split across reads (streaming).
//!
//! Generated inputs are well formed, so for them decoding must also not fault, and must read
//! exactly the rows that were generated.

#[path = "../../tests/fuzz/mutate.rs"]
mod mutate;

mod common;

use std::io::Read;
use std::sync::OnceLock;

use pes_adapters::check::CheckReport;
use pes_adapters::national::PersonKeyer;
use pes_adapters::{build_adapter, DecodeContext, Mapping};
use proptest::prelude::*;

use mutate::{apply, corpus, mutated, prefixes, Chunked, Seed};

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// A format under test: its mappings (a shipped one plus variants) and its seeds.
struct Target {
    name: &'static str,
    mappings: Vec<Mapping>,
    seeds: Vec<Seed>,
    dict: &'static [&'static [u8]],
}

const CSV_DICT: &[&[u8]] = &[b",", b"\"", b"\"\"", b",\"", b"\",", b"\n\"", b";"];
const JSON_DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b":",
    b",",
    b"null",
    b"{\"a\":",
    b"[[[[[[[[",
    b"]]]]]]]]",
];
const XML_DICT: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"<a>",
    b"</a>",
    b"&",
    b"&amp;",
    b"&#x0;",
    b"&#xFFFFFFFF;",
    b"&lol;",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"<?x ?>",
    b"<!DOCTYPE a>",
    b"=\"",
    b"\"",
    b"<Employer id=\"x\">",
    b"</Employer>",
    b"<Vacancy>",
];
const FIXED_DICT: &[&[u8]] = &[
    b"        ",
    b"U",
    b"T",
    b"P",
    b"\xd5\xc5",
    b"\x81\x30\x81\x30",
    b"\r\n",
    b"20240231",
    b"99999999",
];

fn mapping(file: &str, edit: impl FnOnce(String) -> String) -> Mapping {
    let dir = std::path::Path::new(CRATE_DIR).join("mappings");
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    Mapping::from_toml_str(&edit(text), Some(&dir)).unwrap()
}

fn target(name: &str) -> &'static Target {
    static TARGETS: OnceLock<Vec<Target>> = OnceLock::new();
    let all = TARGETS.get_or_init(|| {
        let same = |t: String| t;
        vec![
            Target {
                name: "csv",
                mappings: vec![
                    mapping("gd_440000_csv.toml", same),
                    // The same export read with quoted line breaks allowed.
                    mapping("gd_440000_csv.toml", |t| {
                        t.replace("header = true", "header = true\nmultiline_fields = true")
                    }),
                ],
                seeds: corpus(CRATE_DIR, "csv"),
                dict: CSV_DICT,
            },
            Target {
                name: "json",
                mappings: vec![mapping("zj_330000_json.toml", same)],
                seeds: corpus(CRATE_DIR, "json"),
                dict: JSON_DICT,
            },
            Target {
                name: "ndjson",
                mappings: vec![mapping("zj_330000_json.toml", |t| {
                    t.replace("layout = \"array\"", "layout = \"ndjson\"")
                })],
                seeds: corpus(CRATE_DIR, "ndjson"),
                dict: JSON_DICT,
            },
            Target {
                name: "xml",
                mappings: vec![mapping("bj_110000_xml.toml", same)],
                seeds: corpus(CRATE_DIR, "xml"),
                dict: XML_DICT,
            },
            Target {
                name: "fixed_width",
                mappings: vec![mapping("sc_510000_fixed.toml", same)],
                seeds: corpus(CRATE_DIR, "fixed_width"),
                dict: FIXED_DICT,
            },
        ]
    });
    all.iter().find(|t| t.name == name).unwrap()
}

fn decode(mapping: &Mapping, input: &mut dyn Read) -> CheckReport {
    let keyer = PersonKeyer::new(common::LINKAGE_KEY);
    let ctx = DecodeContext {
        region: &mapping.region,
        source: &mapping.id,
        raw_sha256: common::RAW_SHA256,
        ingested_at: common::INGESTED_AT,
        keyer: &keyer,
    };
    CheckReport::run(build_adapter(mapping).as_ref(), input, &ctx)
}

/// The properties every input must satisfy; returns the report of the whole-slice run.
fn check(mapping: &Mapping, bytes: &[u8], chunk: usize) -> CheckReport {
    let report = decode(mapping, &mut &bytes[..]);
    for r in &report.records {
        if let Err(e) = pes_schemas::validate::validate_record(r) {
            panic!("{} emitted an invalid record: {e:?}", mapping.id);
        }
    }
    if report.fault.is_none() {
        assert_eq!(report.summary.records, report.records.len() as u64);
        assert_eq!(report.summary.row_errors, report.errors.len() as u64);
    }
    for e in &report.errors {
        assert!(!e.location.is_empty() && !e.message.is_empty(), "{e:?}");
    }
    let chunked = decode(mapping, &mut Chunked { rest: bytes, chunk });
    let (a, b) = (
        serde_json::to_value(&report).unwrap(),
        serde_json::to_value(&chunked).unwrap(),
    );
    assert!(
        a == b,
        "{}: reading {chunk} bytes at a time changed the result:\n whole: {}\n chunked: {}",
        mapping.id,
        short(&a),
        short(&b)
    );
    report
}

/// The parts of a report that differ most often, for failure messages.
fn short(v: &serde_json::Value) -> String {
    format!(
        "fault={} summary={} errors={}",
        v["fault"],
        v["summary"],
        v["errors"]
            .as_array()
            .map(|e| e
                .iter()
                .map(|x| format!("{}@{}: {}", x["code"], x["location"], x["message"]))
                .collect::<Vec<_>>()
                .join(" | "))
            .unwrap_or_default()
    )
}

fn check_all(t: &Target, bytes: &[u8], chunk: usize) {
    for m in &t.mappings {
        check(m, bytes, chunk);
    }
}

/// Seeds and every prefix of every seed (a push cut off anywhere).
fn seeds_and_prefixes(name: &str) {
    let t = target(name);
    for seed in &t.seeds {
        for (i, p) in prefixes(&seed.bytes).enumerate() {
            // Alternate read sizes so the prefixes also cover buffer boundaries.
            let chunk = [4096, 1, 7][i % 3];
            let run = std::panic::catch_unwind(|| check_all(t, p, chunk));
            if let Err(e) = run {
                eprintln!(
                    "{name} seed {} cut at byte {} of {}",
                    seed.name,
                    p.len(),
                    seed.bytes.len()
                );
                std::panic::resume_unwind(e);
            }
        }
    }
}

fn mutated_case(name: &str, seed: usize, muts: &[mutate::Mutation], chunk: usize) {
    let t = target(name);
    let bytes = apply(&t.seeds[seed].bytes, muts, t.dict, &t.seeds);
    check_all(t, &bytes, chunk);
}

#[test]
fn csv_seeds_and_their_prefixes() {
    seeds_and_prefixes("csv");
}

#[test]
fn json_seeds_and_their_prefixes() {
    seeds_and_prefixes("json");
}

#[test]
fn ndjson_seeds_and_their_prefixes() {
    seeds_and_prefixes("ndjson");
}

#[test]
fn xml_seeds_and_their_prefixes() {
    seeds_and_prefixes("xml");
}

#[test]
fn fixed_width_seeds_and_their_prefixes() {
    seeds_and_prefixes("fixed_width");
}

#[test]
fn xml_entities_and_doctypes_are_refused_not_expanded() {
    let t = target("xml");
    for name in [
        "billion-laughs.xml",
        "external-entity.xml",
        "undefined-entity.xml",
    ] {
        let seed = t.seeds.iter().find(|s| s.name == name).unwrap();
        let r = decode(&t.mappings[0], &mut &seed.bytes[..]);
        let fault = r.fault.unwrap_or_default();
        assert!(fault.starts_with("refused XML"), "{name}: {fault}");
        assert!(r.records.is_empty(), "{name}");
    }
}

// ---- Regressions: what fuzzing found, kept as named cases ------------------------------

#[test]
fn invalid_byte_at_a_read_boundary_is_a_fault_not_the_end_of_the_push() {
    // The decoder reads 64 KiB at a time; an invalid byte first in a read used to look like the
    // end of the input, so the push was accepted with every later row silently dropped.
    let t = target("csv");
    let sample = sample("csv", "sample.csv");
    let (header, rows) = sample.split_at(sample.iter().position(|b| *b == b'\n').unwrap() + 1);
    let mut body = header.to_vec();
    while body.len() < 64 * 1024 - rows.len() {
        body.extend_from_slice(rows);
    }
    body.resize(64 * 1024, b'\n');
    body.extend_from_slice(b"\x81\x20");
    body.extend_from_slice(rows);
    let r = check(&t.mappings[0], &body, 4096);
    let fault = r.fault.unwrap_or_default();
    assert!(
        fault.contains("invalid byte sequence for GB18030 at byte 65536"),
        "{fault}"
    );
}

#[test]
fn xml_nested_deeper_than_the_limit_is_refused_not_a_crash() {
    // 16 000 nested elements inside one item used to overflow the stack when the item's tree
    // was dropped, aborting the whole process.
    let doc = format!(
        "<Export><Employers><Employer id=\"D1\">{}x{}</Employer></Employers></Export>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let r = check(&target("xml").mappings[0], doc.as_bytes(), 4096);
    let fault = r.fault.unwrap_or_default();
    assert!(fault.contains("nested more than 128 deep"), "{fault}");
    let ok = sample("xml", "nesting-at-limit.xml");
    assert_eq!(decode(&target("xml").mappings[0], &mut &ok[..]).fault, None);
}

// ---- Inputs generated from the samples' own structure -----------------------------------

/// A field value: mostly plausible, often hostile.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,12}",
        2 => "[0-9]{17}[0-9X]",
        1 => "[0-9]{1,20}",
        1 => "-?[0-9]{1,3}(\\.[0-9]{0,3})?",
        1 => "(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[1-3][0-9])",
        1 => "(19|20)[0-9]{2}年[0-9]{1,2}月[0-9]{1,2}日",
        1 => Just(String::new()),
        1 => Just(" \u{3000}".to_string()),
        1 => Just("\"a,b\"".to_string()),
        1 => Just("<&>]]>".to_string()),
        1 => Just("１２３".to_string()),
        1 => Just("x\ny".to_string()),
        1 => Just("99999999999999999999999".to_string()),
    ]
}

/// Edits of a table: `(row, column, value)`, positions taken modulo the table's size.
fn cell_edits() -> impl Strategy<Value = Vec<(usize, usize, String)>> {
    proptest::collection::vec((any::<usize>(), any::<usize>(), value()), 0..12)
}

/// Row picks: which sample rows make up the generated input, in order (with repeats).
fn row_picks() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(any::<usize>(), 0..12)
}

fn sample(name: &str, file: &str) -> &'static [u8] {
    &target(name)
        .seeds
        .iter()
        .find(|s| s.name == file)
        .unwrap()
        .bytes
}

/// The CSV sample as text rows (header first).
fn csv_rows() -> &'static Vec<Vec<String>> {
    static ROWS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let (text, _, bad) = encoding_rs::GB18030.decode(sample("csv", "sample.csv"));
        assert!(!bad);
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    })
}

fn generated_csv(picks: &[usize], edits: &[(usize, usize, String)]) -> (Vec<u8>, usize, bool) {
    let all = csv_rows();
    let (header, body) = all.split_first().unwrap();
    let mut rows: Vec<Vec<String>> = picks.iter().map(|p| body[p % body.len()].clone()).collect();
    for (r, c, v) in edits {
        if !rows.is_empty() {
            let n = rows.len();
            let row = &mut rows[r % n];
            let m = row.len();
            row[c % m] = v.clone();
        }
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let breaks = rows.iter().flatten().any(|v| v.contains(['\n', '\r']));
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    (bytes.into_owned(), rows.len(), breaks)
}

/// The JSON sample's items.
fn json_items() -> &'static Vec<serde_json::Value> {
    static ITEMS: OnceLock<Vec<serde_json::Value>> = OnceLock::new();
    ITEMS.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_slice(sample("json", "sample.json")).unwrap();
        v.as_array().unwrap().clone()
    })
}

/// All scalar positions of a JSON value, as JSON Pointers.
fn scalar_pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                scalar_pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                scalar_pointers(x, format!("{at}/{i}"), out)
            }
        }
        _ => out.push(at),
    }
}

/// A JSON value replacing a scalar: strings from [`value`], or numbers, booleans, nulls,
/// containers where a scalar was expected.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    prop_oneof![
        4 => value().prop_map(Value::String),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<u64>().prop_map(|n| json!(n)),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => Just(Value::Null),
        1 => Just(json!(true)),
        1 => Just(json!([])),
        1 => Just(json!({"code": "21"})),
        1 => Just(json!([["x"], {"a": [1]}])),
    ]
}

fn generated_json(
    picks: &[usize],
    edits: &[(usize, usize, serde_json::Value)],
) -> Vec<serde_json::Value> {
    let items = json_items();
    let mut out: Vec<serde_json::Value> = picks
        .iter()
        .map(|p| items[p % items.len()].clone())
        .collect();
    for (i, k, v) in edits {
        if out.is_empty() {
            break;
        }
        let n = out.len();
        let item = &mut out[i % n];
        let mut ptrs = Vec::new();
        scalar_pointers(item, String::new(), &mut ptrs);
        if let Some(p) = ptrs.get(k % ptrs.len().max(1)) {
            if let Some(slot) = item.pointer_mut(p) {
                *slot = v.clone();
            }
        }
    }
    out
}

/// The XML sample as a flat list of events, with text and attribute values editable.
fn xml_events() -> &'static Vec<quick_xml::events::Event<'static>> {
    static EVENTS: OnceLock<Vec<quick_xml::events::Event<'static>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut r = quick_xml::Reader::from_reader(sample("xml", "sample.xml"));
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            let e = r.read_event_into(&mut buf).unwrap().into_owned();
            if matches!(e, quick_xml::events::Event::Eof) {
                break;
            }
            out.push(e);
            buf.clear();
        }
        out
    })
}

/// The sample with edited values: text (escaped), CDATA and attribute values.
fn generated_xml(edits: &[(usize, usize, String)]) -> Vec<u8> {
    use quick_xml::events::{BytesCData, BytesStart, BytesText, Event};
    let mut events = xml_events().clone();
    let editable: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(e, Event::Text(t) if !t.iter().all(u8::is_ascii_whitespace))
                || matches!(e, Event::CData(_))
                || matches!(e, Event::Start(s) | Event::Empty(s) if s.attributes().count() > 0)
        })
        .map(|(i, _)| i)
        .collect();
    for (i, k, v) in edits {
        let at = editable[i % editable.len()];
        let text = v.replace("]]>", "]]");
        events[at] = match &events[at] {
            Event::Text(_) => Event::Text(BytesText::new(v).into_owned()),
            Event::CData(_) => Event::CData(BytesCData::new(text).into_owned()),
            Event::Start(s) | Event::Empty(s) => {
                let name = String::from_utf8(s.name().as_ref().to_vec()).unwrap();
                let mut attrs: Vec<(String, String)> = s
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().unwrap().into_owned(),
                        )
                    })
                    .collect();
                let n = attrs.len();
                attrs[k % n].1 = v.clone();
                let mut b = BytesStart::new(name);
                for (key, val) in &attrs {
                    b.push_attribute((key.as_str(), val.as_str()));
                }
                if matches!(events[at], Event::Start(_)) {
                    Event::Start(b.into_owned())
                } else {
                    Event::Empty(b.into_owned())
                }
            }
            _ => unreachable!(),
        };
    }
    let mut w = quick_xml::Writer::new(Vec::new());
    for e in events {
        w.write_event(e).unwrap();
    }
    w.into_inner()
}

/// The fixed-width sample's data lines (the first line is skipped by the mapping).
fn fixed_lines() -> &'static Vec<Vec<u8>> {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        sample("fixed_width", "sample.txt")
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Column byte ranges of the Sichuan layout (0-based, end exclusive).
const FIXED_COLUMNS: &[(usize, usize)] = &[
    (0, 1),
    (1, 13),
    (13, 31),
    (31, 49),
    (49, 59),
    (59, 67),
    (67, 75),
    (75, 81),
    (81, 83),
    (83, 85),
    (85, 91),
    (91, 92),
    (92, 112),
];

/// Lines with column values replaced, each value encoded in GB18030 and padded or cut to its
/// column's width.
fn generated_fixed(picks: &[usize], edits: &[(usize, usize, String)]) -> (Vec<u8>, usize) {
    let lines = fixed_lines();
    let (head, body) = lines.split_first().unwrap();
    let mut rows: Vec<Vec<u8>> = picks.iter().map(|p| body[p % body.len()].clone()).collect();
    for (r, c, v) in edits {
        if rows.is_empty() {
            break;
        }
        let n = rows.len();
        let row = &mut rows[r % n];
        let (s, e) = FIXED_COLUMNS[c % FIXED_COLUMNS.len()];
        if row.len() < e {
            row.resize(e, b' ');
        }
        // Whole characters only: a cut inside one would make the line itself invalid GB18030.
        let mut cell = Vec::with_capacity(e - s);
        for ch in v.chars().filter(|c| *c != '\n' && *c != '\r') {
            let mut utf8 = [0; 4];
            let (enc, _, _) = encoding_rs::GB18030.encode(ch.encode_utf8(&mut utf8));
            if cell.len() + enc.len() > e - s {
                break;
            }
            cell.extend_from_slice(&enc);
        }
        cell.resize(e - s, b' ');
        row[s..e].copy_from_slice(&cell);
    }
    let data_rows = rows
        .iter()
        .filter(|r| !r.iter().all(|b| *b == b' '))
        .count();
    let mut out = head.clone();
    for r in rows {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&r);
    }
    out.extend_from_slice(b"\r\n");
    (out, data_rows)
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn csv_mutated_seeds((seed, muts) in mutated(target("csv").seeds.len(), CSV_DICT.len()), chunk in 1usize..300) {
        mutated_case("csv", seed, &muts, chunk);
    }

    #[test]
    fn json_mutated_seeds((seed, muts) in mutated(target("json").seeds.len(), JSON_DICT.len()), chunk in 1usize..300) {
        mutated_case("json", seed, &muts, chunk);
    }

    #[test]
    fn ndjson_mutated_seeds((seed, muts) in mutated(target("ndjson").seeds.len(), JSON_DICT.len()), chunk in 1usize..300) {
        mutated_case("ndjson", seed, &muts, chunk);
    }

    #[test]
    fn xml_mutated_seeds((seed, muts) in mutated(target("xml").seeds.len(), XML_DICT.len()), chunk in 1usize..300) {
        mutated_case("xml", seed, &muts, chunk);
    }

    #[test]
    fn fixed_width_mutated_seeds((seed, muts) in mutated(target("fixed_width").seeds.len(), FIXED_DICT.len()), chunk in 1usize..300) {
        mutated_case("fixed_width", seed, &muts, chunk);
    }

    #[test]
    fn arbitrary_bytes_in_every_format(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..300) {
        for name in ["csv", "json", "ndjson", "xml", "fixed_width"] {
            check_all(target(name), &bytes, chunk);
        }
    }

    #[test]
    fn csv_generated_rows_are_all_read(picks in row_picks(), edits in cell_edits(), chunk in 1usize..300) {
        let (bytes, rows, breaks) = generated_csv(&picks, &edits);
        let t = target("csv");
        let strict = check(&t.mappings[0], &bytes, chunk);
        // A quoted line break is refused unless the mapping allows it.
        prop_assert_eq!(strict.fault.is_some(), breaks, "{:?}", strict.fault);
        let multiline = check(&t.mappings[1], &bytes, chunk);
        prop_assert_eq!(&multiline.fault, &None);
        prop_assert_eq!(multiline.summary.rows, rows as u64);
    }

    #[test]
    fn json_generated_items_are_all_read(
        picks in row_picks(),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), json_value()), 0..12),
        pretty in any::<bool>(),
        chunk in 1usize..300,
    ) {
        let items = generated_json(&picks, &edits);
        let array = if pretty {
            serde_json::to_vec_pretty(&items).unwrap()
        } else {
            serde_json::to_vec(&items).unwrap()
        };
        let r = check(&target("json").mappings[0], &array, chunk);
        prop_assert_eq!(&r.fault, &None);
        prop_assert_eq!(r.summary.rows, items.len() as u64);
        let mut lines = Vec::new();
        for i in &items {
            lines.extend(serde_json::to_vec(i).unwrap());
            lines.push(b'\n');
        }
        let n = check(&target("ndjson").mappings[0], &lines, chunk);
        prop_assert_eq!(&n.fault, &None);
        prop_assert_eq!(n.summary.rows, items.len() as u64);
        // The same items give the same records whichever layout carries them.
        prop_assert_eq!(r.records.len(), n.records.len());
    }

    #[test]
    fn xml_generated_values_are_read(edits in cell_edits(), chunk in 1usize..300) {
        let bytes = generated_xml(&edits);
        let r = check(&target("xml").mappings[0], &bytes, chunk);
        prop_assert_eq!(&r.fault, &None);
        let sample = decode(&target("xml").mappings[0], &mut sample("xml", "sample.xml"));
        prop_assert_eq!(r.summary.rows, sample.summary.rows);
    }

    #[test]
    fn fixed_width_generated_lines_are_all_read(picks in row_picks(), edits in cell_edits(), chunk in 1usize..300) {
        let (bytes, rows) = generated_fixed(&picks, &edits);
        let r = check(&target("fixed_width").mappings[0], &bytes, chunk);
        prop_assert_eq!(&r.fault, &None);
        prop_assert_eq!(r.summary.rows, rows as u64);
    }
}
