//! Dead letters: journal entries that could not be applied, set aside so that the entries after
//! them apply and a restart is never stopped by one bad entry.
//!
//! The entry's payload is copied to `<data>/dead-letters/<end offset>.entry` (and fsynced) before
//! its record (JSON [`DeadLetter`]) is stored together with the applied offset moved past the
//! entry ([`RecordStore::put_dead_letter`]). An admin lists them and retries
//! one (`/v1/admin/dead-letters`); a retry that applies removes both.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{RecordStore, StoreError};

/// A journal entry set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Journal offset just past the entry: its id.
    pub end_offset: u64,
    /// Payload length in bytes.
    pub len: u64,
    /// Batch id (hex), when the entry's header could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// Source, when the entry's header could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why it could not be applied (never record content).
    pub reason: String,
    /// RFC 3339 time it was set aside.
    pub at: String,
    /// Times an admin retried it without success.
    #[serde(default)]
    pub retries: u32,
    /// Its audit event has been written (the applier cannot write the audit log itself; the
    /// API side audits each dead letter once, and again after a crash in between).
    #[serde(default)]
    pub audited: bool,
}

/// Where dead-lettered payloads are kept, beside the store.
pub fn payload_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("dead-letters")
}

fn payload_path(dir: &Path, end_offset: u64) -> PathBuf {
    dir.join(format!("{end_offset:020}.entry"))
}

/// Failures of dead-letter bookkeeping.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The payload file could not be written or read.
    #[error("dead-letter payload {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Sets an entry aside: its payload to a file in `dir` (made durable first), then its record
/// and the applied offset past it, together ([`RecordStore::put_dead_letter`]).
pub fn set_aside(
    store: &dyn RecordStore,
    dir: &Path,
    payload: &[u8],
    letter: &DeadLetter,
) -> Result<(), DeadLetterError> {
    let path = payload_path(dir, letter.end_offset);
    let io = |source| DeadLetterError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut f = std::fs::File::create(&path).map_err(io)?;
    f.write_all(payload).map_err(io)?;
    f.sync_all().map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        // The file's name must be durable too; a failure here leaves a retryable state.
        let _ = d.sync_all();
    }
    store.put_dead_letter(letter)?;
    Ok(())
}

/// Reads a dead letter's payload.
pub fn read_payload(dir: &Path, end_offset: u64) -> Result<Vec<u8>, DeadLetterError> {
    let path = payload_path(dir, end_offset);
    std::fs::read(&path).map_err(|source| DeadLetterError::Io { path, source })
}

/// Removes a dead letter (after a retry applied it): its record, then its payload file.
pub fn remove(store: &dyn RecordStore, dir: &Path, end_offset: u64) -> Result<(), DeadLetterError> {
    store.remove_dead_letter(end_offset)?;
    let path = payload_path(dir, end_offset);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DeadLetterError::Io { path, source }),
    }
}
