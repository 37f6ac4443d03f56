//! Mapping checks: each mistake is refused with the line of the TOML file that holds it.

use super::*;

const BASE: &str = r#"id = "t-csv"
version = "1"
region = "440000"

[format]
type = "csv"

[[records]]
type = "service_event"
[records.fields]
source_record_id = { from = "id" }
station_id = { from = "station" }
division = { from = "div" }
service = { from = "kind" }
date = { from = "date", transforms = [{ date = ["%Y-%m-%d"] }] }
outcome = { from = "outcome" }
"#;

fn err_of(text: &str) -> MappingError {
    Mapping::from_toml_str(text, None).expect_err("mapping should be refused")
}

#[test]
fn base_mapping_compiles() {
    let m = Mapping::from_toml_str(BASE, None).unwrap();
    assert_eq!(m.record_types(), vec![RecordType::ServiceEvent]);
}

#[test]
fn unknown_target_field_names_its_line() {
    let text = BASE.replace(
        "outcome = { from = \"outcome\" }",
        "outcome = { from = \"outcome\" }\nresult = { from = \"x\" }",
    );
    let e = err_of(&text);
    assert_eq!(e.line, Some(17), "{e}");
    assert!(e.message.contains("unknown field 'result'"), "{e}");
}

#[test]
fn unknown_transform_names_its_line() {
    let text = BASE.replace(
        "station_id = { from = \"station\" }",
        "station_id = { from = \"station\", transforms = [\"titlecase\"] }",
    );
    let e = err_of(&text);
    assert_eq!(e.line, Some(12), "{e}");
    assert!(e.message.contains("titlecase"), "{e}");
}

#[test]
fn unknown_code_table_names_its_line() {
    let text = BASE.replace(
        "service = { from = \"kind\" }",
        "service = { from = \"kind\", transforms = [{ code_table = \"nope\" }] }",
    );
    let e = err_of(&text);
    assert_eq!(e.line, Some(14), "{e}");
    assert!(e.message.contains("unknown code table 'nope'"), "{e}");
}

#[test]
fn unknown_national_code_list_names_its_line() {
    let text = BASE.replace(
        "[[records]]",
        "[code_tables.kinds]\ntarget = \"services\"\nentries = { \"a\" = \"referral\" }\n\n[[records]]",
    );
    let e = err_of(&text);
    assert_eq!(e.line, Some(9), "{e}");
    assert!(
        e.message.contains("unknown national code list 'services'"),
        "{e}"
    );
}

#[test]
fn code_table_may_map_to_an_occupation_group() {
    let text = BASE.replace(
        "[[records]]",
        "[code_tables.occ]\ntarget = \"occupation\"\nentries = { \"x\" = \"4-02-07\", \"y\" = \"2-02-10-03\" }\n\n[[records]]",
    );
    Mapping::from_toml_str(&text, None).unwrap();
}

#[test]
fn code_table_value_outside_its_national_list_is_refused() {
    let text = BASE.replace(
        "[[records]]",
        "[code_tables.occ]\ntarget = \"occupation\"\nentries = { \"x\" = \"9-99-99-99\" }\n\n[[records]]",
    );
    let e = err_of(&text);
    assert!(
        e.message
            .contains("'9-99-99-99' is not in the national occupation code list"),
        "{e}"
    );
    assert_eq!(e.line, Some(8), "{e}");
}

#[test]
fn unknown_record_type_names_its_line() {
    let e = err_of(&BASE.replace("type = \"service_event\"", "type = \"job_offer\""));
    assert_eq!(e.line, Some(9), "{e}");
    assert!(e.message.contains("unknown record type 'job_offer'"), "{e}");
}

#[test]
fn missing_required_field_is_refused() {
    let e = err_of(&BASE.replace("division = { from = \"div\" }\n", ""));
    assert!(e.message.contains("needs field 'division'"), "{e}");
}

#[test]
fn toml_syntax_errors_name_their_line() {
    let e = err_of(&BASE.replace(
        "division = { from = \"div\" }",
        "division = { from = \"div\" ",
    ));
    assert_eq!(e.line, Some(13), "{e}");
}

#[test]
fn unknown_option_names_its_line() {
    let e = err_of(&BASE.replace(
        "station_id = { from = \"station\" }",
        "station_id = { form = \"station\" }",
    ));
    assert_eq!(e.line, Some(12), "{e}");
    assert!(e.message.contains("form"), "{e}");
}

#[test]
fn json_sources_must_be_pointers_and_caret_needs_each() {
    let json = BASE.replace("type = \"csv\"", "type = \"json\"\nlayout = \"array\"");
    let e = err_of(&json);
    assert!(e.message.contains("is not a JSON Pointer"), "{e}");
    let fixed = json
        .replace("from = \"", "from = \"/")
        .replace("from = \"/id\"", "from = \"^/id\"");
    let e = err_of(&fixed);
    assert!(
        e.message
            .contains("`^` reads the item from inside `each` only"),
        "{e}"
    );
}

#[test]
fn fixed_width_sources_must_be_declared_columns() {
    let text = BASE.replace(
        "type = \"csv\"",
        "type = \"fixed_width\"\ncolumns = { id = { start = 1, length = 4 } }",
    );
    let e = err_of(&text);
    assert!(
        e.message.contains("is not a declared fixed-width column"),
        "{e}"
    );
}

#[test]
fn shipped_mappings_all_load_from_the_directory() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let reg = crate::Registry::load_dir(&dir).unwrap();
    assert_eq!(reg.len(), 4);
    for id in [
        "gd-hrss-csv",
        "sc-ldjy-fixed",
        "zj-rest-json",
        "bj-ggjy-xml",
    ] {
        assert!(reg.get(id).is_some(), "{id}");
    }
}

#[test]
fn fields_running_the_same_chain_share_one_cache_slot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let m = Mapping::from_path(&dir.join("gd_440000_csv.toml")).unwrap();
    let slot_of = |t: RecordType, name: &str| {
        let spec = m.records.iter().find(|r| r.record_type == t).unwrap();
        let i = fields_of(t).iter().position(|d| d.name == name).unwrap();
        spec.fields[i].as_ref().unwrap().shared
    };
    // The ID number runs through trim, half-width and upper in each of the three records.
    let id = slot_of(RecordType::Person, "id_number");
    assert!(id.is_some());
    assert_eq!(slot_of(RecordType::JobSeekerRegistration, "id_number"), id);
    assert_eq!(slot_of(RecordType::EmploymentEvent, "id_number"), id);
    // Same source, different steps: not the same chain. Prefixes differ, the chain does not.
    assert_ne!(slot_of(RecordType::Person, "sex"), id);
    let srid = slot_of(RecordType::Person, "source_record_id");
    assert!(srid.is_some() && srid != id);
    assert_eq!(
        slot_of(RecordType::EmploymentEvent, "source_record_id"),
        srid
    );
    // A chain only one field runs gets no slot.
    assert_eq!(slot_of(RecordType::Person, "phone"), None);
}

/// A scratch directory for code-table files, removed on drop.
struct Scratch(std::path::PathBuf);
impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("pes-codetable-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn entry<'m>(m: &'m Mapping, table: &str, local: &str) -> Option<&'m str> {
    m.tables.iter().find(|t| t.name == table)?.get(local)
}

fn with_file_table(table: &str) -> String {
    BASE.replace(
        "[[records]]",
        &format!("[code_tables.occ]\ntarget = \"occupation\"\n{table}\n\n[[records]]"),
    )
}

#[test]
fn code_table_file_columns_are_found_by_header_name() {
    let dir = Scratch::new("names");
    // Reordered, with a description column and a byte-order mark.
    std::fs::write(
        dir.0.join("occ.csv"),
        "\u{feff}national,说明,local\n2-02-10-03,软件,GD0101\n",
    )
    .unwrap();
    let m = Mapping::from_toml_str(&with_file_table("file = \"occ.csv\""), Some(&dir.0)).unwrap();
    assert_eq!(entry(&m, "occ", "GD0101"), Some("2-02-10-03"));

    std::fs::write(
        dir.0.join("zh.csv"),
        "本地代码,国标代码\nGD0101,2-02-10-03\n",
    )
    .unwrap();
    let text = with_file_table(
        "file = \"zh.csv\"\nlocal_column = \"本地代码\"\nnational_column = \"国标代码\"",
    );
    let m = Mapping::from_toml_str(&text, Some(&dir.0)).unwrap();
    assert_eq!(entry(&m, "occ", "GD0101"), Some("2-02-10-03"));

    // Without the setting, the header is named in the error.
    let e = Mapping::from_toml_str(&with_file_table("file = \"zh.csv\""), Some(&dir.0))
        .expect_err("no 'local' column");
    assert!(
        e.message.contains("no column named 'local'") && e.message.contains("本地代码,国标代码"),
        "{e}"
    );
    assert_eq!(e.line, Some(1));
}

#[test]
fn versioning_field_needs_a_version_on_every_record() {
    let text = BASE.replace("[format]", "versioning = \"field\"\n\n[format]");
    let e = err_of(&text);
    assert!(e.message.contains("maps no record_version"), "{e}");
    assert_eq!(e.line, Some(11), "{e}");
    let with = text.replace(
        "source_record_id = { from = \"id\" }",
        "source_record_id = { from = \"id\" }\nrecord_version = { from = \"v\" }",
    );
    assert!(Mapping::from_toml_str(&with, None).is_ok());
}

#[test]
fn versioning_push_order_refuses_a_version_column() {
    let text = BASE
        .replace("[format]", "versioning = \"push_order\"\n\n[format]")
        .replace(
            "source_record_id = { from = \"id\" }",
            "source_record_id = { from = \"id\" }\nrecord_version = { from = \"v\" }",
        );
    let e = err_of(&text);
    assert!(e.message.contains("maps record_version"), "{e}");
    let plain = BASE.replace("[format]", "versioning = \"push_order\"\n\n[format]");
    assert!(Mapping::from_toml_str(&plain, None).is_ok());
    let bad = BASE.replace("[format]", "versioning = \"clock\"\n\n[format]");
    assert!(err_of(&bad).message.contains("unknown variant"));
}
