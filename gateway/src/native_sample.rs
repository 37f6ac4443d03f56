//! Deterministic national records for tests and benchmarks (native NDJSON sources).
//!
//! Record `i` is always the same record; `version` lets tests push newer versions of it.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::NaiveDate;
use pes_schemas::*;

fn mix(mut x: u64) -> u64 {
    // splitmix64: cheap, well-spread pseudo-random bits from an index.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const PREFECTURES: [&str; 6] = ["01", "03", "04", "06", "13", "19"];
const MINORS: [&str; 8] = [
    "2-02", "2-05", "3-01", "4-01", "4-02", "5-01", "6-02", "6-18",
];
const EDUCATION: [&str; 5] = ["10", "20", "21", "30", "40"];

fn date(h: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(
        2023 + (h % 3) as i32,
        1 + ((h >> 8) % 12) as u32,
        1 + ((h >> 16) % 28) as u32,
    )
    .unwrap_or_default()
}

/// The `i`-th sample record for `region` and `source`, at `version`.
pub fn record(i: u64, region: &str, source: &str, version: u64) -> Record {
    let h = mix(i);
    let div = format!("{}{}00", &region[..2], PREFECTURES[(h % 6) as usize]);
    let occ = format!(
        "{}-{:02}-{:02}",
        MINORS[((h >> 4) % 8) as usize],
        1 + (h >> 12) % 9,
        1 + (h >> 20) % 9
    );
    let body = match i % 3 {
        0 => {
            let id = format!(
                "{}19{:02}0101{:03}X",
                &div[..6],
                60 + (h >> 24) % 40,
                (h >> 32) % 1000
            );
            RecordBody::Person(Person {
                person_key: URL_SAFE_NO_PAD
                    .encode(ring::digest::digest(&ring::digest::SHA256, id.as_bytes()).as_ref()),
                sex: if h & 1 == 0 { "1".into() } else { "2".into() },
                birth_date: NaiveDate::from_ymd_opt(1960 + ((h >> 24) % 40) as i32, 1, 1)
                    .unwrap_or_default(),
                education: EDUCATION[((h >> 40) % 5) as usize].into(),
                hukou_division: div.clone(),
                hukou_nature: HukouNature::Resident,
                residence_division: div,
                graduation_year: None,
                key_groups: match (h >> 44) % 4 {
                    0 => vec![KeyGroup::MigrantWorker],
                    1 => vec![KeyGroup::CollegeGraduate, KeyGroup::FlexibleWorker],
                    _ => vec![],
                },
                protected: Some(PersonProtected {
                    name: format!("张{}", i % 1000),
                    id_number: id,
                    phone: Some(format!("138{:08}", h % 100_000_000)),
                }),
            })
        }
        1 => RecordBody::JobSeekerRegistration(JobSeekerRegistration {
            person_key: URL_SAFE_NO_PAD.encode(h.to_le_bytes()),
            seeker_category: SeekerCategory::Unemployed,
            desired_occupations: vec![occ],
            desired_division: div,
            registered_on: date(h >> 3),
            valid_until: None,
            status: if (h >> 50) & 3 == 0 {
                RegistrationStatus::Matched
            } else {
                RegistrationStatus::Active
            },
        }),
        _ => RecordBody::Vacancy(Vacancy {
            employer_uscc: "91440300MA5FXXXX0X".into(),
            title: "操作工".into(),
            occupation: occ,
            industry: "C39".into(),
            work_division: div,
            openings: 1 + ((h >> 36) % 5) as u32,
            min_education: Some(EDUCATION[((h >> 40) % 5) as usize].into()),
            employment_type: EmploymentType::FullTime,
            salary_min: Some(4000),
            salary_max: Some(6500),
            posted_on: date(h >> 5),
            valid_through: None,
            status: if matches!((h >> 52) % 3, 0) {
                VacancyStatus::Filled
            } else {
                VacancyStatus::Open
            },
        }),
    };
    let sid = format!("S{i:09}");
    Record {
        record_id: Record::make_id(region, source, &sid),
        region: region.into(),
        source: source.into(),
        source_record_id: sid,
        record_version: version,
        schema_version: SCHEMA_VERSION.into(),
        code_lists: BTreeMap::from([("gbt2260".to_string(), "2023".to_string())]),
        provenance: Provenance {
            raw_sha256: String::new(),
            adapter_id: "native".into(),
            adapter_version: "1".into(),
            ingested_at: String::new(),
            location: format!("line:{}", i + 1),
        },
        body,
    }
}

/// NDJSON of records `range` at `version`.
pub fn ndjson(range: std::ops::Range<u64>, region: &str, source: &str, version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity((range.end - range.start) as usize * 520);
    for i in range {
        // Serialising a plain struct into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &record(i, region, source, version));
        out.push(b'\n');
    }
    out
}
