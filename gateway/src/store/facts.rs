//! Facts: the few coded values of a record that aggregates group and filter by.
//!
//! They are computed once, when a record is encoded for the journal, and stored at the front of
//! the record's value, so rollups can take an old version out without parsing its JSON, and a
//! scan can aggregate without decoding records.

use chrono::{Datelike, NaiveDate};
use pes_schemas::{Record, RecordBody, RecordType};
use serde::{Deserialize, Serialize};

/// A dimension of aggregate queries (DESIGN section 5). `province` is the gateway's own region
/// and is not stored per record.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    /// GB/T 2260 prefecture (`440100`).
    Prefecture,
    /// Occupation major group (`2`).
    OccupationMajor,
    /// Occupation minor group (`2-02`).
    OccupationMinor,
    /// GB/T 4658 education code.
    Education,
    /// GB/T 2261.1 sex code.
    Sex,
    /// Age band at ingest (`16-24`, `25-34`, ...).
    AgeBand,
    /// Key service group (multi-valued: a person counts once in each of their groups).
    KeyGroup,
    /// The record type's status-like field (see [`status_names`]).
    Status,
    /// Month of the record's main date (`2024-03`).
    Month,
    /// GB/T 2260 county-level division (`440106`); `none` where the record gives only a
    /// prefecture or province.
    County,
    /// Kind of service station (`gig_market`, ...), code list `station_kinds`.
    StationKind,
    /// Outcome of a service event (`placed`, ...).
    Outcome,
}

/// Number of stored dimensions.
pub const DIMS: usize = 12;

/// Dimensions of the facts layout written before `county`, `station_kind` and `outcome`
/// existed (see [`Facts::decode`]).
const DIMS_V1: usize = 9;

impl Dim {
    /// All stored dimensions, in index order.
    pub const ALL: [Dim; DIMS] = [
        Dim::Prefecture,
        Dim::OccupationMajor,
        Dim::OccupationMinor,
        Dim::Education,
        Dim::Sex,
        Dim::AgeBand,
        Dim::KeyGroup,
        Dim::Status,
        Dim::Month,
        Dim::County,
        Dim::StationKind,
        Dim::Outcome,
    ];

    /// Index into [`Facts::vals`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Renders a stored value as its code.
    pub fn render(self, rtype: RecordType, v: u32) -> String {
        if v == 0 {
            return "none".into();
        }
        match self {
            Dim::Prefecture => format!("{v:04}00"),
            Dim::OccupationMajor => v.to_string(),
            Dim::OccupationMinor => format!("{}-{:02}", v / 100, v % 100),
            Dim::Education | Dim::Sex => {
                if self == Dim::Education {
                    format!("{:02}", v - 1)
                } else {
                    (v - 1).to_string()
                }
            }
            Dim::AgeBand => AGE_BANDS.get(v as usize - 1).copied().unwrap_or("?").into(),
            Dim::KeyGroup => KEY_GROUPS
                .get(v as usize - 1)
                .copied()
                .unwrap_or("?")
                .into(),
            Dim::Status => status_names(rtype)
                .get(v as usize - 1)
                .copied()
                .unwrap_or("?")
                .into(),
            Dim::Month => format!("{}-{:02}", v / 100, v % 100),
            Dim::County => format!("{v:06}"),
            Dim::StationKind => STATION_KINDS
                .get(v as usize - 1)
                .copied()
                .unwrap_or("?")
                .into(),
            Dim::Outcome => SERVICE_OUTCOMES
                .get(v as usize - 1)
                .copied()
                .unwrap_or("?")
                .into(),
        }
    }

    /// Parses a code as given in a filter into a stored value; `None` if it cannot match.
    pub fn parse(self, rtype: RecordType, s: &str) -> Option<u32> {
        if s == "none" {
            return Some(0);
        }
        match self {
            Dim::Prefecture => division_prefecture(s),
            Dim::OccupationMajor => occ_major(s),
            Dim::OccupationMinor => occ_minor(s),
            Dim::Education | Dim::Sex => small_code(s),
            Dim::AgeBand => AGE_BANDS.iter().position(|b| *b == s).map(|i| i as u32 + 1),
            Dim::KeyGroup => KEY_GROUPS
                .iter()
                .position(|b| *b == s)
                .map(|i| i as u32 + 1),
            Dim::Status => status_names(rtype)
                .iter()
                .position(|b| *b == s)
                .map(|i| i as u32 + 1),
            Dim::Month => month_code(s),
            Dim::County => division_county(s),
            Dim::StationKind => STATION_KINDS
                .iter()
                .position(|b| *b == s)
                .map(|i| i as u32 + 1),
            Dim::Outcome => SERVICE_OUTCOMES
                .iter()
                .position(|b| *b == s)
                .map(|i| i as u32 + 1),
        }
    }

    /// Dimensions that carry a value for a record type.
    pub fn applicable(rtype: RecordType) -> &'static [Dim] {
        use Dim::*;
        match rtype {
            RecordType::Person => &[Prefecture, Education, Sex, AgeBand, KeyGroup, County],
            // A registration's key groups are its person's, linked at ingest
            // (`ingest::decode`), so new registrations can be counted by key group and month.
            RecordType::JobSeekerRegistration => &[
                Prefecture,
                OccupationMajor,
                OccupationMinor,
                KeyGroup,
                Status,
                Month,
                County,
            ],
            RecordType::Employer => &[Prefecture, Status, County],
            RecordType::Vacancy => &[
                Prefecture,
                OccupationMajor,
                OccupationMinor,
                Education,
                Status,
                Month,
                County,
            ],
            RecordType::EmploymentEvent => &[
                Prefecture,
                OccupationMajor,
                OccupationMinor,
                Status,
                Month,
                County,
            ],
            RecordType::TrainingRecord => &[OccupationMajor, OccupationMinor, Status, Month],
            RecordType::PlatformWork => &[
                Prefecture,
                OccupationMajor,
                OccupationMinor,
                Status,
                Month,
                County,
            ],
            RecordType::ServiceEvent => &[Prefecture, Status, Month, County, StationKind, Outcome],
            // `month` is the opening month.
            RecordType::ServiceStation => &[Prefecture, Status, Month, County, StationKind],
        }
    }
}

/// Age bands.
pub const AGE_BANDS: [&str; 7] = [
    "16-24", "25-34", "35-44", "45-54", "55-64", "65+", "under-16",
];
/// Key groups, in schema order.
pub const KEY_GROUPS: [&str; 7] = [
    "college_graduate",
    "migrant_worker",
    "out_of_poverty",
    "flexible_worker",
    "disabled",
    "veteran",
    "long_term_unemployed",
];

/// Station kinds, in schema order (`StationKind`).
pub const STATION_KINDS: [&str; 6] = [
    "street_town_window",
    "community_village_point",
    "industrial_cluster_station",
    "gig_market",
    "online",
    "market_hr_org",
];
/// Service outcomes, in schema order (`ServiceOutcome`).
pub const SERVICE_OUTCOMES: [&str; 4] = ["completed", "placed", "pending", "no_result"];

/// Prefecture-level cities without counties (东莞, 中山, 儋州): their own code is their
/// county.
const COUNTYLESS_PREFECTURES: [u32; 3] = [441900, 442000, 460400];

/// Names of the `status` dimension's values per record type, in declaration order of the enum
/// it comes from (registration status, vacancy status, event kind, training outcome, platform
/// type, service kind, size class, station status).
pub fn status_names(rtype: RecordType) -> &'static [&'static str] {
    match rtype {
        RecordType::Person => &[],
        RecordType::JobSeekerRegistration => &["active", "matched", "expired", "withdrawn"],
        RecordType::Employer => &["micro", "small", "medium", "large"],
        RecordType::Vacancy => &["open", "filled", "closed", "expired"],
        RecordType::EmploymentEvent => &[
            "hired",
            "separated",
            "unemployment_registered",
            "unemployment_deregistered",
        ],
        RecordType::TrainingRecord => &["in_progress", "completed", "certified", "dropped_out"],
        RecordType::PlatformWork => &[
            "food_delivery",
            "ride_hailing",
            "courier",
            "freight",
            "domestic_services",
            "other",
        ],
        RecordType::ServiceEvent => &[
            "referral",
            "counselling",
            "policy_consultation",
            "training_referral",
            "gig_match",
        ],
        RecordType::ServiceStation => &["operating", "suspended", "closed"],
    }
}

/// Name of the `sum` measure per record type, if it has one.
pub fn sum_measure(rtype: RecordType) -> Option<&'static str> {
    match rtype {
        RecordType::Vacancy => Some("openings"),
        RecordType::TrainingRecord => Some("subsidy_cny"),
        RecordType::PlatformWork => Some("active_days"),
        _ => None,
    }
}

/// The bit mask of key groups (bit i: the group with discriminant i).
pub fn key_group_mask(groups: &[pes_schemas::KeyGroup]) -> u8 {
    groups.iter().fold(0, |m, g| m | 1 << (*g as u8))
}

/// The coded values of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Record type.
    pub rtype: RecordType,
    /// One value per [`Dim`]; 0 is "none". `KeyGroup` is kept in `key_groups` instead.
    pub vals: [u32; DIMS],
    /// Bit i set: member of key group i. For a person, from its `key_groups`; for a job-seeker
    /// registration, the key groups of its person as pushed in the same batch (see
    /// [`Facts::link_person`]).
    pub key_groups: u8,
    /// The type's summable measure (see [`sum_measure`]).
    pub measure: u32,
}

/// Encoded length of [`Facts`] as written now.
pub const FACTS_LEN: usize = FACTS_LEN_V1 + 4 * (DIMS - DIMS_V1);

/// Encoded length of the facts layout written before `county`, `station_kind` and `outcome`
/// (stores written then are still read).
pub const FACTS_LEN_V1: usize = 1 + 4 * DIMS_V1 + 1 + 4;

/// Set in the record-type byte of the facts layout that has the later dimensions. Record type
/// bytes are small, so the bit is free, and an old value's byte never has it.
const FACTS_V2: u8 = 0x80;

impl Facts {
    /// Appends the fixed-size encoding: the old layout (record type byte marked with
    /// [`FACTS_V2`], the first nine dimensions, key groups, measure), then the later dimensions.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(rtype_byte(self.rtype) | FACTS_V2);
        for v in &self.vals[..DIMS_V1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(self.key_groups);
        out.extend_from_slice(&self.measure.to_le_bytes());
        for v in &self.vals[DIMS_V1..] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Encoded length of the facts whose first byte is `first` (the old layout or the current
    /// one).
    pub fn encoded_len(first: u8) -> usize {
        if first & FACTS_V2 != 0 {
            FACTS_LEN
        } else {
            FACTS_LEN_V1
        }
    }

    /// Decodes the fixed-size encoding, current or old layout; the old layout's values are
    /// `none` (0) for the later dimensions until the record is pushed again.
    pub fn decode(b: &[u8]) -> Option<Facts> {
        let first = *b.first()?;
        if b.len() < Facts::encoded_len(first) {
            return None;
        }
        let rtype = rtype_from_byte(first & !FACTS_V2)?;
        let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut vals = [0u32; DIMS];
        for (i, v) in vals[..DIMS_V1].iter_mut().enumerate() {
            *v = word(1 + 4 * i);
        }
        if first & FACTS_V2 != 0 {
            for (i, v) in vals[DIMS_V1..].iter_mut().enumerate() {
                *v = word(FACTS_LEN_V1 + 4 * i);
            }
        }
        let o = 1 + 4 * DIMS_V1;
        Some(Facts {
            rtype,
            vals,
            key_groups: b[o],
            measure: word(o + 1),
        })
    }

    /// The value of a dimension (0 for `KeyGroup`, which is multi-valued).
    pub fn get(&self, d: Dim) -> u32 {
        self.vals[d.index()]
    }

    /// Links a record to the key groups of its person (`person_groups`, looked up by
    /// person_key): only job-seeker registrations take them, so that registrations can be
    /// counted by key group and month although a person record carries no date.
    pub fn link_person(&mut self, person_groups: Option<u8>) {
        if self.rtype == RecordType::JobSeekerRegistration {
            self.key_groups = person_groups.unwrap_or(0);
        }
    }

    /// Computes the facts of a record; `today` places the age band.
    pub fn of(record: &Record, today: NaiveDate) -> Facts {
        let mut f = Facts {
            rtype: record.record_type(),
            vals: [0; DIMS],
            key_groups: 0,
            measure: 0,
        };
        let set = |f: &mut Facts, d: Dim, v: Option<u32>| f.vals[d.index()] = v.unwrap_or(0);
        match &record.body {
            RecordBody::Person(p) => {
                set(
                    &mut f,
                    Dim::Prefecture,
                    division_prefecture(&p.residence_division),
                );
                set(&mut f, Dim::Education, small_code(&p.education));
                set(&mut f, Dim::Sex, small_code(&p.sex));
                set(&mut f, Dim::AgeBand, Some(age_band(p.birth_date, today)));
                set(&mut f, Dim::County, division_county(&p.residence_division));
                f.key_groups = key_group_mask(&p.key_groups);
            }
            RecordBody::JobSeekerRegistration(r) => {
                set(
                    &mut f,
                    Dim::Prefecture,
                    division_prefecture(&r.desired_division),
                );
                if let Some(o) = r.desired_occupations.first() {
                    set(&mut f, Dim::OccupationMajor, occ_major(o));
                    set(&mut f, Dim::OccupationMinor, occ_minor(o));
                }
                set(&mut f, Dim::Status, Some(r.status as u32 + 1));
                set(&mut f, Dim::Month, Some(date_month(r.registered_on)));
                set(&mut f, Dim::County, division_county(&r.desired_division));
            }
            RecordBody::Employer(e) => {
                set(
                    &mut f,
                    Dim::Prefecture,
                    division_prefecture(&e.reg_division),
                );
                set(&mut f, Dim::Status, Some(e.size_class as u32 + 1));
                set(&mut f, Dim::County, division_county(&e.reg_division));
            }
            RecordBody::Vacancy(v) => {
                set(
                    &mut f,
                    Dim::Prefecture,
                    division_prefecture(&v.work_division),
                );
                set(&mut f, Dim::OccupationMajor, occ_major(&v.occupation));
                set(&mut f, Dim::OccupationMinor, occ_minor(&v.occupation));
                set(
                    &mut f,
                    Dim::Education,
                    v.min_education.as_deref().and_then(small_code),
                );
                set(&mut f, Dim::Status, Some(v.status as u32 + 1));
                set(&mut f, Dim::Month, Some(date_month(v.posted_on)));
                set(&mut f, Dim::County, division_county(&v.work_division));
                f.measure = v.openings;
            }
            RecordBody::EmploymentEvent(e) => {
                set(
                    &mut f,
                    Dim::Prefecture,
                    division_prefecture(&e.work_division),
                );
                if let Some(o) = &e.occupation {
                    set(&mut f, Dim::OccupationMajor, occ_major(o));
                    set(&mut f, Dim::OccupationMinor, occ_minor(o));
                }
                set(&mut f, Dim::Status, Some(e.kind as u32 + 1));
                set(&mut f, Dim::Month, Some(date_month(e.date)));
                set(&mut f, Dim::County, division_county(&e.work_division));
            }
            RecordBody::TrainingRecord(t) => {
                set(
                    &mut f,
                    Dim::OccupationMajor,
                    occ_major(&t.target_occupation),
                );
                set(
                    &mut f,
                    Dim::OccupationMinor,
                    occ_minor(&t.target_occupation),
                );
                set(&mut f, Dim::Status, Some(t.outcome as u32 + 1));
                set(&mut f, Dim::Month, Some(date_month(t.start_on)));
                f.measure = t.subsidy_cny.unwrap_or(0);
            }
            RecordBody::PlatformWork(p) => {
                set(
                    &mut f,
                    Dim::Prefecture,
                    division_prefecture(&p.city_division),
                );
                set(&mut f, Dim::OccupationMajor, occ_major(&p.occupation));
                set(&mut f, Dim::OccupationMinor, occ_minor(&p.occupation));
                set(&mut f, Dim::Status, Some(p.platform_type as u32 + 1));
                set(&mut f, Dim::Month, month_code(&p.period_month));
                set(&mut f, Dim::County, division_county(&p.city_division));
                f.measure = u32::from(p.active_days);
            }
            RecordBody::ServiceEvent(s) => {
                set(&mut f, Dim::Prefecture, division_prefecture(&s.division));
                set(&mut f, Dim::Status, Some(s.service as u32 + 1));
                set(&mut f, Dim::Month, Some(date_month(s.date)));
                set(&mut f, Dim::County, division_county(&s.division));
                set(
                    &mut f,
                    Dim::StationKind,
                    s.station_kind.map(|k| k as u32 + 1),
                );
                set(&mut f, Dim::Outcome, Some(s.outcome as u32 + 1));
            }
            RecordBody::ServiceStation(s) => {
                set(&mut f, Dim::Prefecture, division_prefecture(&s.division));
                set(&mut f, Dim::County, division_county(&s.division));
                set(&mut f, Dim::StationKind, Some(s.kind as u32 + 1));
                set(&mut f, Dim::Status, Some(s.status as u32 + 1));
                set(&mut f, Dim::Month, Some(date_month(s.opened_on)));
            }
        }
        f
    }
}

/// The byte that tags a record type in keys and values.
pub fn rtype_byte(t: RecordType) -> u8 {
    t as u8
}

/// Inverse of [`rtype_byte`].
pub fn rtype_from_byte(b: u8) -> Option<RecordType> {
    RecordType::ALL.get(b as usize).copied()
}

fn digits(s: &str, n: usize) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() < n || !b[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    b[..n]
        .iter()
        .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
}

fn division_prefecture(s: &str) -> Option<u32> {
    if s.len() != 6 {
        return None;
    }
    digits(s, 4)
}

/// The county of a 6-digit division code: itself when it is county level (not `XXXX00`, or a
/// prefecture-level city without counties).
fn division_county(s: &str) -> Option<u32> {
    if s.len() != 6 {
        return None;
    }
    let v = digits(s, 6)?;
    (v % 100 != 0 || COUNTYLESS_PREFECTURES.contains(&v)).then_some(v)
}

fn occ_major(s: &str) -> Option<u32> {
    digits(s, 1).filter(|d| (1..=8).contains(d))
}

fn occ_minor(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() < 4 || b[1] != b'-' {
        return None;
    }
    Some(occ_major(s)? * 100 + digits(&s[2..], 2)?)
}

fn small_code(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 2 {
        return None;
    }
    digits(s, s.len()).map(|v| v + 1)
}

fn date_month(d: NaiveDate) -> u32 {
    d.year().max(0) as u32 * 100 + d.month()
}

fn month_code(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != 7 || b[4] != b'-' {
        return None;
    }
    let m = digits(&s[5..], 2)?;
    (1..=12).contains(&m).then_some(digits(s, 4)? * 100 + m)
}

fn age_band(birth: NaiveDate, today: NaiveDate) -> u32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    match age {
        i32::MIN..=15 => 7,
        16..=24 => 1,
        25..=34 => 2,
        35..=44 => 3,
        45..=54 => 4,
        55..=64 => 5,
        _ => 6,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const DIMS_BEGIN: &str =
        "<!-- BEGIN query-dimensions: generated from gateway/src/store/facts.rs by its tests -->";
    const DIMS_END: &str = "<!-- END query-dimensions -->";

    /// The dimension-by-dataset table of the integrator guide.
    fn dimension_table() -> String {
        let name = |d: Dim| {
            serde_json::to_value(d)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        };
        let mut out = String::from("| dataset | province |");
        for d in Dim::ALL {
            out.push_str(&format!(" {} |", name(d)));
        }
        out.push_str(" `status` values |\n|---|---|");
        out.push_str(&"---|".repeat(DIMS + 1));
        out.push('\n');
        for t in RecordType::ALL {
            out.push_str(&format!("| `{}` | ✓ |", t.as_str()));
            for d in Dim::ALL {
                out.push_str(if Dim::applicable(t).contains(&d) {
                    " ✓ |"
                } else {
                    " |"
                });
            }
            let statuses = status_names(t);
            if statuses.is_empty() || !Dim::applicable(t).contains(&Dim::Status) {
                out.push_str(" — |\n");
            } else {
                let list: Vec<String> = statuses.iter().map(|s| format!("`{s}`")).collect();
                out.push_str(&format!(" {} |\n", list.join(", ")));
            }
        }
        out
    }

    /// The guide's table is generated from [`Dim::applicable`] and [`status_names`]; regenerate
    /// it with `UPDATE_DOCS=1 cargo test -p pes-gateway --lib store::facts`.
    #[test]
    fn integrator_guide_lists_the_dimensions_of_every_dataset() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/integrator-guide.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let start = doc.find(DIMS_BEGIN).expect("begin marker") + DIMS_BEGIN.len();
        let end = doc[start..].find(DIMS_END).expect("end marker") + start;
        let want = format!("\n{}", dimension_table());
        if doc[start..end] != want {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(&path, format!("{}{}{}", &doc[..start], want, &doc[end..])).unwrap();
            } else {
                panic!(
                    "docs/integrator-guide.md's dimension table is out of date; run \
                     UPDATE_DOCS=1 cargo test -p pes-gateway --lib store::facts"
                );
            }
        }
    }

    #[test]
    fn facts_round_trip_through_their_encoding() {
        let f = Facts {
            rtype: RecordType::Vacancy,
            vals: [4401, 2, 202, 22, 0, 0, 0, 1, 202403, 440106, 4, 2],
            key_groups: 0b101,
            measure: 7,
        };
        let mut b = Vec::new();
        f.encode_into(&mut b);
        assert_eq!(b.len(), FACTS_LEN);
        assert_eq!(Facts::decode(&b), Some(f));
    }

    #[test]
    fn codes_render_and_parse_back() {
        let t = RecordType::Vacancy;
        for (d, s) in [
            (Dim::Prefecture, "440100"),
            (Dim::OccupationMajor, "2"),
            (Dim::OccupationMinor, "2-02"),
            (Dim::Education, "21"),
            (Dim::Status, "filled"),
            (Dim::Month, "2024-03"),
            (Dim::KeyGroup, "veteran"),
            (Dim::AgeBand, "25-34"),
            (Dim::County, "440106"),
            (Dim::StationKind, "gig_market"),
            (Dim::Outcome, "no_result"),
        ] {
            let v = d.parse(t, s).unwrap();
            assert_eq!(d.render(t, v), s, "{d:?}");
        }
    }

    #[test]
    fn status_tables_follow_enum_declaration_order() {
        use pes_schemas::{RegistrationStatus as R, VacancyStatus as V};
        for (i, s) in [R::Active, R::Matched, R::Expired, R::Withdrawn]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                status_names(RecordType::JobSeekerRegistration)[i]
            );
            assert_eq!(s as usize, i);
        }
        for (i, s) in [V::Open, V::Filled, V::Closed, V::Expired]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                status_names(RecordType::Vacancy)[i]
            );
            assert_eq!(s as usize, i);
        }
    }

    /// Facts as stores wrote them before `county`, `station_kind` and `outcome`: record type
    /// byte unmarked, nine dimensions, key groups, measure.
    pub(crate) fn old_layout(f: &Facts) -> Vec<u8> {
        let mut b = vec![rtype_byte(f.rtype)];
        for v in &f.vals[..DIMS_V1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.push(f.key_groups);
        b.extend_from_slice(&f.measure.to_le_bytes());
        b
    }

    #[test]
    fn old_layout_facts_decode_with_none_for_the_later_dimensions() {
        let f = Facts {
            rtype: RecordType::ServiceEvent,
            vals: [4401, 0, 0, 0, 0, 0, 0, 5, 202403, 440106, 4, 2],
            key_groups: 0,
            measure: 0,
        };
        let old = old_layout(&f);
        assert_eq!(old.len(), FACTS_LEN_V1);
        assert_eq!(Facts::encoded_len(old[0]), FACTS_LEN_V1);
        let back = Facts::decode(&old).unwrap();
        assert_eq!(back.rtype, RecordType::ServiceEvent);
        assert_eq!(back.vals[..DIMS_V1], f.vals[..DIMS_V1]);
        for d in [Dim::County, Dim::StationKind, Dim::Outcome] {
            assert_eq!(back.get(d), 0, "{d:?}");
            assert_eq!(d.render(back.rtype, back.get(d)), "none");
        }
        // The current layout is longer and marked, and keeps every dimension.
        let mut new = Vec::new();
        f.encode_into(&mut new);
        assert_eq!(Facts::encoded_len(new[0]), FACTS_LEN);
        assert_eq!(Facts::decode(&new), Some(f));
        assert!(Facts::decode(&new[..FACTS_LEN - 1]).is_none());
    }

    #[test]
    fn station_kinds_and_outcomes_follow_the_schema_enums() {
        use pes_schemas::{ServiceOutcome as O, StationKind as K};
        for (i, k) in [
            K::StreetTownWindow,
            K::CommunityVillagePoint,
            K::IndustrialClusterStation,
            K::GigMarket,
            K::Online,
            K::MarketHrOrg,
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(serde_json::to_value(k).unwrap(), STATION_KINDS[i]);
            assert_eq!(k as usize, i);
        }
        for (i, o) in [O::Completed, O::Placed, O::Pending, O::NoResult]
            .into_iter()
            .enumerate()
        {
            assert_eq!(serde_json::to_value(o).unwrap(), SERVICE_OUTCOMES[i]);
            assert_eq!(o as usize, i);
        }
        use pes_schemas::StationStatus as S;
        for (i, s) in [S::Operating, S::Suspended, S::Closed]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                status_names(RecordType::ServiceStation)[i]
            );
            assert_eq!(s as usize, i);
        }
    }

    #[test]
    fn county_is_the_county_level_division_or_none() {
        assert_eq!(division_county("440106"), Some(440106));
        assert_eq!(division_county("440100"), None);
        assert_eq!(division_county("440000"), None);
        assert_eq!(division_county("441900"), Some(441900));
        // The countyless prefectures are exactly those of the division list.
        let all = pes_schemas::codes::all_divisions();
        let countyless: Vec<u32> = all
            .iter()
            .filter(|d| {
                !d.retired
                    && d.level == pes_schemas::codes::DivisionLevel::Prefecture
                    && !all.iter().any(|c| c.parent == Some(d.code) && !c.retired)
            })
            .filter_map(|d| d.code.parse().ok())
            .collect();
        assert_eq!(countyless, COUNTYLESS_PREFECTURES);
    }
}
