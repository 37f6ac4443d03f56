//! The embedded code lists: shape of the CSV files, coverage, and agreement with the Rust enums.

use pes_schemas::codes::{self, DivisionLevel, OccupationLevel, FILES, VERSIONS};
use pes_schemas::*;

/// Maps a CSV file stem to its code-list name in `VERSIONS`.
fn list_name(stem: &str) -> &str {
    match stem {
        "divisions" => "gbt2260",
        "education" => "gbt4658",
        "sex" => "gbt2261_1",
        "industry" => "gbt4754",
        other => other,
    }
}

#[test]
fn csv_files_are_unquoted_rectangular_and_carry_their_version() {
    assert_eq!(FILES.len(), VERSIONS.len());
    for (stem, text) in FILES {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(*header.last().unwrap(), "version", "{stem}");
        assert_eq!(header[0], "code", "{stem}");
        let expected = codes::version(list_name(stem)).unwrap();
        let mut seen = std::collections::HashSet::new();
        for (n, line) in lines.enumerate() {
            assert!(!line.contains('"'), "{stem}:{n}: quoted field");
            let cols: Vec<&str> = line.split(',').collect();
            assert_eq!(cols.len(), header.len(), "{stem}:{n}: {line}");
            assert_eq!(*cols.last().unwrap(), expected, "{stem}:{n}");
            assert!(seen.insert(cols[0]), "{stem}: duplicate code {}", cols[0]);
        }
    }
}

#[test]
fn all_34_provincial_level_divisions_are_listed() {
    let provinces: Vec<_> = codes::all_divisions()
        .iter()
        .filter(|d| d.level == DivisionLevel::Province)
        .collect();
    assert_eq!(provinces.len(), 34);
    for code in ["110000", "440000", "650000", "710000", "810000", "820000"] {
        assert_eq!(
            codes::division(code).unwrap().level,
            DivisionLevel::Province
        );
    }
    assert_eq!(codes::division("810000").unwrap().name, "香港特别行政区");
}

#[test]
fn prefectures_and_counties_hang_off_listed_parents() {
    let all = codes::all_divisions();
    let counties = all
        .iter()
        .filter(|d| d.level == DivisionLevel::County && !d.retired)
        .count();
    let prefectures = all
        .iter()
        .filter(|d| d.level == DivisionLevel::Prefecture && !d.retired)
        .count();
    assert!(counties > 2900, "{counties} counties");
    assert!(prefectures > 330, "{prefectures} prefectures");
    for d in all {
        assert_eq!(d.code.len(), 6);
        if let Some(parent) = d.parent {
            let p = codes::division(parent).unwrap_or_else(|| panic!("{}: parent", d.code));
            assert_eq!(&d.code[..2], &p.code[..2], "{}", d.code);
        } else {
            assert_eq!(d.level, DivisionLevel::Province, "{}", d.code);
        }
    }
    assert_eq!(codes::division("440305").unwrap().name, "南山区");
    assert_eq!(codes::province_of("440305").unwrap().code, "440000");
}

#[test]
fn retired_codes_are_marked_and_point_to_current_successors() {
    for (code, successor) in [
        ("412723", "411623"),
        ("370284", "370211"),
        ("110103", "110101"),
    ] {
        let d = codes::division(code).unwrap();
        assert!(d.retired, "{code}");
        assert_eq!(d.successor, Some(successor));
        assert!(codes::current_division(code).is_none());
        assert!(codes::current_division(successor).is_some());
    }
}

#[test]
fn occupational_classification_has_groups_and_real_codes() {
    let count = |level| {
        codes::all_occupations()
            .iter()
            .filter(|o| o.level == level)
            .count()
    };
    assert_eq!(count(OccupationLevel::Major), 8);
    assert!(count(OccupationLevel::Middle) >= 70);
    assert!(count(OccupationLevel::Occupation) >= 100);
    let o = codes::occupation("2-02-10-03").unwrap();
    assert_eq!(o.name, "计算机软件工程技术人员");
    assert!(o.digital);
    assert!(codes::is_occupation("4-02-07-08"));
    assert!(
        !codes::is_occupation("2-02-10"),
        "a group is not an occupation"
    );
    assert!(!codes::is_occupation("2-02-10-99"));
    assert_eq!(
        codes::occupation_major_group("2-02-10-03").unwrap().code,
        "2"
    );
    assert_eq!(
        codes::occupation_middle_group("2-02-10-03").unwrap().code,
        "2-02"
    );
    assert_eq!(
        codes::occupation_middle_group("2-02-10-03").unwrap().name,
        "工程技术人员"
    );
    assert!(codes::occupation_middle_group("2").is_none());
    assert!(codes::occupation_major_group("9-99-99-99").is_none());
    for o in codes::all_occupations() {
        if o.level == OccupationLevel::Occupation {
            assert!(codes::is_occupation_format(o.code), "{}", o.code);
        }
        if let Some(p) = o.parent {
            assert!(o.code.starts_with(p), "{}", o.code);
            assert!(codes::occupation(p).is_some(), "{}", o.code);
        }
    }
}

#[test]
fn unconfirmed_online_delivery_rider_code_is_left_out() {
    assert!(codes::all_occupations()
        .iter()
        .all(|o| o.name != "网约配送员"));
}

#[test]
fn education_sex_and_industry_lists_are_complete() {
    assert_eq!(codes::education("21").unwrap().name, "大学本科毕业");
    assert_eq!(codes::education("21").unwrap().parent, Some("20"));
    assert!(codes::education("24").is_none());
    for s in ["0", "1", "2", "9"] {
        assert!(codes::sex(s).is_some());
    }
    assert!(codes::sex("3").is_none());
    let (mut sections, mut divisions) = (0, 0);
    for c in 'A'..='T' {
        assert!(codes::industry(&c.to_string()).is_some(), "{c}");
        sections += 1;
    }
    for n in 1..=97 {
        let found = ('A'..='T').any(|c| codes::industry(&format!("{c}{n:02}")).is_some());
        assert!(found, "division {n:02}");
        divisions += 1;
    }
    assert_eq!((sections, divisions), (20, 97));
    assert_eq!(codes::industry("I65").unwrap().parent, Some("I"));
    assert!(codes::industry("A65").is_none());
}

fn serde_names<T: serde::Serialize>(values: &[T]) -> Vec<String> {
    values
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn list_codes(name: &str) -> Vec<String> {
    codes::gateway_list(name)
        .unwrap()
        .iter()
        .map(|c| c.code.to_string())
        .collect()
}

#[test]
fn gateway_owned_lists_match_the_rust_enums() {
    use KeyGroup::*;
    assert_eq!(
        list_codes("key_groups"),
        serde_names(&[
            CollegeGraduate,
            MigrantWorker,
            OutOfPoverty,
            FlexibleWorker,
            Disabled,
            Veteran,
            LongTermUnemployed
        ])
    );
    use SeekerCategory as S;
    assert_eq!(
        list_codes("seeker_categories"),
        serde_names(&[
            S::Unemployed,
            S::NewEntrant,
            S::EmployedSeekingChange,
            S::RuralLabour,
            S::Retired,
            S::Other
        ])
    );
    use EmploymentForm as F;
    assert_eq!(
        list_codes("employment_forms"),
        serde_names(&[F::Unit, F::SelfEmployed, F::Flexible, F::Platform])
    );
    use PlatformType as P;
    assert_eq!(
        list_codes("platform_types"),
        serde_names(&[
            P::FoodDelivery,
            P::RideHailing,
            P::Courier,
            P::Freight,
            P::DomesticServices,
            P::Other
        ])
    );
    use ServiceKind as K;
    assert_eq!(
        list_codes("service_kinds"),
        serde_names(&[
            K::Referral,
            K::Counselling,
            K::PolicyConsultation,
            K::TrainingReferral,
            K::GigMatch
        ])
    );
    use StationKind as Sk;
    assert_eq!(
        list_codes("station_kinds"),
        serde_names(&[
            Sk::StreetTownWindow,
            Sk::CommunityVillagePoint,
            Sk::IndustrialClusterStation,
            Sk::GigMarket,
            Sk::Online,
            Sk::MarketHrOrg
        ])
    );
}

#[test]
fn id_number_province_prefixes_agree_with_the_division_list() {
    for d in codes::all_divisions() {
        let prefix: u8 = d.code[..2].parse().unwrap();
        assert!(
            pes_schemas::id_number::is_known_province_prefix(prefix),
            "{}",
            d.code
        );
    }
    let listed: std::collections::HashSet<u8> = codes::all_divisions()
        .iter()
        .map(|d| d.code[..2].parse().unwrap())
        .collect();
    for p in 0..100u8 {
        if pes_schemas::id_number::is_known_province_prefix(p)
            && !pes_schemas::id_number::RESIDENCE_PERMIT_PREFIXES.contains(&p)
        {
            assert!(listed.contains(&p), "{p}");
        }
    }
}

#[test]
fn division_validator_names_the_reason() {
    use codes::DivisionError;
    assert_eq!(codes::validate_division("440305").unwrap().name, "南山区");
    assert_eq!(
        codes::validate_division("44030"),
        Err(DivisionError::Format)
    );
    assert_eq!(
        codes::validate_division("44030a"),
        Err(DivisionError::Format)
    );
    assert_eq!(
        codes::validate_division("449999"),
        Err(DivisionError::Unknown)
    );
    assert_eq!(
        codes::validate_division("370284"),
        Err(DivisionError::Retired {
            successor: "370211"
        })
    );
}

#[test]
fn occupation_validator_checks_form_and_membership() {
    use codes::OccupationError;
    assert_eq!(
        codes::validate_occupation("6-31-01-03").unwrap().name,
        "电工"
    );
    assert_eq!(
        codes::validate_occupation("6-31-01"),
        Err(OccupationError::Format)
    );
    assert_eq!(
        codes::validate_occupation("6-31-01-3"),
        Err(OccupationError::Format)
    );
    assert_eq!(
        codes::validate_occupation("6-31-01-99"),
        Err(OccupationError::Unknown)
    );
    assert!(codes::validate_occupation_or_group("6-31-01").is_ok());
    assert!(codes::validate_occupation_or_group("6").is_ok());
    assert_eq!(
        codes::validate_occupation_or_group("9"),
        Err(OccupationError::Unknown)
    );
    assert_eq!(
        codes::validate_occupation_or_group("6-3"),
        Err(OccupationError::Format)
    );
}
