//! Deterministic national records for tests and benchmarks (native NDJSON sources).
//!
//! Record `i` is always the same record; `version` lets tests push newer versions of it.
//!
//! [`record`] is what tests and benchmarks push: its values are fixed for good (tests count on
//! them). [`demo_record`] is what `pesgw demo` pushes: the same record types per index, with
//! dates in the 24 months up to a given day and key groups drawn one by one with the shares of
//! [`pes_adapters::synth::key_group_shares`] (sources in adapters/README.md).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{Datelike, Duration, NaiveDate};
use pes_schemas::*;

pub(crate) fn mix(mut x: u64) -> u64 {
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
pub(crate) fn make_uscc(div: &str, serial: u64) -> String {
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
    build(i, region, source, version, None)
}

/// The `i`-th demo record for `region` and `source` (version 1), generated on `today`: the
/// record type of [`record`]`(i, …)`, with registration and posting dates in the 24 months up
/// to `today` (never after it), registrations and vacancies valid for 180 days (expired after
/// that unless matched or filled), and a person's key groups drawn independently with the
/// region's published shares. Registration `i` is the registration of person `i - 1`, so
/// registrations pushed in the same batch count by key group and month.
pub fn demo_record(i: u64, region: &str, source: &str, today: NaiveDate) -> Record {
    build(i, region, source, 1, Some(today))
}

/// A demo vacancy: a Chinese title and description from the vocabulary of its occupation
/// group, an employer name, a wage by region and occupation, part-time and gig work among the
/// full-time posts, and key-group flags ([`pes_adapters::synth::vacancy_text`]).
fn demo_vacancy(region: &str, occ: &str, div: String, h: u64, today: NaiveDate) -> RecordBody {
    use pes_adapters::synth::vacancy_text as text;
    let posted_on = pes_adapters::synth::window_day(today, mix(h ^ 0x706f_7374));
    let valid_through = posted_on + Duration::days(DEMO_VALID_DAYS);
    let x = mix(h ^ 0x7661_6361);
    let name = pes_schemas::codes::occupation(occ).map_or("普工", |o| o.name);
    let (title, description) = text::vacancy_text(occ, name, x);
    let (lo, hi) = text::wage_range(region, occ, x >> 17);
    let employment_type = text::employment_type(occ, x >> 29);
    RecordBody::Vacancy(Vacancy {
        employer_uscc: make_uscc(&div, h >> 13),
        employer_name: Some(text::employer_name(region, occ, h >> 13)),
        title,
        description: Some(description),
        key_groups: text::key_groups(occ, employment_type, x >> 37),
        occupation: occ.to_string(),
        industry: "C38".into(),
        work_division: div,
        openings: 1 + ((h >> 36) % 5) as u32,
        min_education: Some(EDUCATION[((h >> 40) % 5) as usize].into()),
        employment_type,
        salary_min: Some(lo),
        salary_max: Some(hi),
        posted_on,
        valid_through: Some(valid_through),
        status: if matches!((h >> 52) % 3, 0) {
            VacancyStatus::Filled
        } else if valid_through < today {
            VacancyStatus::Expired
        } else {
            VacancyStatus::Open
        },
    })
}

/// The `i`-th demo vacancy for `region` and `source` on `today` (the bench of vacancy search
/// pushes only vacancies): the vacancy [`demo_record`] would give for its hash, whatever
/// record type `i` has there, posted in the 150 days up to `today` (so all but the filled third
/// are open).
pub fn demo_vacancy_record(i: u64, region: &str, source: &str, today: NaiveDate) -> Record {
    let mut r = build(i, region, source, 1, Some(today));
    if !matches!(r.body, RecordBody::Vacancy(_)) {
        let h = mix(i);
        let occs = occupations();
        let occ = occs
            .get(((h >> 4) % occs.len().max(1) as u64) as usize)
            .copied()
            .unwrap_or("2-02-01-01");
        r.body = demo_vacancy(region, occ, division_of(i, region), h, today);
    }
    // Posted in the last 150 days and valid for 180: every vacancy not filled is open today.
    if let RecordBody::Vacancy(v) = &mut r.body {
        v.posted_on = today - Duration::days((mix(i ^ 0x6e6f_7773) % 150) as i64);
        v.valid_through = Some(v.posted_on + Duration::days(DEMO_VALID_DAYS));
        if v.status == VacancyStatus::Expired {
            v.status = VacancyStatus::Open;
        }
    }
    r
}

/// Days a demo registration or vacancy stays valid.
const DEMO_VALID_DAYS: i64 = 180;

/// Whether a Bernoulli draw with probability `p` succeeds for hash `h` and draw `k`: each `k`
/// gives bits of its own, so draws for one record are independent.
fn draw(h: u64, k: u64, p: f64) -> bool {
    let u = mix(h ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03)) >> 11;
    (u as f64) < p * (1u64 << 53) as f64
}

/// Education codes (GB/T 4658) with weights, for everyone and for recent graduates.
const DEMO_EDUCATION: [(&str, u64); 7] = [
    ("21", 14),
    ("31", 18),
    ("41", 10),
    ("47", 6),
    ("61", 16),
    ("71", 28),
    ("81", 8),
];
const DEMO_DEGREES: [(&str, u64); 3] = [("14", 2), ("21", 14), ("31", 18)];

fn pick<'a>(items: &[(&'a str, u64)], x: u64) -> &'a str {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut x = x % total.max(1);
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    items.last().map_or("71", |(item, _)| item)
}

/// Person `i` of a demo push: key groups first, each its own draw, then an age, education and
/// hukou that fit them (a graduate is 21-26 with a degree, a migrant worker holds an
/// agricultural hukou).
fn demo_person(i: u64, region: &str, div: &str, today: NaiveDate) -> Person {
    let h = mix(i);
    let key_groups: Vec<KeyGroup> = pes_adapters::synth::key_group_shares(region)
        .into_iter()
        .enumerate()
        .filter(|(k, (_, p))| draw(h, *k as u64 + 1, *p))
        .map(|(_, (g, _))| g)
        .collect();
    let graduate = key_groups.contains(&KeyGroup::CollegeGraduate);
    let migrant = key_groups.contains(&KeyGroup::MigrantWorker);
    let a = mix(h ^ 0x0061_6765);
    let age = if graduate {
        21 + a % 6
    } else {
        // 16-60, most between 22 and 40.
        let (lo, span) = match a % 100 {
            0..=11 => (16, 6),
            12..=47 => (22, 9),
            48..=75 => (31, 10),
            76..=91 => (41, 10),
            _ => (51, 10),
        };
        lo + (a >> 8) % span
    };
    let birth = today - Duration::days((age * 365 + (a >> 16) % 365) as i64);
    let order = (h >> 40) % 1000;
    let id = make_id_number(div, birth, order);
    Person {
        person_key: URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, id.as_bytes()).as_ref()),
        sex: if order % 2 == 1 {
            "1".into()
        } else {
            "2".into()
        },
        birth_date: birth,
        education: if graduate {
            pick(&DEMO_DEGREES, a >> 24)
        } else {
            pick(&DEMO_EDUCATION, a >> 24)
        }
        .into(),
        hukou_division: div.to_string(),
        hukou_nature: if migrant {
            HukouNature::Agricultural
        } else {
            HukouNature::Resident
        },
        residence_division: div.to_string(),
        graduation_year: graduate.then(|| (today.year() - ((a >> 32) % 2) as i32) as u16),
        key_groups,
        protected: Some(PersonProtected {
            name: format!("张{}", i % 1000),
            id_number: id,
            phone: Some(format!("138{:08}", h % 100_000_000)),
        }),
    }
}

/// The prefecture of sample record `i` in `region`.
fn division_of(i: u64, region: &str) -> String {
    format!("{}{}00", &region[..2], PREFECTURES[(mix(i) % 6) as usize])
}

fn build(i: u64, region: &str, source: &str, version: u64, demo: Option<NaiveDate>) -> Record {
    let h = mix(i);
    let div = division_of(i, region);
    let occs = occupations();
    let occ = occs
        .get(((h >> 4) % occs.len().max(1) as u64) as usize)
        .copied()
        .unwrap_or("2-02-01-01")
        .to_string();
    let body = match (i % 3, demo) {
        (0, Some(today)) => RecordBody::Person(demo_person(i, region, &div, today)),
        (1, Some(today)) => {
            // Record i - 1 is a person (i % 3 == 0): this is their registration.
            let person = demo_person(i - 1, region, &division_of(i - 1, region), today);
            let registered_on = pes_adapters::synth::window_day(today, mix(h ^ 0x7265_6769_7374));
            let valid_until = registered_on + Duration::days(DEMO_VALID_DAYS);
            RecordBody::JobSeekerRegistration(JobSeekerRegistration {
                seeker_category: if person.key_groups.contains(&KeyGroup::CollegeGraduate) {
                    SeekerCategory::NewEntrant
                } else if person.key_groups.contains(&KeyGroup::MigrantWorker) {
                    SeekerCategory::RuralLabour
                } else {
                    SeekerCategory::Unemployed
                },
                person_key: person.person_key,
                desired_occupations: vec![occ],
                desired_division: div,
                registered_on,
                valid_until: Some(valid_until),
                status: if (h >> 50) & 3 == 0 {
                    RegistrationStatus::Matched
                } else if valid_until < today {
                    RegistrationStatus::Expired
                } else {
                    RegistrationStatus::Active
                },
            })
        }
        (_, Some(today)) => demo_vacancy(region, &occ, div, h, today),
        (0, None) => {
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
        (1, None) => RecordBody::JobSeekerRegistration(JobSeekerRegistration {
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
        (_, None) => RecordBody::Vacancy(Vacancy {
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
            employer_name: None,
            description: None,
            key_groups: Vec::new(),
        }),
    };
    let location = format!("line:{}", i + 1);
    envelope(region, source, format!("S{i:09}"), version, location, body)
}

/// A native record of `body` with source record id `sid`: the envelope a native push carries.
pub(crate) fn envelope(
    region: &str,
    source: &str,
    sid: String,
    version: u64,
    location: String,
    body: RecordBody,
) -> Record {
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
            location,
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

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn demo_records_are_valid_dated_in_the_24_months_up_to_today_and_keep_the_record_type() {
        let today = day(2026, 6, 15);
        let (mut first, mut last) = (today, day(1900, 1, 1));
        for i in 0..3000 {
            let r = demo_record(i, "440000", "gd-hr", today);
            assert_eq!(
                pes_schemas::validate::validate_record(&r),
                Ok(()),
                "record {i}"
            );
            assert_eq!(
                r.record_type(),
                record(i, "440000", "gd-hr", 1).record_type(),
                "record {i}"
            );
            let dated = match &r.body {
                RecordBody::JobSeekerRegistration(j) => {
                    assert!(j.valid_until.is_some_and(|u| u > j.registered_on));
                    j.registered_on
                }
                RecordBody::Vacancy(v) => {
                    assert!(v.valid_through.is_some_and(|u| u > v.posted_on));
                    v.posted_on
                }
                _ => continue,
            };
            first = first.min(dated);
            last = last.max(dated);
        }
        // July 2024 to June 2026, both ends reached.
        assert_eq!((first.year(), first.month()), (2024, 7));
        assert_eq!((last.year(), last.month()), (2026, 6));
        assert!(last <= today);
    }

    #[test]
    fn demo_key_groups_are_drawn_independently_with_the_regions_shares() {
        let today = day(2026, 6, 15);
        let n = 30_000u64;
        let mut counts = std::collections::HashMap::<KeyGroup, u64>::new();
        let mut both = 0u64;
        for i in 0..n {
            let RecordBody::Person(p) = demo_record(i * 3, "440000", "gd-hr", today).body else {
                panic!("record {} is not a person", i * 3);
            };
            for g in &p.key_groups {
                *counts.entry(*g).or_default() += 1;
            }
            if p.key_groups.contains(&KeyGroup::CollegeGraduate)
                && p.key_groups.contains(&KeyGroup::FlexibleWorker)
            {
                both += 1;
            }
        }
        let share = |g| counts.get(&g).copied().unwrap_or(0) as f64 / n as f64;
        for (g, p) in pes_adapters::synth::key_group_shares("440000") {
            // Four standard errors of a share over n draws.
            let tolerance = 4.0 * (p * (1.0 - p) / n as f64).sqrt();
            assert!(
                (share(g) - p).abs() < tolerance,
                "{g:?}: {} against {p}",
                share(g)
            );
        }
        // Independent draws: graduates who are also flexible workers are about the product,
        // not every graduate (the old sample gave both groups to the same people).
        let expected = share(KeyGroup::CollegeGraduate) * share(KeyGroup::FlexibleWorker);
        let got = both as f64 / n as f64;
        assert!((got - expected).abs() < 0.01, "{got} against {expected}");
        // Migrant work is commoner in the east than in the west.
        let migrant = |region| {
            pes_adapters::synth::key_group_shares(region)
                .into_iter()
                .find(|(g, _)| *g == KeyGroup::MigrantWorker)
                .map(|(_, p)| p)
        };
        assert!(migrant("440000") > migrant("510000"));
    }

    #[test]
    fn a_demo_registration_is_the_registration_of_the_person_before_it() {
        let today = day(2026, 6, 15);
        let RecordBody::Person(p) = demo_record(300, "440000", "gd-hr", today).body else {
            panic!("record 300 is a person");
        };
        let RecordBody::JobSeekerRegistration(j) = demo_record(301, "440000", "gd-hr", today).body
        else {
            panic!("record 301 is a registration");
        };
        assert_eq!(j.person_key, p.person_key);
    }

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
