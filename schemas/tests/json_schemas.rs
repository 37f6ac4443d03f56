//! The published JSON Schemas (`schemas/v1/`) and the Rust types agree: real Rust records of
//! every type validate against their schema file, fixtures validate, required fields and enum
//! values are the same on both sides, and the schemas reject what the validators reject.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use jsonschema::{Draft, Resource, Validator};
use pes_schemas::person_key::PersonKeyer;
use pes_schemas::validate::validate_record;
use pes_schemas::*;
use serde_json::{json, Value};

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("v1")
}

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(schema_dir().join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// All schema files, by file name.
fn all_schemas() -> BTreeMap<String, Value> {
    std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".schema.json"))
        .map(|n| {
            let v = load(&n);
            (n, v)
        })
        .collect()
}

/// A validator for one schema file, with every other file registered by its `$id` so that
/// relative `$ref`s resolve offline.
fn validator(file: &str) -> Validator {
    let mut opts = jsonschema::options();
    opts.with_draft(Draft::Draft202012)
        .should_validate_formats(true);
    for schema in all_schemas().values() {
        let id = schema["$id"].as_str().unwrap().to_string();
        opts.with_resource(id, Resource::from_contents(schema.clone()).unwrap());
    }
    opts.build(&load(file)).unwrap()
}

fn errors(v: &Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const FIXTURES: [(&str, &str); 10] = [
    ("person", "person"),
    ("person_minimal", "person"),
    ("job_seeker_registration", "job_seeker_registration"),
    ("employer", "employer"),
    ("vacancy", "vacancy"),
    ("employment_event", "employment_event"),
    ("training_record", "training_record"),
    ("platform_work", "platform_work"),
    ("service_event", "service_event"),
    ("service_station", "service_station"),
];

#[test]
fn every_schema_file_is_draft_2020_12_with_id_and_description() {
    let schemas = all_schemas();
    assert_eq!(schemas.len(), 11, "{:?}", schemas.keys());
    for (name, s) in &schemas {
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert!(s["$id"].as_str().unwrap().ends_with(name), "{name}");
        assert!(
            s["description"].as_str().is_some_and(|d| d.len() > 10),
            "{name}"
        );
        // Building checks the schema against the 2020-12 meta-schema.
        let _ = validator(name);
    }
    for t in RecordType::ALL {
        assert!(schemas.contains_key(&format!("{t}.schema.json")), "{t}");
    }
}

fn envelope(source_record_id: &str) -> (String, String, String, u64) {
    ("440000".into(), "gd-hr".into(), source_record_id.into(), 1)
}

/// Builds one record of every type from Rust values (not from JSON).
fn rust_records() -> Vec<Record> {
    let keyer = PersonKeyer::new(b"test linkage key");
    let id = id_number::IdNumber::parse("11010519491231002x").unwrap();
    let person_key = keyer.key(&id);
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let bodies = vec![
        RecordBody::Person(Person {
            person_key: person_key.clone(),
            sex: id.sex_code().into(),
            birth_date: id.birth_date(),
            education: "61".into(),
            hukou_division: "110105".into(),
            hukou_nature: HukouNature::NonAgricultural,
            residence_division: "110105".into(),
            graduation_year: Some(1967),
            key_groups: vec![KeyGroup::LongTermUnemployed, KeyGroup::Veteran],
            protected: Some(PersonProtected {
                name: "李娜".into(),
                id_number: id.as_str().into(),
                phone: Some("13912345678".into()),
            }),
        }),
        RecordBody::JobSeekerRegistration(JobSeekerRegistration {
            person_key: person_key.clone(),
            seeker_category: SeekerCategory::Unemployed,
            desired_occupations: vec!["2-02-10-03".into(), "2-02".into()],
            desired_division: "110000".into(),
            registered_on: date(2025, 1, 2),
            valid_until: None,
            status: RegistrationStatus::Matched,
        }),
        RecordBody::Employer(Employer {
            uscc: "91350100M000100Y43".into(),
            name: "福州示例有限公司".into(),
            industry: "F".into(),
            reg_division: "350100".into(),
            size_class: SizeClass::Micro,
            ownership: Ownership::HkMoTwInvested,
        }),
        RecordBody::Vacancy(Vacancy {
            employer_uscc: "91350100M000100Y43".into(),
            title: "仓库管理员".into(),
            occupation: "4-02-06-01".into(),
            industry: "G59".into(),
            work_division: "350102".into(),
            openings: 1,
            min_education: None,
            employment_type: EmploymentType::Internship,
            salary_min: None,
            salary_max: Some(6000),
            posted_on: date(2025, 2, 1),
            valid_through: None,
            status: VacancyStatus::Expired,
            employer_name: Some("福州示例有限公司".into()),
            description: Some("负责仓库货物收发与盘点；包吃住。".into()),
            key_groups: vec![KeyGroup::Disabled, KeyGroup::MigrantWorker],
        }),
        RecordBody::EmploymentEvent(EmploymentEvent {
            person_key: person_key.clone(),
            kind: EmploymentEventKind::UnemploymentRegistered,
            employer_uscc: None,
            employment_form: EmploymentForm::Flexible,
            occupation: None,
            work_division: "110105".into(),
            date: date(2024, 12, 31),
            reason: Some("合同到期".into()),
        }),
        RecordBody::TrainingRecord(TrainingRecord {
            person_key: person_key.clone(),
            provider_uscc: "52440300MJL000008P".into(),
            target_occupation: "4-03-02-01".into(),
            training_type: TrainingType::Apprenticeship,
            start_on: date(2025, 3, 1),
            end_on: None,
            certificate_level: None,
            subsidy_cny: None,
            outcome: TrainingOutcome::InProgress,
        }),
        RecordBody::PlatformWork(PlatformWork {
            person_key: person_key.clone(),
            platform_uscc: "91110000100010433L".into(),
            platform_type: PlatformType::RideHailing,
            occupation: "4-02-02-01".into(),
            city_division: "110100".into(),
            period_month: "2024-02".into(),
            active_days: 29,
            injury_insurance: false,
        }),
        RecordBody::ServiceEvent(ServiceEvent {
            person_key: Some(person_key),
            station_id: "bj-chaoyang-03".into(),
            division: "110105".into(),
            service: ServiceKind::PolicyConsultation,
            date: date(2025, 3, 3),
            outcome: ServiceOutcome::NoResult,
            station_kind: Some(StationKind::StreetTownWindow),
        }),
        RecordBody::ServiceStation(ServiceStation {
            station_id: "bj-chaoyang-03".into(),
            name: "朝阳区三里屯街道就业服务窗口".into(),
            kind: StationKind::StreetTownWindow,
            division: "110105".into(),
            township: Some("110105001".into()),
            opened_on: date(2019, 6, 1),
            status: StationStatus::Operating,
            services: vec![ServiceKind::Referral, ServiceKind::PolicyConsultation],
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let (region, source, srid, version) = envelope(&format!("X-{i}"));
            Record {
                record_id: Record::make_id(&region, &source, &srid),
                region: region.into(),
                source: source.into(),
                source_record_id: srid,
                record_version: version,
                schema_version: SCHEMA_VERSION.into(),
                code_lists: codes::code_list_versions().into(),
                provenance: Provenance {
                    raw_sha256: "0".repeat(64).into(),
                    adapter_id: "gd-hr-csv".into(),
                    adapter_version: "1".into(),
                    ingested_at: "2025-03-05T08:30:00+08:00".into(),
                    location: format!("row:{i}"),
                },
                body,
            }
        })
        .collect()
}

#[test]
fn rust_records_of_every_type_validate_against_their_schema() {
    let records = rust_records();
    assert_eq!(records.len(), RecordType::ALL.len());
    let any = validator("record.schema.json");
    for rec in &records {
        assert_eq!(validate_record(rec), Ok(()), "{}", rec.record_type());
        let json = serde_json::to_value(rec).unwrap();
        let v = validator(&format!("{}.schema.json", rec.record_type()));
        assert_eq!(
            errors(&v, &json),
            Vec::<String>::new(),
            "{}",
            rec.record_type()
        );
        assert_eq!(
            errors(&any, &json),
            Vec::<String>::new(),
            "{}",
            rec.record_type()
        );
        // Round trip through JSON gives the same Rust value.
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(&back, rec);
    }
}

#[test]
fn fixtures_validate_against_their_schema_only() {
    for (name, t) in FIXTURES {
        let json = fixture(name);
        let own = validator(&format!("{t}.schema.json"));
        assert_eq!(errors(&own, &json), Vec::<String>::new(), "{name}");
        for other in RecordType::ALL {
            if other.as_str() != t {
                let v = validator(&format!("{other}.schema.json"));
                assert!(!v.is_valid(&json), "{name} passed {other}");
            }
        }
    }
}

#[test]
fn required_fields_are_the_same_in_rust_and_in_the_schemas() {
    for (name, t) in FIXTURES {
        let full = fixture(name);
        let v = validator(&format!("{t}.schema.json"));
        let mut paths: Vec<Vec<&str>> = vec![];
        for (k, inner) in full.as_object().unwrap() {
            paths.push(vec![k.as_str()]);
            if let Some(obj) = inner.as_object() {
                if k != "code_lists" {
                    paths.extend(obj.keys().map(|ik| vec![k.as_str(), ik.as_str()]));
                }
            }
        }
        for path in paths {
            let mut cut = full.clone();
            match path.as_slice() {
                [k] => {
                    cut.as_object_mut().unwrap().remove(*k);
                }
                [k, ik] => {
                    cut[*k].as_object_mut().unwrap().remove(*ik);
                }
                _ => unreachable!(),
            }
            let rust_ok = serde_json::from_value::<Record>(cut.clone()).is_ok();
            let schema_ok = v.is_valid(&cut);
            assert_eq!(rust_ok, schema_ok, "{name}: without {path:?}");
        }
    }
}

/// Every `enum` in a record schema's top-level properties (and array items) lists exactly the
/// values serde accepts: each listed value deserialises, an unlisted one is refused by both.
#[test]
fn enum_values_are_the_same_in_rust_and_in_the_schemas() {
    for (name, t) in FIXTURES {
        let full = fixture(name);
        let schema = load(&format!("{t}.schema.json"));
        let v = validator(&format!("{t}.schema.json"));
        for (field, prop) in schema["properties"].as_object().unwrap() {
            let (values, in_array) = match (&prop["enum"], &prop["items"]["enum"]) {
                (Value::Array(a), _) => (a.clone(), false),
                (_, Value::Array(a)) => (a.clone(), true),
                _ => continue,
            };
            let wrap = |x: Value| if in_array { json!([x]) } else { x };
            for value in values {
                let mut doc = full.clone();
                doc[field] = wrap(value.clone());
                let rust = serde_json::from_value::<Record>(doc.clone());
                // Sex is a code-list string in Rust, so any string deserialises; the rest are enums.
                assert!(rust.is_ok(), "{name}.{field}={value}");
                assert!(v.is_valid(&doc), "{name}.{field}={value}");
            }
            let mut doc = full.clone();
            doc[field] = wrap(json!("no_such_value"));
            assert!(!v.is_valid(&doc), "{name}.{field}");
            if field != "sex" {
                assert!(
                    serde_json::from_value::<Record>(doc).is_err(),
                    "{name}.{field}"
                );
            }
        }
    }
}

#[test]
fn schemas_reject_malformed_values() {
    let cases: &[(&str, &str, Value)] = &[
        ("employer", "uscc", json!("91350100M000100Y4")),
        ("employer", "uscc", json!("01350100M000100Y43")),
        ("employer", "uscc", json!("91350100I000100Y43")),
        ("employer", "uscc", json!("94350100M000100Y43")),
        ("employer", "uscc", json!("5A350100M000100Y43")),
        ("employer", "industry", json!("I6")),
        ("employer", "reg_division", json!("4403")),
        ("vacancy", "occupation", json!("2-2-10-03")),
        ("vacancy", "posted_on", json!("2025-02-30")),
        ("vacancy", "openings", json!(0)),
        ("platform_work", "period_month", json!("2025-13")),
        ("platform_work", "active_days", json!(32)),
        ("training_record", "certificate_level", json!(0)),
        ("person", "person_key", json!("short")),
        ("person", "birth_date", json!("19900307")),
        ("person", "unexpected_field", json!(1)),
        ("service_event", "station_id", json!("Has Spaces")),
        ("service_event", "station_kind", json!("kiosk")),
        ("service_station", "township", json!("4401060")),
        ("service_station", "division", json!("4401")),
        (
            "service_station",
            "services",
            json!(["referral", "referral"]),
        ),
        ("service_station", "name", json!("")),
        ("employer", "source_record_id", json!("E-1\u{202E}2")),
        ("employer", "record_id", json!("440000:gd-hr:E-1\u{2066}2")),
    ];
    for (name, field, value) in cases {
        let mut doc = fixture(name);
        doc[*field] = value.clone();
        let v = validator(&format!("{name}.schema.json"));
        assert!(!v.is_valid(&doc), "{name}.{field}={value} accepted");
    }
    let mut doc = fixture("person");
    doc["protected"]["id_number"] = json!("11010519491231002x");
    assert!(
        !validator("person.schema.json").is_valid(&doc),
        "lower-case x stored"
    );
    let mut doc = fixture("employer");
    doc["provenance"]["ingested_at"] = json!("2025-03-05 08:30");
    assert!(!validator("employer.schema.json").is_valid(&doc));
}
