//! Ingest: push → decode → validate → journal → (later) store.
//!
//! - [`budget`]: the memory every push in flight may hold, together.
//! - [`journal`]: the durability point (CRC32C frames, fdatasync group commit).
//! - [`apply`]: applies durable entries to the store behind the acknowledgement.
//! - [`decode`]: turns a pushed body into a journal entry, quarantining rows that fail.
//! - [`idempotency`]: `Idempotency-Key` bindings (same key and body: the original answer).

pub mod apply;
pub mod budget;
pub mod decode;
pub mod idempotency;
pub mod journal;

use crate::store::StoreError;

/// Why a push was refused or failed. Variants say whose fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The body is not valid in its declared encoding (pusher's fault, 400).
    #[error("body is not valid {encoding} at {location}")]
    Encoding {
        /// Declared encoding.
        encoding: String,
        /// Where.
        location: String,
    },
    /// The body is malformed beyond a single row (pusher's fault, 400).
    #[error("malformed body at {location}: {message}")]
    Malformed {
        /// Where.
        location: String,
        /// What is wrong (never holds row content).
        message: String,
    },
    /// The batch holds more rows than allowed (pusher's fault, 413).
    #[error("batch has more than {limit} rows")]
    TooManyRows {
        /// The limit.
        limit: u64,
    },
    /// Too many rows failed: the batch is refused whole and nothing of it is kept (pusher's
    /// fault, 422).
    #[error("{bad} of {rows} rows failed (limits: {max_rows} rows, share {max_share})")]
    TooManyBadRows {
        /// Failed rows counted when the batch was refused.
        bad: u64,
        /// Rows read by then.
        rows: u64,
        /// `limits.max_quarantined_rows`.
        max_rows: u64,
        /// `limits.max_quarantined_share`.
        max_share: f64,
        /// The first problems (never holding raw rows).
        first: Vec<decode::RowProblem>,
    },
    /// The journal failed (operator's side, 503).
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    /// The store failed (operator's side, 500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the body failed (transport).
    #[error("reading body: {0}")]
    Io(String),
}
