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

/// What [`scrub`] did to the dead letters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scrubbed {
    /// Payload files rewritten without the person's records and quarantined rows.
    pub rewritten: u64,
    /// Dead letters removed whole: their payload could not be parsed and holds the person_key.
    pub removed: u64,
}

/// Erasure's part in the dead letters: rewrites each payload file without the records that name
/// `person_key` and the quarantined rows `quarantined` accepts (called with the batch id, row
/// number and stored value), and updates the letter's length. A payload that cannot be parsed
/// (often why it was set aside) is removed whole, record and file, when it holds the
/// person_key; otherwise it is kept as it is. The rewritten file replaces the old one by rename.
pub fn scrub(
    store: &dyn RecordStore,
    dir: &Path,
    person_key: &str,
    quarantined: &super::RowMatch<'_>,
) -> Result<Scrubbed, DeadLetterError> {
    let pk = person_key.as_bytes();
    let mut out = Scrubbed::default();
    for mut letter in store.dead_letters()? {
        let path = payload_path(dir, letter.end_offset);
        let payload = match std::fs::read(&path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(DeadLetterError::Io { path, source }),
        };
        let Ok(entry) = super::entry::Entry::parse(&payload) else {
            if payload.windows(pk.len()).any(|w| w == pk) {
                remove(store, dir, letter.end_offset)?;
                out.removed += 1;
            }
            continue;
        };
        // A retirement or purge names record keys only: no person data to scrub.
        if entry.kind != super::entry::EntryKind::Batch {
            continue;
        }
        let names = |v: &[u8]| super::value::value_person_key(v) == Some(pk);
        let kept_records: Vec<_> = entry.records.iter().filter(|(_, v)| !names(v)).collect();
        let kept_rows: Vec<_> = entry
            .quarantined
            .iter()
            .filter(|(row, v)| !quarantined(&entry.batch_id, *row, v))
            .collect();
        if kept_records.len() == entry.records.len() && kept_rows.len() == entry.quarantined.len() {
            continue;
        }
        let mut b = super::entry::EntryBuilder::new(
            &entry.batch_id,
            entry.source,
            entry.ingested_at,
            payload.len(),
        );
        if !entry.snapshot.is_empty() {
            b.snapshot(entry.snapshot);
        }
        for (k, v) in kept_records {
            let copied: Result<(), std::convert::Infallible> = b.push_record(
                |out| out.extend_from_slice(k),
                |out| {
                    out.extend_from_slice(v);
                    Ok(())
                },
            );
            let Ok(()) = copied;
        }
        for (row, v) in kept_rows {
            b.push_quarantined(*row, v);
        }
        let rewritten = b.finish(entry.shared);
        replace_file(dir, &path, &rewritten)?;
        letter.len = rewritten.len() as u64;
        store.update_dead_letter(&letter)?;
        out.rewritten += 1;
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file renamed over it, both made durable.
fn replace_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), DeadLetterError> {
    let tmp = path.with_extension("entry.tmp");
    let io = |source| DeadLetterError::Io {
        path: tmp.clone(),
        source,
    };
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
