//! Target fields of each national record type, and building typed bodies from mapped values.
//!
//! A mapping names target fields; [`fields_of`] is the list it is checked against, and the slot
//! order there is the order [`build_body`] reads values in. `id_number` is the raw ID number: it
//! becomes `person_key` (and, for a person, the protected `id_number`).

use std::borrow::Cow;

use chrono::NaiveDate;
use pes_schemas::{
    Employer, EmploymentEvent, JobSeekerRegistration, Person, PersonProtected, PlatformWork,
    RecordBody, RecordType, ServiceEvent, ServiceStation, TrainingRecord, Vacancy,
};
use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::Deserialize;

use crate::adapter::RowErrorCode;
use crate::national::{IdNumber, IdNumberError};

/// A value on its way from a source to a target field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V<'a> {
    /// No value (absent source, JSON null, empty after trimming).
    Absent,
    /// Text.
    Text(Cow<'a, str>),
    /// A parsed date.
    Date(NaiveDate),
    /// A list of texts.
    List(Vec<Cow<'a, str>>),
}

impl V<'_> {
    /// Whether the value is absent or empty text / empty list.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            V::Absent => true,
            V::Text(t) => t.is_empty(),
            V::Date(_) => false,
            V::List(l) => l.is_empty(),
        }
    }

    /// Text form, for messages and conditions.
    pub(crate) fn display(&self) -> String {
        match self {
            V::Absent => String::new(),
            V::Text(t) => t.to_string(),
            V::Date(d) => d.to_string(),
            V::List(l) => l.join("|"),
        }
    }
}

/// A target field of a record type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldDef {
    /// Name used in mappings.
    pub name: &'static str,
    /// Whether a record cannot be built without it.
    pub required: bool,
    /// Whether the value is protected (masked in errors and in `adapters check`).
    pub protected: bool,
}

const fn req(name: &'static str) -> FieldDef {
    FieldDef {
        name,
        required: true,
        protected: false,
    }
}
const fn opt(name: &'static str) -> FieldDef {
    FieldDef {
        name,
        required: false,
        protected: false,
    }
}
const fn prot(name: &'static str, required: bool) -> FieldDef {
    FieldDef {
        name,
        required,
        protected: true,
    }
}

/// Slot 0 and 1 of every record type.
const ENVELOPE: [FieldDef; 2] = [req("source_record_id"), opt("record_version")];

const PERSON: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    prot("id_number", true),
    prot("name", true),
    prot("phone", false),
    req("sex"),
    req("birth_date"),
    req("education"),
    req("hukou_division"),
    req("hukou_nature"),
    req("residence_division"),
    opt("graduation_year"),
    opt("key_groups"),
];
const REGISTRATION: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    prot("id_number", true),
    req("seeker_category"),
    opt("desired_occupations"),
    req("desired_division"),
    req("registered_on"),
    opt("valid_until"),
    req("status"),
];
const EMPLOYER: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    req("uscc"),
    req("name"),
    req("industry"),
    req("reg_division"),
    req("size_class"),
    req("ownership"),
];
const VACANCY: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    req("employer_uscc"),
    req("title"),
    req("occupation"),
    req("industry"),
    req("work_division"),
    req("openings"),
    opt("min_education"),
    req("employment_type"),
    opt("salary_min"),
    opt("salary_max"),
    req("posted_on"),
    opt("valid_through"),
    req("status"),
    opt("employer_name"),
    opt("description"),
    opt("key_groups"),
];
const EMPLOYMENT_EVENT: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    prot("id_number", true),
    req("kind"),
    opt("employer_uscc"),
    req("employment_form"),
    opt("occupation"),
    req("work_division"),
    req("date"),
    opt("reason"),
];
const TRAINING: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    prot("id_number", true),
    req("provider_uscc"),
    req("target_occupation"),
    req("training_type"),
    req("start_on"),
    opt("end_on"),
    opt("certificate_level"),
    opt("subsidy_cny"),
    req("outcome"),
];
const PLATFORM_WORK: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    prot("id_number", true),
    req("platform_uscc"),
    req("platform_type"),
    req("occupation"),
    req("city_division"),
    req("period_month"),
    req("active_days"),
    req("injury_insurance"),
];
const SERVICE_EVENT: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    prot("id_number", false),
    req("station_id"),
    req("division"),
    req("service"),
    req("date"),
    req("outcome"),
    opt("station_kind"),
];
const SERVICE_STATION: &[FieldDef] = &[
    ENVELOPE[0],
    ENVELOPE[1],
    req("station_id"),
    req("name"),
    req("kind"),
    req("division"),
    opt("township"),
    req("opened_on"),
    req("status"),
    opt("services"),
];

/// The target fields of a record type, in slot order.
pub(crate) fn fields_of(t: RecordType) -> &'static [FieldDef] {
    match t {
        RecordType::Person => PERSON,
        RecordType::JobSeekerRegistration => REGISTRATION,
        RecordType::Employer => EMPLOYER,
        RecordType::Vacancy => VACANCY,
        RecordType::EmploymentEvent => EMPLOYMENT_EVENT,
        RecordType::TrainingRecord => TRAINING,
        RecordType::PlatformWork => PLATFORM_WORK,
        RecordType::ServiceEvent => SERVICE_EVENT,
        RecordType::ServiceStation => SERVICE_STATION,
    }
}

/// Why a target field could not be built.
#[derive(Debug)]
pub(crate) struct FieldFail {
    /// Slot of the field.
    pub slot: usize,
    /// Error code.
    pub code: RowErrorCode,
    /// Message (no protected values).
    pub message: String,
}

/// Reads slot values in order, turning them into typed fields.
struct Slots<'s, 'a> {
    vals: &'s mut [V<'a>],
    next: usize,
}

impl<'a> Slots<'_, 'a> {
    fn take(&mut self) -> (usize, V<'a>) {
        let slot = self.next;
        self.next += 1;
        (slot, std::mem::replace(&mut self.vals[slot], V::Absent))
    }

    fn fail(slot: usize, code: RowErrorCode, message: impl Into<String>) -> FieldFail {
        FieldFail {
            slot,
            code,
            message: message.into(),
        }
    }

    /// The next value as text, borrowed where it can be.
    fn opt_str(&mut self) -> Result<Option<Cow<'a, str>>, FieldFail> {
        let (slot, v) = self.take();
        match v {
            V::Absent => Ok(None),
            V::Text(t) if t.is_empty() => Ok(None),
            V::Text(t) => Ok(Some(t)),
            V::Date(d) => Ok(Some(Cow::Owned(d.to_string()))),
            V::List(_) => Err(Self::fail(
                slot,
                RowErrorCode::BadValue,
                "a list where one value is expected",
            )),
        }
    }

    fn opt_text(&mut self) -> Result<Option<String>, FieldFail> {
        Ok(self.opt_str()?.map(Cow::into_owned))
    }

    /// The next value as required text, borrowed where it can be (enumerations and flags are
    /// parsed from it, not stored).
    fn str(&mut self) -> Result<Cow<'a, str>, FieldFail> {
        let slot = self.next;
        self.opt_str()?
            .ok_or_else(|| Self::fail(slot, RowErrorCode::Missing, "required value is missing"))
    }

    fn text(&mut self) -> Result<String, FieldFail> {
        Ok(self.str()?.into_owned())
    }

    fn opt_date(&mut self) -> Result<Option<NaiveDate>, FieldFail> {
        let (slot, v) = self.take();
        match v {
            V::Absent => Ok(None),
            V::Text(t) if t.is_empty() => Ok(None),
            V::Date(d) => Ok(Some(d)),
            V::Text(t) => NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| {
                    Self::fail(
                        slot,
                        RowErrorCode::BadDate,
                        "not a YYYY-MM-DD date (add a date transform)",
                    )
                }),
            V::List(_) => Err(Self::fail(
                slot,
                RowErrorCode::BadValue,
                "a list where a date is expected",
            )),
        }
    }

    fn date(&mut self) -> Result<NaiveDate, FieldFail> {
        let slot = self.next;
        self.opt_date()?
            .ok_or_else(|| Self::fail(slot, RowErrorCode::Missing, "required date is missing"))
    }

    fn opt_num<N: std::str::FromStr>(&mut self) -> Result<Option<N>, FieldFail> {
        let slot = self.next;
        match self.opt_text()? {
            None => Ok(None),
            Some(t) => {
                // Spreadsheet exports write integers as `3.0`.
                let t = t.strip_suffix(".0").unwrap_or(&t);
                t.parse::<N>().map(Some).map_err(|_| {
                    Self::fail(slot, RowErrorCode::BadNumber, "not a whole number in range")
                })
            }
        }
    }

    fn num<N: std::str::FromStr>(&mut self) -> Result<N, FieldFail> {
        let slot = self.next;
        self.opt_num()?
            .ok_or_else(|| Self::fail(slot, RowErrorCode::Missing, "required number is missing"))
    }

    fn boolean(&mut self) -> Result<bool, FieldFail> {
        let slot = self.next;
        let t = self.str()?;
        match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "y" | "yes" | "是" | "t" => Ok(true),
            "false" | "0" | "n" | "no" | "否" | "f" => Ok(false),
            _ => Err(Self::fail(
                slot,
                RowErrorCode::BadValue,
                "not a yes/no value",
            )),
        }
    }

    fn opt_enumerated<T: for<'de> Deserialize<'de>>(&mut self) -> Result<Option<T>, FieldFail> {
        let slot = self.next;
        match self.opt_str()? {
            None => Ok(None),
            Some(t) => parse_enum(&t)
                .map(Some)
                .ok_or_else(|| Self::fail(slot, RowErrorCode::BadValue, "not an allowed value")),
        }
    }

    fn enumerated<T: for<'de> Deserialize<'de>>(&mut self) -> Result<T, FieldFail> {
        let slot = self.next;
        let t = self.str()?;
        parse_enum(&t)
            .ok_or_else(|| Self::fail(slot, RowErrorCode::BadValue, "not an allowed value"))
    }

    /// The next value as a list, items borrowed where they can be. A source list is a set in
    /// the national schema: an item repeated (`农民工;农民工`, or two local codes of one national
    /// code) is kept once, in its first place, instead of failing the row as a duplicate.
    fn cow_list(&mut self) -> Vec<Cow<'a, str>> {
        let (_, v) = self.take();
        match v {
            V::Absent => Vec::new(),
            V::Text(t) if t.is_empty() => Vec::new(),
            V::Text(t) => vec![t],
            V::Date(d) => vec![Cow::Owned(d.to_string())],
            V::List(mut l) => {
                // Lists are a handful of items: a quadratic scan beats hashing.
                let mut i = 1;
                while i < l.len() {
                    if l[..i].contains(&l[i]) {
                        l.remove(i);
                    } else {
                        i += 1;
                    }
                }
                l
            }
        }
    }

    fn list(&mut self) -> Result<Vec<String>, FieldFail> {
        Ok(self.cow_list().into_iter().map(Cow::into_owned).collect())
    }

    fn enum_list<T: for<'de> Deserialize<'de>>(&mut self) -> Result<Vec<T>, FieldFail> {
        let slot = self.next;
        self.cow_list()
            .iter()
            .map(|s| {
                parse_enum(s)
                    .ok_or_else(|| Self::fail(slot, RowErrorCode::BadValue, "not an allowed value"))
            })
            .collect()
    }

    /// The raw ID number: parsed, normalised and keyed.
    fn id(&mut self, id_of: IdOf<'_>) -> Result<Option<(IdNumber, String)>, FieldFail> {
        let slot = self.next;
        match self.opt_str()? {
            None => Ok(None),
            // The error names the check that failed, never the number.
            Some(raw) => id_of(&raw).map(Some).map_err(|e| {
                Self::fail(
                    slot,
                    RowErrorCode::BadIdNumber,
                    format!("not a valid GB 11643 ID number: {e}"),
                )
            }),
        }
    }

    fn req_id(&mut self, keyer: IdOf<'_>) -> Result<(IdNumber, String), FieldFail> {
        let slot = self.next;
        self.id(keyer)?
            .ok_or_else(|| Self::fail(slot, RowErrorCode::Missing, "required ID number is missing"))
    }
}

/// Parses a snake_case schema enumeration value.
pub(crate) fn parse_enum<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
    T::deserialize(StrDeserializer::<ValueError>::new(s)).ok()
}

/// Parses a raw ID number and derives its person key; `None` when it is not a valid ID number.
pub(crate) type IdOf<'k> = &'k dyn Fn(&str) -> Result<(IdNumber, String), IdNumberError>;

/// Builds the typed body of a record from slot values (slots 0 and 1 are skipped: envelope).
/// `keyer` parses the raw ID number and gives its person key.
pub(crate) fn build_body(
    t: RecordType,
    vals: &mut [V<'_>],
    keyer: IdOf<'_>,
) -> Result<RecordBody, FieldFail> {
    let mut s = Slots { vals, next: 2 };
    Ok(match t {
        RecordType::Person => {
            let (id, person_key) = s.req_id(keyer)?;
            let name = s.text()?;
            let phone = s.opt_text()?;
            RecordBody::Person(Person {
                person_key,
                sex: s.text()?,
                birth_date: s.date()?,
                education: s.text()?,
                hukou_division: s.text()?,
                hukou_nature: s.enumerated()?,
                residence_division: s.text()?,
                graduation_year: s.opt_num()?,
                key_groups: s.enum_list()?,
                protected: Some(PersonProtected {
                    name,
                    id_number: id.as_str().to_string(),
                    phone,
                }),
            })
        }
        RecordType::JobSeekerRegistration => {
            RecordBody::JobSeekerRegistration(JobSeekerRegistration {
                person_key: s.req_id(keyer)?.1,
                seeker_category: s.enumerated()?,
                desired_occupations: s.list()?,
                desired_division: s.text()?,
                registered_on: s.date()?,
                valid_until: s.opt_date()?,
                status: s.enumerated()?,
            })
        }
        RecordType::Employer => RecordBody::Employer(Employer {
            uscc: s.text()?,
            name: s.text()?,
            industry: s.text()?,
            reg_division: s.text()?,
            size_class: s.enumerated()?,
            ownership: s.enumerated()?,
        }),
        RecordType::Vacancy => RecordBody::Vacancy(Vacancy {
            employer_uscc: s.text()?,
            title: s.text()?,
            occupation: s.text()?,
            industry: s.text()?,
            work_division: s.text()?,
            openings: s.num()?,
            min_education: s.opt_text()?,
            employment_type: s.enumerated()?,
            salary_min: s.opt_num()?,
            salary_max: s.opt_num()?,
            posted_on: s.date()?,
            valid_through: s.opt_date()?,
            status: s.enumerated()?,
            employer_name: s.opt_text()?,
            description: s.opt_text()?,
            key_groups: s.enum_list()?,
        }),
        RecordType::EmploymentEvent => RecordBody::EmploymentEvent(EmploymentEvent {
            person_key: s.req_id(keyer)?.1,
            kind: s.enumerated()?,
            employer_uscc: s.opt_text()?,
            employment_form: s.enumerated()?,
            occupation: s.opt_text()?,
            work_division: s.text()?,
            date: s.date()?,
            reason: s.opt_text()?,
        }),
        RecordType::TrainingRecord => RecordBody::TrainingRecord(TrainingRecord {
            person_key: s.req_id(keyer)?.1,
            provider_uscc: s.text()?,
            target_occupation: s.text()?,
            training_type: s.enumerated()?,
            start_on: s.date()?,
            end_on: s.opt_date()?,
            certificate_level: s.opt_num()?,
            subsidy_cny: s.opt_num()?,
            outcome: s.enumerated()?,
        }),
        RecordType::PlatformWork => RecordBody::PlatformWork(PlatformWork {
            person_key: s.req_id(keyer)?.1,
            platform_uscc: s.text()?,
            platform_type: s.enumerated()?,
            occupation: s.text()?,
            city_division: s.text()?,
            period_month: s.text()?,
            active_days: s.num()?,
            injury_insurance: s.boolean()?,
        }),
        RecordType::ServiceEvent => RecordBody::ServiceEvent(ServiceEvent {
            person_key: s.id(keyer)?.map(|(_, k)| k),
            station_id: s.text()?,
            division: s.text()?,
            service: s.enumerated()?,
            date: s.date()?,
            outcome: s.enumerated()?,
            station_kind: s.opt_enumerated()?,
        }),
        RecordType::ServiceStation => RecordBody::ServiceStation(ServiceStation {
            station_id: s.text()?,
            name: s.text()?,
            kind: s.enumerated()?,
            division: s.text()?,
            township: s.opt_text()?,
            opened_on: s.date()?,
            status: s.enumerated()?,
            services: s.enum_list()?,
        }),
    })
}

/// National code lists each record type draws on (keys of the record's `code_lists`).
pub(crate) fn code_lists_of(t: RecordType) -> &'static [&'static str] {
    match t {
        RecordType::Person => &["gbt2261_1", "gbt4658", "gbt2260", "key_groups"],
        RecordType::JobSeekerRegistration => &["occupations", "gbt2260", "seeker_categories"],
        RecordType::Employer => &["gbt4754", "gbt2260"],
        RecordType::Vacancy => &["occupations", "gbt4754", "gbt4658", "gbt2260"],
        RecordType::EmploymentEvent => &["occupations", "gbt2260", "employment_forms"],
        RecordType::TrainingRecord => &["occupations"],
        RecordType::PlatformWork => &["gbt2260", "occupations", "platform_types"],
        RecordType::ServiceEvent => &["gbt2260", "service_kinds", "station_kinds"],
        RecordType::ServiceStation => &["gbt2260", "station_kinds", "service_kinds"],
    }
}
