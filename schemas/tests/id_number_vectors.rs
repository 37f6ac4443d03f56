//! Known-good and known-bad GB 11643 ID numbers, and properties of the MOD 11-2 check.

use chrono::NaiveDate;
use pes_schemas::id_number::{self, check_char, IdNumber, IdNumberError};
use proptest::prelude::*;

#[test]
fn standard_example_ending_in_x_is_valid() {
    let id = IdNumber::parse("11010519491231002X").unwrap();
    assert_eq!(id.as_str(), "11010519491231002X");
    assert_eq!(
        id.birth_date(),
        NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
    );
    assert_eq!(id.sex_code(), "2");
    assert_eq!(id.division(), "110105");
}

#[test]
fn lower_case_x_is_accepted_and_normalised() {
    let id = IdNumber::parse("11010519491231002x").unwrap();
    assert_eq!(id.as_str(), "11010519491231002X");
    assert!(id_number::validate("31011519990228123x").is_ok());
}

#[test]
fn known_good_numbers_are_valid() {
    for (s, sex, born) in [
        ("440304199003077412", "1", (1990, 3, 7)),
        ("510107198511205611", "1", (1985, 11, 20)),
        ("31011519990228123X", "1", (1999, 2, 28)),
        ("650102200002290044", "2", (2000, 2, 29)),
        ("440524188001010014", "1", (1880, 1, 1)),
    ] {
        let id = IdNumber::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(id.sex_code(), sex, "{s}");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(born.0, born.1, born.2).unwrap()
        );
    }
}

#[test]
fn retired_division_codes_stay_valid_inside_id_numbers() {
    // 412723 商水县 (old 周口地区), 370284 胶南市, 110103 崇文区: all retired.
    for s in [
        "41272319700101001X",
        "370284198808081236",
        "110103196001010030",
    ] {
        assert!(IdNumber::parse(s).is_ok(), "{s}");
    }
    assert!(pes_schemas::codes::current_division("412723").is_none());
}

#[test]
fn fifteen_digit_numbers_are_upgraded() {
    for (old, new) in [
        ("440304900307741", "440304199003077412"),
        ("412723700101001", "41272319700101001X"),
        ("510107851120561", "510107198511205611"),
        ("110105491231002", "11010519491231002X"),
    ] {
        let id = IdNumber::parse(old).unwrap();
        assert_eq!(id.as_str(), new);
        assert_eq!(IdNumber::parse(new).unwrap(), id);
    }
}

#[test]
fn known_bad_numbers_are_rejected_with_the_reason() {
    use IdNumberError::*;
    let cases: &[(&str, IdNumberError)] = &[
        ("", Length { len: 0 }),
        ("11010519491231002", Length { len: 17 }),
        ("11010519491231002XX", Length { len: 19 }),
        ("1101051949123100", Length { len: 16 }),
        ("11010519491231002Y", Charset { position: 18 }),
        ("X1010519491231002X", Charset { position: 1 }),
        ("1101051949123100X2", Charset { position: 17 }),
        ("11010519491231002 ", Charset { position: 18 }),
        ("11010549123100X", Charset { position: 15 }),
        // A full-width digit: 18 characters, one of them not ASCII.
        ("11010519491231002\u{ff11}", Charset { position: 18 }),
        ("990105194912310028", UnknownProvince),
        ("000105194912310021", UnknownProvince),
        ("110105194902300021", InvalidBirthDate),
        ("110105190002290021", InvalidBirthDate),
        ("110105194913010021", InvalidBirthDate),
        ("110105194912000021", InvalidBirthDate),
        ("110105179912310021", InvalidBirthDate),
        ("110105299912310021", FutureBirthDate),
        ("110105194912310021", CheckChar),
        ("11010519491231003x", CheckChar),
    ];
    for (input, expected) in cases {
        assert_eq!(
            IdNumber::parse(input).map(|_| ()),
            Err(*expected),
            "{input:?}"
        );
        assert_eq!(id_number::validate(input), Err(*expected), "{input:?}");
    }
}

#[test]
fn fifteen_digit_numbers_cannot_fail_the_check_but_can_fail_the_date() {
    // A 15-digit number has no check character; its date is 19YYMMDD.
    assert!(IdNumber::parse("110105491231003").is_ok());
    assert_eq!(
        IdNumber::parse("110105490230003"),
        Err(IdNumberError::InvalidBirthDate)
    );
}

#[test]
fn errors_never_contain_the_number() {
    for bad in [
        "110105194912310021",
        "990105194912310028",
        "110105299912310021",
    ] {
        let e = IdNumber::parse(bad).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains("1101051949"), "{text}");
        assert!(!text.contains("99010519"), "{text}");
    }
}

fn digits17() -> impl Strategy<Value = Vec<u8>> {
    // Division: a known province prefix; a birth date between 1900 and 2019; any order code.
    (
        prop::sample::select(vec![11u8, 13, 31, 44, 51, 65, 71, 81, 82]),
        0u32..10_000,
        1900u32..2020,
        1u32..13,
        1u32..29,
        0u32..1000,
    )
        .prop_map(|(p, county, y, m, d, order)| {
            format!("{p:02}{county:04}{y:04}{m:02}{d:02}{order:03}").into_bytes()
        })
}

proptest! {
    #[test]
    fn any_17_digits_plus_the_computed_check_is_valid(first in digits17()) {
        let mut s = first.clone();
        s.push(check_char(&first));
        let s = String::from_utf8(s).unwrap();
        let id = IdNumber::parse(&s).unwrap();
        prop_assert_eq!(id.as_str(), s.as_str());
        prop_assert_eq!(id_number::validate(&s.to_lowercase()), Ok(()));
    }

    #[test]
    fn any_single_character_change_is_rejected(
        first in digits17(),
        pos in 0usize..18,
        replacement in prop::sample::select(b"0123456789X".to_vec()),
    ) {
        let mut s = first.clone();
        s.push(check_char(&first));
        prop_assume!(s[pos] != replacement);
        s[pos] = replacement;
        let s = String::from_utf8(s).unwrap();
        prop_assert!(IdNumber::parse(&s).is_err(), "{} accepted", s);
    }

    #[test]
    fn fifteen_digit_upgrade_keeps_division_date_and_order(first in digits17()) {
        // Only 19xx years have a 15-digit form.
        prop_assume!(first[6..8] == *b"19");
        let mut old = first[..6].to_vec();
        old.extend_from_slice(&first[8..17]);
        let id = IdNumber::parse(std::str::from_utf8(&old).unwrap()).unwrap();
        prop_assert_eq!(&id.as_bytes()[..17], &first[..]);
        prop_assert_eq!(id.as_bytes()[17], check_char(&first));
    }

    #[test]
    fn arbitrary_input_never_panics(s in ".{0,24}") {
        let _ = IdNumber::parse(&s);
    }
}

/// Residence permits of Hong Kong (81), Macao (82) and Taiwan (83) residents are GB 11643
/// numbers; 83 names no division but is a valid prefix.
#[test]
fn residence_permits_of_hong_kong_macao_and_taiwan_residents_are_valid() {
    for prefix in ["810000", "820000", "830000"] {
        let first17 = format!("{prefix}19900307741");
        let s = format!("{first17}{}", check_char(first17.as_bytes()) as char);
        let id = IdNumber::parse(&s).unwrap_or_else(|e| panic!("{prefix}: {e}"));
        assert_eq!(id.division(), prefix);
    }
    let first17 = "84000019900307741";
    let s = format!("{first17}{}", check_char(first17.as_bytes()) as char);
    assert_eq!(IdNumber::parse(&s), Err(IdNumberError::UnknownProvince));
}
