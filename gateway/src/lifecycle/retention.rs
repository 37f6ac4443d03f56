//! Retention: records of the types listed in `lifecycle.expire_after_months` are retired that
//! many months after their last change (the ingest time of the stored version: a push that
//! changes nothing does not renew it), and retired records are deleted for good
//! `lifecycle.purge_retired_after_days` after they were retired. Each run journals at most one
//! retirement and one purge (reason `retention`); the API side runs it on a timer, on start and
//! on `POST /v1/admin/retention`, and audits what it did.

use std::collections::HashMap;

use chrono::{DateTime, Months, Utc};
use pes_schemas::RecordType;
use serde::Serialize;

use super::retire::{change_id, journal_and_apply};
use super::{LifecycleError, Parts};
use crate::config::LifecycleSettings;
use crate::keys::DataKey;
use crate::store::entry::{EntryKind, Lifecycle};
use crate::store::value::{self, SharedEnvelope};

/// What one retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RetentionOutcome {
    /// Records retired because they expired.
    pub expired: u64,
    /// Retired records deleted for good.
    pub purged: u64,
}

/// What a run would change: `(key, version seen)` items to retire and to purge.
#[derive(Debug, Default)]
pub struct RetentionPlan {
    /// Live records past their type's expiry.
    pub expire: Vec<(Vec<u8>, u64)>,
    /// Tombstones older than the purge delay.
    pub purge: Vec<(Vec<u8>, u64)>,
}

/// Finds what expired and what may be purged at `now`. Blocking (scans the store).
pub fn plan(
    parts: Parts<'_>,
    settings: &LifecycleSettings,
    key: &DataKey,
    now: DateTime<Utc>,
) -> Result<RetentionPlan, LifecycleError> {
    let mut out = RetentionPlan::default();
    let purge_before = now.timestamp_millis()
        - i64::try_from(settings.purge_retired_after_days)
            .unwrap_or(i64::MAX / 86_400_000)
            .saturating_mul(86_400_000);
    // The ingest time of each batch's records, read once per batch.
    let mut ingested: HashMap<[u8; 32], Option<DateTime<Utc>>> = HashMap::new();
    for t in RecordType::ALL {
        let expire_before = settings
            .expire_after_months
            .get(t.as_str())
            .and_then(|m| now.checked_sub_months(Months::new(*m)));
        let mut failed = None;
        parts.store.scan_records(t, "", &mut |k, v| {
            let Some(version) = value::value_version(v) else {
                return true;
            };
            if let Some(r) = value::tombstone(v) {
                if r.at_ms < purge_before {
                    out.purge.push((k.to_vec(), version));
                }
                return true;
            }
            let Some(before) = expire_before else {
                return true;
            };
            match ingested_at(parts, key, k, v, &mut ingested) {
                Ok(Some(at)) if at < before => out.expire.push((k.to_vec(), version)),
                Ok(_) => {}
                Err(e) => {
                    failed = Some(e);
                    return false;
                }
            }
            true
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(out)
}

/// When a stored record's version was ingested: from its batch's shared envelope, or from the
/// record itself when it was stored whole.
fn ingested_at(
    parts: Parts<'_>,
    key: &DataKey,
    k: &[u8],
    v: &[u8],
    cache: &mut HashMap<[u8; 32], Option<DateTime<Utc>>>,
) -> Result<Option<DateTime<Utc>>, LifecycleError> {
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    if let Some(batch) = value::value_batch(v) {
        if let Some(at) = cache.get(&batch) {
            if at.is_some() {
                return Ok(*at);
            }
        } else {
            let at = parts
                .store
                .batch_envelope(&batch)?
                .and_then(|b| serde_json::from_slice::<SharedEnvelope>(&b).ok())
                .and_then(|e| parse(&e.ingested_at));
            cache.insert(batch, at);
            if at.is_some() {
                return Ok(at);
            }
        }
    }
    let record_id = std::str::from_utf8(k.get(1..).unwrap_or_default()).unwrap_or_default();
    Ok(parts
        .store
        .read_record(record_id, key, false)?
        .and_then(|(r, _)| parse(&r.provenance.ingested_at)))
}

/// Journals a run's retirement and purge and waits until both are applied.
pub async fn apply(
    parts: Parts<'_>,
    plan: &RetentionPlan,
    now: DateTime<Utc>,
) -> Result<RetentionOutcome, LifecycleError> {
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out = RetentionOutcome::default();
    for (kind, items, name) in [
        (EntryKind::Retire, &plan.expire, "retire"),
        (EntryKind::Purge, &plan.purge, "purge"),
    ] {
        if items.is_empty() {
            continue;
        }
        let l = Lifecycle {
            batch_id: change_id(&["pes-retention", name, &at]),
            source: "",
            at: &at,
            kind,
            snapshot: "",
            reason: "retention",
        };
        let summary = journal_and_apply(parts, &l, items).await?;
        out.expired += summary.outcome.retired;
        out.purged += summary.outcome.purged;
    }
    Ok(out)
}
