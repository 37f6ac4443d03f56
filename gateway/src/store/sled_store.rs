//! The sled backend of the [`RecordStore`] boundary: one sled tree holding records, batch
//! summaries, quarantined rows, dead letters and the applied journal offset.
//!
//! One journal entry's records go into one `apply_batch` per writer thread, and everything else
//! it changes (person index, summary, quarantined rows) goes with the applied offset into a last
//! batch on the same tree, applied after them: a store that has the offset has the records, and
//! re-applying an entry whose offset was lost changes nothing (see [`RecordStore::apply_entry`]).
//! Key prefixes: a record-type byte (0..8) for records, `0xF0` for the applied offset, `0xF1` for
//! batch summaries, `0xF2` for quarantined rows, `0xF3` for each batch's shared envelope, `0xF4`
//! for the person index, `0xF5` for dead letters, `0xF6` for lifecycle state (snapshots).
//!
//! A retired record keeps its key with a tombstone value (`value::encode_tombstone`): readers
//! and scans skip it, a newer version brings the record back, retention deletes it.
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

use std::path::Path;

use super::dead_letter::DeadLetter;
use super::entry::{Entry, EntryKind};
use super::facts::{self, Facts};
use super::{key_filter, upsert, value};
use super::{ApplyMode, ApplyOutcome, BatchSummary, RecordStore, StoreError};
use crate::config::StoreTuning;

/// The sled crate the store is built on, for tools that measure bare sled beside the store (the
/// bench's floors), so they run the very version the store does.
pub use sled;

const APPLIED_KEY: &[u8] = b"\xF0applied";
const BATCH_PREFIX: u8 = 0xF1;
const ENVELOPE_PREFIX: u8 = 0xF3;
const PERSON_PREFIX: u8 = 0xF4;
/// Key prefix of dead letters.
const DEAD_LETTER_PREFIX: u8 = 0xF5;
/// Set once every stored record is in the person index (stores older than the index get it
/// built on open).
const PERSON_INDEX_KEY: &[u8] = b"\xF0person_index_v2";
/// Key prefix of quarantined rows.
const QUARANTINE_PREFIX: u8 = 0xF2;
/// Key prefix of lifecycle state ([`RecordStore::put_meta`]).
const META_PREFIX: u8 = 0xF6;

/// Threads writing one entry's records (see [`RecordStore::apply_entry`] for [`SledStore`]).
const WRITERS: usize = 2;
/// Entries with fewer records are written by one thread (a thread costs more than it saves).
const PARALLEL_MIN_RECORDS: usize = 2048;
/// Most writes in one sled batch: a sled batch is held whole in memory, so an entry's records and
/// quarantined rows go in batches of this size, never one batch that grows with the input.
/// Replaying an entry cut short between two of them changes nothing (see [`ApplyMode`]).
pub const MAX_SLED_BATCH: usize = 16_384;

impl From<sled::Error> for StoreError {
    /// Sorts sled's failures into the boundary's: I/O is worth retrying, corruption and sled's
    /// own bugs are not.
    fn from(e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(io) => StoreError::Io(io),
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

/// What one writer thread stored.
#[derive(Default)]
struct Written {
    outcome: ApplyOutcome,
    deltas: Vec<(Facts, i64)>,
    people: PersonBuckets,
}

/// The sled store.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    /// Entries with at least this many records are written by [`WRITERS`] threads.
    parallel_min: usize,
    /// Stored record keys, once the start-up scan ([`RecordStore::for_each_fact`]) has filled it.
    keys: std::sync::Arc<std::sync::OnceLock<key_filter::KeyFilter>>,
    /// Held while an entry is applied: the applier and an admin's dead-letter retry must not
    /// interleave their read-compare-write of the same record keys.
    writing: std::sync::Arc<std::sync::Mutex<()>>,
}

impl SledStore {
    /// Opens the store with cache size and flush interval set explicitly.
    pub fn open(dir: &Path, tuning: &StoreTuning) -> Result<SledStore, StoreError> {
        let db = open_sled(dir, tuning)?;
        let store = SledStore {
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

    /// Writes records (sorted by key, one per key) that are new or newer than the stored
    /// version, in sled batches of at most [`MAX_SLED_BATCH`], and returns their rollup deltas
    /// and person index pairs.
    fn write_records(
        &self,
        records: &[(&[u8], &[u8])],
        mode: ApplyMode,
        end_offset: u64,
    ) -> Result<Written, StoreError> {
        let mut batch = sled::Batch::default();
        let mut in_batch = 0usize;
        let mut w = Written {
            deltas: Vec::with_capacity(records.len()),
            ..Written::default()
        };
        for &(key, val) in records {
            // A key the filter has never seen is not stored: no need to read it.
            let old = match self.keys.get() {
                Some(f) if !f.may_contain(key) => None,
                _ => self.db.get(key)?,
            };
            let (value, old_facts, new_facts, list, new) =
                match upsert::decide(key, val, old.as_deref(), mode, end_offset)? {
                    upsert::Upsert::Unchanged { relist } => {
                        w.outcome.unchanged += 1;
                        if let Some(pk) = relist {
                            w.people.push(pk, key);
                        }
                        continue;
                    }
                    upsert::Upsert::Write {
                        value,
                        old_facts,
                        new_facts,
                        list,
                        new,
                    } => (value, old_facts, new_facts, list, new),
                };
            if let Some(f) = old_facts {
                w.deltas.push((f, -1));
            }
            if new {
                w.outcome.new += 1;
            } else {
                w.outcome.updated += 1;
            }
            if let Some(pk) = list {
                w.people.push(pk, key);
            }
            w.deltas.push((new_facts, 1));
            if let Some(f) = self.keys.get() {
                f.insert(key);
            }
            batch.insert(key, &*value);
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

    /// Applies the last batch of an entry: its summary and (not on a retry) the applied offset.
    fn finish_entry(
        &self,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        out: ApplyOutcome,
        mut batch: sled::Batch,
    ) -> Result<(), StoreError> {
        let summary = BatchSummary::of(entry, end_offset, out);
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
        Ok(())
    }

    /// Applies a retirement (live records become tombstones, their facts leave the rollups) or
    /// a purge (tombstones are deleted), each item only while the store holds the version the
    /// decision saw. Replaying it changes nothing already done.
    fn apply_lifecycle(
        &self,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        deltas: &mut Vec<(Facts, i64)>,
    ) -> Result<ApplyOutcome, StoreError> {
        let mut out = ApplyOutcome::default();
        let retired = upsert::retired_of(entry.ingested_at, entry.reason);
        // Each key once (a sled batch is read past, so a repeated key would be retired twice),
        // in key order.
        let mut keyed = entry.lifecycle.clone();
        keyed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        out.unchanged += (entry.lifecycle.len() - keyed.len()) as u64;
        for items in keyed.chunks(MAX_SLED_BATCH) {
            let mut batch = sled::Batch::default();
            for &(key, expected) in items {
                let old = self.db.get(key)?;
                match upsert::lifecycle_change(entry.kind, old.as_deref(), expected, &retired)? {
                    upsert::Change::Retire(tomb, facts) => {
                        deltas.push((facts, -1));
                        batch.insert(key, tomb);
                        out.retired += 1;
                    }
                    upsert::Change::Purge => {
                        batch.remove(key);
                        out.purged += 1;
                    }
                    upsert::Change::Unchanged => out.unchanged += 1,
                }
            }
            self.db.apply_batch(batch)?;
        }
        self.finish_entry(entry, end_offset, mode, out, sled::Batch::default())?;
        Ok(out)
    }

    /// Looks a record's stored value up by record id, trying each record type's key space.
    fn record_value(&self, record_id: &str) -> Result<Option<sled::IVec>, StoreError> {
        for t in pes_schemas::RecordType::ALL {
            let mut key = Vec::with_capacity(record_id.len() + 1);
            value::encode_key(t, record_id, &mut key);
            if let Some(v) = self.db.get(&key)? {
                return Ok(value::is_live(&v).then_some(v));
            }
        }
        Ok(None)
    }

    /// Bytes sled reports on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

impl RecordStore for SledStore {
    fn applied_offset(&self) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get(APPLIED_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0))
    }

    /// A large entry's records are written by [`WRITERS`] threads, each one sled batch (at most
    /// [`MAX_SLED_BATCH`] writes) over its own contiguous key range, so sled's work uses both
    /// cores once the acknowledgements leave them free. The batch holding `end_offset` (with the
    /// person index, the summary and the envelope) is applied after all of them and after the
    /// quarantined rows, so a store that has the offset has the records; a crash between the two
    /// replays the entry, which changes nothing already written (versions are compared, index
    /// values are rewritten byte for byte).
    fn apply_entry(
        &self,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        deltas: &mut Vec<(Facts, i64)>,
    ) -> Result<ApplyOutcome, StoreError> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if entry.kind != EntryKind::Batch {
            return self.apply_lifecycle(entry, end_offset, mode, deltas);
        }
        // Sorted by key, one per key (the newest), so one pass writes each key once and sled
        // gets its keys in order.
        let (newest, dropped) = upsert::newest(entry);
        let mut out = ApplyOutcome {
            unchanged: dropped,
            ..ApplyOutcome::default()
        };
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
                .map(|part| scope.spawn(move || self.write_records(part, mode, end_offset)))
                .collect();
            let mut all = vec![self.write_records(first, mode, end_offset)];
            all.extend(
                others
                    .into_iter()
                    .map(|h| h.join().unwrap_or(Err(StoreError::WriterFailed))),
            );
            all
        });
        for w in written {
            let w = w?;
            out.add(&w.outcome);
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
        self.finish_entry(entry, end_offset, mode, out, batch)?;
        Ok(out)
    }

    /// Blocking: call from the applier thread or the blocking pool, never an async worker.
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn batch_summaries(&self) -> Result<Vec<([u8; 32], BatchSummary)>, StoreError> {
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

    fn get_record(&self, record_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.record_value(record_id)?.map(|v| v.to_vec()))
    }

    fn count_type(&self, rtype: pes_schemas::RecordType) -> usize {
        self.db
            .scan_prefix([facts::rtype_byte(rtype)])
            .values()
            .filter(|v| v.as_ref().map_or(true, |v| value::is_live(v)))
            .count()
    }

    /// The first scan also fills the filter of stored keys, so that writes after it can skip
    /// reading certainly new records: a write racing the scan could be missed by the filter.
    fn for_each_fact(&self, each: &mut dyn FnMut(&Facts)) -> Result<(), StoreError> {
        let filter = key_filter::KeyFilter::default();
        for t in pes_schemas::RecordType::ALL {
            for kv in self.db.scan_prefix([facts::rtype_byte(t)]) {
                let (k, v) = kv?;
                // A tombstone's key is stored: the filter must send its writes to a read.
                filter.insert(&k);
                if !value::is_live(&v) {
                    continue;
                }
                let f: Facts = value::value_facts(&v).ok_or(StoreError::Malformed)?;
                each(&f);
            }
        }
        // A second scan keeps the first filter: it has seen every key written since.
        let _ = self.keys.set(filter);
        Ok(())
    }

    fn scan_facts(
        &self,
        rtype: pes_schemas::RecordType,
        each: &mut dyn FnMut(&Facts),
    ) -> Result<(), StoreError> {
        for v in self.db.scan_prefix([facts::rtype_byte(rtype)]).values() {
            let v = v?;
            if value::is_live(&v) {
                each(&value::value_facts(&v).ok_or(StoreError::Malformed)?);
            }
        }
        Ok(())
    }

    fn person_records(
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
            out.push(super::decode_stored(self, record_id, &v, key, reveal)?);
        }
        Ok(out)
    }

    fn person_record_keys(&self, person_key: &str) -> Result<Vec<Vec<u8>>, StoreError> {
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

    fn scan_records(
        &self,
        rtype: pes_schemas::RecordType,
        id_prefix: &str,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut prefix = Vec::with_capacity(id_prefix.len() + 1);
        value::encode_key(rtype, id_prefix, &mut prefix);
        for kv in self.db.scan_prefix(prefix) {
            let (k, v) = kv?;
            if !each(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    fn batch_envelope(&self, batch_id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut ekey = vec![ENVELOPE_PREFIX];
        ekey.extend_from_slice(batch_id);
        Ok(self.db.get(ekey)?.map(|v| v.to_vec()))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut k = vec![META_PREFIX];
        k.extend_from_slice(key.as_bytes());
        self.db.insert(k, value)?;
        self.db.flush()?;
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut k = vec![META_PREFIX];
        k.extend_from_slice(key.as_bytes());
        Ok(self.db.get(k)?.map(|v| v.to_vec()))
    }

    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut k = vec![META_PREFIX];
        k.extend_from_slice(prefix.as_bytes());
        let mut out = Vec::new();
        for kv in self.db.scan_prefix(k) {
            let (k, v) = kv?;
            let key = String::from_utf8_lossy(&k[1..]).into_owned();
            out.push((key, v.to_vec()));
        }
        Ok(out)
    }

    fn quarantined(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>> + Send + '_> {
        Box::new(
            self.db
                .scan_prefix([QUARANTINE_PREFIX])
                .values()
                .map(|r| r.map(|v| v.to_vec()).map_err(StoreError::from)),
        )
    }

    fn quarantined_row(
        &self,
        batch_id: &[u8; 32],
        row: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get(quarantine_key(batch_id, row))?
            .map(|v| v.to_vec()))
    }

    fn remove_quarantined(&self, batch_id: &[u8; 32], row: u32) -> Result<(), StoreError> {
        self.db.remove(quarantine_key(batch_id, row))?;
        Ok(())
    }

    fn put_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let value = serde_json::to_vec(letter).map_err(|_| StoreError::Malformed)?;
        let mut batch = sled::Batch::default();
        batch.insert(&dead_letter_key(letter.end_offset), value);
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let applied = self.applied_offset()?;
        batch.insert(APPLIED_KEY, &applied.max(letter.end_offset).to_le_bytes());
        self.db.apply_batch(batch)?;
        Ok(())
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.scan_prefix([DEAD_LETTER_PREFIX]) {
            let (_, v) = kv?;
            out.push(serde_json::from_slice(&v).map_err(|_| StoreError::Malformed)?);
        }
        Ok(out)
    }

    fn get_dead_letter(&self, end_offset: u64) -> Result<Option<DeadLetter>, StoreError> {
        match self.db.get(dead_letter_key(end_offset))? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).map_err(|_| StoreError::Malformed)?,
            )),
            None => Ok(None),
        }
    }

    /// Blocking: it flushes.
    fn update_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let value = serde_json::to_vec(letter).map_err(|_| StoreError::Malformed)?;
        self.db.insert(dead_letter_key(letter.end_offset), value)?;
        self.db.flush()?;
        Ok(())
    }

    fn remove_dead_letter(&self, end_offset: u64) -> Result<(), StoreError> {
        self.db.remove(dead_letter_key(end_offset))?;
        Ok(())
    }

    /// One sled batch removes the records, rewrites the person's index bucket without its
    /// pairs and removes the quarantined rows; then a flush. The `writing` lock keeps the
    /// applier out meanwhile, so a record cannot be re-indexed between the read and the write.
    /// sled is log-structured: the removed values' bytes stay in its files until it reuses the
    /// space (see docs/operator-guide.md, "Erasure").
    fn erase_person(
        &self,
        person_key: &str,
        quarantined: &super::RowMatch<'_>,
    ) -> Result<super::Erased, StoreError> {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let pk = person_key.as_bytes();
        let mut out = super::Erased::default();
        let mut batch = sled::Batch::default();
        for rkey in self.person_record_keys(person_key)? {
            let Some(v) = self.db.get(&rkey)? else {
                continue;
            };
            // A listed record that names someone else since is theirs, not this person's.
            if value::value_person_key(&v) != Some(pk) {
                continue;
            }
            let f = value::value_facts(&v).ok_or(StoreError::Malformed)?;
            out.deltas.push((f, -1));
            batch.remove(rkey);
        }
        for kv in self.db.scan_prefix([PERSON_PREFIX, person_bucket(pk)]) {
            let (k, v) = kv?;
            let mut kept = Vec::with_capacity(v.len());
            let mut removed = 0;
            let mut rest: &[u8] = &v;
            while !rest.is_empty() {
                let (listed, _, tail) = split_person_pair(rest).ok_or(StoreError::Malformed)?;
                let pair = &rest[..rest.len() - tail.len()];
                if listed == pk {
                    removed += 1;
                } else {
                    kept.extend_from_slice(pair);
                }
                rest = tail;
            }
            if removed == 0 {
                continue;
            }
            out.index_pairs += removed;
            if kept.is_empty() {
                batch.remove(k);
            } else {
                batch.insert(k, kept);
            }
        }
        for kv in self.db.scan_prefix([QUARANTINE_PREFIX]) {
            let (k, v) = kv?;
            let batch_id: [u8; 32] = k
                .get(1..33)
                .and_then(|s| s.try_into().ok())
                .ok_or(StoreError::Malformed)?;
            let row = k
                .get(33..37)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or(StoreError::Malformed)?;
            if quarantined(&batch_id, row, &v) {
                out.quarantined += 1;
                batch.remove(k);
            }
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(out)
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
fn quarantine_key(batch_id: &[u8; 32], row: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(37);
    k.push(QUARANTINE_PREFIX);
    k.extend_from_slice(batch_id);
    k.extend_from_slice(&row.to_be_bytes());
    k
}

/// Key of a dead letter: `0xF5 | end offset (u64 BE)`, so they list oldest first.
fn dead_letter_key(end_offset: u64) -> [u8; 9] {
    let mut k = [DEAD_LETTER_PREFIX; 9];
    k[1..].copy_from_slice(&end_offset.to_be_bytes());
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
