//! Snapshots: a pusher opens one for a source (optionally for some record types), pushes the
//! source's complete current content as batches tagged with it (`?snapshot=<id>`), and commits
//! it. The commit retires every live record of the source (in those types) that no batch of the
//! snapshot carried, in one journal entry: all of them or none, also across a crash.
//!
//! - The applier notes the record keys of each snapshot batch (`ApplyState::snapshot_seen`),
//!   unchanged records included; the commit waits until every batch pushed before it is
//!   applied, then compares.
//! - **Guard.** A commit that would retire more than `lifecycle.snapshot_max_retire_share` of
//!   the live records in scope, or one whose batches quarantined rows (their records cannot be
//!   told apart, so they would be retired), waits for an admin's confirmation and says why.
//! - The keys seen are kept in memory only: a snapshot still open or waiting when the gateway
//!   stops is aborted on start (nothing was retired; push it again). A commit whose entry was
//!   journaled before the stop is found applied and the snapshot is marked committed.
//!
//! Each snapshot's state is kept in the store (`put_meta`, key `snapshot/<id>`).

use std::collections::HashMap;
use std::sync::Mutex;

use pes_schemas::RecordType;
use serde::{Deserialize, Serialize};

use super::retire::{change_id, journal_and_apply, record_types};
use super::{LifecycleError, Parts};
use crate::ingest::apply::SnapshotSeen;
use crate::store::entry::{EntryKind, Lifecycle};
use crate::store::value::{is_live, value_version};
use crate::store::{BatchSummary, RecordStore};

const META_PREFIX: &str = "snapshot/";

/// Where a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotState {
    /// Batches may be pushed with it.
    Open,
    /// Its commit would retire too much (or its batches quarantined rows): an admin confirms
    /// (`…/confirm`) or anyone aborts.
    AwaitingConfirmation,
    /// Committed: what it lacked is retired.
    Committed,
    /// Aborted (by request, or by a restart while open): nothing was retired.
    Aborted,
}

impl SnapshotState {
    /// The state's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotState::Open => "open",
            SnapshotState::AwaitingConfirmation => "awaiting_confirmation",
            SnapshotState::Committed => "committed",
            SnapshotState::Aborted => "aborted",
        }
    }
}

/// Why a commit waits for an admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Guard {
    /// Live records in scope the snapshot lacks.
    pub would_retire: u64,
    /// Live records in scope.
    pub live: u64,
    /// `would_retire / live`.
    pub share: f64,
    /// `lifecycle.snapshot_max_retire_share`.
    pub max_share: f64,
    /// Rows the snapshot's batches quarantined.
    pub quarantined_rows: u64,
    /// The snapshot's batches that were refused.
    #[serde(default)]
    pub failed_batches: u64,
    /// What an operator reads.
    pub message: String,
}

/// A snapshot and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// Its id (`snap-<uuid>`).
    pub id: String,
    /// The source it covers.
    pub source: String,
    /// Record types it covers (all of the source's when empty).
    pub record_types: Vec<String>,
    /// Where it is.
    pub state: SnapshotState,
    /// RFC 3339 time it was opened.
    pub opened_at: String,
    /// Token subject that opened it.
    pub opened_by: String,
    /// Batches pushed with it (duplicates of a batch count once per push).
    pub batches: u64,
    /// Valid records in those batches.
    pub records: u64,
    /// Rows those batches quarantined.
    pub quarantined_rows: u64,
    /// Batches pushed with it that were refused for what they hold (malformed, too many bad
    /// rows) and not taken since: their records would look absent.
    #[serde(default)]
    pub failed_batches: u64,
    /// Ids of those batches (in memory only).
    #[serde(skip)]
    failed: std::collections::HashSet<[u8; 32]>,
    /// Why its commit waits, while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<Guard>,
    /// Records retired by its commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<u64>,
    /// Live records in scope its batches carried, at commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<u64>,
    /// RFC 3339 time it was committed or aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// Admin who confirmed a guarded commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    /// Journal offset past its commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_offset: Option<u64>,
}

impl Snapshot {
    /// The id of its commit's journal entry (the same for every attempt, so a commit is never
    /// journaled twice).
    pub fn commit_id(&self) -> [u8; 32] {
        change_id(&["pes-snapshot-commit", &self.id])
    }

    fn types(&self) -> Result<Vec<RecordType>, LifecycleError> {
        record_types(&self.record_types)
    }
}

/// The snapshots of this gateway.
pub struct Registry {
    all: Mutex<HashMap<String, Snapshot>>,
    /// Snapshots whose commit is running.
    committing: Mutex<std::collections::HashSet<String>>,
}

impl Registry {
    /// Loads every snapshot from the store. One left open or waiting by the last run is
    /// aborted, unless its commit was applied (then it is committed).
    pub fn load(
        store: &dyn RecordStore,
        applied: &HashMap<[u8; 32], Option<BatchSummary>>,
    ) -> Result<Registry, LifecycleError> {
        let mut all = HashMap::new();
        for (_, v) in store.meta_with_prefix(META_PREFIX)? {
            let Ok(mut s) = serde_json::from_slice::<Snapshot>(&v) else {
                tracing::warn!("a stored snapshot state is unreadable; skipped");
                continue;
            };
            if matches!(
                s.state,
                SnapshotState::Open | SnapshotState::AwaitingConfirmation
            ) {
                let now = now();
                match applied.get(&s.commit_id()).cloned().flatten() {
                    Some(done) => {
                        s.state = SnapshotState::Committed;
                        s.retired = Some(done.outcome.retired);
                        s.journal_offset = Some(done.end_offset);
                    }
                    None => {
                        tracing::warn!(snapshot = %s.id, source = %s.source, "snapshot was open when the gateway stopped; aborted");
                        s.state = SnapshotState::Aborted;
                    }
                }
                s.guard = None;
                s.closed_at = Some(now);
                store.put_meta(&meta_key(&s.id), &to_json(&s))?;
            }
            all.insert(s.id.clone(), s);
        }
        Ok(Registry {
            all: Mutex::new(all),
            committing: Default::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Snapshot>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a snapshot of `source` and starts noting its batches' keys.
    pub fn open(
        &self,
        store: &dyn RecordStore,
        seen: &SnapshotSeen,
        source: &str,
        types: &[String],
        by: &str,
    ) -> Result<Snapshot, LifecycleError> {
        record_types(types)?;
        let s = Snapshot {
            id: format!("snap-{}", uuid::Uuid::new_v4().simple()),
            source: source.to_string(),
            record_types: types.to_vec(),
            state: SnapshotState::Open,
            opened_at: now(),
            opened_by: by.to_string(),
            batches: 0,
            records: 0,
            quarantined_rows: 0,
            failed_batches: 0,
            failed: Default::default(),
            guard: None,
            retired: None,
            kept: None,
            closed_at: None,
            confirmed_by: None,
            journal_offset: None,
        };
        store.put_meta(&meta_key(&s.id), &to_json(&s))?;
        seen.track(&s.id);
        self.lock().insert(s.id.clone(), s.clone());
        Ok(s)
    }

    /// A snapshot of `source`.
    pub fn get(&self, source: &str, id: &str) -> Result<Snapshot, LifecycleError> {
        self.lock()
            .get(id)
            .filter(|s| s.source == source)
            .cloned()
            .ok_or_else(|| LifecycleError::UnknownSnapshot(id.to_string()))
    }

    /// Checks that a batch may be pushed with snapshot `id` of `source`.
    pub fn check_open(&self, source: &str, id: &str) -> Result<(), LifecycleError> {
        let s = self.get(source, id)?;
        if s.state != SnapshotState::Open {
            return Err(LifecycleError::WrongState {
                id: s.id,
                state: s.state.as_str(),
                what: "no more batches can be pushed with it",
            });
        }
        Ok(())
    }

    /// Counts batch `batch` journaled with snapshot `id` (kept in memory until the snapshot
    /// closes); a batch refused before is no longer missing.
    pub fn note_batch(&self, id: &str, batch: &[u8; 32], records: u64, quarantined_rows: u64) {
        if let Some(s) = self.lock().get_mut(id) {
            s.batches += 1;
            s.records += records;
            s.quarantined_rows += quarantined_rows;
            s.failed.remove(batch);
            s.failed_batches = s.failed.len() as u64;
        }
    }

    /// Remembers batch `batch` of snapshot `id`, refused for what it holds.
    pub fn note_failed(&self, id: &str, batch: &[u8; 32]) {
        if let Some(s) = self.lock().get_mut(id) {
            if s.state == SnapshotState::Open {
                s.failed.insert(*batch);
                s.failed_batches = s.failed.len() as u64;
            }
        }
    }

    /// Aborts an open or waiting snapshot: nothing is retired.
    pub fn abort(
        &self,
        store: &dyn RecordStore,
        seen: &SnapshotSeen,
        source: &str,
        id: &str,
    ) -> Result<Snapshot, LifecycleError> {
        let _commit = self.claim(id)?;
        let mut s = self.get(source, id)?;
        if !matches!(
            s.state,
            SnapshotState::Open | SnapshotState::AwaitingConfirmation
        ) {
            return Err(LifecycleError::WrongState {
                id: s.id,
                state: s.state.as_str(),
                what: "only an open or waiting snapshot can be aborted",
            });
        }
        s.state = SnapshotState::Aborted;
        s.guard = None;
        s.closed_at = Some(now());
        self.save(store, &s)?;
        seen.forget(id);
        Ok(s)
    }

    fn save(&self, store: &dyn RecordStore, s: &Snapshot) -> Result<(), LifecycleError> {
        store.put_meta(&meta_key(&s.id), &to_json(s))?;
        self.lock().insert(s.id.clone(), s.clone());
        Ok(())
    }

    /// Marks a commit of `id` as running (released when the guard drops).
    fn claim(&self, id: &str) -> Result<Claim<'_>, LifecycleError> {
        let mut c = self.committing.lock().unwrap_or_else(|p| p.into_inner());
        if !c.insert(id.to_string()) {
            return Err(LifecycleError::Busy(id.to_string()));
        }
        Ok(Claim {
            registry: self,
            id: id.to_string(),
        })
    }

    /// Commits snapshot `id` of `source`: waits until every batch pushed so far is applied,
    /// then retires what it lacks, or, past the guard, records why it waits. `confirmed_by` is
    /// the admin confirming a waiting commit (which then skips the guard). Store reads block:
    /// the planning runs on the blocking pool through `plan`.
    pub async fn commit<P, F>(
        &self,
        parts: Parts<'_>,
        source: &str,
        id: &str,
        confirmed_by: Option<&str>,
        max_share: f64,
        plan: P,
    ) -> Result<Snapshot, LifecycleError>
    where
        P: FnOnce(Snapshot) -> F,
        F: std::future::Future<Output = Result<Plan, LifecycleError>>,
    {
        let _commit = self.claim(id)?;
        let mut s = self.get(source, id)?;
        let allowed = match confirmed_by {
            None => s.state == SnapshotState::Open,
            Some(_) => s.state == SnapshotState::AwaitingConfirmation,
        };
        if !allowed {
            return Err(LifecycleError::WrongState {
                id: s.id,
                state: s.state.as_str(),
                what: if confirmed_by.is_some() {
                    "only a commit waiting for confirmation can be confirmed"
                } else {
                    "only an open snapshot can be committed"
                },
            });
        }
        let end = parts
            .state
            .journal_end
            .load(std::sync::atomic::Ordering::Acquire);
        parts.state.wait_applied(end).await;
        let planned = plan(s.clone()).await?;
        let would = planned.items.len() as u64;
        let share = if planned.live == 0 {
            0.0
        } else {
            would as f64 / planned.live as f64
        };
        if confirmed_by.is_none() && would > 0 {
            let too_much = share > max_share;
            if too_much || s.quarantined_rows > 0 || s.failed_batches > 0 {
                let message = if s.failed_batches > 0 {
                    format!(
                        "{} batches of the snapshot were refused for what they hold, so their \
                         records would be retired with the {would} it lacks: abort it and push \
                         the fixed export as a new snapshot, or an admin confirms",
                        s.failed_batches
                    )
                } else if too_much {
                    format!(
                        "committing would retire {would} of {} live records ({:.1}%), more than \
                         the {:.1}% allowed (lifecycle.snapshot_max_retire_share): an admin \
                         confirms, or the snapshot is aborted and pushed again whole",
                        planned.live,
                        share * 100.0,
                        max_share * 100.0
                    )
                } else {
                    format!(
                        "the snapshot's batches quarantined {} rows, whose records would be \
                         retired with the {would} the snapshot lacks: fix and push them again \
                         (then commit), or an admin confirms",
                        s.quarantined_rows
                    )
                };
                s.state = SnapshotState::AwaitingConfirmation;
                s.guard = Some(Guard {
                    would_retire: would,
                    live: planned.live,
                    share,
                    max_share,
                    quarantined_rows: s.quarantined_rows,
                    failed_batches: s.failed_batches,
                    message,
                });
                self.save(parts.store, &s)?;
                return Ok(s);
            }
        }
        let at = now();
        let reason = format!("snapshot:{}", s.id);
        let l = Lifecycle {
            batch_id: s.commit_id(),
            source: &s.source,
            at: &at,
            kind: EntryKind::Retire,
            snapshot: &s.id,
            reason: &reason,
        };
        let summary = journal_and_apply(parts, &l, &planned.items).await?;
        s.state = SnapshotState::Committed;
        s.guard = None;
        s.retired = Some(summary.outcome.retired);
        s.kept = Some(planned.live - would);
        s.closed_at = Some(at);
        s.confirmed_by = confirmed_by.map(str::to_string);
        s.journal_offset = Some(summary.end_offset);
        self.save(parts.store, &s)?;
        parts.state.snapshot_seen.forget(id);
        Ok(s)
    }
}

struct Claim<'a> {
    registry: &'a Registry,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.registry
            .committing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// What a commit would retire.
#[derive(Debug, Default)]
pub struct Plan {
    /// `(key, version seen)` of every live record in scope the snapshot lacks.
    pub items: super::Items,
    /// Live records in scope.
    pub live: u64,
}

/// Scans the snapshot's source (its record types) for live records its batches did not carry.
/// Blocking.
pub fn plan(parts: Parts<'_>, s: &Snapshot) -> Result<Plan, LifecycleError> {
    let prefix = format!("{}:{}:", parts.region, s.source);
    let mut out = Plan::default();
    let tracked = parts.state.snapshot_seen.with(&s.id, |seen| {
        let mut failed = None;
        for t in s.types()? {
            let r = parts.store.scan_records(t, &prefix, &mut |k, v| {
                if !is_live(v) {
                    return true;
                }
                out.live += 1;
                if !seen.contains(&SnapshotSeen::hash(k)) {
                    match value_version(v) {
                        Some(version) => out.items.push((k.to_vec(), version)),
                        None => failed = Some(crate::store::StoreError::Malformed),
                    }
                }
                true
            });
            r?;
        }
        match failed {
            Some(e) => Err(LifecycleError::Store(e)),
            None => Ok(()),
        }
    });
    match tracked {
        Some(r) => r.map(|()| out),
        None => Err(LifecycleError::WrongState {
            id: s.id.clone(),
            state: "aborted",
            what: "the gateway no longer knows what its batches carried (it restarted)",
        }),
    }
}

fn meta_key(id: &str) -> String {
    format!("{META_PREFIX}{id}")
}

fn to_json(s: &Snapshot) -> Vec<u8> {
    // A struct of strings and numbers always serialises.
    serde_json::to_vec(s).unwrap_or_default()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
