//! Quarantined rows are listed with their protected cells masked and every other cell readable.

mod common;

use pes_adapters::{build_adapter, Adapter};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(common::crate_dir().join("samples").join(name)).unwrap()
}

/// Every row error of a shipped sample, with its row masked by the mapping's adapter.
fn masked_errors(mapping: &str, sample_name: &str) -> Vec<(String, String, String)> {
    let m = common::mapping(mapping);
    let adapter: Box<dyn Adapter> = build_adapter(&m);
    let body = sample(sample_name);
    let header = adapter.retry_header(&body);
    let r = common::run(&m, &body);
    r.errors
        .iter()
        .map(|e| {
            (
                e.location.clone(),
                e.raw_row.clone(),
                adapter.mask_row(&e.raw_row, header.as_deref()),
            )
        })
        .collect()
}

#[test]
fn csv_rows_hide_name_id_number_and_phone_and_show_the_rest() {
    let rows = masked_errors("gd_440000_csv.toml", "gd_440000_persons.csv");
    let (_, raw, masked) = rows.iter().find(|(loc, ..)| loc == "row:4").unwrap();
    for secret in ["440111197901010550", "李建国", "13700001111"] {
        assert!(raw.contains(secret), "{raw}");
        assert!(!masked.contains(secret), "{masked}");
    }
    for shown in ["GD2024000104", "长期失业", "2024-03-08", "GD0601"] {
        assert!(masked.contains(shown), "{masked}");
    }
    // The row keeps its shape: as many cells as before.
    assert_eq!(masked.split(',').count(), raw.split(',').count());
}

#[test]
fn fixed_width_rows_hide_the_id_number_columns_only() {
    let rows = masked_errors("sc_510000_fixed.toml", "sc_510000_legacy.txt");
    let (_, raw, masked) = rows.iter().find(|(loc, ..)| loc == "line:7").unwrap();
    assert_eq!(masked.chars().count(), raw.chars().count());
    assert_ne!(masked, raw);
    // The employer's USCC and the bad date (what needs fixing) stay readable.
    assert!(masked.contains("91510104MA61Q8R20N"), "{masked}");
    assert!(masked.contains("20240231"), "{masked}");
    // No 18-character ID number is left.
    let digits: Vec<&str> = masked
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() >= 17)
        .collect();
    assert!(digits.is_empty(), "{masked}");
}

#[test]
fn json_items_hide_protected_pointers_and_show_the_rest() {
    let rows = masked_errors("zj_330000_json.toml", "zj_330000_persons.json");
    assert!(!rows.is_empty());
    for (_, raw, masked) in &rows {
        let item: serde_json::Value = serde_json::from_str(raw).unwrap();
        let shown: serde_json::Value = serde_json::from_str(masked).unwrap();
        for secret in ["/idCard", "/name", "/mobile"] {
            if let Some(v) = item.pointer(secret).and_then(|v| v.as_str()) {
                assert!(!masked.contains(v), "{secret} shown in {masked}");
            }
        }
        assert_eq!(shown["personId"], item["personId"]);
        assert_eq!(shown["residence"], item["residence"]);
    }
}

#[test]
fn xml_items_hide_protected_elements_and_attributes() {
    let text = r#"
id = "x"
version = "1"
region = "110000"

[format]
type = "xml"

[[records]]
type = "person"
item = "/Export/People/Person"
[records.fields]
source_record_id = { from = "@id" }
id_number = { from = "Ids/IdCard" }
name = { from = "@name" }
sex = { from = "Ids/IdCard", transforms = ["sex_from_id"] }
birth_date = { from = "Ids/IdCard", transforms = ["birth_date_from_id"] }
education = { from = "Edu" }
hukou_division = { from = "Hukou" }
hukou_nature = { value = "resident" }
residence_division = { from = "Hukou" }
"#;
    let m = pes_adapters::Mapping::from_toml_str(text, None).unwrap();
    let body = r#"<Export><People><Person id="P1" name="王小明"><Ids><IdCard>11010519491231002X</IdCard></Ids><Edu>99</Edu><Hukou>110105</Hukou></Person></People></Export>"#;
    let r = common::run(&m, body.as_bytes());
    let e = r.errors.first().expect("education 99 is refused");
    let masked = build_adapter(&m).mask_row(&e.raw_row, None);
    assert!(e.raw_row.contains("王小明") && e.raw_row.contains("11010519491231002X"));
    assert!(!masked.contains("王小明"), "{masked}");
    assert!(!masked.contains("11010519491231002X"), "{masked}");
    for shown in ["P1", "<Edu>99</Edu>", "110105"] {
        assert!(masked.contains(shown), "{masked}");
    }
}

#[test]
fn native_records_hide_their_protected_object() {
    let adapter = pes_adapters::NativeAdapter::new("440000");
    let raw = r#"{"record_type":"person","record_id":"440000:native:1","education":"99","protected":{"name":"张三","id_number":"11010519491231002X","phone":"13800138000"}}"#;
    let masked = adapter.mask_row(raw, None);
    for secret in ["张三", "11010519491231002X", "13800138000"] {
        assert!(!masked.contains(secret), "{masked}");
    }
    assert!(masked.contains("\"education\":\"99\""), "{masked}");
    assert!(masked.contains("440000:native:1"), "{masked}");
}

#[test]
fn a_row_that_does_not_parse_is_masked_whole() {
    let m = common::mapping("zj_330000_json.toml");
    let masked = build_adapter(&m).mask_row("{\"idCard\": \"1101051949", None);
    assert_eq!(masked, "{\"******\": \"**********");
}
