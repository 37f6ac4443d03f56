//! The applier: takes durable journal entries in order and applies them to the store behind the
//! acknowledgement; a second thread then adjusts the in-memory rollups and publishes the batch
//! (summary, applied offset), so sled writes and rollups of successive batches overlap.
//!
//! It flushes sled when it has caught up (or every half second under load); the applied offset
//! was written in the same sled batch as the records, so after the flush both are on disk
//! together and journal segments wholly below that offset may be pruned. On start,
//! [`replay`] applies every journal entry past the store's applied offset; re-applying an entry
//! changes nothing because versions are compared.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::ingest::batch::Entry;
use crate::ingest::journal::{self, Appended, Durable, SegmentReader};
use crate::query::rollup::Rollups;
use crate::store::facts::Facts;
use crate::store::{ApplyOutcome, BatchSummary, Store, StoreError};

/// Rollup deltas applied per write-lock hold, so queries are not stalled by a large batch.
const ROLLUP_CHUNK: usize = 4096;

/// Progress of ingest, shared between the journal, the applier, the API and metrics.
pub struct ApplyState {
    /// Journal offset past the last acknowledged batch.
    pub journal_end: AtomicU64,
    /// Journal offset the store has applied.
    pub applied: AtomicU64,
    /// Applied offset that a sled flush has made durable.
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
        }
    }

    /// Batches acknowledged but not yet applied.
    pub fn lag_batches(&self) -> u64 {
        self.batches_journaled
            .load(Ordering::Acquire)
            .saturating_sub(self.batches_applied.load(Ordering::Acquire))
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

/// Rollup changes of one batch stored in sled, waiting to be published.
pub struct Stored {
    /// Rollup deltas (old version out, new in).
    pub deltas: Vec<(Facts, i64)>,
    /// The batch.
    pub batch_id: [u8; 32],
    /// Its summary.
    pub summary: BatchSummary,
}

/// Writes one entry to sled (records, quarantine, summary and applied offset in one batch) and
/// returns its rollup deltas, not yet applied.
pub fn store_one(
    store: &Store,
    d: &Durable,
    mut deltas: Vec<(Facts, i64)>,
) -> Result<Stored, StoreError> {
    let entry = Entry::parse(&d.payload).map_err(|_| StoreError::Malformed)?;
    deltas.clear();
    let outcome = store.apply_entry(&entry, d.end_offset, &mut deltas)?;
    Ok(Stored {
        deltas,
        batch_id: entry.batch_id,
        summary: BatchSummary {
            source: entry.source.to_string(),
            ingested_at: entry.ingested_at.to_string(),
            records: entry.records.len() as u64,
            quarantined: entry.quarantined.len() as u64,
            outcome,
            end_offset: d.end_offset,
        },
    })
}

/// Applies a stored batch's deltas to the rollups, then makes it visible: its summary, the
/// applied offset, and the wake-up of readers waiting for it.
pub fn publish(state: &ApplyState, s: &Stored) {
    for chunk in s.deltas.chunks(ROLLUP_CHUNK) {
        let mut r = state.rollups.write().unwrap_or_else(|p| p.into_inner());
        for (f, sign) in chunk {
            r.apply(f, *sign);
        }
    }
    let outcome = s.summary.outcome;
    let end = s.summary.end_offset;
    state
        .batches
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(s.batch_id, Some(s.summary.clone()));
    state
        .records_applied
        .fetch_add(outcome.applied, Ordering::Relaxed);
    state.applied.store(end, Ordering::Release);
    state.applied_tx.send_replace(end);
}

/// Applies one entry to the store and the rollups.
pub fn apply_one(
    store: &Store,
    state: &ApplyState,
    d: &Durable,
    deltas: &mut Vec<(Facts, i64)>,
) -> Result<ApplyOutcome, StoreError> {
    let stored = store_one(store, d, std::mem::take(deltas))?;
    publish(state, &stored);
    *deltas = stored.deltas;
    Ok(stored.summary.outcome)
}

/// Applies every journal entry past the store's applied offset (start-up catch-up).
pub fn replay(
    store: &Store,
    state: &ApplyState,
    journal_dir: &std::path::Path,
) -> Result<u64, crate::ingest::IngestError> {
    let from = store.applied_offset()?;
    let mut deltas = Vec::new();
    let mut n = 0;
    for d in journal::read_after(journal_dir, from)? {
        apply_one(store, state, &d, &mut deltas)?;
        n += 1;
    }
    store.flush()?;
    let applied = state.applied.load(Ordering::Acquire);
    state.flushed.store(applied, Ordering::Release);
    state.journal_end.store(applied, Ordering::Release);
    Ok(n)
}

/// Batches stored in sled whose rollups may wait to be published.
const PUBLISH_QUEUE: usize = 4;

/// Starts the applier: one thread writes entries to sled, another applies their rollup deltas
/// and publishes them (the applied offset moves only once both are done). Rollups are about
/// half the applier's work, so when the acknowledgements leave both cores free the two halves
/// run side by side.
pub fn spawn(
    store: Store,
    state: Arc<ApplyState>,
    rx: mpsc::Receiver<Appended>,
    journal_dir: PathBuf,
) -> std::io::Result<()> {
    let (tx, stored_rx) = mpsc::sync_channel::<Stored>(PUBLISH_QUEUE);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<(Facts, i64)>>();
    let publisher = state.clone();
    std::thread::Builder::new()
        .name("applier-rollups".into())
        .spawn(move || {
            yield_to_acknowledgements();
            for s in stored_rx {
                publish(&publisher, &s);
                publisher.batches_applied.fetch_add(1, Ordering::AcqRel);
                let _ = recycle_tx.send(s.deltas);
            }
        })?;
    std::thread::Builder::new()
        .name("applier".into())
        .spawn(move || run(store, state, rx, tx, recycle_rx, journal_dir))
        .map(|_| ())
}

fn run(
    store: Store,
    state: Arc<ApplyState>,
    rx: mpsc::Receiver<Appended>,
    publish_tx: mpsc::SyncSender<Stored>,
    recycled: mpsc::Receiver<Vec<(Facts, i64)>>,
    journal_dir: PathBuf,
) {
    yield_to_acknowledgements();
    let mut reader = SegmentReader::new(&journal_dir);
    let mut entry = Durable {
        end_offset: 0,
        payload: Vec::new(),
    };
    // Journal offset written to sled (the rollups may still be publishing it).
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
            let deltas = recycled.try_recv().unwrap_or_default();
            let stored = reader
                .read_into(&a, &mut entry)
                .map_err(crate::ingest::IngestError::from)
                .and_then(|()| store_one(&store, &entry, deltas).map_err(Into::into));
            let stored = match stored {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "applying a journal entry failed; the applier stops and replays on restart");
                    state.failed.store(1, Ordering::Release);
                    return;
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
                tracing::error!(error = %e, "sled flush failed");
                state.failed.store(1, Ordering::Release);
                return;
            }
            state.flushed.store(applied, Ordering::Release);
            // sled's flush does not reach the drive cache (sled #1452): keep one segment more
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
/// catches up in the gaps. The acknowledgement never waited for sled; the journal's bounded
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
