//! Person lookup in this region (DESIGN section 5): every record of one person_key, found through
//! the store's person index (no scan), opened, summarised (registration status, last employment
//! event, trainings, benefits flags) and minimised by the caller's trust-list policy.

use pes_schemas::{EmploymentEventKind, RecordBody};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::grants::Grants;
use super::minimise::minimise_person;
use crate::keys::DataKey;
use crate::store::{RecordStore, StoreError};

/// A person lookup as one gateway asks another (`POST /v1/federation/person`): the person_key,
/// never the ID number.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonQuery {
    /// Pseudonymous person key (43 characters of base64url).
    pub person_key: String,
    /// Declared purpose (the serving region's policy for the caller must list it).
    pub purpose: String,
    /// Declared legal basis (free text, audited at both ends).
    pub legal_basis: String,
}

/// What one region holds about a person, minimised for the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonFields {
    /// Records of this person held by the region.
    pub records: u64,
    /// The profile; `protected` holds only the fields the caller's policy grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Value>,
    /// The latest job-seeker registration (by registration date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Value>,
    /// The latest employment event (by date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_employment_event: Option<Value>,
    /// Trainings, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trainings: Vec<Value>,
    /// Flags a caseworker checks before granting services.
    pub benefits: BenefitsFlags,
}

/// Benefits-relevant flags derived from the person's records in one region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BenefitsFlags {
    /// Key service groups of the profile (college_graduate, out_of_poverty, ...).
    pub key_groups: Vec<String>,
    /// The latest registration is active.
    pub active_registration: bool,
    /// The latest unemployment event is a registration (not a deregistration or a hire).
    pub registered_unemployed: bool,
    /// Training subsidies paid, CNY.
    pub training_subsidy_cny: u64,
}

/// Longest legal basis accepted (it is audited at every region asked).
pub const MAX_LEGAL_BASIS: usize = 200;

/// Why a region refuses a person lookup: `(status, problem slug, message)`. Messages never
/// repeat the request's values.
pub type Refusal = (u16, &'static str, &'static str);

/// Checks a lookup before any record is read: a well-formed person_key, a purpose and a legal
/// basis, and a caller policy that lists the `person` dataset and the purpose.
pub fn refusal(q: &PersonQuery, policy: Option<&Grants>) -> Option<Refusal> {
    if !pes_schemas::person_key::is_well_formed(&q.person_key) {
        return Some((
            400,
            "bad-person-key",
            "person_key must be 43 characters of base64url",
        ));
    }
    if q.purpose.trim().is_empty() {
        return Some((400, "missing-purpose", "a purpose is required"));
    }
    if q.legal_basis.trim().is_empty() {
        return Some((400, "missing-legal-basis", "a legal basis is required"));
    }
    if q.legal_basis.chars().count() > MAX_LEGAL_BASIS {
        return Some((
            400,
            "bad-legal-basis",
            "the legal basis is longer than 200 characters",
        ));
    }
    let allowed = policy.is_some_and(|p| {
        p.datasets.iter().any(|d| d == "person") && p.purposes.contains(&q.purpose)
    });
    if !allowed {
        return Some((
            403,
            "policy_denied",
            "the trust-list policy for the caller does not allow person lookups for this purpose",
        ));
    }
    None
}

/// Looks a person up in this region. Protected fields are opened (record id as AAD) only when
/// the policy grants at least one, and then [`minimise_person`] keeps only the granted ones.
/// Returns `None` when the region holds no record of the person.
pub fn lookup(
    store: &dyn RecordStore,
    key: &DataKey,
    person_key: &str,
    policy: Option<&Grants>,
) -> Result<Option<PersonFields>, StoreError> {
    let reveal = policy.is_some_and(|p| !p.protected_fields.is_empty());
    let records = store.person_records(person_key, key, reveal)?;
    if records.is_empty() {
        return Ok(None);
    }
    let mut out = PersonFields {
        records: records.len() as u64,
        ..PersonFields::default()
    };
    let mut person: Option<(u64, pes_schemas::Person)> = None;
    let mut registration: Option<pes_schemas::JobSeekerRegistration> = None;
    let mut event: Option<pes_schemas::EmploymentEvent> = None;
    let mut unemployment: Option<pes_schemas::EmploymentEvent> = None;
    let mut trainings = Vec::new();
    for r in records {
        let version = r.record_version;
        match r.body {
            RecordBody::Person(p) if person.as_ref().is_none_or(|(v, _)| version > *v) => {
                person = Some((version, p));
            }
            RecordBody::JobSeekerRegistration(j)
                if registration
                    .as_ref()
                    .is_none_or(|o| j.registered_on > o.registered_on) =>
            {
                registration = Some(j);
            }
            RecordBody::EmploymentEvent(e) => {
                if event.as_ref().is_none_or(|o| e.date > o.date) {
                    event = Some(e.clone());
                }
                if e.kind != EmploymentEventKind::Hired
                    && unemployment.as_ref().is_none_or(|o| e.date > o.date)
                {
                    unemployment = Some(e);
                }
            }
            RecordBody::TrainingRecord(t) => trainings.push(t),
            _ => {}
        }
    }
    trainings.sort_by_key(|t| t.start_on);
    if let Some((_, p)) = person {
        out.benefits.key_groups = p
            .key_groups
            .iter()
            .filter_map(|g| serde_json::to_value(g).ok())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        out.person = Some(minimise_person(without_key(&p), policy));
    }
    out.benefits.active_registration = registration
        .as_ref()
        .is_some_and(|j| j.status == pes_schemas::RegistrationStatus::Active);
    out.benefits.registered_unemployed = unemployment
        .as_ref()
        .is_some_and(|e| e.kind == EmploymentEventKind::UnemploymentRegistered);
    out.benefits.training_subsidy_cny = trainings
        .iter()
        .map(|t| u64::from(t.subsidy_cny.unwrap_or(0)))
        .sum();
    out.registration = registration.as_ref().map(without_key);
    out.last_employment_event = event.as_ref().map(without_key);
    out.trainings = trainings.iter().map(without_key).collect();
    Ok(Some(out))
}

/// A record body as JSON without its person_key (the caller asked by it already).
fn without_key<T: Serialize>(body: &T) -> Value {
    let mut v = serde_json::to_value(body).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("person_key");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pk: &str, purpose: &str, basis: &str) -> PersonQuery {
        PersonQuery {
            person_key: pk.into(),
            purpose: purpose.into(),
            legal_basis: basis.into(),
        }
    }

    fn policy(datasets: &[&str], purposes: &[&str]) -> Grants {
        Grants {
            datasets: datasets.iter().map(|d| d.to_string()).collect(),
            purposes: purposes.iter().map(|p| p.to_string()).collect(),
            protected_fields: vec![],
        }
    }

    #[test]
    fn refusals_name_the_problem_and_the_policy_must_allow_person_and_purpose() {
        let pk = "A".repeat(43);
        let ok = policy(&["person"], &["case_management"]);
        let slug = |q: &PersonQuery, p: Option<&Grants>| refusal(q, p).map(|r| (r.0, r.1));
        assert_eq!(slug(&query(&pk, "case_management", "law"), Some(&ok)), None);
        assert_eq!(
            slug(
                &query("11010519491231002X", "case_management", "law"),
                Some(&ok)
            ),
            Some((400, "bad-person-key"))
        );
        assert_eq!(
            slug(&query(&pk, " ", "law"), Some(&ok)),
            Some((400, "missing-purpose"))
        );
        assert_eq!(
            slug(&query(&pk, "case_management", ""), Some(&ok)),
            Some((400, "missing-legal-basis"))
        );
        let long = "x".repeat(MAX_LEGAL_BASIS + 1);
        assert_eq!(
            slug(&query(&pk, "case_management", &long), Some(&ok)),
            Some((400, "bad-legal-basis"))
        );
        for denied in [
            None,
            Some(policy(&["vacancy"], &["case_management"])),
            Some(policy(&["person"], &["statistics"])),
        ] {
            assert_eq!(
                slug(&query(&pk, "case_management", "law"), denied.as_ref()),
                Some((403, "policy_denied"))
            );
        }
    }
}
