//! Opening a regional gateway: keys, store, rollups, journal replay, journal writer and applier.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use crate::audit::aggregate::RefusalAggregator;
use crate::audit::{AuditError, AuditLog, LogOptions};
use crate::auth::Verifier;
use crate::config::GatewayConfig;
use crate::ingest::apply::{self, ApplyState};
use crate::ingest::journal::{Journal, JournalError};
use crate::ingest::IngestError;
use crate::keys::{DataKey, KeyError};
use crate::metrics::Metrics;
use crate::signed_note::SigningKey;
use crate::sources::{SourceError, Sources};
use crate::store::{RecordStore, StoreError};

/// Why the gateway could not start (operator's side).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A key file.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Replaying the journal.
    #[error(transparent)]
    Replay(#[from] IngestError),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A source's adapter.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
    /// The snapshots' state could not be loaded.
    #[error(transparent)]
    Lifecycle(#[from] crate::lifecycle::LifecycleError),
    /// The vacancy search index could not be opened.
    #[error(transparent)]
    Search(#[from] crate::matching::IndexError),
}

/// Directory of the vacancy search index inside the data directory.
pub const SEARCH_DIR: &str = "search";

/// A running regional gateway's shared parts (everything the API handlers use).
pub struct Node {
    /// The configuration.
    pub config: GatewayConfig,
    /// Record store (the boundary: any backend).
    pub store: Arc<dyn RecordStore>,
    /// Journal handle.
    pub journal: Journal,
    /// Ingest progress and rollups.
    pub state: Arc<ApplyState>,
    /// Data key.
    pub data_key: DataKey,
    /// Token verifier.
    pub verifier: Verifier,
    /// The audit transparency log.
    pub audit: Arc<AuditLog>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Decoders of the registered sources.
    pub sources: Sources,
    /// Turns ID numbers into person keys (federation linkage key).
    pub keyer: pes_schemas::person_key::PersonKeyer,
    /// Pushes in flight per pusher.
    pub in_flight: std::sync::Mutex<HashMap<String, u32>>,
    /// `Idempotency-Key` bindings of recent pushes.
    pub idempotency: crate::ingest::idempotency::IdempotencyKeys,
    /// Batch ids of bodies being decoded and journaled right now.
    pub pushing: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Memory all pushes in flight may hold together (`limits.ingest_memory_bytes`).
    pub ingest_budget: crate::ingest::budget::IngestBudget,
    /// Anonymous refusals, counted per client and interval before they reach the audit log.
    pub refusals: Arc<RefusalAggregator>,
    /// Snapshots of sources (open, waiting, committed, aborted).
    pub snapshots: crate::lifecycle::snapshot::Registry,
    /// The region's vacancy search index, kept at the store's state by its follower thread.
    pub vacancies: Arc<crate::matching::VacancyIndex>,
    /// How far the vacancy index has got (its lag is `/readyz`'s and `/metrics`').
    pub search_progress: Arc<crate::matching::follow::IndexProgress>,
}

impl Node {
    /// What this region's local query answer reads (see [`crate::query::local`]).
    pub fn local(&self) -> crate::query::local::Local<'_> {
        crate::query::local::Local {
            store: &self.store,
            rollups: &self.state.rollups,
            region: &self.config.region,
            as_of: self.state.as_of(),
        }
    }

    /// Journal bytes applied to the store but not yet to the vacancy index.
    pub fn search_lag_bytes(&self) -> u64 {
        self.state
            .applied
            .load(Ordering::Acquire)
            .saturating_sub(self.search_progress.indexed.load(Ordering::Acquire))
    }

    /// What a lifecycle change (snapshot commit, retirement, retention) works on.
    pub fn lifecycle(&self) -> crate::lifecycle::Parts<'_> {
        crate::lifecycle::Parts {
            region: &self.config.region,
            store: &*self.store,
            state: &self.state,
            journal: &self.journal,
        }
    }

    /// Opens everything, replays the journal past the store's applied offset, and starts the
    /// journal writer and the applier.
    pub fn open(config: GatewayConfig) -> Result<Node, StartError> {
        let data_key = DataKey::load(&config.keys.data_key)?;
        let verifier = Verifier::from_file(&config.keys.jwks, &config.region)?;
        let sources = Sources::load(&config)?;
        let linkage = std::fs::read(&config.keys.linkage_key).map_err(|source| KeyError::Io {
            path: config.keys.linkage_key.clone(),
            source,
        })?;
        let keyer = pes_schemas::person_key::PersonKeyer::new(&linkage);
        let data = config.data_dir.clone();
        std::fs::create_dir_all(&data).map_err(StartError::Thread)?;
        let store = crate::store::open(&data.join("store"), &config.store)?;
        let applied = store.applied_offset()?;
        let rollups = crate::query::rollup::Rollups::rebuild(&*store)?;
        let state = Arc::new(ApplyState::new(rollups, applied));
        {
            let mut b = state.batches.lock().unwrap_or_else(|p| p.into_inner());
            for (id, s) in store.batch_summaries()? {
                b.insert(id, Some(s));
            }
        }
        let journal_dir: PathBuf = data.join("journal");
        std::fs::create_dir_all(&journal_dir).map_err(StartError::Thread)?;
        let dead_dir = crate::store::dead_letter::payload_dir(&data);
        let replayed = apply::replay(&*store, &state, &journal_dir, &dead_dir)?;
        tracing::info!(
            replayed,
            applied = state.applied.load(Ordering::Acquire),
            "journal replayed"
        );
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = mpsc::sync_channel(config.limits.max_apply_lag_batches as usize);
        let m = metrics.clone();
        let (journal, end) = Journal::open(
            &journal_dir,
            tx,
            Box::new(move |d| m.journal_fsync.observe(d.as_secs_f64())),
        )?;
        state.journal_end.store(end, Ordering::Release);
        // The index follows from here: the feed is set before the applier publishes anything.
        let vacancies = Arc::new(crate::matching::VacancyIndex::open(
            &data.join(SEARCH_DIR),
            &config.region,
        )?);
        let search_progress = Arc::new(crate::matching::follow::IndexProgress::default());
        let (feed_tx, feed_rx) = mpsc::channel();
        let _ = state.index_feed.set(feed_tx);
        crate::matching::follow::spawn(
            vacancies.clone(),
            store.clone(),
            state.applied.load(Ordering::Acquire),
            feed_rx,
            search_progress.clone(),
        )
        .map_err(StartError::Thread)?;
        apply::spawn(store.clone(), state.clone(), rx, journal_dir, dead_dir)
            .map_err(StartError::Thread)?;
        let key_text =
            std::fs::read_to_string(&config.keys.signing_key).map_err(|source| KeyError::Io {
                path: config.keys.signing_key.clone(),
                source,
            })?;
        let signer = SigningKey::parse(&key_text).map_err(|e| KeyError::Malformed {
            path: config.keys.signing_key.clone(),
            problem: e.to_string(),
        })?;
        let audit = Arc::new(AuditLog::open(
            &data.join("audit"),
            signer,
            LogOptions::default(),
        )?);
        let ingest_budget =
            crate::ingest::budget::IngestBudget::new(config.limits.ingest_memory_bytes);
        let refusals = Arc::new(RefusalAggregator::new(
            std::time::Duration::from_secs(config.audit.anonymous_refusal_interval_secs),
            config.audit.anonymous_refusal_max_clients,
        ));
        let snapshots = {
            let batches = state.batches.lock().unwrap_or_else(|p| p.into_inner());
            crate::lifecycle::snapshot::Registry::load(&*store, &batches)?
        };
        Ok(Node {
            vacancies,
            search_progress,
            snapshots,
            refusals,
            config,
            store,
            journal,
            state,
            data_key,
            verifier,
            audit,
            metrics,
            sources,
            keyer,
            in_flight: Default::default(),
            ingest_budget,
            pushing: Default::default(),
            idempotency: Default::default(),
        })
    }
}
