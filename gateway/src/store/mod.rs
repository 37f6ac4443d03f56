//! The record store boundary: [`RecordStore`], the one trait through which ingest, queries, the
//! API and federation reach the stored records, batch summaries, the person index, quarantined
//! rows, dead letters and the applied journal offset; and [`open`], which picks the backend.
//!
//! Everything crossing the boundary is the crate's own: journal [`entry::Entry`]s in, record
//! values (`value`), [`facts::Facts`], [`pes_schemas::Record`]s and byte vectors out, and
//! [`StoreError`]s that say whether a failure is worth retrying. Two backends implement it and
//! pass the same checks (`conformance`, in tests): [`sled_store::SledStore`], embedded, the
//! default; and [`postgres::PgStore`], a PostgreSQL database that keeps the rollup cells too
//! (issue #17). The version rules both follow are `upsert`'s; the rollup cube layout both
//! count in is [`cubes`]'s. See `docs/decisions.md`.

pub mod cubes;
pub mod dead_letter;
pub mod entry;
pub mod facts;
pub mod key_filter;
pub mod postgres;
pub mod sled_store;
mod upsert;
pub mod value;

#[cfg(test)]
pub(crate) mod conformance;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{StoreEngine, StoreTuning};
use dead_letter::DeadLetter;
use entry::Entry;
use facts::Facts;
pub use sled_store::SledStore;

/// How an entry is being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// First application, in journal order, moving the applied offset.
    Journal,
    /// Again after a crash or a failed attempt: some of the entry's writes may already be
    /// stored, so records whose stored version equals theirs still get their person index pairs
    /// (the index is written with the applied offset, after the records).
    Replay,
    /// A dead-lettered entry retried by an admin: like `Replay`, but the applied offset, which
    /// has already moved past the entry, is left as it is.
    Retry,
}

/// Store failures, sorted by what the caller should do about them (the applier retries
/// [`StoreError::Io`], sets the entry aside on [`StoreError::Malformed`] and
/// [`StoreError::WriterFailed`], and stops on the rest).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage could not be read or written right now (a full or failing disk, a lost
    /// connection): the same operation may succeed later.
    #[error("store: {0}")]
    Io(#[source] std::io::Error),
    /// The stored data is damaged (the backend's own checks failed): an operator must look.
    #[error("store is corrupted: {0}")]
    Corrupt(String),
    /// The backend failed in a way a retry will not mend (its own bug, an unsupported state).
    #[error("store backend: {0}")]
    Backend(String),
    /// A stored or offered value could not be read.
    #[error("store holds a malformed value")]
    Malformed,
    /// A thread writing records stopped without finishing (a bug; the entry is replayed).
    #[error("a store writer thread failed")]
    WriterFailed,
}

/// What applying one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApplyOutcome {
    /// Records written (new, or a newer version): `new + updated`.
    pub applied: u64,
    /// Records skipped: the store already holds that version or a newer one, or (for a
    /// push-ordered source) the same content; for a retirement or a purge, items that were
    /// already gone or have changed since the decision.
    pub unchanged: u64,
    /// Records the store did not hold (or held only as retired).
    #[serde(default)]
    pub new: u64,
    /// Records that replaced an older version with other content.
    #[serde(default)]
    pub updated: u64,
    /// Records retired (tombstoned) by a retirement entry.
    #[serde(default)]
    pub retired: u64,
    /// Tombstones deleted by a purge entry.
    #[serde(default)]
    pub purged: u64,
}

impl ApplyOutcome {
    /// Adds another part's counts to these.
    pub fn add(&mut self, o: &ApplyOutcome) {
        self.applied += o.applied;
        self.unchanged += o.unchanged;
        self.new += o.new;
        self.updated += o.updated;
        self.retired += o.retired;
        self.purged += o.purged;
    }
}

/// Summary of a batch, kept so that a re-push of the same body is recognised.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BatchSummary {
    /// Source id.
    pub source: String,
    /// RFC 3339 ingest time of the first push.
    pub ingested_at: String,
    /// Valid records in the batch.
    pub records: u64,
    /// Quarantined rows.
    pub quarantined: u64,
    /// Outcome of applying it.
    pub outcome: ApplyOutcome,
    /// Journal offset just past the batch.
    pub end_offset: u64,
}

impl BatchSummary {
    /// The summary of an entry applied with outcome `out`, ending at `end_offset`.
    pub fn of(entry: &Entry<'_>, end_offset: u64, out: ApplyOutcome) -> BatchSummary {
        BatchSummary {
            source: entry.source.to_string(),
            ingested_at: entry.ingested_at.to_string(),
            records: (entry.records.len() + entry.lifecycle.len()) as u64,
            quarantined: entry.quarantined.len() as u64,
            outcome: out,
            end_offset,
        }
    }
}

/// The store boundary. Record keys are [`value::encode_key`]'s (type byte + record id), record
/// values [`value::encode_value`]'s; a backend stores them as given and may keep whatever
/// indexes it likes beside them. Methods block (call them from the applier thread or the
/// blocking pool, never an async worker).
///
/// What every backend must keep (checked by the conformance tests):
/// - **Ordering of the applied offset**: [`RecordStore::apply_entry`] makes the entry's records,
///   quarantined rows, summary and person index durable no later than the applied offset, so a
///   store that reports an offset holds everything below it.
/// - **Idempotent re-apply**: applying an entry again ([`ApplyMode::Replay`],
///   [`ApplyMode::Retry`]) changes no record (a stored version equal or newer wins) and still
///   leaves its person index pairs in place, even if the first attempt stopped half-way.
/// - **Person index pairs**: every stored record that names a person_key is listed by
///   [`RecordStore::person_record_keys`] for it; a listed record that names someone else since
///   is allowed (readers check).
pub trait RecordStore: Send + Sync {
    /// The journal offset the store has applied up to (0 for a new store).
    fn applied_offset(&self) -> Result<u64, StoreError>;

    /// Applies one journal entry: upserts records by key, ordered by version (a lower or equal
    /// version never replaces what is stored), stores the quarantined rows and the batch
    /// summary, and records `end_offset` (not with [`ApplyMode::Retry`]). The rollup changes
    /// (old version out, new in) are pushed to `deltas`, for the caller to apply once the batch
    /// is stored.
    fn apply_entry(
        &self,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        deltas: &mut Vec<(Facts, i64)>,
    ) -> Result<ApplyOutcome, StoreError>;

    /// Makes everything written so far durable, as far as the backend can tell (sled's flush
    /// does not reach the drive cache, sled #1452: the applier keeps a journal segment more).
    fn flush(&self) -> Result<(), StoreError>;

    /// Summaries of every applied batch, by batch id.
    fn batch_summaries(&self) -> Result<Vec<([u8; 32], BatchSummary)>, StoreError>;

    /// Reads a record by id; protected fields are opened only with `reveal`. Returns the record
    /// and whether it holds protected fields.
    fn read_record(
        &self,
        record_id: &str,
        key: &crate::keys::DataKey,
        reveal: bool,
    ) -> Result<Option<(pes_schemas::Record, bool)>, StoreError> {
        let Some(v) = self.get_record(record_id)? else {
            return Ok(None);
        };
        let record = decode_stored(self, record_id, &v, key, reveal)?;
        Ok(Some((record, value::has_protected(&v))))
    }

    /// A record's stored value (as [`value::encode_value`] wrote it), by record id.
    fn get_record(&self, record_id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Number of records of one type (for tests and tools; a failed read counts as one).
    fn count_type(&self, rtype: pes_schemas::RecordType) -> usize;

    /// Calls `each` with the facts of every stored record: the start-up scan that rebuilds the
    /// rollups. Call it before any record is written (a backend may warm caches with it).
    fn for_each_fact(&self, each: &mut dyn FnMut(&Facts)) -> Result<(), StoreError>;

    /// Calls `each(record type, cube number, cell key, counters)` with the rollup state the
    /// backend keeps beside its records, updated in the same transaction as they are
    /// ([`cubes::layout`] numbers the cubes), and returns `true`; the counters of one cell may
    /// come in several calls, to be added up. A backend that keeps none returns `false` and its
    /// rollups are rebuilt with [`RecordStore::for_each_fact`].
    fn stored_rollups(
        &self,
        each: &mut dyn FnMut(
            pes_schemas::RecordType,
            usize,
            [u32; cubes::MAX_CUBE_DIMS],
            cubes::Counters,
        ),
    ) -> Result<bool, StoreError> {
        let _ = each;
        Ok(false)
    }

    /// Calls `each` with the facts of every stored record of one type (a query by scan).
    fn scan_facts(
        &self,
        rtype: pes_schemas::RecordType,
        each: &mut dyn FnMut(&Facts),
    ) -> Result<(), StoreError>;

    /// Every record of a person found through the person index, protected fields opened only
    /// with `reveal`. A listed record that no longer names the person is skipped.
    fn person_records(
        &self,
        person_key: &str,
        key: &crate::keys::DataKey,
        reveal: bool,
    ) -> Result<Vec<pes_schemas::Record>, StoreError>;

    /// Record keys the person index lists for a person_key, each once, in key order. A record
    /// listed here may since name another person (readers check).
    fn person_record_keys(&self, person_key: &str) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Calls `each` with the key and stored value of every record of one type whose record id
    /// starts with `id_prefix` (`<region>:<source>:` for one source), in key order, tombstones
    /// included (see [`value::is_live`]); `each` returns `false` to stop.
    fn scan_records(
        &self,
        rtype: pes_schemas::RecordType,
        id_prefix: &str,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;

    /// The shared envelope a batch's records were stored with (JSON of
    /// [`value::SharedEnvelope`]), if it has any.
    fn batch_envelope(&self, batch_id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores one value of lifecycle state (a snapshot's progress) durably.
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// One value of lifecycle state.
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every value of lifecycle state whose key starts with `prefix`, in key order.
    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;

    /// Every quarantined row's value (JSON written by ingest), by batch id then row.
    fn quarantined(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>> + Send + '_>;

    /// One quarantined row's value.
    fn quarantined_row(&self, batch_id: &[u8; 32], row: u32)
        -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes a quarantined row (after a retry turned it into records).
    fn remove_quarantined(&self, batch_id: &[u8; 32], row: u32) -> Result<(), StoreError>;

    /// Stores a dead letter's record and moves the applied offset past it (never back), both or
    /// neither. Its payload file is written first, by [`dead_letter::set_aside`].
    fn put_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;

    /// Every dead letter, oldest first.
    fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError>;

    /// One dead letter.
    fn get_dead_letter(&self, end_offset: u64) -> Result<Option<DeadLetter>, StoreError>;

    /// Rewrites a dead letter (a failed retry, or its audit written), durably.
    fn update_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError>;

    /// Removes a dead letter's record (its payload file is [`dead_letter::remove`]'s).
    fn remove_dead_letter(&self, end_offset: u64) -> Result<(), StoreError>;

    /// Erases a person (PIPL Art. 47): deletes every record the person index lists for
    /// `person_key` that still names it, every index pair of that person_key, and every
    /// quarantined row `quarantined` accepts (called with the row's batch id, row number and
    /// stored value), then makes it durable. Serialised with [`RecordStore::apply_entry`], so no
    /// entry is half-applied around it. The removed records' facts come back with -1, for the
    /// caller to apply to the rollups.
    fn erase_person(
        &self,
        person_key: &str,
        quarantined: &RowMatch<'_>,
    ) -> Result<Erased, StoreError>;
}

/// Opens the gateway's record store: sled in `dir`, or the PostgreSQL database `[store]` names.
/// Decodes a stored value of `record_id` with its batch's shared envelope (every backend keeps
/// envelopes by batch id, [`RecordStore::batch_envelope`]).
pub(crate) fn decode_stored<S: RecordStore + ?Sized>(
    store: &S,
    record_id: &str,
    v: &[u8],
    key: &crate::keys::DataKey,
    reveal: bool,
) -> Result<pes_schemas::Record, StoreError> {
    let batch = value::value_batch(v).ok_or(StoreError::Malformed)?;
    let shared: Option<value::SharedEnvelope> = match store.batch_envelope(&batch)? {
        Some(b) => Some(serde_json::from_slice(&b).map_err(|_| StoreError::Malformed)?),
        None => None,
    };
    value::decode_value(record_id, v, shared.as_ref(), key, reveal)
        .map_err(|_| StoreError::Malformed)
}

pub fn open(dir: &Path, tuning: &StoreTuning) -> Result<Arc<dyn RecordStore>, StoreError> {
    match tuning.engine {
        StoreEngine::Sled => Ok(Arc::new(SledStore::open(dir, tuning)?)),
        StoreEngine::Postgres => Ok(Arc::new(postgres::PgStore::open(
            &postgres::PgSettings::from_config(tuning)?,
        )?)),
    }
}

/// What [`RecordStore::erase_person`] removed.
#[derive(Debug, Default)]
pub struct Erased {
    /// Rollup deltas: each removed record's facts with -1 (their `rtype` gives the counts by
    /// record type).
    pub deltas: Vec<(Facts, i64)>,
    /// `(person_key, record key)` pairs removed from the person index.
    pub index_pairs: u64,
    /// Quarantined rows removed.
    pub quarantined: u64,
}

/// Tells whether a quarantined row belongs to the person being erased, from its batch id, row
/// number and stored value ([`RecordStore::erase_person`], [`dead_letter::scrub`]).
pub type RowMatch<'a> = dyn Fn(&[u8; 32], u32, &[u8]) -> bool + 'a;
