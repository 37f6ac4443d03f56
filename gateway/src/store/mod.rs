//! The record store: one sled tree holding records, batch summaries, quarantined rows and the
//! applied journal offset.
//!
//! One journal entry's records go into one `apply_batch` per writer thread, and everything else
//! it changes (person index, summary, quarantined rows) goes with the applied offset into a last
//! batch on the same tree, applied after them: a store that has the offset has the records, and
//! re-applying an entry whose offset was lost changes nothing (see [`Store::apply_entry`]).
//! Key prefixes: a record-type byte (0..8) for records, `0xF0` for the applied offset, `0xF1` for
//! batch summaries, `0xF2` for quarantined rows, `0xF3` for each batch's shared envelope, `0xF4`
//! for the person index.
//!
//! The person index lets a region find every record of a person_key without a scan. Each journal
//! entry writes at most one index value per bucket: `0xF4 | bucket | entry offset (u64 BE)`, the
//! bucket being the first 8 bits of the person_key (uniform: it is an HMAC), and the value lists
//! `(person_key, record key)` pairs of that bucket's persons in the entry. So a large batch costs
//! at most 256 extra writes however many persons it holds, each appended at the end of its
//! bucket's key range (keyed by person_key, every person would dirty a random sled leaf: that
//! halved fully-applied ingest). A lookup scans one bucket: about 1/256 of the index. Values are
//! written in the same batch as the records (atomic with the applied offset; replay rewrites the
//! same bytes), and only for records that are new or whose person_key changed. A pair left naming
//! a record that now names someone else is harmless: readers check each record's person_key.

pub mod dead_letter;
pub mod entry;
pub mod facts;
pub mod key_filter;
pub mod value;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::StoreTuning;
use entry::Entry;
use facts::Facts;

const APPLIED_KEY: &[u8] = b"\xF0applied";
const BATCH_PREFIX: u8 = 0xF1;
const ENVELOPE_PREFIX: u8 = 0xF3;
const PERSON_PREFIX: u8 = 0xF4;
/// Set once every stored record is in the person index (stores older than the index get it
/// built on open).
const PERSON_INDEX_KEY: &[u8] = b"\xF0person_index_v2";
/// Key prefix of quarantined rows.
pub const QUARANTINE_PREFIX: u8 = 0xF2;

/// Threads writing one entry's records (see [`Store::apply_entry`]).
const WRITERS: usize = 2;
/// Entries with fewer records are written by one thread (a thread costs more than it saves).
const PARALLEL_MIN_RECORDS: usize = 2048;
/// Most writes in one sled batch: a sled batch is held whole in memory, so an entry's records and
/// quarantined rows go in batches of this size, never one batch that grows with the input.
/// Replaying an entry cut short between two of them changes nothing (see [`ApplyMode`]).
pub const MAX_SLED_BATCH: usize = 16_384;

/// How an entry is being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// First application, in journal order, moving the applied offset.
    Journal,
    /// Again after a crash or a failed attempt: some of the entry's sled batches may already be
    /// stored, so records whose stored version equals theirs still get their person index pairs
    /// (the index is written with the applied offset, after the records).
    Replay,
    /// A dead-lettered entry retried by an admin: like `Replay`, but the applied offset, which
    /// has already moved past the entry, is left as it is.
    Retry,
}

/// What one writer thread stored.
#[derive(Default)]
struct Written {
    outcome: ApplyOutcome,
    deltas: Vec<(Facts, i64)>,
    people: PersonBuckets,
}

/// Store failures: sled I/O or a corrupted store (operator's side).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be read.
    #[error("store holds a malformed value")]
    Malformed,
    /// A thread writing records stopped without finishing (a bug; the entry is replayed).
    #[error("a store writer thread failed")]
    WriterFailed,
}

/// What applying one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// Records written (new, or a newer version).
    pub applied: u64,
    /// Records skipped: the store already holds that version or a newer one.
    pub unchanged: u64,
}

/// Summary of a batch, kept so that a re-push of the same body is recognised.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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

/// The sled store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Entries with at least this many records are written by [`WRITERS`] threads.
    parallel_min: usize,
    /// Stored record keys, once the start-up scan ([`Store::for_each_fact`]) has filled it.
    keys: std::sync::Arc<std::sync::OnceLock<key_filter::KeyFilter>>,
    /// Held while an entry is applied: the applier and an admin's dead-letter retry must not
    /// interleave their read-compare-write of the same record keys.
    writing: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Store {
    /// Opens the store with cache size and flush interval set explicitly.
    pub fn open(dir: &Path, tuning: &StoreTuning) -> Result<Store, StoreError> {
        let db = open_sled(dir, tuning)?;
        let store = Store {
            db,
            parallel_min: PARALLEL_MIN_RECORDS,
            keys: Default::default(),
            writing: Default::default(),
        };
        store.ensure_person_index()?;
        Ok(store)
    }

    /// Builds the person index of a store written before it existed (one scan, once).
    fn ensure_person_index(&self) -> Result<(), StoreError> {
        if self.db.get(PERSON_INDEX_KEY)?.is_some() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut buckets = PersonBuckets::default();
        for t in pes_schemas::RecordType::ALL
            .into_iter()
            .filter(|t| value::links_person(*t))
        {
            for kv in self.db.scan_prefix([facts::rtype_byte(t)]) {
                let (k, v) = kv?;
                if let Some(pk) = value::value_person_key(&v) {
                    buckets.push(pk, &k);
                }
            }
        }
        // Numbered past any journal offset, so no entry's values collide with these.
        buckets.write(u64::MAX, &mut batch);
        batch.insert(PERSON_INDEX_KEY, &[1u8]);
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// Sets how many records an entry needs before its records are written by several threads
    /// (tests use small values so small batches take the parallel path too).
    pub fn set_parallel_threshold(&mut self, records: usize) {
        self.parallel_min = records.max(1);
    }

    /// The journal offset the store has applied up to.
    pub fn applied_offset(&self) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get(APPLIED_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0))
    }

    /// Applies one journal entry: upserts records by key, ordered by version (a lower or equal
    /// version never replaces what is stored), stores the quarantined rows and the batch summary,
    /// and records `end_offset`. The rollup changes (old version out, new in) are pushed to
    /// `deltas`, for the caller to apply once the batch is stored.
    ///
    /// A large entry's records are written by [`WRITERS`] threads, each one sled batch over its
    /// own contiguous key range, so sled's work uses both cores once the acknowledgements leave
    /// them free. The batch holding `end_offset` (with the person index, the summary and the
    /// quarantined rows) is applied after all of them, so a store that has the offset has the
    /// records; a crash between the two replays the entry, which changes nothing already written
    /// (versions are compared, index values are rewritten byte for byte).
    pub fn apply_entry(
        &self,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        deltas: &mut Vec<(Facts, i64)>,
    ) -> Result<ApplyOutcome, StoreError> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let mut order: Vec<usize> = (0..entry.records.len()).collect();
        // Sorting by key, newest version first, lets one pass keep the newest of duplicates
        // inside the batch, and gives sled its keys in order.
        order.sort_unstable_by(|&a, &b| {
            let (ka, va) = entry.records[a];
            let (kb, vb) = entry.records[b];
            ka.cmp(kb)
                .then_with(|| value::value_version(vb).cmp(&value::value_version(va)))
        });
        let mut out = ApplyOutcome::default();
        let mut newest: Vec<(&[u8], &[u8])> = Vec::with_capacity(order.len());
        for i in order {
            let (key, val) = entry.records[i];
            if newest.last().is_some_and(|(k, _)| *k == key) {
                out.unchanged += 1;
            } else {
                newest.push((key, val));
            }
        }
        let mut people = PersonBuckets::default();
        let writers = if newest.len() >= self.parallel_min {
            WRITERS
        } else {
            1
        };
        let per = newest.len().div_ceil(writers).max(1);
        let mut parts = newest.chunks(per);
        let first = parts.next().unwrap_or_default();
        let written: Vec<Result<Written, StoreError>> = std::thread::scope(|scope| {
            let others: Vec<_> = parts
                .map(|part| scope.spawn(move || self.write_records(part, mode)))
                .collect();
            let mut all = vec![self.write_records(first, mode)];
            all.extend(
                others
                    .into_iter()
                    .map(|h| h.join().unwrap_or(Err(StoreError::WriterFailed))),
            );
            all
        });
        for w in written {
            let w = w?;
            out.applied += w.outcome.applied;
            out.unchanged += w.outcome.unchanged;
            deltas.extend(w.deltas);
            people.append(w.people);
        }
        let mut batch = sled::Batch::default();
        people.write(end_offset, &mut batch);
        if !entry.shared.is_empty() && out.applied > 0 {
            let mut ekey = vec![ENVELOPE_PREFIX];
            ekey.extend_from_slice(&entry.batch_id);
            batch.insert(ekey, entry.shared);
        }
        for rows in entry.quarantined.chunks(MAX_SLED_BATCH) {
            let mut q = sled::Batch::default();
            for (row, val) in rows {
                q.insert(quarantine_key(&entry.batch_id, *row), *val);
            }
            self.db.apply_batch(q)?;
        }
        let summary = BatchSummary {
            source: entry.source.to_string(),
            ingested_at: entry.ingested_at.to_string(),
            records: entry.records.len() as u64,
            quarantined: entry.quarantined.len() as u64,
            outcome: out,
            end_offset,
        };
        let mut bkey = vec![BATCH_PREFIX];
        bkey.extend_from_slice(&entry.batch_id);
        batch.insert(
            bkey,
            serde_json::to_vec(&summary).map_err(|_| StoreError::Malformed)?,
        );
        if mode != ApplyMode::Retry {
            batch.insert(APPLIED_KEY, &end_offset.to_le_bytes());
        }
        self.db.apply_batch(batch)?;
        Ok(out)
    }

    /// Writes records (sorted by key, one per key) that are new or newer than the stored
    /// version, in sled batches of at most [`MAX_SLED_BATCH`], and returns their rollup deltas
    /// and person index pairs.
    fn write_records(
        &self,
        records: &[(&[u8], &[u8])],
        mode: ApplyMode,
    ) -> Result<Written, StoreError> {
        let mut batch = sled::Batch::default();
        let mut in_batch = 0usize;
        let mut w = Written {
            deltas: Vec::with_capacity(records.len()),
            ..Written::default()
        };
        for &(key, val) in records {
            let new_version = value::value_version(val).ok_or(StoreError::Malformed)?;
            let new_facts = value::value_facts(val).ok_or(StoreError::Malformed)?;
            // A key the filter has never seen is not stored: no need to read it.
            let old = match self.keys.get() {
                Some(f) if !f.may_contain(key) => None,
                _ => self.db.get(key)?,
            };
            let mut old_person = None;
            if let Some(old) = &old {
                let old_version = value::value_version(old).ok_or(StoreError::Malformed)?;
                if old_version >= new_version {
                    w.outcome.unchanged += 1;
                    // This entry may have stored the record before it was cut short: its index
                    // pair was not written yet (pairs go with the applied offset).
                    if mode != ApplyMode::Journal
                        && old_version == new_version
                        && old.as_ref() == val
                    {
                        if let Some(pk) = value::value_person_key(val) {
                            if key
                                .first()
                                .and_then(|b| facts::rtype_from_byte(*b))
                                .is_some_and(value::links_person)
                            {
                                w.people.push(pk, key);
                            }
                        }
                    }
                    continue;
                }
                let old_facts = value::value_facts(old).ok_or(StoreError::Malformed)?;
                w.deltas.push((old_facts, -1));
                old_person = value::value_person_key(old);
            }
            let indexed = key
                .first()
                .and_then(|b| facts::rtype_from_byte(*b))
                .is_some_and(value::links_person);
            if indexed {
                let new_person = value::value_person_key(val);
                // Only a new record or a changed person_key touches the index.
                if old.is_none() || old_person != new_person {
                    if let Some(pk) = new_person {
                        w.people.push(pk, key);
                    }
                }
            }
            w.deltas.push((new_facts, 1));
            if let Some(f) = self.keys.get() {
                f.insert(key);
            }
            batch.insert(key, val);
            w.outcome.applied += 1;
            in_batch += 1;
            if in_batch == MAX_SLED_BATCH {
                self.db.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        self.db.apply_batch(batch)?;
        Ok(w)
    }

    /// Flushes sled to disk (blocking: call from the applier thread, never an async worker).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Reads a record by id; protected fields are opened only with `reveal`. Returns the record
    /// and whether it holds protected fields.
    pub fn read_record(
        &self,
        record_id: &str,
        key: &crate::keys::DataKey,
        reveal: bool,
    ) -> Result<Option<(pes_schemas::Record, bool)>, StoreError> {
        let Some(v) = self.get_record(record_id)? else {
            return Ok(None);
        };
        let record = self.decode_record(record_id, &v, key, reveal)?;
        Ok(Some((record, value::has_protected(&v))))
    }

    /// Decodes a stored value with its batch's shared envelope.
    fn decode_record(
        &self,
        record_id: &str,
        v: &[u8],
        key: &crate::keys::DataKey,
        reveal: bool,
    ) -> Result<pes_schemas::Record, StoreError> {
        let batch = value::value_batch(v).ok_or(StoreError::Malformed)?;
        let mut ekey = vec![ENVELOPE_PREFIX];
        ekey.extend_from_slice(&batch);
        let shared: Option<value::SharedEnvelope> = match self.db.get(ekey)? {
            Some(b) => Some(serde_json::from_slice(&b).map_err(|_| StoreError::Malformed)?),
            None => None,
        };
        value::decode_value(record_id, v, shared.as_ref(), key, reveal)
            .map_err(|_| StoreError::Malformed)
    }

    /// Every record of a person found through the person index, protected fields opened only
    /// with `reveal`. An index entry whose record no longer names the person is skipped.
    pub fn person_records(
        &self,
        person_key: &str,
        key: &crate::keys::DataKey,
        reveal: bool,
    ) -> Result<Vec<pes_schemas::Record>, StoreError> {
        let mut out = Vec::new();
        for rkey in self.person_record_keys(person_key)? {
            let Some(v) = self.db.get(&rkey)? else {
                continue;
            };
            if value::value_person_key(&v) != Some(person_key.as_bytes()) {
                continue;
            }
            let record_id = std::str::from_utf8(rkey.get(1..).unwrap_or_default())
                .map_err(|_| StoreError::Malformed)?;
            out.push(self.decode_record(record_id, &v, key, reveal)?);
        }
        Ok(out)
    }

    /// Record keys (type byte + record id) the person index lists for a person_key, each once.
    /// A record listed here may since name another person (readers check).
    pub fn person_record_keys(&self, person_key: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let pk = person_key.as_bytes();
        let mut keys = std::collections::BTreeSet::new();
        for v in self
            .db
            .scan_prefix([PERSON_PREFIX, person_bucket(pk)])
            .values()
        {
            let v = v?;
            let mut rest: &[u8] = &v;
            while !rest.is_empty() {
                let (listed, key, tail) = split_person_pair(rest).ok_or(StoreError::Malformed)?;
                if listed == pk {
                    keys.insert(key.to_vec());
                }
                rest = tail;
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// Looks a record's value up by record id, trying each record type's key space.
    pub fn get_record(&self, record_id: &str) -> Result<Option<sled::IVec>, StoreError> {
        for t in pes_schemas::RecordType::ALL {
            let mut key = Vec::with_capacity(record_id.len() + 1);
            value::encode_key(t, record_id, &mut key);
            if let Some(v) = self.db.get(&key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Iterates the values of one record type.
    pub fn scan_type(
        &self,
        rtype: pes_schemas::RecordType,
    ) -> impl Iterator<Item = Result<sled::IVec, StoreError>> {
        self.db
            .scan_prefix([facts::rtype_byte(rtype)])
            .map(|r| r.map(|(_, v)| v).map_err(StoreError::from))
    }

    /// Calls `each` with the facts of every stored record (a full scan). The first scan also fills
    /// the filter of stored keys, so that writes after it can skip reading certainly new records:
    /// call it before any record is written (start-up), as a write racing the scan could be
    /// missed by the filter.
    pub fn for_each_fact(&self, mut each: impl FnMut(&Facts)) -> Result<(), StoreError> {
        let filter = key_filter::KeyFilter::default();
        for t in pes_schemas::RecordType::ALL {
            for kv in self.db.scan_prefix([facts::rtype_byte(t)]) {
                let (k, v) = kv?;
                let f: Facts = value::value_facts(&v).ok_or(StoreError::Malformed)?;
                each(&f);
                filter.insert(&k);
            }
        }
        // A second scan keeps the first filter: it has seen every key written since.
        let _ = self.keys.set(filter);
        Ok(())
    }

    /// Summaries of every applied batch, by batch id.
    pub fn batch_summaries(&self) -> Result<Vec<([u8; 32], BatchSummary)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix([BATCH_PREFIX]) {
            let (k, v) = kv?;
            let id: [u8; 32] = k
                .get(1..33)
                .and_then(|s| s.try_into().ok())
                .ok_or(StoreError::Malformed)?;
            out.push((
                id,
                serde_json::from_slice(&v).map_err(|_| StoreError::Malformed)?,
            ));
        }
        Ok(out)
    }

    /// Every quarantined row as `(key, value)`.
    pub fn quarantined(
        &self,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> {
        self.db
            .scan_prefix([QUARANTINE_PREFIX])
            .map(|r| r.map_err(StoreError::from))
    }

    /// One quarantined row.
    pub fn quarantined_row(
        &self,
        batch_id: &[u8; 32],
        row: u32,
    ) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.db.get(quarantine_key(batch_id, row))?)
    }

    /// Removes a quarantined row (after a retry turned it into records).
    pub fn remove_quarantined(&self, batch_id: &[u8; 32], row: u32) -> Result<(), StoreError> {
        self.db.remove(quarantine_key(batch_id, row))?;
        Ok(())
    }

    /// Number of records of one type (counts keys; for tests and the bench).
    pub fn count_type(&self, rtype: pes_schemas::RecordType) -> usize {
        self.db.scan_prefix([facts::rtype_byte(rtype)]).count()
    }

    /// Bytes sled reports on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// Opens a sled database with the store's tuning (cache size and flush interval set explicitly).
/// The bench's bare-sled floors open theirs here too, so they run with exactly the store's setup.
pub fn open_sled(dir: &Path, tuning: &StoreTuning) -> Result<sled::Db, sled::Error> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(tuning.cache_capacity_mib * 1024 * 1024)
        .flush_every_ms(Some(tuning.flush_every_ms))
        .mode(sled::Mode::HighThroughput)
        .open()
}

/// The person index values one journal entry writes: per bucket, `(person_key, record key)`
/// pairs, each part length-prefixed (u8 for the person_key, u16 LE for the record key).
#[derive(Default)]
struct PersonBuckets {
    lists: std::collections::BTreeMap<u8, Vec<u8>>,
}

impl PersonBuckets {
    fn push(&mut self, person_key: &[u8], record_key: &[u8]) {
        let Ok(pk_len) = u8::try_from(person_key.len()) else {
            return; // validation allows only 43-character person_keys
        };
        let list = self.lists.entry(person_bucket(person_key)).or_default();
        list.push(pk_len);
        list.extend_from_slice(person_key);
        list.extend_from_slice(&(record_key.len() as u16).to_le_bytes());
        list.extend_from_slice(record_key);
    }

    /// Adds another writer's pairs.
    fn append(&mut self, other: PersonBuckets) {
        for (bucket, mut list) in other.lists {
            self.lists.entry(bucket).or_default().append(&mut list);
        }
    }

    /// Adds one value per bucket, keyed `0xF4 | bucket | n (u64 BE)`.
    fn write(self, n: u64, batch: &mut sled::Batch) {
        for (bucket, list) in self.lists {
            let mut k = Vec::with_capacity(10);
            k.extend_from_slice(&[PERSON_PREFIX, bucket]);
            k.extend_from_slice(&n.to_be_bytes());
            batch.insert(k, list);
        }
    }
}

/// Splits the first `(person_key, record key)` pair off an index value.
fn split_person_pair(v: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (&pk_len, rest) = v.split_first()?;
    let (pk, rest) = rest.split_at_checked(usize::from(pk_len))?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let (key, rest) = rest.split_at_checked(usize::from(u16::from_le_bytes(*len)))?;
    Some((pk, key, rest))
}

/// The index bucket of a person_key: the first 8 bits of its base64url value (uniform, since a
/// person_key is an HMAC), defined by the alphabet so it never changes with a hash crate.
fn person_bucket(person_key: &[u8]) -> u8 {
    fn sextet(c: u8) -> u8 {
        match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            _ => 63,
        }
    }
    let first = person_key.first().map_or(0, |c| sextet(*c));
    let second = person_key.get(1).map_or(0, |c| sextet(*c));
    (first << 2) | (second >> 4)
}

/// Key of a quarantined row.
pub fn quarantine_key(batch_id: &[u8; 32], row: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(37);
    k.push(QUARANTINE_PREFIX);
    k.extend_from_slice(batch_id);
    k.extend_from_slice(&row.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_pairs_round_trip_and_buckets_follow_the_first_bits() {
        let mut b = PersonBuckets::default();
        let pk_a = [b'A'; 43]; // bucket 0
        let pk_b = [b'_'; 43]; // bucket 255
        b.push(&pk_a, b"\x00gd:1");
        b.push(&pk_b, b"\x01gd:2");
        b.push(&pk_a, b"\x04gd:3");
        assert_eq!(person_bucket(&pk_a), 0);
        assert_eq!(person_bucket(&pk_b), 255);
        assert_eq!(person_bucket(b"BQ"), 5); // B=1, Q=16: 000001 01|0000
        let list = &b.lists[&0];
        let (pk, key, rest) = split_person_pair(list).unwrap();
        assert_eq!((pk, key), (&pk_a[..], &b"\x00gd:1"[..]));
        let (pk, key, rest) = split_person_pair(rest).unwrap();
        assert_eq!((pk, key, rest), (&pk_a[..], &b"\x04gd:3"[..], &[][..]));
        // A truncated value is malformed, not a panic.
        assert!(split_person_pair(&list[..list.len() - 1])
            .and_then(|(_, _, r)| split_person_pair(r))
            .is_none());
    }
}
