//! How records leave the store: [`snapshot`]s (a source declares its complete content and what
//! it lacks is retired), [`retire`] (retirement by source record id, and the one way every
//! retirement or purge reaches the store: a journal entry) and [`retention`] (records expire,
//! retired ones are purged).
//!
//! Every change is a journal entry (`store::entry::EntryKind::Retire` or `Purge`), applied by
//! the applier in journal order like a batch: it is durable before it is answered, a crash
//! replays it whole (a retirement is all or nothing), and the rollups move with it. See the
//! integrator guide's lifecycle chapter.

pub mod retention;
pub mod retire;
pub mod snapshot;

use crate::ingest::apply::ApplyState;
use crate::ingest::journal::{Journal, JournalError};
use crate::store::{RecordStore, StoreError};

/// `(record key, expected version)` items of a retirement or a purge.
pub type Items = Vec<(Vec<u8>, u64)>;

/// The parts of a gateway a lifecycle change works on.
#[derive(Clone, Copy)]
pub struct Parts<'a> {
    /// This gateway's region code.
    pub region: &'a str,
    /// The record store.
    pub store: &'a dyn RecordStore,
    /// Ingest progress and the rollups.
    pub state: &'a ApplyState,
    /// The journal.
    pub journal: &'a Journal,
}

/// Why a lifecycle change failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No snapshot has this id (for this source).
    #[error("no snapshot {0} for this source")]
    UnknownSnapshot(String),
    /// The snapshot is not in a state that allows this.
    #[error("snapshot {id} is {state}: {what}")]
    WrongState {
        /// The snapshot.
        id: String,
        /// Its state.
        state: &'static str,
        /// What cannot be done.
        what: &'static str,
    },
    /// Another commit of the same snapshot is running.
    #[error("snapshot {0} is being committed by another request")]
    Busy(String),
    /// A request names nothing to change or too much.
    #[error("{0}")]
    Invalid(String),
    /// The journal refused the entry.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The applier set the entry aside or stopped: the change is not applied.
    #[error("the change was journaled but not applied: {0}")]
    NotApplied(String),
}
