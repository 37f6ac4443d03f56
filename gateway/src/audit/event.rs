//! The audit event: one log entry, serialised as RFC 8785 canonical JSON.
//!
//! An event records who did what, why and with what outcome (DESIGN section 7). It never
//! carries a protected field (name, ID number, phone): the types hold identifiers, codes,
//! digests and counts only, and [`AuditEvent::to_canonical_json`] refuses any value that looks
//! like an ID number or a mobile number, so a mistake upstream fails loudly instead of leaking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest canonical event accepted into the log.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// Subject: the user's token `sub`, or the peer gateway's member id.
    pub sub: String,
    /// Role: `pusher`, `analyst`, `caseworker`, `auditor`, `admin`, or `peer`.
    pub role: String,
    /// Region code (GB/T 2260) the actor belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Trust-list member id when the request came from a peer gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_member: Option<String>,
}

/// What was done. One variant per audited kind of request; the serialised names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A provincial system pushed a batch (`POST /v1/ingest/{source}`).
    IngestPush,
    /// Quarantined rows were listed.
    QuarantineList,
    /// Quarantined rows were fixed and re-submitted.
    QuarantineResubmit,
    /// An aggregate query was answered (`POST /v1/query`).
    QueryAggregate,
    /// The supply-and-demand report was read.
    ReportSupplyDemand,
    /// A person was looked up across regions (by person_key).
    PersonLookup,
    /// A peer gateway's federated request was answered by this gateway.
    FederationServe,
    /// The federation trust list was loaded or refused.
    TrustListUpdate,
    /// The audit log was read (entries, proofs, receipts).
    AuditRead,
    /// A peer's checkpoint was cosigned (or refused) by this gateway's witness.
    WitnessCosign,
    /// A request was refused before it reached a handler (authentication, signature, policy).
    AccessDenied,
    /// Gateway lifecycle: start, stop, key rotation.
    Admin,
    /// Records were retired: by a committed snapshot, by their source record ids, or by
    /// retention (which also purges retired records).
    RecordRetire,
    /// A person's data was erased from this region (PIPL Art. 47).
    PersonErase,
    /// Vacancies were searched (`POST /v1/vacancies/search`; at a serving region, the peer's
    /// search: anonymous, criteria only).
    VacancySearch,
}

impl Action {
    /// Every action, for exhaustive tests and documentation.
    pub const ALL: [Action; 15] = [
        Action::IngestPush,
        Action::QuarantineList,
        Action::QuarantineResubmit,
        Action::QueryAggregate,
        Action::ReportSupplyDemand,
        Action::PersonLookup,
        Action::FederationServe,
        Action::TrustListUpdate,
        Action::AuditRead,
        Action::WitnessCosign,
        Action::AccessDenied,
        Action::Admin,
        Action::RecordRetire,
        Action::PersonErase,
        Action::VacancySearch,
    ];

    /// The stable serialised name, e.g. `person_lookup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::IngestPush => "ingest_push",
            Action::QuarantineList => "quarantine_list",
            Action::QuarantineResubmit => "quarantine_resubmit",
            Action::QueryAggregate => "query_aggregate",
            Action::ReportSupplyDemand => "report_supply_demand",
            Action::PersonLookup => "person_lookup",
            Action::FederationServe => "federation_serve",
            Action::TrustListUpdate => "trust_list_update",
            Action::AuditRead => "audit_read",
            Action::WitnessCosign => "witness_cosign",
            Action::AccessDenied => "access_denied",
            Action::Admin => "admin",
            Action::RecordRetire => "record_retire",
            Action::PersonErase => "person_erase",
            Action::VacancySearch => "vacancy_search",
        }
    }
}

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Served in full.
    Ok,
    /// Served, but some regions or rows did not contribute.
    Partial,
    /// Refused: authentication, authorisation, policy, signature or replay.
    Denied,
    /// The input was invalid.
    Invalid,
    /// The gateway failed.
    Error,
}

/// The answer of one peer region asked during a fan-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerReceipt {
    /// Region code of the peer.
    pub region: String,
    /// `ok`, `timeout`, `unreachable`, `denied`, `bad_signature` or `error`.
    pub status: String,
    /// The peer's log origin, when it returned a receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_origin: Option<String>,
    /// Index of the peer's audit entry for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Hex leaf hash of the peer's audit entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
}

/// One audit log entry. Optional fields are omitted from the canonical form when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// When the request was handled, RFC 3339 UTC with millisecond precision.
    pub time: String,
    /// The gateway that wrote the entry (its region code or member id).
    pub gateway: String,
    /// Request id, propagated across gateways.
    pub request_id: String,
    /// Who acted.
    pub actor: Actor,
    /// What was done.
    pub action: Action,
    /// Declared purpose (code), required for lookups and queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Declared legal basis (code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// Dataset or record type touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// Hex SHA-256 of the canonical query or request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_digest: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Stable machine-readable reason for a non-ok outcome (a problem slug), never free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Counts: rows accepted, quarantined, unchanged, cells returned, suppressed, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Receipts of the peers asked, in the order asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_receipts: Vec<PeerReceipt>,
    /// Pseudonymous person key of the person looked up (never the ID number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_key: Option<String>,
    /// Ingest batch id (hex SHA-256 of the pushed body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// Hex SHA-256 of the raw pushed bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_hash: Option<String>,
    /// Network address of the client, on aggregated anonymous refusals only (their `counts`
    /// hold `count`; see [`super::aggregate`]); `other` when past the aggregator's bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Why an event cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The canonical form exceeds [`MAX_EVENT_BYTES`] (the program's fault: too many receipts
    /// or counts in one event).
    #[error("audit event is {0} bytes, above the 64 KiB limit")]
    TooLarge(usize),
    /// A value looks like a protected field (the program's fault). The value is never shown.
    #[error(
        "audit event field `{0}` holds what looks like a protected value (ID number or phone)"
    )]
    ProtectedValue(String),
    /// A number cannot be written canonically (non-integer or beyond 2^53).
    #[error("audit event field `{0}` holds a number that has no canonical form here")]
    Number(String),
    /// The entry bytes are not a valid event.
    #[error("audit entry is not a valid event: {0}")]
    Parse(#[from] serde_json::Error),
}

impl AuditEvent {
    /// A new event stamped with the current time; optional fields empty.
    pub fn new(
        gateway: impl Into<String>,
        request_id: impl Into<String>,
        actor: Actor,
        action: Action,
        outcome: Outcome,
    ) -> Self {
        Self {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            gateway: gateway.into(),
            request_id: request_id.into(),
            actor,
            action,
            purpose: None,
            legal_basis: None,
            dataset: None,
            query_digest: None,
            outcome,
            reason: None,
            counts: BTreeMap::new(),
            peer_receipts: Vec::new(),
            person_key: None,
            batch_id: None,
            raw_hash: None,
            client: None,
        }
    }

    /// The RFC 8785 canonical JSON of this event: the exact bytes stored and hashed.
    /// Fails if the event is too large or any value looks like a protected field.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, EventError> {
        let value = serde_json::to_value(self)?;
        if let Some(field) = find_protected(&value, "") {
            return Err(EventError::ProtectedValue(field));
        }
        let mut out = Vec::with_capacity(512);
        write_canonical(&value, &mut out, "")?;
        if out.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge(out.len()));
        }
        Ok(out)
    }

    /// Parses a stored entry.
    pub fn from_json(bytes: &[u8]) -> Result<Self, EventError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Writes `value` as RFC 8785 canonical JSON: no whitespace, object members sorted by their
/// UTF-16 code units, strings escaped minimally (serde_json's escaping is the RFC 8785 one),
/// integers in plain decimal. Non-integer numbers are refused: events carry none.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>, path: &str) -> Result<(), EventError> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            serde_json::to_writer(&mut *out, value)?;
        }
        Value::Number(n) => {
            // ES6 number serialisation equals plain decimal for integers up to 2^53.
            let ok = n.as_u64().is_some_and(|v| v <= 1 << 53)
                || n.as_i64().is_some_and(|v| v.unsigned_abs() <= 1 << 53);
            if !ok {
                return Err(EventError::Number(path.to_owned()));
            }
            serde_json::to_writer(&mut *out, value)?;
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out, path)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_canonical(&map[key], out, key)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Returns the name of the first field whose string value contains a token shaped like a
/// GB 11643 ID number (18 characters with a valid check digit, or the old 15-digit form) or a
/// mainland mobile number (11 digits starting 13-19). Tokens are maximal alphanumeric runs, so
/// hex digests and base64 do not trip it.
pub fn find_protected(value: &Value, field: &str) -> Option<String> {
    match value {
        Value::String(s) => s
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(looks_protected)
            .then(|| field.to_owned()),
        Value::Array(items) => items.iter().find_map(|v| find_protected(v, field)),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if looks_protected(k) {
                return Some(field.to_owned());
            }
            find_protected(v, k)
        }),
        _ => None,
    }
}

fn looks_protected(token: &str) -> bool {
    let b = token.as_bytes();
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        11 => all_digits(b) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]),
        15 => all_digits(b),
        18 => all_digits(&b[..17]) && gb11643_check_digit(&b[..17]) == b[17].to_ascii_uppercase(),
        _ => false,
    }
}

fn gb11643_check_digit(first17: &[u8]) -> u8 {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            sub: "cw-17".into(),
            role: "caseworker".into(),
            region: Some("440000".into()),
            peer_member: None,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        let mut e = AuditEvent::new(
            "440000",
            "req-1",
            actor(),
            Action::QueryAggregate,
            Outcome::Ok,
        );
        e.time = "2026-01-02T03:04:05.000Z".into();
        e.counts.insert("rows".into(), 3);
        let s = String::from_utf8(e.to_canonical_json().unwrap()).unwrap();
        assert_eq!(
            s,
            r#"{"action":"query_aggregate","actor":{"region":"440000","role":"caseworker","sub":"cw-17"},"counts":{"rows":3},"gateway":"440000","outcome":"ok","request_id":"req-1","time":"2026-01-02T03:04:05.000Z"}"#
        );
        assert_eq!(AuditEvent::from_json(s.as_bytes()).unwrap(), e);
    }

    #[test]
    fn canonical_json_orders_keys_by_utf16_and_escapes_like_rfc8785() {
        // RFC 8785 section 3.2.3: U+1F600 (surrogate 0xD83D) sorts before U+FB33 in UTF-16
        // order although it comes after it in code point (and UTF-8 byte) order.
        let v: Value = serde_json::from_str(
            r#"{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        write_canonical(&v, &mut out, "").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"\\r\":2,\"1\":4,\"\u{80}\":6,\"\u{f6}\":7,\"\u{20ac}\":1,\"\u{1f600}\":5,\"\u{fb33}\":3}"
        );
    }

    #[test]
    fn floats_and_huge_numbers_are_refused() {
        for bad in ["1.5", "18014398509481985"] {
            let v: Value = serde_json::from_str(&format!("{{\"n\":{bad}}}")).unwrap();
            assert!(
                matches!(write_canonical(&v, &mut Vec::new(), ""), Err(EventError::Number(f)) if f == "n")
            );
        }
    }

    #[test]
    fn id_numbers_and_phones_are_refused_but_digests_are_not() {
        for (field_value, protected) in [
            ("11010519491231002X", true),
            ("lookup of 110105194912310020 failed", false), // bad check digit: not an ID
            ("call 13800138000", true),
            ("110105491231002", true),
            (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                false,
            ),
            ("12345678901", false),
        ] {
            let mut e = AuditEvent::new(
                "440000",
                field_value,
                actor(),
                Action::PersonLookup,
                Outcome::Ok,
            );
            e.person_key = Some("pk1".into());
            let r = e.to_canonical_json();
            assert_eq!(
                matches!(r, Err(EventError::ProtectedValue(ref f)) if f == "request_id"),
                protected,
                "{field_value}"
            );
            if let Err(err) = r {
                assert!(
                    !err.to_string().contains(field_value),
                    "error must not echo the value"
                );
            }
        }
    }

    #[test]
    fn events_over_64_kib_are_refused() {
        let mut e = AuditEvent::new("440000", "r", actor(), Action::QueryAggregate, Outcome::Ok);
        for i in 0..5000 {
            e.counts.insert(format!("cell-{i:06}"), i);
        }
        assert!(
            matches!(e.to_canonical_json(), Err(EventError::TooLarge(n)) if n > MAX_EVENT_BYTES)
        );
    }
}
