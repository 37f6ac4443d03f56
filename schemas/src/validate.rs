//! Whole-record validation: every field of every record type against the schema's rules and the
//! code lists.
//!
//! [`validate_record`] collects every problem rather than stopping at the first, so a quarantined
//! row lists all its faults at once. Each [`FieldError`] names the field by JSON pointer and
//! carries a stable `code`. Messages never contain the value of a protected field.
//!
//! Rules beyond the JSON Schema (which checks shapes only): code-list membership, USCC and ID
//! check characters, dates in order and not implausible, `record_id` consistency, and agreement
//! of a person's birth date and sex with their ID number.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate};
use thiserror::Error;

use crate::codes::{self, DivisionLevel};
use crate::id_number::{self, IdNumber};
use crate::record::*;
use crate::{person_key, uscc};

/// One problem with one field of a record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message} ({code})")]
pub struct FieldError {
    /// JSON pointer of the field, e.g. `/employer_uscc` or `/protected/id_number`.
    pub path: String,
    /// Stable machine-readable reason, e.g. `invalid_uscc`.
    pub code: &'static str,
    /// Human-readable explanation; never contains a protected value.
    pub message: String,
}

/// Earliest year accepted for any date in a record.
pub const MIN_YEAR: i32 = 1900;
/// Latest year accepted for any date in a record.
pub const MAX_YEAR: i32 = 2100;
/// Longest free-text field accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

/// Checks every field of a record. `Ok(())` or every problem found.
pub fn validate_record(record: &Record) -> Result<(), Vec<FieldError>> {
    validate_record_with(record, &mut SharedChecked::default())
}

/// Remembers the shared envelope values (the `Arc`s a decode run gives every record) that last
/// passed their checks, so that a run of records sharing them checks them once
/// ([`validate_record_with`]). Values are recognised by pointer: an `Arc<str>` is immutable, so
/// the same pointer is the same, already checked, text.
#[derive(Debug, Default)]
pub struct SharedChecked {
    /// The envelopes that passed, most recent last: one per record type at most in a run, as
    /// each type has its own code lists.
    passed: Vec<SharedEnvelope>,
}

/// How many passed envelopes [`SharedChecked`] remembers.
const SHARED_REMEMBERED: usize = RecordType::ALL.len();

#[derive(Debug)]
struct SharedEnvelope {
    region: Arc<str>,
    source: Arc<str>,
    schema_version: Arc<str>,
    code_lists: Arc<BTreeMap<String, String>>,
    raw_sha256: Arc<str>,
    adapter_id: Arc<str>,
    adapter_version: Arc<str>,
    ingested_at: Arc<str>,
}

impl SharedEnvelope {
    fn of(r: &Record) -> Self {
        let p = &r.provenance;
        SharedEnvelope {
            region: Arc::clone(&r.region),
            source: Arc::clone(&r.source),
            schema_version: Arc::clone(&r.schema_version),
            code_lists: Arc::clone(&r.code_lists),
            raw_sha256: Arc::clone(&p.raw_sha256),
            adapter_id: Arc::clone(&p.adapter_id),
            adapter_version: Arc::clone(&p.adapter_version),
            ingested_at: Arc::clone(&p.ingested_at),
        }
    }

    fn is_of(&self, r: &Record) -> bool {
        let p = &r.provenance;
        Arc::ptr_eq(&self.region, &r.region)
            && Arc::ptr_eq(&self.source, &r.source)
            && Arc::ptr_eq(&self.schema_version, &r.schema_version)
            && Arc::ptr_eq(&self.code_lists, &r.code_lists)
            && Arc::ptr_eq(&self.raw_sha256, &p.raw_sha256)
            && Arc::ptr_eq(&self.adapter_id, &p.adapter_id)
            && Arc::ptr_eq(&self.adapter_version, &p.adapter_version)
            && Arc::ptr_eq(&self.ingested_at, &p.ingested_at)
    }
}

/// [`validate_record`], checking the shared envelope values only when they are not the ones
/// `shared` last saw pass. Same result as [`validate_record`] for every record.
pub fn validate_record_with(
    record: &Record,
    shared: &mut SharedChecked,
) -> Result<(), Vec<FieldError>> {
    let mut v = Checker::default();
    let check_shared = !shared.passed.iter().rev().any(|s| s.is_of(record));
    v.envelope(record, check_shared);
    // Remembered only when nothing in the envelope failed (a shared value among them might
    // have).
    if check_shared && v.errors.is_empty() {
        if shared.passed.len() == SHARED_REMEMBERED {
            shared.passed.remove(0);
        }
        shared.passed.push(SharedEnvelope::of(record));
    }
    match &record.body {
        RecordBody::Person(b) => v.person(b),
        RecordBody::JobSeekerRegistration(b) => v.registration(b),
        RecordBody::Employer(b) => v.employer(b),
        RecordBody::Vacancy(b) => v.vacancy(b),
        RecordBody::EmploymentEvent(b) => v.employment_event(b),
        RecordBody::TrainingRecord(b) => v.training(b),
        RecordBody::PlatformWork(b) => v.platform_work(b),
        RecordBody::ServiceEvent(b) => v.service_event(b),
        RecordBody::ServiceStation(b) => v.service_station(b),
    }
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn push(&mut self, path: &str, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.to_string(),
            code,
            message: message.into(),
        });
    }

    /// The envelope checks; the values shared by a decode run only when `shared` is set.
    fn envelope(&mut self, r: &Record, shared: bool) {
        // Compared piecewise: this runs for every ingested record, so it does not allocate.
        let id_matches = r
            .record_id
            .strip_prefix(&*r.region)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|rest| rest.strip_prefix(&*r.source))
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|rest| rest == r.source_record_id);
        if !id_matches {
            self.push(
                "/record_id",
                "record_id_mismatch",
                "record_id must be <region>:<source>:<source_record_id>",
            );
        }
        if shared {
            self.region_and_source(r);
        }
        if r.source_record_id.is_empty() || r.source_record_id.chars().count() > 128 {
            self.push(
                "/source_record_id",
                "invalid_source_record_id",
                "source_record_id must be 1-128 characters",
            );
        } else if r.source_record_id.chars().any(char::is_control) {
            self.push(
                "/source_record_id",
                "invalid_source_record_id",
                "source_record_id must not contain control characters",
            );
        }
        // Each id field is checked on its own, so the report names every field at fault.
        for (path, id) in [
            ("/source_record_id", &r.source_record_id),
            ("/record_id", &r.record_id),
        ] {
            if has_bidi_control(id) {
                self.push(
                    path,
                    BIDI_CONTROL,
                    "identifiers must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)",
                );
            }
        }
        if shared {
            self.shared_envelope(r);
        }
        self.text(
            "/provenance/location",
            &r.provenance.location,
            MAX_TEXT_CHARS,
            true,
        );
    }

    fn region_and_source(&mut self, r: &Record) {
        match codes::current_division(&r.region) {
            Some(d) if d.level == DivisionLevel::Province => {}
            _ => self.push(
                "/region",
                "invalid_region",
                format!(
                    "region {:?} is not a current provincial-level GB/T 2260 code",
                    r.region
                ),
            ),
        }
        if !is_identifier(&r.source) {
            self.push(
                "/source",
                "invalid_source",
                "source must be 1-64 characters of a-z, 0-9, '-', '_' or '.'",
            );
        }
    }

    fn shared_envelope(&mut self, r: &Record) {
        if !is_schema_v1(&r.schema_version) {
            self.push(
                "/schema_version",
                "unsupported_schema_version",
                format!("schema_version {:?} is not 1.x.y", r.schema_version),
            );
        }
        for (list, version) in r.code_lists.iter() {
            let path = || format!("/code_lists/{}", escape_pointer(list));
            if codes::version(list).is_none() {
                self.push(
                    &path(),
                    "unknown_code_list",
                    format!("unknown code list {list:?}"),
                );
            } else if version.is_empty() {
                self.push(
                    &path(),
                    "invalid_code_list_version",
                    "version must not be empty",
                );
            }
        }
        let p = &r.provenance;
        if !(p.raw_sha256.len() == 64 && all_in(&p.raw_sha256, &LOWER_HEX)) {
            self.push(
                "/provenance/raw_sha256",
                "invalid_sha256",
                "raw_sha256 must be 64 lower-case hex digits",
            );
        }
        if !is_identifier(&p.adapter_id) {
            self.push(
                "/provenance/adapter_id",
                "invalid_adapter_id",
                "adapter_id must be 1-64 characters of a-z, 0-9, '-', '_' or '.'",
            );
        }
        self.text("/provenance/adapter_version", &p.adapter_version, 64, true);
        if !is_rfc3339(&p.ingested_at) {
            self.push(
                "/provenance/ingested_at",
                "invalid_datetime",
                "ingested_at must be an RFC 3339 date-time",
            );
        }
    }

    fn person(&mut self, b: &Person) {
        self.person_key("/person_key", &b.person_key);
        if codes::sex(&b.sex).is_none() {
            self.push(
                "/sex",
                "unknown_sex",
                format!("{:?} is not a GB/T 2261.1 code", b.sex),
            );
        }
        self.date("/birth_date", b.birth_date);
        if is_future(b.birth_date) {
            self.push("/birth_date", "future_date", "birth_date is in the future");
        }
        self.education("/education", &b.education);
        self.division("/hukou_division", &b.hukou_division);
        self.division("/residence_division", &b.residence_division);
        if let Some(year) = b.graduation_year {
            let year = i32::from(year);
            if !(MIN_YEAR..=MAX_YEAR).contains(&year) || year < b.birth_date.year() {
                self.push(
                    "/graduation_year",
                    "out_of_range",
                    format!(
                        "graduation_year {year} is before birth or outside {MIN_YEAR}-{MAX_YEAR}"
                    ),
                );
            }
        }
        for (i, g) in b.key_groups.iter().enumerate() {
            if b.key_groups[..i].contains(g) {
                self.push(
                    &format!("/key_groups/{i}"),
                    "duplicate",
                    "key group listed twice",
                );
            }
        }
        if let Some(p) = &b.protected {
            self.text("/protected/name", &p.name, 100, true);
            match IdNumber::parse(&p.id_number) {
                Err(e) => self.push(
                    "/protected/id_number",
                    "invalid_id_number",
                    format!("{} ({})", e, e.code()),
                ),
                Ok(id) if id.as_str() != p.id_number => self.push(
                    "/protected/id_number",
                    "id_number_not_normalised",
                    "id_number must be stored in its normalised 18-character form",
                ),
                Ok(id) => {
                    if id.birth_date() != b.birth_date {
                        self.push(
                            "/birth_date",
                            "id_number_mismatch",
                            "birth_date differs from the birth date in id_number",
                        );
                    }
                    if (b.sex == "1" || b.sex == "2") && b.sex != id.sex_code() {
                        self.push(
                            "/sex",
                            "id_number_mismatch",
                            "sex differs from the sex in id_number",
                        );
                    }
                }
            }
            if let Some(phone) = &p.phone {
                if !is_mobile(phone) {
                    self.push(
                        "/protected/phone",
                        "invalid_phone",
                        "phone must be an 11-digit mainland mobile number starting 13-19",
                    );
                }
            }
        }
    }

    fn registration(&mut self, b: &JobSeekerRegistration) {
        self.person_key("/person_key", &b.person_key);
        for (i, code) in b.desired_occupations.iter().enumerate() {
            // The path is only spelled out for an error (this loop runs for every registration).
            if let Err(e) = codes::validate_occupation_or_group(code) {
                self.push(
                    &format!("/desired_occupations/{i}"),
                    "unknown_occupation",
                    format!("{code:?}: {e}"),
                );
            }
            if b.desired_occupations[..i].contains(code) {
                self.push(
                    &format!("/desired_occupations/{i}"),
                    "duplicate",
                    "occupation listed twice",
                );
            }
        }
        self.division("/desired_division", &b.desired_division);
        self.date("/registered_on", b.registered_on);
        if is_future(b.registered_on) {
            self.push(
                "/registered_on",
                "future_date",
                "registered_on is in the future",
            );
        }
        if let Some(until) = b.valid_until {
            self.date("/valid_until", until);
            self.order("/valid_until", "registered_on", b.registered_on, until);
        }
    }

    fn employer(&mut self, b: &Employer) {
        self.uscc("/uscc", &b.uscc);
        self.text("/name", &b.name, 200, true);
        self.industry("/industry", &b.industry);
        self.division("/reg_division", &b.reg_division);
    }

    fn vacancy(&mut self, b: &Vacancy) {
        self.uscc("/employer_uscc", &b.employer_uscc);
        self.text("/title", &b.title, 200, true);
        self.occupation("/occupation", &b.occupation);
        self.industry("/industry", &b.industry);
        self.division("/work_division", &b.work_division);
        if b.openings == 0 {
            self.push("/openings", "out_of_range", "openings must be at least 1");
        }
        if let Some(e) = &b.min_education {
            self.education("/min_education", e);
        }
        if let (Some(min), Some(max)) = (b.salary_min, b.salary_max) {
            if min > max {
                self.push(
                    "/salary_max",
                    "out_of_order",
                    "salary_max is below salary_min",
                );
            }
        }
        self.date("/posted_on", b.posted_on);
        if let Some(through) = b.valid_through {
            self.date("/valid_through", through);
            self.order("/valid_through", "posted_on", b.posted_on, through);
        }
        if let Some(name) = &b.employer_name {
            self.text("/employer_name", name, 200, true);
        }
        if let Some(d) = &b.description {
            self.text("/description", d, 4000, false);
        }
        for (i, g) in b.key_groups.iter().enumerate() {
            if b.key_groups[..i].contains(g) {
                self.push(
                    &format!("/key_groups/{i}"),
                    "duplicate",
                    "key group listed twice",
                );
            }
        }
    }

    fn employment_event(&mut self, b: &EmploymentEvent) {
        self.person_key("/person_key", &b.person_key);
        if let Some(u) = &b.employer_uscc {
            self.uscc("/employer_uscc", u);
        }
        if let Some(o) = &b.occupation {
            self.occupation("/occupation", o);
        }
        self.division("/work_division", &b.work_division);
        self.date("/date", b.date);
        if let Some(reason) = &b.reason {
            self.text("/reason", reason, MAX_TEXT_CHARS, false);
        }
    }

    fn training(&mut self, b: &TrainingRecord) {
        self.person_key("/person_key", &b.person_key);
        self.uscc("/provider_uscc", &b.provider_uscc);
        self.occupation("/target_occupation", &b.target_occupation);
        self.date("/start_on", b.start_on);
        if let Some(end) = b.end_on {
            self.date("/end_on", end);
            self.order("/end_on", "start_on", b.start_on, end);
        }
        if let Some(level) = b.certificate_level {
            if !(1..=5).contains(&level) {
                self.push(
                    "/certificate_level",
                    "out_of_range",
                    format!("certificate_level {level} is not 1-5"),
                );
            }
        }
    }

    fn platform_work(&mut self, b: &PlatformWork) {
        self.person_key("/person_key", &b.person_key);
        self.uscc("/platform_uscc", &b.platform_uscc);
        self.occupation("/occupation", &b.occupation);
        self.division("/city_division", &b.city_division);
        match parse_month(&b.period_month) {
            None => self.push(
                "/period_month",
                "invalid_month",
                format!(
                    "period_month {:?} is not YYYY-MM ({MIN_YEAR}-{MAX_YEAR})",
                    b.period_month
                ),
            ),
            Some((year, month)) => {
                let days = id_number::days_in_month(year, month);
                if u32::from(b.active_days) > days {
                    self.push(
                        "/active_days",
                        "out_of_range",
                        format!(
                            "active_days {} exceeds the {days} days of the month",
                            b.active_days
                        ),
                    );
                }
            }
        }
    }

    fn service_event(&mut self, b: &ServiceEvent) {
        if let Some(k) = &b.person_key {
            self.person_key("/person_key", k);
        }
        if !is_identifier(&b.station_id) {
            self.push(
                "/station_id",
                "invalid_station_id",
                "station_id must be 1-64 characters of a-z, 0-9, '-', '_' or '.'",
            );
        }
        self.division("/division", &b.division);
        self.date("/date", b.date);
    }

    fn service_station(&mut self, b: &ServiceStation) {
        if !is_identifier(&b.station_id) {
            self.push(
                "/station_id",
                "invalid_station_id",
                "station_id must be 1-64 characters of a-z, 0-9, '-', '_' or '.'",
            );
        }
        self.text("/name", &b.name, 200, true);
        let before = self.errors.len();
        self.division("/division", &b.division);
        // A station sits in a county; a prefecture-level city without counties (东莞, 中山,
        // 儋州) is its own county.
        if self.errors.len() == before && !is_county_level(&b.division) {
            self.push(
                "/division",
                "division_not_county",
                format!(
                    "{:?} is above county level; give the station's county",
                    b.division
                ),
            );
        }
        if let Some(t) = &b.township {
            let shaped = matches!(t.len(), 9 | 12) && t.bytes().all(|c| c.is_ascii_digit());
            if !shaped || !t.starts_with(b.division.as_str()) {
                self.push(
                    "/township",
                    "invalid_township",
                    "township must be the 9-digit township or 12-digit village code, starting \
                     with the station's division",
                );
            }
        }
        self.date("/opened_on", b.opened_on);
        if is_future(b.opened_on) {
            self.push("/opened_on", "future_date", "opened_on is in the future");
        }
        for (i, s) in b.services.iter().enumerate() {
            if b.services[..i].contains(s) {
                self.push(
                    &format!("/services/{i}"),
                    "duplicate_service",
                    "a service is listed twice",
                );
            }
        }
    }

    // Field rules shared by several record types.

    fn person_key(&mut self, path: &str, key: &str) {
        if !person_key::is_well_formed(key) {
            self.push(
                path,
                "invalid_person_key",
                "person_key must be 43 base64url characters (HMAC-SHA256)",
            );
        }
    }

    fn uscc(&mut self, path: &str, code: &str) {
        if let Err(e) = uscc::validate(code) {
            self.push(path, "invalid_uscc", format!("{} ({})", e, e.code()));
        }
    }

    fn division(&mut self, path: &str, code: &str) {
        if let Err(e) = codes::validate_division(code) {
            let code_name = match e {
                codes::DivisionError::Format => "unknown_division",
                _ => e.code(),
            };
            self.push(path, code_name, format!("{code:?}: {e}"));
        }
    }

    fn occupation(&mut self, path: &str, code: &str) {
        if let Err(e) = codes::validate_occupation_or_group(code) {
            self.push(path, "unknown_occupation", format!("{code:?}: {e}"));
        }
    }

    fn industry(&mut self, path: &str, code: &str) {
        if codes::industry(code).is_none() {
            self.push(
                path,
                "unknown_industry",
                format!("{code:?} is not a GB/T 4754-2017 section or division"),
            );
        }
    }

    fn education(&mut self, path: &str, code: &str) {
        if codes::education(code).is_none() {
            self.push(
                path,
                "unknown_education",
                format!("{code:?} is not a GB/T 4658 education code"),
            );
        }
    }

    fn date(&mut self, path: &str, date: NaiveDate) {
        if !(MIN_YEAR..=MAX_YEAR).contains(&date.year()) {
            self.push(
                path,
                "date_out_of_range",
                format!("year {} is outside {MIN_YEAR}-{MAX_YEAR}", date.year()),
            );
        }
    }

    fn order(&mut self, path: &str, earlier_name: &str, earlier: NaiveDate, later: NaiveDate) {
        if later < earlier {
            let field = path.trim_start_matches('/');
            self.push(
                path,
                "out_of_order",
                format!("{field} is before {earlier_name}"),
            );
        }
    }

    /// Checks a free-text field: present if required, not too long, no control characters.
    /// The message never echoes the text (it may be a protected field such as a name).
    fn text(&mut self, path: &str, s: &str, max_chars: usize, required: bool) {
        // ASCII text (most locations, versions, codes) is checked bytewise: same rules, no
        // char decoding.
        if s.is_ascii() {
            let b = s.as_bytes();
            if required && b.iter().all(|&c| char::from(c).is_whitespace()) {
                self.push(path, "required", "must not be empty");
            } else if b.len() > max_chars {
                self.push(
                    path,
                    "too_long",
                    format!("longer than {max_chars} characters"),
                );
            } else if b
                .iter()
                .any(|&c| c.is_ascii_control() && c != b'\n' && c != b'\t')
            {
                self.push(path, "invalid_text", "contains control characters");
            }
            return;
        }
        let n = s.chars().count();
        if required && s.trim().is_empty() {
            self.push(path, "required", "must not be empty");
        } else if n > max_chars {
            self.push(
                path,
                "too_long",
                format!("longer than {max_chars} characters"),
            );
        } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            self.push(path, "invalid_text", "contains control characters");
        }
    }
}

/// `YYYY-MM` with a year in range and month 1-12.
/// Whether a (known, current) division is at county level: a county, or a prefecture-level city
/// that has no counties of its own.
fn is_county_level(code: &str) -> bool {
    match codes::current_division(code) {
        Some(d) => match d.level {
            DivisionLevel::County => true,
            DivisionLevel::Prefecture => !codes::all_divisions()
                .iter()
                .any(|c| c.parent == Some(d.code)),
            DivisionLevel::Province => false,
        },
        None => false,
    }
}

fn parse_month(s: &str) -> Option<(u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 7 || b[4] != b'-' || !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
        return None;
    }
    let year: u32 = s[..4].parse().ok()?;
    let month: u32 = s[5..].parse().ok()?;
    let year_ok = (MIN_YEAR as u32..=MAX_YEAR as u32).contains(&year);
    (year_ok && (1..=12).contains(&month)).then_some((year, month))
}

/// Error code of an identifier holding a bidirectional control character.
pub const BIDI_CONTROL: &str = "bidi_control";

/// Whether `c` is a bidirectional embedding, override or isolate control (U+202A-U+202E,
/// U+2066-U+2069). They are invisible and reorder the text around them, so an id holding one
/// displays as another id ("Trojan Source", CVE-2021-42574); `char::is_control` does not
/// cover them (they are format characters, category Cf).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `s` holds a bidirectional control character. Every one is encoded with the lead
/// byte 0xE2, so most ids (ASCII) are passed over without decoding.
pub fn has_bidi_control(s: &str) -> bool {
    s.as_bytes().contains(&0xE2) && s.chars().any(is_bidi_control)
}

/// Identifiers of sources, adapters and stations: 1-64 of `a-z 0-9 - _ .`.
fn is_identifier(s: &str) -> bool {
    (1..=64).contains(&s.len()) && all_in(s, &IDENTIFIER)
}

/// A byte class as a lookup table (these checks run on every record's envelope).
type ByteClass = [bool; 256];

/// Builds a [`ByteClass`] from a predicate on a byte `b` (a macro: const fns cannot call closures).
macro_rules! byte_class {
    (|$b:ident| $pred:expr) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            t[i] = $pred;
            i += 1;
        }
        t
    }};
}

/// `0-9 a-f`.
static LOWER_HEX: ByteClass = byte_class!(|b| b.is_ascii_digit() || matches!(b, b'a'..=b'f'));
/// `a-z 0-9 - _ .`.
static IDENTIFIER: ByteClass = byte_class!(|b| b.is_ascii_lowercase()
    || b.is_ascii_digit()
    || matches!(b, b'-' | b'_' | b'.'));

/// Whether every byte of `s` is in `class`.
fn all_in(s: &str, class: &ByteClass) -> bool {
    s.bytes().fold(true, |ok, b| ok & class[usize::from(b)])
}

/// `1.MINOR.PATCH`, each part one or more ASCII digits.
fn is_schema_v1(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("1.") else {
        return false;
    };
    let Some((minor, patch)) = rest.split_once('.') else {
        return false;
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(minor) && digits(patch)
}

fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Whether `s` is an RFC 3339 date-time. Every record of a batch carries the same `ingested_at`,
/// so the last accepted value is remembered (per thread) and only a different one is parsed.
fn is_rfc3339(s: &str) -> bool {
    thread_local! {
        static LAST_OK: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    if !s.is_empty() && LAST_OK.with(|l| l.borrow().as_str() == s) {
        return true;
    }
    let ok = DateTime::parse_from_rfc3339(s).is_ok();
    if ok {
        LAST_OK.with(|l| {
            let mut l = l.borrow_mut();
            l.clear();
            l.push_str(s);
        });
    }
    ok
}

/// Today (CST) when first asked: any date up to it can never be in the future. Later dates are
/// re-checked against the clock, so a long-running process stays correct.
static TODAY_AT_START: std::sync::LazyLock<NaiveDate> = std::sync::LazyLock::new(today);

/// Whether `date` lies after today (China Standard Time), reading the clock only when needed.
fn is_future(date: NaiveDate) -> bool {
    date > *TODAY_AT_START && date > today()
}

/// Today in China Standard Time.
fn today() -> NaiveDate {
    let now = chrono::Utc::now();
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(cst) => now.with_timezone(&cst).date_naive(),
        None => now.date_naive(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_parsing_checks_shape_and_range() {
        assert_eq!(parse_month("2024-02"), Some((2024, 2)));
        assert_eq!(parse_month("2024-13"), None);
        assert_eq!(parse_month("2024-00"), None);
        assert_eq!(parse_month("24-02"), None);
        assert_eq!(parse_month("1899-12"), None);
        assert_eq!(parse_month("2024/02"), None);
    }

    fn text_codes(s: &str, max: usize) -> Vec<&'static str> {
        let mut c = Checker::default();
        c.text("/t", s, max, true);
        c.errors.iter().map(|e| e.code).collect()
    }

    #[test]
    fn ascii_and_unicode_text_follow_the_same_rules() {
        // Vertical tab is white space to `str::trim`, so blank-but-for-it is still empty.
        assert_eq!(text_codes(" \u{b}\r\n", 10), ["required"]);
        assert_eq!(text_codes("\u{3000}", 10), ["required"]);
        assert_eq!(text_codes("abc", 2), ["too_long"]);
        assert_eq!(text_codes("张三丰", 2), ["too_long"]);
        assert_eq!(text_codes("张三", 2), Vec::<&str>::new());
        assert_eq!(text_codes("a\u{7f}", 10), ["invalid_text"]);
        assert_eq!(text_codes("张\u{0}", 10), ["invalid_text"]);
        assert_eq!(text_codes("a\tb\nc", 10), Vec::<&str>::new());
    }

    #[test]
    fn remembered_ingested_at_does_not_admit_other_values() {
        assert!(is_rfc3339("2024-06-30T00:00:00Z"));
        assert!(is_rfc3339("2024-06-30T00:00:00Z"));
        assert!(!is_rfc3339("2024-06-30"));
        assert!(!is_rfc3339(""));
        assert!(is_rfc3339("2024-06-30T08:00:00+08:00"));
        assert!(!is_rfc3339("2024-06-30T00:00:00Z "));
    }

    #[test]
    fn future_dates_are_recognised() {
        assert!(!is_future(today()));
        assert!(is_future(today() + chrono::Days::new(1)));
        assert!(!is_future(NaiveDate::from_ymd_opt(1990, 1, 1).unwrap()));
    }

    #[test]
    fn schema_version_must_be_major_one() {
        assert!(is_schema_v1("1.0.0"));
        assert!(is_schema_v1("1.12.3"));
        assert!(!is_schema_v1("2.0.0"));
        assert!(!is_schema_v1("1.0"));
        assert!(!is_schema_v1("1.0.x"));
        assert!(!is_schema_v1("1.0.0.0"));
        assert!(!is_schema_v1("1..0"));
        assert!(!is_schema_v1("1.0."));
        assert!(!is_schema_v1("11.0.0"));
        assert!(!is_schema_v1(""));
    }

    #[test]
    fn bidi_controls_are_exactly_the_embeddings_overrides_and_isolates() {
        let bidi: Vec<u32> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| is_bidi_control(*c))
            .map(u32::from)
            .collect();
        assert_eq!(
            bidi,
            [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
        );
        assert!(has_bidi_control("E-1\u{202E}2"));
        assert!(!has_bidi_control("E-1\u{2028}2\u{200F}"));
        assert!(!has_bidi_control("E-12"));
    }

    #[test]
    fn byte_classes_match_their_definitions() {
        for b in 0..=255u8 {
            let c = char::from(b);
            assert_eq!(
                LOWER_HEX[usize::from(b)],
                c.is_ascii_digit() || ('a'..='f').contains(&c)
            );
            assert_eq!(
                IDENTIFIER[usize::from(b)],
                c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)
            );
        }
        assert!(is_identifier("gd-hrss-csv"));
        assert!(!is_identifier("GD"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("张"));
    }
}
