//! Known-good and known-bad GB 32100 unified social credit codes, and properties of the check.

use pes_schemas::uscc::{self, check_char, Uscc, UsccError, CHARSET};
use proptest::prelude::*;

#[test]
fn known_good_codes_are_valid() {
    for s in [
        "91350100M000100Y43", // the standard's example
        "914403001922038216", // a Shenzhen enterprise
        "9144030071526726XG", // check character G
        "91110000100010433L", // check character L
        "91330100799655058B", // organisation code 79965505-8
        "91440300MA5FQ74650", // constructed: both check characters computed, the last one 0
    ] {
        let u = Uscc::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(u.as_str(), s);
    }
}

#[test]
fn check_character_zero_is_computed_and_accepted() {
    assert_eq!(check_char(b"91440300MA5FQ7465"), b'0');
    assert!(uscc::validate("91440300MA5FQ74650").is_ok());
    assert_eq!(
        uscc::validate("91440300MA5FQ7465Y"),
        Err(UsccError::CheckChar)
    );
}

#[test]
fn every_authority_code_of_the_standard_is_accepted() {
    for a in b"123456789ANY" {
        let s = uscc::complete(&format!("{}1110000MA000000", *a as char)).unwrap();
        let u = Uscc::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(u.authority(), *a as char);
    }
}

#[test]
fn types_outside_the_certain_table_are_accepted_when_they_are_digits() {
    // 5-4 and Y-2 are not in the 2015 table but may be in later amendments.
    for first17 in [
        "54350100M000100Y4",
        "Y2350100M000100Y4",
        "N9350100M000100Y4",
    ] {
        let mut s = first17.as_bytes().to_vec();
        s.push(check_char(&s));
        let s = String::from_utf8(s).unwrap();
        assert!(Uscc::parse(&s).is_ok(), "{s}");
    }
}

#[test]
fn parts_are_exposed() {
    let u = Uscc::parse("91350100M000100Y43").unwrap();
    assert_eq!(u.authority(), '9');
    assert_eq!(u.org_type(), '1');
    assert_eq!(u.division(), "350100");
    assert_eq!(u.org_code(), "M000100Y4");
    assert_eq!(u.type_name(), Some("企业"));
}

#[test]
fn known_bad_codes_are_rejected_with_the_reason() {
    use UsccError::*;
    let with_check = |first17: &str| {
        let mut s = first17.as_bytes().to_vec();
        s.push(check_char(&s));
        String::from_utf8(s).unwrap()
    };
    let cases: Vec<(String, UsccError)> = vec![
        (String::new(), Length { len: 0 }),
        ("91350100M000100Y4".into(), Length { len: 17 }),
        ("91350100M000100Y433".into(), Length { len: 19 }),
        ("91350100M000100Y44".into(), CheckChar),
        ("91350100m000100Y43".into(), Charset { position: 9 }),
        ("91350100M000100Y4\u{ff13}".into(), Charset { position: 18 }),
        (with_check("91350100I00010034"), Charset { position: 9 }),
        (with_check("91350100O00010034"), Charset { position: 9 }),
        (with_check("91350100S00010034"), Charset { position: 9 }),
        (with_check("91350100V00010034"), Charset { position: 9 }),
        (with_check("91350100Z00010034"), Charset { position: 9 }),
        ("91350100M000100Y4I".into(), Charset { position: 18 }),
        (with_check("01350100M000100Y4"), Authority),
        (with_check("B1350100M000100Y4"), Authority),
        (with_check("X1350100M000100Y4"), Authority),
        (with_check("913501A0M000100Y4"), Division),
    ];
    for (input, expected) in cases {
        assert_eq!(Uscc::parse(&input).map(|_| ()), Err(expected), "{input:?}");
        assert_eq!(uscc::validate(&input), Err(expected), "{input:?}");
    }
}

/// Type characters outside the 2015 per-authority tables are accepted: the tables were amended
/// since, and only the character set and the check character are normative for every edition.
#[test]
fn type_character_outside_the_2015_tables_is_accepted() {
    for body in [
        "94350100M000100Y4",
        "99350100M000100Y4",
        "9A350100M000100Y4",
        "10350100M000100Y4",
    ] {
        let mut input = body.as_bytes().to_vec();
        input.push(check_char(&input));
        let input = String::from_utf8(input).unwrap();
        assert!(Uscc::parse(&input).is_ok(), "{input:?}");
    }
}

fn first17() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(b"123456789ANY".to_vec()),
        0u8..9,
        0u32..1_000_000,
        prop::collection::vec(prop::sample::select(CHARSET.to_vec()), 8),
    )
        .prop_map(|(a, t, division, org)| {
            // Type 1-9; the market-regulation authority 9 has types 1-3 only.
            let t = if a == b'9' { b'1' + t % 3 } else { b'1' + t };
            let mut s = vec![a, t];
            s.extend_from_slice(format!("{division:06}").as_bytes());
            s.extend_from_slice(&org);
            s.extend(uscc::org_code_check_char(&org));
            s
        })
}

proptest! {
    #[test]
    fn any_17_characters_plus_the_computed_check_is_valid(first in first17()) {
        let mut s = first.clone();
        s.push(check_char(&first));
        let s = String::from_utf8(s).unwrap();
        let u = Uscc::parse(&s).unwrap();
        prop_assert_eq!(u.as_str(), s.as_str());
    }

    #[test]
    fn any_single_character_change_is_rejected(
        first in first17(),
        pos in 0usize..18,
        replacement in prop::sample::select(CHARSET.to_vec()),
    ) {
        let mut s = first.clone();
        s.push(check_char(&first));
        prop_assume!(s[pos] != replacement);
        s[pos] = replacement;
        let s = String::from_utf8(s).unwrap();
        prop_assert!(Uscc::parse(&s).is_err(), "{} accepted", s);
    }

    #[test]
    fn arbitrary_input_never_panics(s in ".{0,24}") {
        let _ = Uscc::parse(&s);
    }
}

/// GB 11714: positions 9-16 weighted 3, 7, 9, 10, 5, 8, 4, 2 (letters 10-35), check
/// `11 - sum mod 11` with `X` for 10 and `0` for 11.
#[test]
fn organisation_code_check_character_is_enforced() {
    assert_eq!(uscc::org_code_check_char(b"79965505"), Some(b'8'));
    assert_eq!(uscc::org_code_check_char(b"71526726"), Some(b'X'));
    assert_eq!(uscc::org_code_check_char(b"M000100Y"), Some(b'4'));
    // A wrong 17th character fails even when the final mod-31 character is computed over it.
    for good in [
        "91330100799655058B",
        "9144030071526726XG",
        "914403001922038216",
    ] {
        for c in CHARSET.iter().filter(|&&c| c != good.as_bytes()[16]) {
            let mut s = good.as_bytes()[..17].to_vec();
            s[16] = *c;
            s.push(check_char(&s));
            let s = String::from_utf8(s).unwrap();
            assert_eq!(uscc::validate(&s), Err(UsccError::OrgCodeCheckChar), "{s}");
        }
    }
    assert_eq!(
        UsccError::OrgCodeCheckChar.code(),
        "org_code_check_mismatch"
    );
}

proptest! {
    /// `complete` makes a valid code from any 16 characters of the set that start with an
    /// authority and carry six division digits.
    #[test]
    fn completed_codes_are_valid(
        a in proptest::sample::select(b"123456789ANY".to_vec()),
        t in proptest::sample::select(CHARSET.to_vec()),
        div in 100000u32..999999,
        org in proptest::collection::vec(proptest::sample::select(CHARSET.to_vec()), 8),
    ) {
        let prefix = format!("{}{}{div}{}", a as char, t as char, String::from_utf8(org).unwrap());
        let code = uscc::complete(&prefix).unwrap();
        prop_assert!(uscc::validate(&code).is_ok(), "{}", code);
        prop_assert_eq!(&code[..16], prefix.as_str());
    }
}
