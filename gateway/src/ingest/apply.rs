//! The applier: takes durable journal entries in order and applies them to the store behind the
//! acknowledgement; a second thread then adjusts the in-memory rollups and publishes the batch
//! (summary, applied offset), so store writes and rollups of successive batches overlap.
//!
//! It flushes the store when it has caught up (or every half second under load); the store
//! keeps the applied offset no further ahead than the records (see [`RecordStore`]), so after
//! the flush both are on disk together and journal segments wholly below that offset may be
//! pruned. On start,
//! [`replay`] applies every journal entry past the store's applied offset; re-applying an entry
//! changes nothing because versions are compared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::ingest::journal::{self, Appended, Durable, SegmentReader};
use crate::query::rollup::Rollups;
use crate::store::dead_letter::{self, DeadLetter, DeadLetterError};
use crate::store::entry::{Entry, EntryKind};
use crate::store::facts::Facts;
use crate::store::{ApplyMode, ApplyOutcome, BatchSummary, RecordStore, StoreError};

/// Rollup deltas applied per write-lock hold, so queries are not stalled by a large batch.
const ROLLUP_CHUNK: usize = 4096;

/// Progress of ingest, shared between the journal, the applier, the API and metrics.
pub struct ApplyState {
    /// Journal offset past the last acknowledged batch.
    pub journal_end: AtomicU64,
    /// Journal offset the store has applied.
    pub applied: AtomicU64,
    /// Applied offset that a store flush has made durable.
    pub flushed: AtomicU64,
    /// Batches acknowledged since start.
    pub batches_journaled: AtomicU64,
    /// Batches applied since start.
    pub batches_applied: AtomicU64,
    /// Records applied since start.
    pub records_applied: AtomicU64,
    /// Known batches by id: applied ones with their outcome, pending ones with `None`.
    pub batches: Mutex<HashMap<[u8; 32], Option<BatchSummary>>>,
    /// In-memory rollups.
    pub rollups: RwLock<Rollups>,
    /// Wakes readers waiting for their batch to be applied.
    pub applied_tx: tokio::sync::watch::Sender<u64>,
    /// Set when the applier failed; `/readyz` reports it.
    pub failed: AtomicU64,
    /// Journal entries set aside since start (the store keeps every one).
    pub dead_lettered: AtomicU64,
    /// Set while the applier retries a store write that failed with an I/O error (a full or
    /// failing disk); cleared when one succeeds. `/readyz` reports it.
    pub stalled: AtomicU64,
    /// Woken when an entry is dead-lettered (its audit event is written by the API side).
    pub dead_letter_notify: tokio::sync::Notify,
    /// Record keys seen by the batches of each open snapshot.
    pub snapshot_seen: SnapshotSeen,
    /// Where each applied entry's vacancy keys go (the search index's follower), once set.
    pub index_feed: std::sync::OnceLock<mpsc::Sender<IndexFeed>>,
}

/// The vacancies one applied entry touched (pushed, retired or purged), for the search index:
/// it re-reads them from the store, so it never needs to know which version won.
#[derive(Debug, Default)]
pub struct IndexFeed {
    /// Journal offset just past the entry (the current applied offset for a retried dead
    /// letter, which never moves it).
    pub end_offset: u64,
    /// Store keys (type byte + record id) of the entry's vacancies.
    pub keys: Vec<Vec<u8>>,
}

/// The record keys each open snapshot's batches carried, noted by the applier as it applies
/// them (unchanged records too), so a commit can tell which stored records the snapshot lacks.
/// Keys are kept as 64-bit hashes (SipHash): 16 bytes a record however long its key. A collision
/// can only make a record look seen, which keeps it: the safe side. Held in memory: a snapshot
/// open when the gateway stops is aborted (see `lifecycle::snapshot`).
#[derive(Default)]
pub struct SnapshotSeen {
    open: Mutex<HashMap<String, std::collections::HashSet<u64>>>,
}

impl SnapshotSeen {
    /// The hash a key is kept as.
    pub fn hash(key: &[u8]) -> u64 {
        use std::hash::{Hash, Hasher};
        // Fixed (zero) keys; the hashes never leave memory.
        let mut h = std::hash::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    }

    /// Starts noting the keys of snapshot `id`'s batches.
    pub fn track(&self, id: &str) {
        self.lock().entry(id.to_string()).or_default();
    }

    /// Stops noting them and forgets them.
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Notes the record keys of an entry of snapshot `id` (ignored unless it is tracked).
    pub fn note(&self, id: &str, keys: &mut dyn Iterator<Item = &[u8]>) {
        if let Some(seen) = self.lock().get_mut(id) {
            seen.extend(keys.map(Self::hash));
        }
    }

    /// Whether snapshot `id` is tracked, and then whether its batches carried `key`.
    pub fn contains(&self, id: &str, key: &[u8]) -> Option<bool> {
        self.lock().get(id).map(|s| s.contains(&Self::hash(key)))
    }

    /// Runs `f` over the hashes noted for snapshot `id` (`None` when it is not tracked).
    pub fn with<R>(
        &self,
        id: &str,
        f: impl FnOnce(&std::collections::HashSet<u64>) -> R,
    ) -> Option<R> {
        self.lock().get(id).map(f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, std::collections::HashSet<u64>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ApplyState {
    /// Fresh state.
    pub fn new(rollups: Rollups, applied: u64) -> ApplyState {
        let (applied_tx, _) = tokio::sync::watch::channel(applied);
        ApplyState {
            journal_end: AtomicU64::new(applied),
            applied: AtomicU64::new(applied),
            flushed: AtomicU64::new(applied),
            batches_journaled: AtomicU64::new(0),
            batches_applied: AtomicU64::new(0),
            records_applied: AtomicU64::new(0),
            batches: Mutex::new(HashMap::new()),
            rollups: RwLock::new(rollups),
            applied_tx,
            failed: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            stalled: AtomicU64::new(0),
            dead_letter_notify: tokio::sync::Notify::new(),
            snapshot_seen: SnapshotSeen::default(),
            index_feed: std::sync::OnceLock::new(),
        }
    }

    /// Batches acknowledged but not yet applied.
    pub fn lag_batches(&self) -> u64 {
        self.batches_journaled
            .load(Ordering::Acquire)
            .saturating_sub(self.batches_applied.load(Ordering::Acquire))
    }

    /// How current the store is relative to the journal.
    pub fn as_of(&self) -> crate::query::AsOf {
        crate::query::AsOf {
            applied_offset: self.applied.load(Ordering::Acquire),
            journal_offset: self.journal_end.load(Ordering::Acquire),
            lag_batches: self.lag_batches(),
        }
    }

    /// Journal bytes acknowledged but not yet applied.
    pub fn lag_bytes(&self) -> u64 {
        self.journal_end
            .load(Ordering::Acquire)
            .saturating_sub(self.applied.load(Ordering::Acquire))
    }

    /// Waits until the store has applied the journal up to `offset`.
    pub async fn wait_applied(&self, offset: u64) {
        let mut rx = self.applied_tx.subscribe();
        // `wait_for` returns at once if the condition already holds; an error means the applier
        // is gone, and the caller answers with the lag it sees.
        let _ = rx.wait_for(|v| *v >= offset).await;
    }
}

/// Rollup changes of one batch stored, waiting to be published.
pub struct Stored {
    /// Rollup deltas (old version out, new in).
    pub deltas: Vec<(Facts, i64)>,
    /// The batch.
    pub batch_id: [u8; 32],
    /// Its summary.
    pub summary: BatchSummary,
    /// The entry was set aside, not applied: its batch is forgotten (a re-push is new).
    pub dead_lettered: bool,
    /// Store keys of the vacancies the entry touched (for the search index).
    pub vacancy_keys: Vec<Vec<u8>>,
}

/// Keys of the vacancies an entry writes, retires or purges.
fn vacancy_keys(entry: &Entry<'_>) -> Vec<Vec<u8>> {
    let t = crate::store::facts::rtype_byte(pes_schemas::RecordType::Vacancy);
    entry
        .records
        .iter()
        .map(|(k, _)| *k)
        .chain(entry.lifecycle.iter().map(|(k, _)| *k))
        .filter(|k| k.first() == Some(&t))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Why an entry was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The entry itself cannot be applied (malformed, a value the store cannot read, a panic
    /// while applying it): applying it again would fail again, so it is set aside.
    #[error("entry cannot be applied: {0}")]
    Entry(String),
    /// The store's disk failed (full, I/O error): the same entry is tried again later.
    #[error("store I/O: {0}")]
    Transient(StoreError),
    /// The store itself is broken (corrupted, or a bug in its backend): the applier stops.
    #[error(transparent)]
    Fatal(StoreError),
}

impl ApplyError {
    /// A transient failure of a file beside the store (the journal segment being read, a dead
    /// letter's payload file), reported like a store I/O error so it is retried the same way.
    fn io(e: impl std::fmt::Display) -> ApplyError {
        ApplyError::Transient(StoreError::Io(std::io::Error::other(e.to_string())))
    }
}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> ApplyError {
        match e {
            StoreError::Io(_) => ApplyError::Transient(e),
            StoreError::Malformed | StoreError::WriterFailed => ApplyError::Entry(e.to_string()),
            StoreError::Corrupt(_) | StoreError::Backend(_) => ApplyError::Fatal(e),
        }
    }
}

/// Writes one entry to the store (records, quarantine, summary and applied offset) and
/// returns its rollup deltas, not yet applied. A panic while applying is caught and reported as
/// the entry's fault.
pub fn store_one(
    store: &dyn RecordStore,
    d: &Durable,
    mode: ApplyMode,
    mut deltas: Vec<(Facts, i64)>,
    seen: &SnapshotSeen,
) -> Result<Stored, ApplyError> {
    let entry = Entry::parse(&d.payload)
        .map_err(|_| ApplyError::Entry("the journal entry is malformed".into()))?;
    if !entry.snapshot.is_empty() && entry.kind == EntryKind::Batch {
        seen.note(entry.snapshot, &mut entry.records.iter().map(|(k, _)| *k));
    }
    deltas.clear();
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.apply_entry(&entry, d.end_offset, mode, &mut deltas)
    }));
    let outcome = match applied {
        Ok(r) => r?,
        Err(_) => return Err(ApplyError::Entry("applying the entry panicked".into())),
    };
    Ok(Stored {
        vacancy_keys: vacancy_keys(&entry),
        deltas,
        batch_id: entry.batch_id,
        summary: BatchSummary {
            source: entry.source.to_string(),
            ingested_at: entry.ingested_at.to_string(),
            records: (entry.records.len() + entry.lifecycle.len()) as u64,
            quarantined: entry.quarantined.len() as u64,
            outcome,
            end_offset: d.end_offset,
        },
        dead_lettered: false,
    })
}

/// Sets an entry that cannot be applied aside (payload to `dead_dir`, record and applied offset
/// to the store) and returns what the publisher needs to move the applied offset past it.
pub fn set_aside(
    store: &dyn RecordStore,
    dead_dir: &Path,
    d: &Durable,
    reason: &str,
) -> Result<Stored, DeadLetterError> {
    let header = Entry::parse(&d.payload).ok();
    let batch_id = header.as_ref().map(|e| e.batch_id).unwrap_or([0; 32]);
    let letter = DeadLetter {
        end_offset: d.end_offset,
        len: d.payload.len() as u64,
        batch_id: header.as_ref().map(|e| hex::encode(e.batch_id)),
        source: header.as_ref().map(|e| e.source.to_string()),
        reason: reason.to_string(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        retries: 0,
        audited: false,
    };
    dead_letter::set_aside(store, dead_dir, &d.payload, &letter)?;
    tracing::error!(
        end_offset = d.end_offset,
        batch = letter.batch_id.as_deref().unwrap_or("-"),
        reason,
        "journal entry set aside as a dead letter; the entries after it apply"
    );
    Ok(Stored {
        deltas: Vec::new(),
        batch_id,
        summary: BatchSummary {
            source: letter.source.clone().unwrap_or_default(),
            ingested_at: String::new(),
            records: 0,
            quarantined: 0,
            outcome: ApplyOutcome::default(),
            end_offset: d.end_offset,
        },
        dead_lettered: true,
        vacancy_keys: Vec::new(),
    })
}

/// Applies one entry, or sets it aside when the entry itself is at fault. Store I/O errors
/// and a broken store are returned: the caller retries or stops.
pub fn store_or_set_aside(
    store: &dyn RecordStore,
    state: &ApplyState,
    dead_dir: &Path,
    d: &Durable,
    mode: ApplyMode,
    deltas: Vec<(Facts, i64)>,
) -> Result<Stored, ApplyError> {
    match store_one(store, d, mode, deltas, &state.snapshot_seen) {
        Err(ApplyError::Entry(reason)) => {
            let stored = set_aside(store, dead_dir, d, &reason).map_err(|e| match e {
                DeadLetterError::Store(s) => ApplyError::from(s),
                DeadLetterError::Io { .. } => ApplyError::io(e),
            })?;
            state.dead_lettered.fetch_add(1, Ordering::AcqRel);
            state.dead_letter_notify.notify_one();
            Ok(stored)
        }
        other => other,
    }
}

/// Applies a stored batch's deltas to the rollups, then makes it visible: its summary, the
/// applied offset, and the wake-up of readers waiting for it.
pub fn publish(state: &ApplyState, s: &mut Stored) {
    for chunk in s.deltas.chunks(ROLLUP_CHUNK) {
        let mut r = state.rollups.write().unwrap_or_else(|p| p.into_inner());
        for (f, sign) in chunk {
            r.apply(f, *sign);
        }
    }
    let outcome = s.summary.outcome;
    let end = s.summary.end_offset;
    {
        let mut batches = state.batches.lock().unwrap_or_else(|p| p.into_inner());
        if s.dead_lettered {
            batches.remove(&s.batch_id);
        } else {
            batches.insert(s.batch_id, Some(s.summary.clone()));
        }
    }
    state
        .records_applied
        .fetch_add(outcome.applied, Ordering::Relaxed);
    state.applied.store(end, Ordering::Release);
    state.applied_tx.send_replace(end);
    feed_index(state, end, std::mem::take(&mut s.vacancy_keys));
}

/// Hands the search index's follower what an entry changed (nothing when it is not running).
fn feed_index(state: &ApplyState, end_offset: u64, keys: Vec<Vec<u8>>) {
    if let Some(tx) = state.index_feed.get() {
        // The follower gone (its thread ended) leaves the index behind; `/readyz` shows the lag.
        let _ = tx.send(IndexFeed { end_offset, keys });
    }
}

/// Applies one entry to the store and the rollups (setting it aside if it cannot be applied).
pub fn apply_one(
    store: &dyn RecordStore,
    state: &ApplyState,
    dead_dir: &Path,
    d: &Durable,
    mode: ApplyMode,
    deltas: &mut Vec<(Facts, i64)>,
) -> Result<ApplyOutcome, ApplyError> {
    let mut stored = store_or_set_aside(store, state, dead_dir, d, mode, std::mem::take(deltas))?;
    publish(state, &mut stored);
    *deltas = stored.deltas;
    Ok(stored.summary.outcome)
}

/// Applies every journal entry past the store's applied offset (start-up catch-up). An entry
/// that cannot be applied is set aside; a store that cannot be written stops the start.
pub fn replay(
    store: &dyn RecordStore,
    state: &ApplyState,
    journal_dir: &Path,
    dead_dir: &Path,
) -> Result<u64, crate::ingest::IngestError> {
    let from = store.applied_offset()?;
    let mut deltas = Vec::new();
    let mut n = 0;
    for d in journal::read_after(journal_dir, from)? {
        apply_one(store, state, dead_dir, &d, ApplyMode::Replay, &mut deltas).map_err(
            |e| match e {
                ApplyError::Transient(s) | ApplyError::Fatal(s) => {
                    crate::ingest::IngestError::Store(s)
                }
                ApplyError::Entry(m) => crate::ingest::IngestError::Io(m),
            },
        )?;
        n += 1;
    }
    store.flush()?;
    let applied = state.applied.load(Ordering::Acquire);
    state.flushed.store(applied, Ordering::Release);
    state.journal_end.store(applied, Ordering::Release);
    Ok(n)
}

/// Why a dead letter could not be retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// No dead letter has that id.
    #[error("no dead letter ends at journal offset {0}")]
    NotFound(u64),
    /// It failed again; it stays set aside with the new reason.
    #[error("the entry still cannot be applied: {0}")]
    StillFails(String),
    /// The store or the payload file failed.
    #[error(transparent)]
    Store(#[from] DeadLetterError),
}

/// Retries a dead letter: applies its entry (records compared by version as always, the applied
/// offset untouched) and publishes its rollup changes; on success the dead letter is removed.
/// Blocking: call from a blocking thread.
pub fn retry_dead_letter(
    store: &dyn RecordStore,
    state: &ApplyState,
    dead_dir: &Path,
    end_offset: u64,
) -> Result<BatchSummary, RetryError> {
    let Some(mut letter) = store
        .get_dead_letter(end_offset)
        .map_err(DeadLetterError::from)?
    else {
        return Err(RetryError::NotFound(end_offset));
    };
    let payload = dead_letter::read_payload(dead_dir, end_offset)?;
    let d = Durable {
        end_offset,
        payload,
    };
    match store_one(
        store,
        &d,
        ApplyMode::Retry,
        Vec::new(),
        &state.snapshot_seen,
    ) {
        Ok(stored) => {
            for chunk in stored.deltas.chunks(ROLLUP_CHUNK) {
                let mut r = state.rollups.write().unwrap_or_else(|p| p.into_inner());
                for (f, sign) in chunk {
                    r.apply(f, *sign);
                }
            }
            state
                .batches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(stored.batch_id, Some(stored.summary.clone()));
            dead_letter::remove(store, dead_dir, end_offset)?;
            feed_index(
                state,
                state.applied.load(Ordering::Acquire),
                stored.vacancy_keys,
            );
            Ok(stored.summary)
        }
        Err(e) => {
            // Re-read: the audit task may have marked it audited meanwhile.
            if let Some(now) = store
                .get_dead_letter(end_offset)
                .map_err(DeadLetterError::from)?
            {
                letter = now;
            }
            letter.retries += 1;
            letter.reason = e.to_string();
            store
                .update_dead_letter(&letter)
                .map_err(DeadLetterError::from)?;
            Err(RetryError::StillFails(letter.reason))
        }
    }
}

/// Batches stored whose rollups may wait to be published.
const PUBLISH_QUEUE: usize = 4;

/// Starts the applier: one thread writes entries to the store, another applies their rollup deltas
/// and publishes them (the applied offset moves only once both are done). Rollups are about
/// half the applier's work, so when the acknowledgements leave both cores free the two halves
/// run side by side.
pub fn spawn(
    store: Arc<dyn RecordStore>,
    state: Arc<ApplyState>,
    rx: mpsc::Receiver<Appended>,
    journal_dir: PathBuf,
    dead_dir: PathBuf,
) -> std::io::Result<()> {
    let (tx, stored_rx) = mpsc::sync_channel::<Stored>(PUBLISH_QUEUE);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<(Facts, i64)>>();
    let publisher = state.clone();
    std::thread::Builder::new()
        .name("applier-rollups".into())
        .spawn(move || {
            yield_to_acknowledgements();
            for mut s in stored_rx {
                publish(&publisher, &mut s);
                publisher.batches_applied.fetch_add(1, Ordering::AcqRel);
                let _ = recycle_tx.send(s.deltas);
            }
        })?;
    std::thread::Builder::new()
        .name("applier".into())
        .spawn(move || run(store, state, rx, tx, recycle_rx, journal_dir, dead_dir))
        .map(|_| ())
}

fn run(
    store: Arc<dyn RecordStore>,
    state: Arc<ApplyState>,
    rx: mpsc::Receiver<Appended>,
    publish_tx: mpsc::SyncSender<Stored>,
    recycled: mpsc::Receiver<Vec<(Facts, i64)>>,
    journal_dir: PathBuf,
    dead_dir: PathBuf,
) {
    yield_to_acknowledgements();
    let mut reader = SegmentReader::new(&journal_dir);
    let mut entry = Durable {
        end_offset: 0,
        payload: Vec::new(),
    };
    // Journal offset written to the store (the rollups may still be publishing it).
    let mut stored_end = state.applied.load(Ordering::Acquire);
    let mut last_flush = Instant::now();
    let mut dirty = false;
    loop {
        let d = if dirty {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(d) => Some(d),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(d) => Some(d),
                Err(_) => break,
            }
        };
        let idle = d.is_none();
        if let Some(a) = d {
            let mut backoff = Duration::from_millis(50);
            let stored = loop {
                let deltas = recycled.try_recv().unwrap_or_default();
                let attempt = match reader.read_into(&a, &mut entry) {
                    // The journal's disk failed: like the store's, worth another try.
                    Err(e) => Err(ApplyError::io(e)),
                    Ok(()) => store_or_set_aside(
                        &*store,
                        &state,
                        &dead_dir,
                        &entry,
                        if state.stalled.load(Ordering::Acquire) != 0 {
                            ApplyMode::Replay
                        } else {
                            ApplyMode::Journal
                        },
                        deltas,
                    ),
                };
                match attempt {
                    Ok(s) => {
                        state.stalled.store(0, Ordering::Release);
                        break s;
                    }
                    Err(ApplyError::Transient(e)) => {
                        // A full or failing disk: the entry is durable in the journal, so wait
                        // and try it again; pushes wait on the lag bound meanwhile.
                        if state.stalled.swap(1, Ordering::AcqRel) == 0 {
                            tracing::error!(error = %e, "store write failed; retrying until it succeeds");
                        }
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the store is broken; the applier stops and replays on restart");
                        state.failed.store(1, Ordering::Release);
                        return;
                    }
                }
            };
            stored_end = stored.summary.end_offset;
            if publish_tx.send(stored).is_err() {
                tracing::error!(
                    "the rollup publisher stopped; the applier stops and replays on restart"
                );
                state.failed.store(1, Ordering::Release);
                return;
            }
            dirty = true;
        }
        if dirty && (idle || last_flush.elapsed() > Duration::from_millis(500)) {
            let applied = stored_end;
            if let Err(e) = store.flush() {
                // Nothing is lost (the journal holds it all), but the journal cannot be pruned
                // until a flush succeeds: try again shortly.
                if state.stalled.swap(1, Ordering::AcqRel) == 0 {
                    tracing::error!(error = %e, "store flush failed; retrying");
                }
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            state.stalled.store(0, Ordering::Release);
            state.flushed.store(applied, Ordering::Release);
            // A flush may not reach the drive cache (see `RecordStore::flush`): keep one segment more
            // than strictly needed by pruning only below what was flushed before this one.
            if let Err(e) = journal::prune(&journal_dir, applied) {
                tracing::warn!(error = %e, "journal prune failed");
            }
            last_flush = Instant::now();
            dirty = false;
        }
    }
}

/// Lowers the applier thread's CPU priority (nice 10), so that on a busy machine the
/// acknowledged path (decode, seal, journal fdatasync) gets the cores first and the applier
/// catches up in the gaps. The acknowledgement never waited for the store; the journal's bounded
/// queue (`limits.max_apply_lag_batches`) still makes pushes wait once the applier falls that far
/// behind, so the lag stays bounded.
fn yield_to_acknowledgements() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; changing this thread's own nice value has
    // no memory-safety preconditions.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) != 0 {
            tracing::debug!("could not lower the applier's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::decode::{decode_native, DecodeInput, EntrySink};
    use crate::keys::DataKey;
    use crate::store::SledStore;

    fn entry(key: &DataKey, range: std::ops::Range<u64>) -> Vec<u8> {
        let body = crate::native_sample::ndjson(range, "440000", "gd-hr", 1);
        let batch_id = [body.len() as u8; 32];
        let input = DecodeInput {
            region: "440000",
            source: "gd-hr",
            batch_id: &batch_id,
            ingested_at: "2026-12-03T08:00:00.000Z",
            today: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default(),
            key,
            max_rows: 10_000,
            max_quarantined: 10_000,
            max_quarantined_share: 1.0,
        };
        let mut sink = EntrySink::new(&input, body.len());
        decode_native(&body, &mut sink).unwrap();
        sink.finish().payload
    }

    fn persons(state: &ApplyState) -> i64 {
        state
            .rollups
            .read()
            .unwrap()
            .total(pes_schemas::RecordType::Person)
            .count
    }

    #[test]
    fn a_dead_letter_set_aside_applies_on_retry_without_moving_the_applied_offset() {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::from_bytes(&[9; 32]).unwrap();
        let store = SledStore::open(&dir.path().join("store"), &Default::default()).unwrap();
        let state = ApplyState::new(crate::query::rollup::Rollups::rebuild(&store).unwrap(), 0);
        let dead = dir.path().join("dead-letters");
        let first = Durable {
            end_offset: 100,
            payload: entry(&key, 0..30),
        };
        let second = Durable {
            end_offset: 200,
            payload: entry(&key, 30..60),
        };
        // The first entry is set aside (as if it had failed), the second applies after it.
        let mut stored = set_aside(&store, &dead, &first, "test").unwrap();
        publish(&state, &mut stored);
        let mut deltas = Vec::new();
        apply_one(
            &store,
            &state,
            &dead,
            &second,
            ApplyMode::Journal,
            &mut deltas,
        )
        .unwrap();
        assert_eq!(store.applied_offset().unwrap(), 200);
        assert_eq!(persons(&state), 10);
        assert_eq!(store.dead_letters().unwrap().len(), 1);

        let summary = retry_dead_letter(&store, &state, &dead, 100).unwrap();
        assert_eq!(summary.outcome.applied, 30);
        assert_eq!(persons(&state), 20, "its rollup changes are published");
        assert_eq!(store.applied_offset().unwrap(), 200, "the offset stays");
        assert!(store.dead_letters().unwrap().is_empty());
        assert!(
            std::fs::read_dir(&dead).unwrap().next().is_none(),
            "payload gone"
        );
        // Its persons are in the person index.
        let one = crate::native_sample::record(0, "440000", "gd-hr", 1);
        let pes_schemas::RecordBody::Person(p) = one.body else {
            panic!("record 0 is a person");
        };
        assert!(!store.person_record_keys(&p.person_key).unwrap().is_empty());
        assert!(matches!(
            retry_dead_letter(&store, &state, &dead, 100),
            Err(RetryError::NotFound(100))
        ));
    }

    #[test]
    fn a_malformed_entry_is_set_aside_and_the_offset_moves_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store"), &Default::default()).unwrap();
        let state = ApplyState::new(crate::query::rollup::Rollups::rebuild(&store).unwrap(), 0);
        let dead = dir.path().join("dead-letters");
        let bad = Durable {
            end_offset: 50,
            payload: vec![1, 2, 3],
        };
        let mut deltas = Vec::new();
        apply_one(&store, &state, &dead, &bad, ApplyMode::Journal, &mut deltas).unwrap();
        assert_eq!(store.applied_offset().unwrap(), 50);
        assert_eq!(state.applied.load(Ordering::Acquire), 50);
        assert_eq!(state.dead_lettered.load(Ordering::Acquire), 1);
        let letters = store.dead_letters().unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].len, 3);
        assert_eq!(dead_letter::read_payload(&dead, 50).unwrap(), vec![1, 2, 3]);
        match retry_dead_letter(&store, &state, &dead, 50) {
            Err(RetryError::StillFails(_)) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(store.dead_letters().unwrap()[0].retries, 1);
    }
}
