//! Fixtures of every record type: they deserialise into the Rust types, round-trip unchanged,
//! and pass `validate_record`; and `validate_record` rejects each kind of bad field with the
//! right path and code.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use pes_schemas::validate::{validate_record, FieldError};
use pes_schemas::*;
use serde_json::{json, Value};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn record(name: &str) -> Record {
    serde_json::from_value(fixture(name)).unwrap()
}

const FIXTURES: [&str; 10] = [
    "person",
    "person_minimal",
    "job_seeker_registration",
    "employer",
    "vacancy",
    "employment_event",
    "training_record",
    "platform_work",
    "service_event",
    "service_station",
];

#[test]
fn every_record_type_has_a_fixture() {
    let types: std::collections::HashSet<RecordType> =
        FIXTURES.iter().map(|f| record(f).record_type()).collect();
    assert_eq!(types.len(), RecordType::ALL.len());
}

#[test]
fn fixtures_round_trip_unchanged() {
    for name in FIXTURES {
        let original = fixture(name);
        let rec: Record = serde_json::from_value(original.clone()).unwrap();
        let back = serde_json::to_value(&rec).unwrap();
        assert_eq!(back, original, "{name}");
        let again: Record = serde_json::from_value(back).unwrap();
        assert_eq!(again, rec, "{name}");
    }
}

#[test]
fn fixtures_pass_validation() {
    for name in FIXTURES {
        let rec = record(name);
        assert_eq!(validate_record(&rec), Ok(()), "{name}");
    }
}

/// Applies `edit` to a fixture's JSON, validates, and returns the errors.
fn errors_after(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<FieldError> {
    let mut v = fixture(name);
    edit(&mut v);
    let rec: Record = serde_json::from_value(v).unwrap();
    validate_record(&rec).unwrap_err()
}

fn assert_single(errors: &[FieldError], path: &str, code: &str) {
    assert!(
        errors.iter().any(|e| e.path == path && e.code == code),
        "expected {path} {code}, got {errors:?}"
    );
}

#[test]
fn envelope_rules_are_enforced() {
    let e = errors_after("employer", |v| v["record_id"] = json!("440000:gd-hr:other"));
    assert_single(&e, "/record_id", "record_id_mismatch");
    let e = errors_after("employer", |v| {
        v["region"] = json!("440300");
        v["record_id"] = json!("440300:gd-hr:E-914403001922038216");
    });
    assert_single(&e, "/region", "invalid_region");
    let e = errors_after("employer", |v| v["schema_version"] = json!("2.0.0"));
    assert_single(&e, "/schema_version", "unsupported_schema_version");
    let e = errors_after("employer", |v| v["code_lists"]["nope"] = json!("1"));
    assert_single(&e, "/code_lists/nope", "unknown_code_list");
    let e = errors_after("employer", |v| {
        v["provenance"]["raw_sha256"] = json!("ABC");
        v["provenance"]["ingested_at"] = json!("yesterday");
    });
    assert_single(&e, "/provenance/raw_sha256", "invalid_sha256");
    assert_single(&e, "/provenance/ingested_at", "invalid_datetime");
    // "E-1<RLO>2" would display as "E-12" reversed after the override: refused, not stored.
    let e = errors_after("employer", |v| {
        v["record_id"] = json!("440000:gd-hr:E-1\u{202E}2");
        v["source_record_id"] = json!("E-1\u{202E}2");
    });
    assert_single(&e, "/source_record_id", "bidi_control");
    assert_single(&e, "/record_id", "bidi_control");
}

#[test]
fn person_rules_are_enforced() {
    let e = errors_after("person", |v| {
        v["sex"] = json!("3");
        v["education"] = json!("99");
        v["hukou_division"] = json!("412723");
        v["residence_division"] = json!("449999");
        v["person_key"] = json!("not-a-key");
        v["key_groups"] = json!(["veteran", "veteran"]);
    });
    assert_single(&e, "/sex", "unknown_sex");
    assert_single(&e, "/education", "unknown_education");
    assert_single(&e, "/hukou_division", "retired_division");
    assert_single(&e, "/residence_division", "unknown_division");
    assert_single(&e, "/person_key", "invalid_person_key");
    assert_single(&e, "/key_groups/1", "duplicate");
}

#[test]
fn person_protected_fields_are_checked_without_leaking_them() {
    let e = errors_after("person", |v| {
        v["protected"]["id_number"] = json!("440304199003077413");
        v["protected"]["phone"] = json!("12345");
    });
    assert_single(&e, "/protected/id_number", "invalid_id_number");
    assert_single(&e, "/protected/phone", "invalid_phone");
    for err in &e {
        assert!(!err.message.contains("4403041990"), "{err}");
        assert!(!err.message.contains("12345"), "{err}");
    }
    let e = errors_after("person", |v| v["birth_date"] = json!("1990-03-08"));
    assert_single(&e, "/birth_date", "id_number_mismatch");
    let e = errors_after("person", |v| v["sex"] = json!("2"));
    assert_single(&e, "/sex", "id_number_mismatch");
    let e = errors_after("person", |v| {
        // 15-digit form of the same number: valid, but must be stored normalised.
        v["protected"]["id_number"] = json!("440304900307741");
    });
    assert_single(&e, "/protected/id_number", "id_number_not_normalised");
}

#[test]
fn dates_must_be_in_order_and_plausible() {
    let e = errors_after("job_seeker_registration", |v| {
        v["valid_until"] = json!("2025-02-01")
    });
    assert_single(&e, "/valid_until", "out_of_order");
    let e = errors_after("training_record", |v| v["end_on"] = json!("2024-01-01"));
    assert_single(&e, "/end_on", "out_of_order");
    let e = errors_after("vacancy", |v| v["valid_through"] = json!("2025-01-01"));
    assert_single(&e, "/valid_through", "out_of_order");
    let e = errors_after("service_event", |v| v["date"] = json!("1850-01-01"));
    assert_single(&e, "/date", "date_out_of_range");
    let e = errors_after("person_minimal", |v| v["birth_date"] = json!("2099-01-01"));
    assert_single(&e, "/birth_date", "future_date");
    // A registration cannot have happened after today; valid_until moves with it.
    let e = errors_after("job_seeker_registration", |v| {
        v["registered_on"] = json!("2099-01-01");
        v["valid_until"] = json!("2099-06-01");
    });
    assert_single(&e, "/registered_on", "future_date");
}

#[test]
fn codes_and_ranges_are_enforced() {
    let e = errors_after("vacancy", |v| {
        v["employer_uscc"] = json!("91440300MA5FQ74651");
        v["occupation"] = json!("2-02-10-99");
        v["industry"] = json!("Z99");
        v["salary_min"] = json!(30000);
        v["openings"] = json!(0);
        v["min_education"] = json!("5");
    });
    assert_single(&e, "/employer_uscc", "invalid_uscc");
    assert_single(&e, "/occupation", "unknown_occupation");
    assert_single(&e, "/industry", "unknown_industry");
    assert_single(&e, "/salary_max", "out_of_order");
    assert_single(&e, "/openings", "out_of_range");
    assert_single(&e, "/min_education", "unknown_education");
    let e = errors_after("training_record", |v| v["certificate_level"] = json!(6));
    assert_single(&e, "/certificate_level", "out_of_range");
    let e = errors_after("training_record", |v| {
        v["provider_uscc"] = json!("52440300MJL000000y")
    });
    assert_single(&e, "/provider_uscc", "invalid_uscc");
    let e = errors_after("platform_work", |v| v["period_month"] = json!("2025-13"));
    assert_single(&e, "/period_month", "invalid_month");
    let e = errors_after("platform_work", |v| v["active_days"] = json!(29));
    assert_single(&e, "/active_days", "out_of_range");
    let e = errors_after("employment_event", |v| v["employer_uscc"] = json!("0000"));
    assert_single(&e, "/employer_uscc", "invalid_uscc");
    let e = errors_after("job_seeker_registration", |v| {
        v["desired_occupations"] = json!(["4-03", "4-03", "x"])
    });
    assert_single(&e, "/desired_occupations/1", "duplicate");
    assert_single(&e, "/desired_occupations/2", "unknown_occupation");
    let e = errors_after("service_event", |v| v["station_id"] = json!("Bad Station"));
    assert_single(&e, "/station_id", "invalid_station_id");
}

#[test]
fn service_station_rules_are_enforced() {
    let bad = |edit: fn(&mut Value), path: &str, code: &str| {
        assert_single(&errors_after("service_station", edit), path, code);
    };
    bad(
        |v| v["station_id"] = json!("Has Spaces"),
        "/station_id",
        "invalid_station_id",
    );
    bad(|v| v["name"] = json!(""), "/name", "required");
    // A province or a prefecture with counties is not where a station is.
    bad(
        |v| v["division"] = json!("440000"),
        "/division",
        "division_not_county",
    );
    bad(
        |v| v["division"] = json!("440100"),
        "/division",
        "division_not_county",
    );
    bad(
        |v| v["division"] = json!("449999"),
        "/division",
        "unknown_division",
    );
    bad(
        |v| v["township"] = json!("44010601"),
        "/township",
        "invalid_township",
    );
    bad(
        |v| v["township"] = json!("440105010"),
        "/township",
        "invalid_township",
    );
    bad(
        |v| v["opened_on"] = json!("2999-01-01"),
        "/opened_on",
        "date_out_of_range",
    );
    bad(
        |v| v["services"] = json!(["referral", "referral"]),
        "/services/1",
        "duplicate_service",
    );
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(2)).to_string();
    let e = errors_after("service_station", |v| v["opened_on"] = json!(tomorrow));
    assert_single(&e, "/opened_on", "future_date");
    // Closed lists are enforced when the record is read.
    for (field, value) in [
        ("kind", json!("kiosk")),
        ("status", json!("open")),
        ("services", json!(["gig"])),
    ] {
        let mut v = fixture("service_station");
        v[field] = value;
        assert!(serde_json::from_value::<Record>(v).is_err(), "{field}");
    }
    // A prefecture-level city without counties is its own county; township and services may
    // be left out.
    let ok = |edit: fn(&mut Value)| {
        let mut v = fixture("service_station");
        edit(&mut v);
        let rec: Record = serde_json::from_value(v).unwrap();
        assert_eq!(validate_record(&rec), Ok(()));
    };
    ok(|v| {
        v["division"] = json!("441900");
        v["township"] = json!("441900003001");
    });
    ok(|v| {
        let o = v.as_object_mut().unwrap();
        o.remove("township");
        o.remove("services");
    });
}

#[test]
fn service_events_of_schema_1_0_and_1_1_both_read() {
    // 1.0 records have no station_kind; 1.1 records may carry one.
    let old = record("service_event");
    assert_eq!(old.schema_version.as_ref(), "1.0.0");
    match &old.body {
        RecordBody::ServiceEvent(e) => assert_eq!(e.station_kind, None),
        other => panic!("{other:?}"),
    }
    let mut v = fixture("service_event");
    v["schema_version"] = json!("1.1.0");
    v["station_kind"] = json!("gig_market");
    let rec: Record = serde_json::from_value(v).unwrap();
    assert_eq!(validate_record(&rec), Ok(()));
    match &rec.body {
        RecordBody::ServiceEvent(e) => assert_eq!(e.station_kind, Some(StationKind::GigMarket)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let e = errors_after("employer", |v| {
        v["uscc"] = json!("bad");
        v["industry"] = json!("bad");
        v["reg_division"] = json!("bad");
        v["name"] = json!("");
    });
    assert_eq!(e.len(), 4, "{e:?}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a provincial system puts in the protected fields, no error message echoes it.
        #[test]
        fn error_messages_never_contain_protected_values(
            id in "[0-9]{17}[0-9Xx]|[0-9]{15}|[0-9A-Z]{10,20}",
            phone in "[02-9][0-9]{10}|[0-9]{5,9}",
            name in "[\u{4e00}-\u{9fa5}]{2,4}|",
        ) {
            let errors = {
                let mut v = fixture("person");
                v["protected"] = json!({"name": name, "id_number": id, "phone": phone});
                let rec: Record = serde_json::from_value(v).unwrap();
                validate_record(&rec).err().unwrap_or_default()
            };
            // The phone never matches `1[3-9]…`, so there is always at least that error.
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.message.contains(&id), "{}", e);
                prop_assert!(!e.message.contains(&phone), "{}", e);
                prop_assert!(name.is_empty() || !e.message.contains(&name), "{}", e);
            }
        }

        /// Any `source_record_id` holding a bidirectional control, wherever it sits, is refused
        /// on both id fields with the stable code `bidi_control`.
        #[test]
        fn ids_with_a_bidi_control_are_refused(
            prefix in "[A-Za-z0-9-]{0,20}",
            bidi in prop::sample::select(
                ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}').collect::<Vec<_>>()
            ),
            // Any printable text, other scripts included (`\PC`: not in category C).
            suffix in "\\PC{0,20}",
        ) {
            let sri = format!("{prefix}{bidi}{suffix}");
            let e = errors_after("employer", |v| {
                v["record_id"] = json!(format!("440000:gd-hr:{sri}"));
                v["source_record_id"] = json!(sri);
            });
            for path in ["/source_record_id", "/record_id"] {
                prop_assert!(
                    e.iter().any(|e| e.path == path && e.code == validate::BIDI_CONTROL),
                    "{} not refused: {:?}", path, e
                );
            }
        }

        /// Ids of 1-128 characters without a control character or a bidirectional control
        /// validate as before, whatever else they hold (other format characters included).
        #[test]
        fn ids_without_a_bidi_control_are_unaffected(
            chars in prop::collection::vec(
                any::<char>().prop_filter("no controls", |c| {
                    !c.is_control() && !validate::is_bidi_control(*c)
                }),
                1..=128,
            ),
        ) {
            let sri: String = chars.into_iter().collect();
            let mut v = fixture("employer");
            v["record_id"] = json!(format!("440000:gd-hr:{sri}"));
            v["source_record_id"] = json!(sri);
            let rec: Record = serde_json::from_value(v).unwrap();
            prop_assert_eq!(validate_record(&rec), Ok(()));
        }

        /// A person whose birth date and sex come from a valid ID number validates.
        #[test]
        fn person_derived_from_any_valid_id_validates(
            county in prop::sample::select(vec!["110105", "440305", "650102", "412723"]),
            days in 0i64..40_000,
            order in 0u32..1000,
        ) {
            let born = NaiveDate::from_ymd_opt(1915, 1, 1).unwrap() + chrono::Duration::days(days);
            let first17 = format!("{county}{}{order:03}", born.format("%Y%m%d"));
            let check = id_number::check_char(first17.as_bytes()) as char;
            let id = id_number::IdNumber::parse(&format!("{first17}{check}")).unwrap();
            let mut v = fixture("person");
            v["sex"] = json!(id.sex_code());
            v["birth_date"] = json!(id.birth_date());
            v["graduation_year"] = json!(null);
            v["protected"]["id_number"] = json!(id.as_str());
            v["person_key"] = json!(person_key::PersonKeyer::new(b"k").key(&id));
            let rec: Record = serde_json::from_value(v).unwrap();
            prop_assert_eq!(validate_record(&rec), Ok(()));
        }
    }
}

/// `validate_record_with` skips the shared envelope values it has seen pass, and only those:
/// a record with other (bad) values, or with the same values after they failed, is still
/// refused exactly as `validate_record` refuses it.
#[test]
fn shared_checks_skip_only_values_that_passed() {
    use pes_schemas::validate::{validate_record_with, SharedChecked};
    use std::sync::Arc;

    let mut checked = SharedChecked::default();
    let good = record("employer");
    assert_eq!(validate_record_with(&good, &mut checked), Ok(()));

    // Same shared values (same Arcs), bad per-record field: still found.
    let mut own_bad = good.clone();
    own_bad.provenance.location = String::new();
    assert_eq!(
        validate_record_with(&own_bad, &mut checked),
        validate_record(&own_bad)
    );
    assert!(validate_record(&own_bad).is_err());

    // New shared values that are bad: checked (other Arcs), every time they are seen.
    let mut shared_bad = good.clone();
    shared_bad.provenance.raw_sha256 = Arc::from("not hex");
    shared_bad.schema_version = Arc::from("2.0.0");
    let want = validate_record(&shared_bad);
    assert_eq!(
        want.as_ref()
            .unwrap_err()
            .iter()
            .map(|e| e.code)
            .collect::<Vec<_>>(),
        ["unsupported_schema_version", "invalid_sha256"]
    );
    assert_eq!(validate_record_with(&shared_bad, &mut checked), want);
    assert_eq!(
        validate_record_with(&shared_bad.clone(), &mut checked),
        want
    );

    // A bad code-list map shared by reference is refused too.
    let mut lists = good.clone();
    Arc::make_mut(&mut lists.code_lists).insert("nope".into(), "1".into());
    assert_eq!(
        validate_record_with(&lists, &mut checked),
        validate_record(&lists)
    );
    assert!(validate_record(&lists).is_err());

    // And the good values pass again.
    assert_eq!(validate_record_with(&good, &mut checked), Ok(()));
}
