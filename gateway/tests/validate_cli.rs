//! `pesgw validate`: one tab-separated line per value, exit status 1 when any value is invalid.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn pesgw(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<Vec<String>> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn valid_id_numbers_exit_zero_with_one_line_each() {
    let out = pesgw(
        &["validate", "id", "11010519491231002x", "440304900307741"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let l = lines(&out);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0][0], "11010519491231002x");
    assert_eq!(l[0][1], "valid");
    assert!(
        l[0][2].contains("normalised=11010519491231002X"),
        "{:?}",
        l[0]
    );
    assert!(
        l[1][2].contains("normalised=440304199003077412"),
        "{:?}",
        l[1]
    );
}

#[test]
fn an_invalid_value_makes_the_exit_status_non_zero_and_gives_the_reason() {
    let out = pesgw(
        &["validate", "id", "11010519491231002X", "110105194912310021"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&out);
    assert_eq!(l[0][1], "valid");
    assert_eq!(l[1][1], "invalid");
    assert!(l[1][2].starts_with("check_char_mismatch"), "{:?}", l[1]);
}

#[test]
fn stdin_values_are_checked_line_by_line_including_crlf_and_empty_lines() {
    let input = "\u{feff}91350100M000100Y43\r\n91350100M000100Y44\n\n91440300MA5FQ74650\n";
    let out = pesgw(&["validate", "uscc", "--stdin"], Some(input));
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&out);
    let verdicts: Vec<(&str, &str)> = l.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(
        verdicts,
        vec![
            ("91350100M000100Y43", "valid"),
            ("91350100M000100Y44", "invalid"),
            ("", "invalid"),
            ("91440300MA5FQ74650", "valid"),
        ]
    );
    assert!(l[2][2].starts_with("invalid_length"), "{:?}", l[2]);
}

#[test]
fn divisions_must_be_current_codes() {
    let out = pesgw(
        &["validate", "division", "440305", "412723", "449999", "4403"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&out);
    assert_eq!(l[0][1], "valid");
    assert!(l[0][2].contains("南山区"));
    assert_eq!(l[1][1], "invalid");
    assert!(l[1][2].starts_with("retired_division"), "{:?}", l[1]);
    assert!(l[2][2].starts_with("unknown_division"), "{:?}", l[2]);
    assert!(l[3][2].starts_with("invalid_format"), "{:?}", l[3]);
}

#[test]
fn occupations_must_be_listed_codes_or_groups() {
    let out = pesgw(&["validate", "occupation", "2-02-10-03", "2-02-10"], None);
    assert!(out.status.success(), "{out:?}");
    let l = lines(&out);
    assert!(l[0][2].contains("计算机软件工程技术人员"), "{:?}", l[0]);
    assert!(l[0][2].ends_with("(occupation)"), "{:?}", l[0]);
    // A group prefix is accepted, as records accept it.
    assert!(l[1][2].ends_with("(minor group)"), "{:?}", l[1]);
    let out = pesgw(
        &["validate", "occupation", "2-02-1", "2-02-10-99", "20210003"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&out);
    assert!(l[0][2].starts_with("invalid_format"));
    assert!(l[1][2].starts_with("unknown_occupation"));
    assert!(l[2][2].starts_with("invalid_format"));
}

#[test]
fn no_values_and_no_stdin_is_a_usage_error() {
    let out = pesgw(&["validate", "id"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stdin"));
    let out = pesgw(&["validate", "nonsense", "1"], None);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
}
