//! Journals a retirement or a purge and waits until it is applied; retires records named by
//! source record id (`POST /v1/sources/{source}/retire`).

use std::sync::atomic::Ordering;

use pes_schemas::RecordType;
use serde::{Deserialize, Serialize};

use super::{Items, LifecycleError, Parts};
use crate::store::entry::{lifecycle_entry, EntryKind, Lifecycle, ANY_VERSION};
use crate::store::value::{encode_key, is_live};
use crate::store::BatchSummary;

/// Most source record ids one retirement request may name.
pub const MAX_RETIRE_IDS: usize = 100_000;

/// Journals a lifecycle entry over `(key, expected version)` items and waits until the
/// applier has applied it; returns its summary (`outcome.retired`, `outcome.purged`). An entry
/// whose id was applied before (a snapshot committed again) is not journaled twice.
pub async fn journal_and_apply(
    parts: Parts<'_>,
    l: &Lifecycle<'_>,
    items: &[(Vec<u8>, u64)],
) -> Result<BatchSummary, LifecycleError> {
    if let Some(done) = summary_of(parts, &l.batch_id) {
        return Ok(done);
    }
    let payload = lifecycle_entry(l, items);
    parts.state.batches_journaled.fetch_add(1, Ordering::AcqRel);
    let end = match parts.journal.append(payload).await {
        Ok(end) => end,
        Err(e) => {
            parts.state.batches_journaled.fetch_sub(1, Ordering::AcqRel);
            return Err(e.into());
        }
    };
    parts.state.journal_end.fetch_max(end, Ordering::AcqRel);
    parts.state.wait_applied(end).await;
    summary_of(parts, &l.batch_id).ok_or_else(|| {
        LifecycleError::NotApplied("the applier set it aside (see the dead letters)".into())
    })
}

fn summary_of(parts: Parts<'_>, id: &[u8; 32]) -> Option<BatchSummary> {
    let b = parts
        .state
        .batches
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    b.get(id).cloned().flatten()
}

/// A request to retire records of a source by their source record ids.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireRequest {
    /// Source record ids, as the export gives them (1 to 100,000).
    pub source_record_ids: Vec<String>,
    /// Record types to retire them from (default: every type).
    #[serde(default)]
    pub record_types: Vec<String>,
}

/// What a retirement by source record id did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetireOutcome {
    /// Records retired.
    pub retired: u64,
    /// Source record ids with no live record (of the types named) in this source.
    pub not_found: Vec<String>,
    /// Journal offset just past the retirement.
    pub journal_offset: u64,
}

/// Parses record type names (empty: every type).
pub fn record_types(names: &[String]) -> Result<Vec<RecordType>, LifecycleError> {
    if names.is_empty() {
        return Ok(RecordType::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            RecordType::parse(n).ok_or_else(|| {
                LifecycleError::Invalid(format!(
                    "unknown record type '{n}' (known: {})",
                    RecordType::ALL.map(RecordType::as_str).join(", ")
                ))
            })
        })
        .collect()
}

/// The records a retirement by source record id would retire: `(key, any version)` items, and
/// the ids with no live record of the types named. Blocking (reads the store).
pub fn plan_by_ids(
    parts: Parts<'_>,
    source: &str,
    req: &RetireRequest,
) -> Result<(Items, Vec<String>), LifecycleError> {
    if req.source_record_ids.is_empty() || req.source_record_ids.len() > MAX_RETIRE_IDS {
        return Err(LifecycleError::Invalid(format!(
            "name 1 to {MAX_RETIRE_IDS} source record ids"
        )));
    }
    let types = record_types(&req.record_types)?;
    let mut items = Vec::new();
    let mut not_found = Vec::new();
    for srid in &req.source_record_ids {
        let record_id = format!("{}:{source}:{srid}", parts.region);
        let mut found = false;
        for t in &types {
            let mut key = Vec::with_capacity(record_id.len() + 1);
            encode_key(*t, &record_id, &mut key);
            // The record's own key sorts first among the keys it prefixes.
            let mut live = false;
            parts.store.scan_records(*t, &record_id, &mut |k, v| {
                live = k == key.as_slice() && is_live(v);
                false
            })?;
            if live {
                found = true;
                items.push((key, ANY_VERSION));
            }
        }
        if !found {
            not_found.push(srid.clone());
        }
    }
    Ok((items, not_found))
}

/// Journals the retirement of `items` of `source`, asked by request `request_id` (the entry's
/// reason is `request:<id>`), and waits until it is applied; returns the records retired and
/// the journal offset past it.
pub async fn retire_requested(
    parts: Parts<'_>,
    source: &str,
    request_id: &str,
    items: &[(Vec<u8>, u64)],
) -> Result<(u64, u64), LifecycleError> {
    if items.is_empty() {
        return Ok((0, parts.state.journal_end.load(Ordering::Acquire)));
    }
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let reason = format!("request:{request_id}");
    let l = Lifecycle {
        batch_id: change_id(&["pes-retire", source, request_id, &at]),
        source,
        at: &at,
        kind: EntryKind::Retire,
        snapshot: "",
        reason: &reason,
    };
    let summary = journal_and_apply(parts, &l, items).await?;
    Ok((summary.outcome.retired, summary.end_offset))
}

/// The id of a lifecycle change: SHA-256 over its parts (each followed by a zero byte).
pub fn change_id(parts: &[&str]) -> [u8; 32] {
    let mut id = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        id.update(part.as_bytes());
        id.update(&[0]);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(id.finish().as_ref());
    out
}
