//! Deterministic national records for tests and benchmarks (native NDJSON sources).
//!
//! Record `i` is always the same record; `version` lets tests push newer versions of it.

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
const EDUCATION: [&str; 5] = ["10", "20", "21", "30", "40"];

/// Listed occupations (细类) of the 2022 classification.
fn occupations() -> &'static [&'static str] {
    static OCC: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    OCC.get_or_init(|| {
        pes_schemas::codes::all_occupations()
            .iter()
            .filter(|o| pes_schemas::codes::is_occupation(o.code))
            .map(|o| o.code)
            .collect()
    })
}

/// A valid GB 11643 ID number for a division, birth date and order number.
fn make_id_number(div: &str, birth: NaiveDate, order: u64) -> String {
    let mut s = format!("{div}{}{order:03}", birth.format("%Y%m%d"));
    let c = pes_schemas::id_number::check_char(s.as_bytes());
    s.push(c as char);
    s
}

/// A valid GB 32100 USCC for a division and serial.
fn make_uscc(div: &str, serial: u64) -> String {
    const SET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut s = format!("91{div}");
    let mut x = serial;
    for _ in 0..8 {
        s.push(SET[(x % 31) as usize] as char);
        x /= 31;
    }
    // `div` is six digits and the rest comes from the set, so completion cannot fail.
    pes_schemas::uscc::complete(&s).unwrap_or(s)
}

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
    let occs = occupations();
    let occ = occs
        .get(((h >> 4) % occs.len().max(1) as u64) as usize)
        .copied()
        .unwrap_or("2-02-01-01")
        .to_string();
    let body = match i % 3 {
        0 => {
            let birth = NaiveDate::from_ymd_opt(
                1960 + ((h >> 24) % 40) as i32,
                1 + ((h >> 30) % 12) as u32,
                1 + ((h >> 34) % 28) as u32,
            )
            .unwrap_or_default();
            let order = (h >> 40) % 1000;
            let id = make_id_number(&div, birth, order);
            RecordBody::Person(Person {
                person_key: URL_SAFE_NO_PAD
                    .encode(ring::digest::digest(&ring::digest::SHA256, id.as_bytes()).as_ref()),
                sex: if order % 2 == 1 {
                    "1".into()
                } else {
                    "2".into()
                },
                birth_date: birth,
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
            person_key: URL_SAFE_NO_PAD
                .encode(ring::digest::digest(&ring::digest::SHA256, &h.to_le_bytes()).as_ref()),
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
            employer_uscc: make_uscc(&div, h >> 13),
            title: "操作工".into(),
            occupation: occ,
            industry: "C38".into(),
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
        code_lists: pes_schemas::codes::code_list_versions().into(),
        provenance: Provenance {
            // The gateway stamps the real batch hash and ingest time.
            raw_sha256: "0".repeat(64).into(),
            adapter_id: "native".into(),
            adapter_version: "1".into(),
            ingested_at: "2026-01-01T00:00:00Z".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_records_pass_national_validation() {
        for i in 0..300 {
            let r = record(i, "440000", "gd-hr", 1);
            assert_eq!(
                pes_schemas::validate::validate_record(&r),
                Ok(()),
                "record {i}"
            );
        }
    }
}
