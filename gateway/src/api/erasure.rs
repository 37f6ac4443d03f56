//! `POST /v1/persons/erase` (caseworkers and admins): a person's data erased from this region
//! (PIPL Art. 47), by ID number or person_key, with a purpose and a legal basis checked exactly
//! as for a person lookup ([`crate::api::persons`]).
//!
//! This is deletion, not per-person crypto-shredding. In order:
//! 1. the journal seals its current segment ([`Journal::rotate`]): every entry written before
//!    the request lies in a segment below the new one;
//! 2. the applier is waited for until it has applied those entries, so none of them brings the
//!    person back after step 3;
//! 3. the store deletes the person's records, person index pairs and quarantined rows
//!    ([`crate::store::RecordStore::erase_person`]), and the rollups take the records out;
//! 4. dead-letter payloads are rewritten without the person's records and rows
//!    ([`dead_letter::scrub`]);
//! 5. the store is flushed and every journal segment before the new one is deleted
//!    ([`journal::prune_before`]).
//!
//! The audit event holds the purpose, the legal basis and the counts: never the ID number nor
//! the person_key (the answer does not repeat them either). A person that matches nothing is
//! answered 200 with zero counts, the same shape as a match: the caller may look the person up
//! anyway, so the counts tell them nothing a lookup would not.
//!
//! [`Journal::rotate`]: crate::ingest::journal::Journal::rotate

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::api::persons::{basis_refusal, person_key_of};
use crate::api::{audit, authenticate, event, refuse, AuditReceipt, Detail, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::ingest::decode::quarantine_id;
use crate::ingest::journal;
use crate::keys::DataKey;
use crate::node::Node;
use crate::problem::Problem;
use crate::store::dead_letter;

/// Body of `POST /v1/persons/erase`: exactly one of `id_number` and `person_key`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// GB 11643 ID number; hashed here to the person_key, never stored or logged.
    #[serde(default)]
    pub id_number: Option<String>,
    /// Pseudonymous person key, when the caller has it (quarantined rows are then matched by
    /// the person_key alone; give the ID number to match rows whose person_key could not be
    /// derived).
    #[serde(default)]
    pub person_key: Option<String>,
    /// Purpose (must be allowed by the token).
    #[serde(default)]
    pub purpose: Option<String>,
    /// Legal basis, audited (free text: it must not name the person).
    #[serde(default)]
    pub legal_basis: Option<String>,
}

/// What an erasure removed from this region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErasureCounts {
    /// Records deleted, by record type (types with none left out).
    pub records: BTreeMap<String, u64>,
    /// Person index entries (person_key, record) removed.
    pub person_index_entries: u64,
    /// Quarantined rows deleted (their sealed raw row held the ID number or the person_key).
    pub quarantined_rows: u64,
    /// Journal segments deleted: every segment written before the erasure.
    pub journal_segments_pruned: u64,
    /// Dead-letter payloads rewritten without the person's records and rows.
    pub dead_letters_rewritten: u64,
    /// Dead letters removed whole (payload unreadable, but holding the person_key).
    pub dead_letters_removed: u64,
}

/// Answer of `POST /v1/persons/erase`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EraseAnswer {
    /// What was removed (all zero when this region held nothing of the person).
    pub erased: ErasureCounts,
    /// Where the erasure's audit entry sits in this gateway's log.
    pub audit: AuditReceipt,
}

const ACTION: Action = Action::PersonErase;

/// Longest wait for the applier to catch up with the journal before erasing.
const APPLY_WAIT: Duration = Duration::from_secs(60);

/// Erases a person from this region. Caseworkers and admins; a missing purpose or legal basis,
/// a malformed identifier or a purpose the token does not allow is refused with problem+json
/// and audited.
#[utoipa::path(post, path = "/v1/persons/erase", tag = "persons",
    description = "Erase a person from this region (PIPL Art. 47) by `id_number` or \
        `person_key`, with a purpose and a legal basis (role `caseworker` or `admin`): records, \
        person index entries, quarantined rows, dead-letter copies and every journal segment \
        written before the request are deleted, and the rollups adjusted. The audit entry holds \
        counts and the legal basis only. A person this region does not hold is answered 200 with \
        zero counts.",
    security(("bearer" = [])),
    request_body(content = EraseRequest, example = json!({
        "id_number": "11010519491231002X",
        "purpose": "erasure_request",
        "legal_basis": "个人信息保护法 第四十七条"
    })),
    responses(
        (status = 200, description = "Erased; the counts say what was removed", body = EraseAnswer),
        (status = 400, description = "Malformed body, bad identifier, missing purpose or legal basis", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a caseworker or admin of this region, or the purpose is not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The store failed part-way; the erasure may be repeated", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The journal or the applier is not available (nothing was erased), or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn erase(
    req: HttpRequest,
    body: web::Bytes,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Caseworker, Role::Admin], ACTION).await?;
    // Parsed here rather than by the JSON extractor: serde's messages may quote the values.
    let body: EraseRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let p = Problem::bad_request(
                "malformed-json",
                format!(
                    "body must be a JSON object {{id_number | person_key, purpose, legal_basis}} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            );
            return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await);
        }
    };
    let (person_key, id) = match person_key_of(&node, &body.id_number, &body.person_key) {
        Ok(k) => k,
        Err(p) => return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await),
    };
    let purpose = body.purpose.clone().unwrap_or_default();
    let legal_basis = body.legal_basis.clone().unwrap_or_default();
    // No person_key in the detail: the erasure's audit entry must not say whom it erased.
    let detail = Detail::new().purpose(&body.purpose);
    if let Some(p) = basis_refusal(&auth, &purpose, &legal_basis) {
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    // The event must be writable before anything is erased: a legal basis that looks like an
    // ID number or a phone number is refused by the audit log.
    let mut probe = event(&node, &req, ACTION, Some(&auth), 200, detail.clone());
    probe.legal_basis = Some(legal_basis.clone());
    if probe.to_canonical_json().is_err() {
        let p = Problem::bad_request(
            "bad-legal-basis",
            "the legal basis holds what looks like an ID number or a phone number",
        );
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    let counts = match erase_person(&node, person_key, id).await {
        Ok(c) => c,
        Err(p) => return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await),
    };
    let mut d = detail
        .count("person_index_entries", counts.person_index_entries)
        .count("quarantined_rows", counts.quarantined_rows)
        .count("journal_segments_pruned", counts.journal_segments_pruned)
        .count("dead_letters_rewritten", counts.dead_letters_rewritten)
        .count("dead_letters_removed", counts.dead_letters_removed);
    for (t, n) in &counts.records {
        d = d.count(&format!("records_{t}"), *n);
    }
    let mut ev = event(&node, &req, ACTION, Some(&auth), 200, d);
    ev.legal_basis = Some(legal_basis);
    let receipt = audit(&node, ev).await?;
    Ok(HttpResponse::Ok().json(EraseAnswer {
        erased: counts,
        audit: receipt,
    }))
}

/// Runs the erasure's steps (see the module doc); a problem says how far it got.
async fn erase_person(
    node: &web::Data<Node>,
    person_key: String,
    id: Option<pes_schemas::id_number::IdNumber>,
) -> Result<ErasureCounts, Problem> {
    let base = node.journal.rotate().await.map_err(|e| {
        tracing::error!(error = %e, "erasure: the journal could not seal its segment");
        Problem::unavailable("the journal is not available; nothing was erased")
    })?;
    if actix_web::rt::time::timeout(APPLY_WAIT, node.state.wait_applied(base))
        .await
        .is_err()
    {
        tracing::warn!(
            journal_offset = base,
            "erasure: the store did not catch up with the journal in time"
        );
        return Err(Problem::unavailable(
            "the store is behind the journal; nothing was erased, try again later",
        ));
    }
    let node = node.clone();
    web::block(move || erase_stored(&node, &person_key, id.as_ref(), base))
        .await
        .map_err(|_| Problem::internal())?
}

/// Store, dead letters and journal (blocking): see the module doc, steps 3 to 5. Also applies
/// the rollup deltas, so the counts and the rollups change together.
fn erase_stored(
    node: &Node,
    person_key: &str,
    id: Option<&pes_schemas::id_number::IdNumber>,
    base: u64,
) -> Result<ErasureCounts, Problem> {
    let internal = |what: &str, e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "erasure: {what} failed part-way; the erasure may be repeated");
        Problem::internal()
    };
    let rows = RowMatcher::new(&node.data_key, person_key, id);
    let matches = |batch: &[u8; 32], row: u32, v: &[u8]| rows.matches(batch, row, v);
    let erased = node
        .store
        .erase_person(person_key, &matches)
        .map_err(|e| internal("the store", &e))?;
    let mut counts = ErasureCounts {
        person_index_entries: erased.index_pairs,
        quarantined_rows: erased.quarantined,
        ..ErasureCounts::default()
    };
    for chunk in erased.deltas.chunks(4096) {
        let mut r = node
            .state
            .rollups
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for (f, sign) in chunk {
            r.apply(f, *sign);
        }
    }
    for (f, _) in &erased.deltas {
        *counts
            .records
            .entry(f.rtype.as_str().to_string())
            .or_default() += 1;
    }
    let dead_dir = dead_letter::payload_dir(&node.config.data_dir);
    let scrubbed = dead_letter::scrub(&*node.store, &dead_dir, person_key, &matches)
        .map_err(|e| internal("the dead letters", &e))?;
    counts.dead_letters_rewritten = scrubbed.rewritten;
    counts.dead_letters_removed = scrubbed.removed;
    // The store holds everything below `base` (waited for above) once flushed: the segments
    // before it are needed no more, and they hold the person's copies.
    node.store
        .flush()
        .map_err(|e| internal("the store flush", &e))?;
    let journal_dir = node.config.data_dir.join("journal");
    counts.journal_segments_pruned = journal::prune_before(&journal_dir, base)
        .map_err(|e| internal("the journal prune", &e))?
        as u64;
    Ok(counts)
}

/// Tells whether a quarantined row (its stored JSON, with the raw row sealed under the data key
/// with its quarantine id as AAD) holds the person: the person_key as is, or the ID number
/// (also its 15-character legacy form) once full-width characters are folded and letters
/// upper-cased.
struct RowMatcher<'a> {
    key: &'a DataKey,
    person_key: &'a str,
    ids: Vec<String>,
}

impl<'a> RowMatcher<'a> {
    fn new(
        key: &'a DataKey,
        person_key: &'a str,
        id: Option<&pes_schemas::id_number::IdNumber>,
    ) -> RowMatcher<'a> {
        let mut ids = Vec::new();
        if let Some(id) = id {
            let s = id.as_str();
            ids.push(s.to_string());
            // A legacy 15-character number is the 18 without the century "19" and the check.
            if s.get(6..8) == Some("19") {
                if let (Some(a), Some(b)) = (s.get(..6), s.get(8..17)) {
                    ids.push(format!("{a}{b}"));
                }
            }
        }
        RowMatcher {
            key,
            person_key,
            ids,
        }
    }

    fn matches(&self, batch: &[u8; 32], row: u32, stored: &[u8]) -> bool {
        // Read as plain JSON: only `raw_sealed` matters here.
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(stored) else {
            return false;
        };
        let Some(sealed) = v.get("raw_sealed").and_then(|s| s.as_str()) else {
            return false;
        };
        let Ok(sealed) = base64::engine::general_purpose::STANDARD.decode(sealed) else {
            return false;
        };
        let qid = quarantine_id(&hex::encode(batch), row);
        let Ok(raw) = self.key.open(qid.as_bytes(), &sealed) else {
            tracing::warn!("erasure: a quarantined row could not be opened; it is kept");
            return false;
        };
        let raw = String::from_utf8_lossy(&raw);
        if raw.contains(self.person_key) {
            return true;
        }
        let folded: String = raw
            .chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                c => c,
            })
            .map(|c| c.to_ascii_uppercase())
            .collect();
        self.ids.iter().any(|id| folded.contains(id.as_str()))
    }
}
