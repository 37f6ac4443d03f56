//! The indexer thread: follows the applier and keeps the vacancy index at the store's state.
//!
//! ```text
//! applier ─► publish (applied offset) ─► IndexFeed { end_offset, vacancy keys } ─► follower
//!   ─► VacancyIndex::refresh (re-read each key from the store) ─► commit(end_offset)
//! ```
//!
//! At start it rebuilds the index from the store when the index's offset is not the store's
//! (a new index, a crash between the store's flush and the index's commit, an index deleted by
//! the operator). It commits when no feed is waiting, or every second under load, so the lag
//! stays short without a commit per batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::index::VacancyIndex;
use crate::ingest::apply::IndexFeed;
use crate::store::RecordStore;

/// Most time between commits while feeds keep arriving.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// How far the index has got, shared with `/readyz` and `/metrics`.
#[derive(Debug, Default)]
pub struct IndexProgress {
    /// Journal offset the index has committed.
    pub indexed: AtomicU64,
    /// Set while the index fails to update (`/readyz` says so); cleared by a good commit.
    pub failed: AtomicU64,
}

/// Starts the follower thread. `applied` is the store's applied offset now (after replay); the
/// index is rebuilt first when it is elsewhere.
pub fn spawn(
    index: Arc<VacancyIndex>,
    store: Arc<dyn RecordStore>,
    applied: u64,
    feed: mpsc::Receiver<IndexFeed>,
    progress: Arc<IndexProgress>,
) -> std::io::Result<()> {
    progress
        .indexed
        .store(index.indexed_offset(), Ordering::Release);
    std::thread::Builder::new()
        .name("search-index".into())
        .spawn(move || run(&index, &*store, applied, &feed, &progress))
        .map(|_| ())
}

fn run(
    index: &VacancyIndex,
    store: &dyn RecordStore,
    applied: u64,
    feed: &mpsc::Receiver<IndexFeed>,
    progress: &IndexProgress,
) {
    if index.indexed_offset() != applied || (applied == 0 && !index.is_empty()) {
        let started = Instant::now();
        match index.rebuild(store, applied) {
            Ok(n) => {
                tracing::info!(
                    vacancies = n,
                    secs = started.elapsed().as_secs_f64(),
                    "search index rebuilt from the store"
                );
                progress.indexed.store(applied, Ordering::Release);
            }
            Err(e) => {
                tracing::error!(error = %e, "search index rebuild failed");
                progress.failed.store(1, Ordering::Release);
            }
        }
    }
    let mut pending: Option<u64> = None;
    let mut last_commit = Instant::now();
    loop {
        let next = if pending.is_some() {
            match feed.recv_timeout(Duration::from_millis(20)) {
                Ok(f) => Some(f),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match feed.recv() {
                Ok(f) => Some(f),
                Err(_) => return,
            }
        };
        let idle = next.is_none();
        if let Some(f) = next {
            if let Err(e) = index.refresh(store, &f.keys) {
                tracing::error!(error = %e, "search index update failed");
                progress.failed.store(1, Ordering::Release);
            }
            // A feed never moves the offset back (a retried dead letter reports the current one).
            pending = Some(pending.unwrap_or(0).max(f.end_offset));
        }
        if let Some(offset) = pending {
            if idle || last_commit.elapsed() >= COMMIT_EVERY {
                match index.commit(offset) {
                    Ok(()) => {
                        progress.indexed.store(offset, Ordering::Release);
                        progress.failed.store(0, Ordering::Release);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "search index commit failed");
                        progress.failed.store(1, Ordering::Release);
                    }
                }
                pending = None;
                last_commit = Instant::now();
            }
        }
    }
}
