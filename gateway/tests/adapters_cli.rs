//! `pesgw adapters check` and `pesgw synth` as an operator runs them.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pesgw(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

#[test]
fn check_prints_masked_records_and_row_errors_and_exits_2() {
    let out = pesgw(&[
        "adapters",
        "check",
        "adapters/mappings/gd_440000_csv.toml",
        "adapters/samples/gd_440000_persons.csv",
    ]);
    assert_eq!(out.status.code(), Some(2), "row errors give exit 2");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("440000:gd-hrss-csv:P-GD2024000101"));
    assert!(stdout.contains("陈*强"), "names are masked");
    assert!(!stdout.contains("陈志强"), "no clear name in the output");
    assert!(
        !stdout.contains("440106199804120232"),
        "no clear ID number in the output"
    );
    assert!(stdout.contains("unknown_local_code"));
}

#[test]
fn check_json_is_machine_readable() {
    let out = pesgw(&[
        "adapters",
        "check",
        "adapters/mappings/bj_110000_xml.toml",
        "adapters/samples/bj_110000_export.xml",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["adapter_id"], "bj-ggjy-xml");
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 10);
    // Beijing's export carries its service stations next to people and registrations.
    let stations = records
        .iter()
        .filter(|r| r["record_type"] == "service_station")
        .count();
    assert_eq!(stations, 3, "{records:?}");
    assert_eq!(v["errors"][0]["detail_code"], "out_of_order");
}

#[test]
fn a_wrong_mapping_fails_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("adapters/mappings/bj_110000_xml.toml"))
        .unwrap()
        .replace("name = { from = \"Name\"", "nmae = { from = \"Name\"");
    let line = text.lines().position(|l| l.starts_with("nmae")).unwrap() + 1;
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = pesgw(&[
        "adapters",
        "check",
        path.to_str().unwrap(),
        "adapters/samples/bj_110000_export.xml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&format!("bad.toml:{line}:")), "{stderr}");
    assert!(stderr.contains("unknown field 'nmae'"), "{stderr}");
}

#[test]
fn synth_writes_the_same_file_for_the_same_seed_and_check_finds_its_defects() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    let defects = dir.path().join("d.json");
    for out in [&a, &b] {
        let o = pesgw(&[
            "synth",
            "--mapping",
            "adapters/mappings/sc_510000_fixed.toml",
            "--records",
            "300",
            "--seed",
            "9",
            // A fixed day: the default, today, would change the bytes at midnight.
            "--as-of",
            "2024-06-30",
            "--defects",
            "0.1",
            "--out",
            out.to_str().unwrap(),
            "--defects-out",
            defects.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let planted: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&defects).unwrap()).unwrap();
    let expected: usize = planted
        .iter()
        .map(|d| d["errors"].as_array().unwrap().len())
        .sum();
    let out = pesgw(&[
        "adapters",
        "check",
        "adapters/mappings/sc_510000_fixed.toml",
        a.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"].as_array().unwrap().len(), expected);
    assert!(expected > 0);
}
