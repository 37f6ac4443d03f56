//! Rust types of the unified national schema v1 (`schemas/v1/*.schema.json`).
//!
//! A [`Record`] is the common envelope plus one typed body. The JSON form is flat: envelope fields
//! and body fields sit side by side, and `record_type` says which body follows.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Version of the unified schema these types implement.
///
/// 1.1.0 (additive): the `service_station` record type and `service_event.station_kind`. Records
/// of 1.0.0 stay valid as they are.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// One normalised national record: envelope plus typed body.
///
/// The envelope values that are the same for every record of a batch (region, source, schema
/// version, code lists, adapter, batch hash, ingest time) are shared (`Arc`): an adapter emits
/// millions of records per batch, and owning a copy of each per record cost about 30
/// allocations per record. Serialised, an `Arc<str>` is a plain string, so the wire form is
/// unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Deterministic id: `<region>:<source>:<source_record_id>`.
    pub record_id: String,
    /// GB/T 2260 province code of the gateway the record was pushed to.
    pub region: Arc<str>,
    /// Registered source id (a provincial system).
    pub source: Arc<str>,
    /// The record's id inside its source system.
    pub source_record_id: String,
    /// Monotonic per source record; a lower version never overwrites a higher one.
    pub record_version: u64,
    /// Version of the unified schema, see [`SCHEMA_VERSION`].
    pub schema_version: Arc<str>,
    /// Code-list name to version used when normalising (e.g. `"gbt2260": "2023"`).
    pub code_lists: Arc<BTreeMap<String, String>>,
    /// Where the record came from.
    pub provenance: Provenance,
    /// The typed body; serialised flat, tagged by `record_type`.
    #[serde(flatten)]
    pub body: RecordBody,
}

impl Record {
    /// Builds the deterministic record id `<region>:<source>:<source_record_id>`.
    pub fn make_id(region: &str, source: &str, source_record_id: &str) -> String {
        format!("{region}:{source}:{source_record_id}")
    }

    /// The record type of the body.
    pub fn record_type(&self) -> RecordType {
        self.body.record_type()
    }
}

/// Provenance of a normalised record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Lower-case hex SHA-256 of the raw pushed batch.
    pub raw_sha256: Arc<str>,
    /// Adapter (mapping) id, e.g. `gd-hr-csv`.
    pub adapter_id: Arc<str>,
    /// Adapter (mapping) version.
    pub adapter_version: Arc<str>,
    /// RFC 3339 UTC time of ingest.
    pub ingested_at: Arc<str>,
    /// Where in the raw export the record came from: `row:12`, `/persons/3/registrations/0`,
    /// `/Export/Employer[4]`.
    pub location: String,
}

/// Names of the record types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    /// Job-seeker profile.
    Person,
    /// Registration as a job seeker.
    JobSeekerRegistration,
    /// An employing unit.
    Employer,
    /// An open position.
    Vacancy,
    /// Hiring, separation, unemployment (de)registration.
    EmploymentEvent,
    /// Vocational training.
    TrainingRecord,
    /// A month of platform work (delivery, ride-hailing).
    PlatformWork,
    /// A service given at a grassroots station or gig market.
    ServiceEvent,
    /// A grassroots service station or gig market (schema 1.1).
    ServiceStation,
}

impl RecordType {
    /// All record types, in schema order.
    pub const ALL: [RecordType; 9] = [
        RecordType::Person,
        RecordType::JobSeekerRegistration,
        RecordType::Employer,
        RecordType::Vacancy,
        RecordType::EmploymentEvent,
        RecordType::TrainingRecord,
        RecordType::PlatformWork,
        RecordType::ServiceEvent,
        RecordType::ServiceStation,
    ];

    /// The snake_case name used on the wire and in schema file names.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Person => "person",
            RecordType::JobSeekerRegistration => "job_seeker_registration",
            RecordType::Employer => "employer",
            RecordType::Vacancy => "vacancy",
            RecordType::EmploymentEvent => "employment_event",
            RecordType::TrainingRecord => "training_record",
            RecordType::PlatformWork => "platform_work",
            RecordType::ServiceEvent => "service_event",
            RecordType::ServiceStation => "service_station",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed body of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record_type", rename_all = "snake_case")]
pub enum RecordBody {
    /// Job-seeker profile.
    Person(Person),
    /// Registration as a job seeker.
    JobSeekerRegistration(JobSeekerRegistration),
    /// An employing unit.
    Employer(Employer),
    /// An open position.
    Vacancy(Vacancy),
    /// Hiring, separation, unemployment (de)registration.
    EmploymentEvent(EmploymentEvent),
    /// Vocational training.
    TrainingRecord(TrainingRecord),
    /// A month of platform work.
    PlatformWork(PlatformWork),
    /// A service given at a grassroots station or gig market.
    ServiceEvent(ServiceEvent),
    /// A grassroots service station or gig market.
    ServiceStation(ServiceStation),
}

impl RecordBody {
    /// The record type of this body.
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordBody::Person(_) => RecordType::Person,
            RecordBody::JobSeekerRegistration(_) => RecordType::JobSeekerRegistration,
            RecordBody::Employer(_) => RecordType::Employer,
            RecordBody::Vacancy(_) => RecordType::Vacancy,
            RecordBody::EmploymentEvent(_) => RecordType::EmploymentEvent,
            RecordBody::TrainingRecord(_) => RecordType::TrainingRecord,
            RecordBody::PlatformWork(_) => RecordType::PlatformWork,
            RecordBody::ServiceEvent(_) => RecordType::ServiceEvent,
            RecordBody::ServiceStation(_) => RecordType::ServiceStation,
        }
    }
}

/// Job-seeker profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// base64url(HMAC-SHA256(linkage key, normalised 18-char ID)); see [`crate::person_key`].
    pub person_key: String,
    /// GB/T 2261.1 sex code: `0` unknown, `1` male, `2` female, `9` not stated.
    pub sex: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// GB/T 4658 education code (two digits).
    pub education: String,
    /// GB/T 2260 division of household registration (hukou).
    pub hukou_division: String,
    /// Nature of the hukou.
    pub hukou_nature: HukouNature,
    /// GB/T 2260 division of current residence.
    pub residence_division: String,
    /// Year of graduation, for graduates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graduation_year: Option<u16>,
    /// Key service groups the person belongs to.
    #[serde(default)]
    pub key_groups: Vec<KeyGroup>,
    /// Protected fields: encrypted at rest, never logged, never sent across regions unless the
    /// trust-list policy grants them for the purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<PersonProtected>,
}

/// Protected fields of a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonProtected {
    /// Full name.
    pub name: String,
    /// Normalised 18-character GB 11643 citizen ID number.
    pub id_number: String,
    /// Mobile phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Names of the protected fields of a person, as JSON field names under `protected`.
pub const PROTECTED_FIELDS: [&str; 3] = ["name", "id_number", "phone"];

/// Nature of a household registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HukouNature {
    /// Agricultural hukou.
    Agricultural,
    /// Non-agricultural hukou.
    NonAgricultural,
    /// Unified resident hukou (after the reform that merged the two).
    Resident,
}

/// Key groups of the employment service (gateway-owned code list `key_groups.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyGroup {
    /// College graduate.
    CollegeGraduate,
    /// Rural migrant worker.
    MigrantWorker,
    /// Person lifted out of poverty.
    OutOfPoverty,
    /// Flexible worker.
    FlexibleWorker,
    /// Person with a disability.
    Disabled,
    /// Retired service member.
    Veteran,
    /// Long-term unemployed.
    LongTermUnemployed,
}

/// Registration as a job seeker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSeekerRegistration {
    /// The person registered.
    pub person_key: String,
    /// Category of seeker (gateway-owned list `seeker_categories.csv`).
    pub seeker_category: SeekerCategory,
    /// 2022 occupational classification codes (`X-XX-XX-XX` or a group prefix).
    #[serde(default)]
    pub desired_occupations: Vec<String>,
    /// GB/T 2260 division where work is sought.
    pub desired_division: String,
    /// Date of registration.
    pub registered_on: NaiveDate,
    /// Date the registration lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
    /// Current status.
    pub status: RegistrationStatus,
}

/// Category of a job seeker (gateway-owned list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeekerCategory {
    /// Registered unemployed.
    Unemployed,
    /// New entrant to the labour market (school leaver, graduate).
    NewEntrant,
    /// Employed, seeking a change of job.
    EmployedSeekingChange,
    /// Rural labour seeking non-farm work.
    RuralLabour,
    /// Retired person seeking work.
    Retired,
    /// Other.
    Other,
}

/// Status of a job-seeker registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// Active: counts as a job seeker.
    Active,
    /// Found work through the service.
    Matched,
    /// Lapsed.
    Expired,
    /// Withdrawn by the person.
    Withdrawn,
}

/// An employing unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Employer {
    /// GB 32100 unified social credit code.
    pub uscc: String,
    /// Registered name.
    pub name: String,
    /// GB/T 4754-2017 division code (section letter plus two digits, e.g. `I65`).
    pub industry: String,
    /// GB/T 2260 division of registration.
    pub reg_division: String,
    /// Enterprise size class.
    pub size_class: SizeClass,
    /// Ownership type.
    pub ownership: Ownership,
}

/// Enterprise size class (NBS classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeClass {
    /// Micro.
    Micro,
    /// Small.
    Small,
    /// Medium.
    Medium,
    /// Large.
    Large,
}

/// Ownership of an employing unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    /// State-owned.
    StateOwned,
    /// Collective.
    Collective,
    /// Private.
    Private,
    /// Invested from Hong Kong, Macao or Taiwan.
    HkMoTwInvested,
    /// Foreign-invested.
    ForeignInvested,
    /// Public institution (事业单位).
    PublicInstitution,
    /// Other.
    Other,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vacancy {
    /// USCC of the employer.
    pub employer_uscc: String,
    /// Job title as advertised.
    pub title: String,
    /// 2022 occupational classification code.
    pub occupation: String,
    /// GB/T 4754-2017 division code.
    pub industry: String,
    /// GB/T 2260 division of the workplace.
    pub work_division: String,
    /// Number of openings.
    pub openings: u32,
    /// Minimum GB/T 4658 education code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_education: Option<String>,
    /// Kind of employment.
    pub employment_type: EmploymentType,
    /// Lowest monthly salary, CNY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salary_min: Option<u32>,
    /// Highest monthly salary, CNY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salary_max: Option<u32>,
    /// Date posted.
    pub posted_on: NaiveDate,
    /// Last date the vacancy is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_through: Option<NaiveDate>,
    /// Current status.
    pub status: VacancyStatus,
    /// Name of the employer as advertised (schema 1.1, optional): shown in search results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_name: Option<String>,
    /// Description of the position (schema 1.1, optional): searched as free text with the
    /// title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Key service groups the position is flagged for (schema 1.1, optional), e.g. open to
    /// college graduates or suited to workers with a disability.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_groups: Vec<KeyGroup>,
}

/// Kind of employment offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentType {
    /// Full time.
    FullTime,
    /// Part time.
    PartTime,
    /// Flexible.
    Flexible,
    /// Platform work.
    Platform,
    /// Internship.
    Internship,
}

/// Status of a vacancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VacancyStatus {
    /// Open: counts as demand.
    Open,
    /// Filled.
    Filled,
    /// Closed by the employer.
    Closed,
    /// Past its validity.
    Expired,
}

/// Hiring, separation, or unemployment (de)registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmploymentEvent {
    /// The person concerned.
    pub person_key: String,
    /// What happened.
    pub kind: EmploymentEventKind,
    /// USCC of the employer, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_uscc: Option<String>,
    /// Form of employment (gateway-owned list `employment_forms.csv`).
    pub employment_form: EmploymentForm,
    /// 2022 occupational classification code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupation: Option<String>,
    /// GB/T 2260 division of the workplace.
    pub work_division: String,
    /// Date of the event.
    pub date: NaiveDate,
    /// Free-text or coded reason (for separations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Kind of employment event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentEventKind {
    /// Hired.
    Hired,
    /// Separated from a job.
    Separated,
    /// Registered as unemployed.
    UnemploymentRegistered,
    /// Unemployment registration ended.
    UnemploymentDeregistered,
}

/// Form of employment (gateway-owned list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentForm {
    /// Employed by a unit.
    Unit,
    /// Self-employed.
    SelfEmployed,
    /// Flexible employment.
    Flexible,
    /// Platform work.
    Platform,
}

/// Vocational training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The trainee.
    pub person_key: String,
    /// USCC of the training provider.
    pub provider_uscc: String,
    /// 2022 occupational classification code trained for.
    pub target_occupation: String,
    /// Kind of training.
    pub training_type: TrainingType,
    /// First day.
    pub start_on: NaiveDate,
    /// Last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_on: Option<NaiveDate>,
    /// Vocational skill level certified, 1 (senior technician) to 5 (junior).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_level: Option<u8>,
    /// Subsidy paid, CNY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidy_cny: Option<u32>,
    /// Outcome.
    pub outcome: TrainingOutcome,
}

/// Kind of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingType {
    /// Pre-employment skills training.
    EmploymentSkills,
    /// Upgrading of employed workers' skills.
    SkillsUpgrading,
    /// Entrepreneurship training.
    Entrepreneurship,
    /// Apprenticeship.
    Apprenticeship,
    /// Other.
    Other,
}

/// Outcome of a training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingOutcome {
    /// Still in progress.
    InProgress,
    /// Completed without certificate.
    Completed,
    /// Completed with a certificate.
    Certified,
    /// Dropped out.
    DroppedOut,
}

/// A month of platform work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformWork {
    /// The worker.
    pub person_key: String,
    /// USCC of the platform company.
    pub platform_uscc: String,
    /// Kind of platform (gateway-owned list `platform_types.csv`).
    pub platform_type: PlatformType,
    /// 2022 occupational classification code.
    pub occupation: String,
    /// GB/T 2260 division of the city worked in.
    pub city_division: String,
    /// Month, `YYYY-MM`.
    pub period_month: String,
    /// Days active in the month (0 to 31).
    pub active_days: u8,
    /// Covered by occupational injury insurance.
    pub injury_insurance: bool,
}

/// Kind of platform (gateway-owned list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlatformType {
    /// Food and grocery delivery.
    FoodDelivery,
    /// Ride-hailing.
    RideHailing,
    /// Parcel courier.
    Courier,
    /// Freight.
    Freight,
    /// Domestic services.
    DomesticServices,
    /// Other.
    Other,
}

/// A service given at a grassroots station or gig market.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceEvent {
    /// The person served, when known (gig markets serve anonymous walk-ins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_key: Option<String>,
    /// Id of the station or market.
    pub station_id: String,
    /// GB/T 2260 division of the station.
    pub division: String,
    /// Service given (gateway-owned list `service_kinds.csv`).
    pub service: ServiceKind,
    /// Date.
    pub date: NaiveDate,
    /// Outcome.
    pub outcome: ServiceOutcome,
    /// Kind of the station the service was given at (schema 1.1; absent in 1.0 records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_kind: Option<StationKind>,
}

/// Service kinds (gateway-owned list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Job referral.
    Referral,
    /// Career counselling.
    Counselling,
    /// Policy consultation.
    PolicyConsultation,
    /// Referral to training.
    TrainingReferral,
    /// Gig-market match.
    GigMatch,
}

/// Outcome of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOutcome {
    /// Service given, nothing more to follow.
    Completed,
    /// Led to a hire or a training place.
    Placed,
    /// Follow-up pending.
    Pending,
    /// Nothing came of it.
    NoResult,
}

/// A grassroots service station or gig market (schema 1.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStation {
    /// Id of the station, as service events name it in their `station_id`.
    pub station_id: String,
    /// Name of the station.
    pub name: String,
    /// Kind of station (gateway-owned list `station_kinds.csv`).
    pub kind: StationKind,
    /// GB/T 2260 county-level division of the station (or a prefecture-level city without
    /// counties, such as 441900 东莞市).
    pub division: String,
    /// Statistical township (乡镇街道) code, 9 digits, or village (村居) code, 12 digits, when the
    /// station is below county level; it starts with `division`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub township: Option<String>,
    /// Date the station opened (not in the future).
    pub opened_on: NaiveDate,
    /// Current status.
    pub status: StationStatus,
    /// Services the station offers (gateway-owned list `service_kinds.csv`).
    #[serde(default)]
    pub services: Vec<ServiceKind>,
}

/// Kinds of service station (gateway-owned list `station_kinds.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationKind {
    /// Street or town employment service window (街道(乡镇)就业服务窗口).
    StreetTownWindow,
    /// Community or village service point (社区(村)服务点).
    CommunityVillagePoint,
    /// Station in an industrial park or cluster (产业园区/工业集聚区服务站).
    IndustrialClusterStation,
    /// Gig market (零工市场).
    GigMarket,
    /// Online platform (线上平台).
    Online,
    /// Commercial human-resources service organisation (经营性人力资源服务机构).
    MarketHrOrg,
}

/// Status of a service station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StationStatus {
    /// Open and serving.
    Operating,
    /// Temporarily not serving.
    Suspended,
    /// Closed for good.
    Closed,
}
