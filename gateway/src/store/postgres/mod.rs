//! The PostgreSQL backend of the [`RecordStore`] boundary (`[store] engine = "postgres"`).
//!
//! Tables (`migrations/`, applied at open, in the schema `[store] schema` names): `records`
//! (the sled store's key and value bytes, with a `live` flag for tombstones), `person_index`,
//! `batches`, `envelopes`, `quarantine`, `dead_letters`, `meta`, `applied` (one row) and
//! `rollup_cells`.
//!
//! **One transaction per journal entry.** Its records, person index pairs, quarantined rows,
//! summary, rollup cells and the applied offset commit together (synchronous commit), so a
//! store that reports an offset holds everything below it, and a replayed entry finds either
//! all of it or none. New records go in by binary `COPY`; records that replace a stored
//! version (or a tombstone) by one `UPDATE … FROM unnest(…)` per chunk. The version rules are
//! the sled store's (`upsert`), applied to old values read with one query per chunk.
//!
//! **Rollups are stored.** Each entry's rollup changes (its records' facts, each with +1 or
//! -1) are appended to `rollup_deltas` as one row in its transaction; once the unfolded deltas
//! pass [`FOLD_FACTS`], the entry's transaction also folds them all into `rollup_cells` (cells
//! of [`cubes::layout`]): summed over many entries first, a fold writes each touched cell once,
//! where writing an entry's cells in every entry would upsert about as many cells as the entry
//! has records times cubes. At start the gateway loads the cells plus the unfolded deltas
//! ([`RecordStore::stored_rollups`]) instead of scanning every record: bounded work, whatever
//! the store holds. The layout's [`cubes::fingerprint`] is stored beside the cells: after an
//! upgrade that changes the layout, the cells are recounted once from the records at open.
//!
//! **One writer.** The store holds a session advisory lock (keyed by schema) on its writer
//! connection for as long as it is open: a second gateway on the same schema waits up to
//! [`LOCK_WAIT`] at open and then refuses to start. Reads use a second connection.
//!
//! Connections are plain (no TLS): a loopback address or a unix socket. TLS to a remote
//! database (rustls, ring) is a follow-up.

mod conn;

use std::borrow::Cow;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pes_schemas::RecordType;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Transaction};

use super::cubes::{self, Counters, MAX_CUBE_DIMS};
use super::dead_letter::DeadLetter;
use super::entry::{Entry, EntryKind};
use super::facts::{self, Facts};
use super::{upsert, value};
use super::{ApplyMode, ApplyOutcome, BatchSummary, Erased, RecordStore, RowMatch, StoreError};
pub use crate::config::{check_schema, check_url};
use conn::wait;
pub use conn::PgSettings;

/// How long opening waits for another gateway's writer lock on the same schema.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Records read and written per statement: bounds a statement's parameters and memory.
const CHUNK: usize = 10_000;
/// Rows fetched per page by scans.
const PAGE: i64 = 5_000;
/// Unfolded rollup deltas (facts) past which an entry's transaction folds them into the cells:
/// bounds what a restart adds up (about a second of work) and amortises a fold over many
/// entries.
pub const FOLD_FACTS: u64 = 400_000;

/// The PostgreSQL store.
pub struct PgStore {
    settings: PgSettings,
    /// Runs the connections' socket tasks.
    rt: Option<tokio::runtime::Runtime>,
    /// The advisory lock key of this schema's writer.
    lock_key: i64,
    /// Applies entries and holds the writer lock; `None` after a lost connection (reconnected
    /// on the next call). Its mutex also serialises writes, as sled's `writing` lock does.
    writer: Mutex<Option<Client>>,
    /// Reads.
    reader: Mutex<Option<Client>>,
    /// Unfolded facts past which a fold runs ([`FOLD_FACTS`]; tests lower it).
    fold_facts: u64,
    /// Facts in `rollup_deltas` not folded yet (an estimate: counted at open, then by the
    /// writer).
    unfolded: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("settings", &self.settings)
            .finish()
    }
}

impl PgStore {
    /// Connects, takes the writer lock (waiting up to [`LOCK_WAIT`]), applies the migrations
    /// and checks the rollup cells' layout.
    pub fn open(settings: &PgSettings) -> Result<PgStore, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pes-pg")
            .enable_all()
            .build()
            .map_err(StoreError::Io)?;
        let lock_key = lock_key(&settings.schema);
        let mut w = conn::connect(&rt, settings)?;
        take_lock(&mut w, lock_key, LOCK_WAIT, &settings.schema)?;
        conn::migrate(&mut w, lock_key)?;
        let store = PgStore {
            settings: settings.clone(),
            rt: Some(rt),
            lock_key,
            writer: Mutex::new(Some(w)),
            reader: Mutex::new(None),
            unfolded: Default::default(),
            fold_facts: FOLD_FACTS,
        };
        store.ensure_rollup_layout()?;
        let pending = store.read(|c| {
            let row = wait(c.query_one(
                "SELECT coalesce(sum(length(deltas)), 0)::bigint FROM rollup_deltas",
                &[],
            ))?;
            col::<i64>(&row, 0)
        })?;
        store.unfolded.store(
            pending.max(0) as u64 / DELTA_LEN as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        tracing::info!(
            target = %settings.target(),
            schema = %settings.schema,
            "PostgreSQL store open"
        );
        Ok(store)
    }

    /// Sets how many unfolded rollup deltas trigger a fold (tests use small values so that
    /// small entries fold too).
    pub fn set_fold_threshold(&mut self, facts: u64) {
        self.fold_facts = facts.max(1);
    }

    fn rt(&self) -> Result<&tokio::runtime::Runtime, StoreError> {
        self.rt
            .as_ref()
            .ok_or_else(|| StoreError::Backend("store is closed".into()))
    }

    /// Runs `f` on the writer connection (reconnecting and retaking the lock if it was lost).
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(&self.writer, true, f)
    }

    /// Runs `f` on the reader connection.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with(&self.reader, false, f)
    }

    fn with<T>(
        &self,
        slot: &Mutex<Option<Client>>,
        writer: bool,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            *guard = None;
            let mut c = conn::connect(self.rt()?, &self.settings)?;
            if writer {
                // Another gateway may have taken over while this one was cut off: never wait.
                take_lock(&mut c, self.lock_key, Duration::ZERO, &self.settings.schema)?;
            }
            *guard = Some(c);
        }
        let Some(client) = guard.as_mut() else {
            return Err(StoreError::Backend("no connection".into()));
        };
        let r = f(client);
        if matches!(r, Err(StoreError::Io(_))) {
            // A lost connection or a request that timed out: start afresh next time.
            *guard = None;
        }
        r
    }

    /// Recounts the rollup cells from the records when they were counted in another layout
    /// (or never: a new store).
    fn ensure_rollup_layout(&self) -> Result<(), StoreError> {
        let want = cubes::fingerprint();
        self.write(|c| {
            let tx = wait(c.transaction())?;
            let have: Option<String> = match wait(tx.query_opt(
                "SELECT value FROM settings WHERE name = 'rollup_layout'",
                &[],
            ))? {
                Some(row) => Some(col(&row, 0)?),
                None => None,
            };
            if have.as_deref() == Some(want.as_str()) {
                return Ok(());
            }
            let started = Instant::now();
            wait(tx.execute("DELETE FROM rollup_cells", &[]))?;
            wait(tx.execute("DELETE FROM rollup_deltas", &[]))?;
            let mut cells = CellDeltas::default();
            let mut after: Vec<u8> = Vec::new();
            loop {
                let rows = wait(tx.query(
                    "SELECT key, value FROM records WHERE key > $1 AND live ORDER BY key LIMIT $2",
                    &[&after, &PAGE],
                ))?;
                for row in &rows {
                    let v: &[u8] = col(row, 1)?;
                    cells.add(&value::value_facts(v).ok_or(StoreError::Malformed)?, 1);
                }
                match rows.last() {
                    Some(last) if rows.len() as i64 == PAGE => after = col(last, 0)?,
                    _ => break,
                }
            }
            let n = cells.write(&tx)?;
            wait(tx.execute(
                "INSERT INTO settings (name, value) VALUES ('rollup_layout', $1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&want],
            ))?;
            wait(tx.commit())?;
            tracing::info!(
                cells = n,
                ms = started.elapsed().as_millis() as u64,
                "PostgreSQL store: rollup cells counted for this layout"
            );
            Ok(())
        })
    }

    /// Appends an entry's rollup deltas to `rollup_deltas`, and folds every unfolded delta into
    /// `rollup_cells` once there are more than [`FOLD_FACTS`], all in the entry's transaction.
    fn log_deltas(&self, tx: &Transaction<'_>, deltas: &[(Facts, i64)]) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        if deltas.is_empty() {
            return Ok(());
        }
        let mut blob = Vec::with_capacity(deltas.len() * DELTA_LEN);
        for (f, sign) in deltas {
            blob.extend_from_slice(&sign.to_le_bytes());
            f.encode_into(&mut blob);
        }
        let pending = self.unfolded.load(Ordering::Relaxed) + deltas.len() as u64;
        if pending < self.fold_facts {
            wait(tx.execute("INSERT INTO rollup_deltas (deltas) VALUES ($1)", &[&blob]))?;
            self.unfolded.store(pending, Ordering::Relaxed);
            return Ok(());
        }
        let mut cells = CellDeltas::default();
        decode_deltas(&blob, &mut |f, sign| cells.add(f, sign))?;
        let rows = wait(tx.query("SELECT deltas FROM rollup_deltas", &[]))?;
        for row in &rows {
            decode_deltas(col(row, 0)?, &mut |f, sign| cells.add(f, sign))?;
        }
        let started = Instant::now();
        let n = cells.write(tx)?;
        wait(tx.execute("DELETE FROM rollup_deltas", &[]))?;
        // Counted as folded now; if the transaction fails, the next open counts again.
        self.unfolded.store(0, Ordering::Relaxed);
        tracing::debug!(
            facts = pending,
            cells = n,
            ms = started.elapsed().as_millis() as u64,
            "PostgreSQL store: rollup deltas folded"
        );
        Ok(())
    }

    /// Bytes the store's tables and indexes take in the database.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let row = wait(c.query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                &[],
            ))?;
            let n: i64 = col(&row, 0)?;
            Ok(n.max(0) as u64)
        })
    }

    /// Applies a batch entry in one transaction.
    fn apply_batch(
        &self,
        c: &mut Client,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        deltas: &mut Vec<(Facts, i64)>,
    ) -> Result<ApplyOutcome, StoreError> {
        let (newest, dropped) = upsert::newest(entry);
        let mut out = ApplyOutcome {
            unchanged: dropped,
            ..ApplyOutcome::default()
        };
        let mut mine: Vec<(Facts, i64)> = Vec::with_capacity(newest.len());
        let mut pairs: Vec<(&str, &[u8])> = Vec::new();
        let tx = wait(c.transaction())?;
        // Where an entry's time goes, for `RUST_LOG=pes_gateway::store=debug` (the bench).
        let mut took = [Duration::ZERO; 4];
        let mut lap = Instant::now();
        let mut mark = |i: usize| {
            took[i] += lap.elapsed();
            lap = Instant::now();
        };
        for chunk in newest.chunks(CHUNK) {
            let keys: Vec<&[u8]> = chunk.iter().map(|(k, _)| *k).collect();
            let old = old_values(&tx, &keys)?;
            mark(0);
            let mut inserts: Vec<(&[u8], Cow<'_, [u8]>)> = Vec::new();
            let mut updates: Vec<(&[u8], Cow<'_, [u8]>)> = Vec::new();
            for &(key, val) in chunk {
                let stored = old.get(key).map(|v| &v[..]);
                match upsert::decide(key, val, stored, mode, end_offset)? {
                    upsert::Upsert::Unchanged { relist } => {
                        out.unchanged += 1;
                        if let Some(pk) = relist {
                            pairs.push((person_str(pk)?, key));
                        }
                    }
                    upsert::Upsert::Write {
                        value,
                        old_facts,
                        new_facts,
                        list,
                        new,
                    } => {
                        if let Some(f) = old_facts {
                            mine.push((f, -1));
                        }
                        mine.push((new_facts, 1));
                        if let Some(pk) = list {
                            pairs.push((person_str(pk)?, key));
                        }
                        if new {
                            out.new += 1;
                        } else {
                            out.updated += 1;
                        }
                        out.applied += 1;
                        // A key with a stored row (a tombstone too) is updated; others copied.
                        if stored.is_some() {
                            updates.push((key, value));
                        } else {
                            inserts.push((key, value));
                        }
                    }
                }
            }
            mark(1);
            copy_records(&tx, &inserts)?;
            update_records(&tx, &updates, true)?;
            mark(2);
        }
        for part in pairs.chunks(CHUNK) {
            let pks: Vec<&str> = part.iter().map(|p| p.0).collect();
            let keys: Vec<&[u8]> = part.iter().map(|p| p.1).collect();
            wait(tx.execute(
                "INSERT INTO person_index (person_key, record_key)
                 SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
                &[&pks, &keys],
            ))?;
        }
        if !entry.shared.is_empty() && out.applied > 0 {
            wait(tx.execute(
                "INSERT INTO envelopes (batch_id, shared) VALUES ($1, $2)
                 ON CONFLICT (batch_id) DO UPDATE SET shared = excluded.shared",
                &[&&entry.batch_id[..], &entry.shared],
            ))?;
        }
        for rows in entry.quarantined.chunks(CHUNK) {
            let nos: Vec<i64> = rows.iter().map(|(r, _)| i64::from(*r)).collect();
            let vals: Vec<&[u8]> = rows.iter().map(|(_, v)| *v).collect();
            wait(tx.execute(
                "INSERT INTO quarantine (batch_id, row_no, value)
                 SELECT $1, * FROM unnest($2::int8[], $3::bytea[])
                 ON CONFLICT (batch_id, row_no) DO UPDATE SET value = excluded.value",
                &[&&entry.batch_id[..], &nos, &vals],
            ))?;
        }
        self.log_deltas(&tx, &mine)?;
        finish(&tx, entry, end_offset, mode, out)?;
        wait(tx.commit())?;
        mark(3);
        tracing::debug!(
            records = newest.len(),
            read_ms = took[0].as_secs_f64() * 1e3,
            decide_ms = took[1].as_secs_f64() * 1e3,
            write_ms = took[2].as_secs_f64() * 1e3,
            rest_ms = took[3].as_secs_f64() * 1e3,
            "PostgreSQL store: entry applied"
        );
        deltas.extend(mine);
        Ok(out)
    }

    /// Applies a retirement or purge entry in one transaction.
    fn apply_lifecycle(
        &self,
        c: &mut Client,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        deltas: &mut Vec<(Facts, i64)>,
    ) -> Result<ApplyOutcome, StoreError> {
        let mut out = ApplyOutcome::default();
        let retired = upsert::retired_of(entry.ingested_at, entry.reason);
        let mut keyed = entry.lifecycle.clone();
        keyed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        out.unchanged += (entry.lifecycle.len() - keyed.len()) as u64;
        let mut mine = Vec::new();
        let tx = wait(c.transaction())?;
        for items in keyed.chunks(CHUNK) {
            let keys: Vec<&[u8]> = items.iter().map(|(k, _)| *k).collect();
            let old = old_values(&tx, &keys)?;
            let mut tombs: Vec<(&[u8], Cow<'_, [u8]>)> = Vec::new();
            let mut purged: Vec<&[u8]> = Vec::new();
            for &(key, expected) in items {
                let stored = old.get(key).map(|v| &v[..]);
                match upsert::lifecycle_change(entry.kind, stored, expected, &retired)? {
                    upsert::Change::Retire(tomb, facts) => {
                        mine.push((facts, -1));
                        tombs.push((key, Cow::Owned(tomb)));
                        out.retired += 1;
                    }
                    upsert::Change::Purge => {
                        purged.push(key);
                        out.purged += 1;
                    }
                    upsert::Change::Unchanged => out.unchanged += 1,
                }
            }
            update_records(&tx, &tombs, false)?;
            if !purged.is_empty() {
                wait(tx.execute("DELETE FROM records WHERE key = ANY($1)", &[&purged]))?;
            }
        }
        self.log_deltas(&tx, &mine)?;
        finish(&tx, entry, end_offset, mode, out)?;
        wait(tx.commit())?;
        deltas.extend(mine);
        Ok(out)
    }

    /// A record's stored value by record id (`None` for a tombstone), trying each type's key.
    fn record_value(&self, record_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let keys: Vec<Vec<u8>> = RecordType::ALL
            .iter()
            .map(|t| {
                let mut k = Vec::with_capacity(record_id.len() + 1);
                value::encode_key(*t, record_id, &mut k);
                k
            })
            .collect();
        let row = self.read(|c| {
            wait(c.query_opt(
                "SELECT value FROM records WHERE key = ANY($1) ORDER BY key LIMIT 1",
                &[&keys],
            ))
        })?;
        match row {
            Some(row) => {
                let v: Vec<u8> = col(&row, 0)?;
                Ok(value::is_live(&v).then_some(v))
            }
            None => Ok(None),
        }
    }

    /// Calls `each(key, value)` for the rows of `records` with keys in `[lo, hi)` (`hi` empty:
    /// no end), only live ones when `live_only`, in key order, a page at a time (the
    /// connection is free while `each` runs); `each` returns `false` to stop.
    fn scan(
        &self,
        lo: &[u8],
        hi: &[u8],
        live_only: bool,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let sql = match (hi.is_empty(), live_only) {
            (false, true) => "SELECT key, value FROM records WHERE key >= $1 AND key < $2 AND live AND ($4 OR key <> $1) ORDER BY key LIMIT $3",
            (false, false) => "SELECT key, value FROM records WHERE key >= $1 AND key < $2 AND ($4 OR key <> $1) ORDER BY key LIMIT $3",
            (true, true) => "SELECT key, value FROM records WHERE key >= $1 AND $2::bytea IS NOT NULL AND live AND ($4 OR key <> $1) ORDER BY key LIMIT $3",
            (true, false) => "SELECT key, value FROM records WHERE key >= $1 AND $2::bytea IS NOT NULL AND ($4 OR key <> $1) ORDER BY key LIMIT $3",
        };
        let mut from = lo.to_vec();
        let mut first = true;
        loop {
            let rows = self.read(|c| wait(c.query(sql, &[&from, &hi, &PAGE, &first])))?;
            for row in &rows {
                let k: &[u8] = col(row, 0)?;
                let v: &[u8] = col(row, 1)?;
                if !each(k, v) {
                    return Ok(());
                }
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => {
                    from = col(last, 0)?;
                    first = false;
                }
                _ => return Ok(()),
            }
        }
    }
}

impl Drop for PgStore {
    /// Gives the writer lock back at once (a successor may be waiting), then closes.
    fn drop(&mut self) {
        let writer = self
            .writer
            .get_mut()
            .map(Option::take)
            .unwrap_or_else(|p| p.into_inner().take());
        if let Some(c) = writer {
            let key = self.lock_key;
            let params: [&(dyn ToSql + Sync); 1] = [&key];
            let unlock = c.execute("SELECT pg_advisory_unlock($1)", &params);
            let _ = conn::block_on(unlock, Duration::from_secs(2));
            drop(c);
        }
        if let Ok(r) = self.reader.get_mut() {
            r.take();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl RecordStore for PgStore {
    fn applied_offset(&self) -> Result<u64, StoreError> {
        let row = self.read(|c| wait(c.query_one("SELECT end_offset FROM applied", &[])))?;
        let n: i64 = col(&row, 0)?;
        Ok(n.max(0) as u64)
    }

    /// One transaction: records, person index, quarantined rows, envelope, rollup cells,
    /// summary and (not on a retry) the applied offset.
    fn apply_entry(
        &self,
        entry: &Entry<'_>,
        end_offset: u64,
        mode: ApplyMode,
        deltas: &mut Vec<(Facts, i64)>,
    ) -> Result<ApplyOutcome, StoreError> {
        self.write(|c| {
            if entry.kind == EntryKind::Batch {
                self.apply_batch(c, entry, end_offset, mode, deltas)
            } else {
                self.apply_lifecycle(c, entry, end_offset, mode, deltas)
            }
        })
    }

    /// Nothing to do: every entry's transaction committed synchronously.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn batch_summaries(&self) -> Result<Vec<([u8; 32], BatchSummary)>, StoreError> {
        let rows = self.read(|c| {
            wait(c.query(
                "SELECT batch_id, summary FROM batches ORDER BY batch_id",
                &[],
            ))
        })?;
        rows.iter()
            .map(|row| {
                let id: &[u8] = col(row, 0)?;
                let s: &[u8] = col(row, 1)?;
                Ok((
                    id.try_into().map_err(|_| StoreError::Malformed)?,
                    serde_json::from_slice(s).map_err(|_| StoreError::Malformed)?,
                ))
            })
            .collect()
    }

    fn get_record(&self, record_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.record_value(record_id)
    }

    fn count_type(&self, rtype: RecordType) -> usize {
        let (lo, hi) = type_range(rtype);
        let counted = self.read(|c| {
            let row = wait(c.query_one(
                "SELECT count(*) FROM records WHERE key >= $1 AND key < $2 AND live",
                &[&lo, &hi],
            ))?;
            col::<i64>(&row, 0)
        });
        match counted {
            Ok(n) => n.max(0) as usize,
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL store: counting records failed");
                0
            }
        }
    }

    fn for_each_fact(&self, each: &mut dyn FnMut(&Facts)) -> Result<(), StoreError> {
        for t in RecordType::ALL {
            self.scan_facts(t, each)?;
        }
        Ok(())
    }

    fn stored_rollups(
        &self,
        each: &mut dyn FnMut(RecordType, usize, [u32; MAX_CUBE_DIMS], Counters),
    ) -> Result<bool, StoreError> {
        let rows = self.read(|c| {
            wait(c.query(
                "SELECT rtype, cube, k1, k2, k3, count, sum FROM rollup_cells
                 WHERE count <> 0 OR sum <> 0",
                &[],
            ))
        })?;
        for row in &rows {
            let t: i16 = col(row, 0)?;
            let rtype = u8::try_from(t)
                .ok()
                .and_then(facts::rtype_from_byte)
                .ok_or(StoreError::Malformed)?;
            let cube: i16 = col(row, 1)?;
            let key = [
                col::<i32>(row, 2)? as u32,
                col::<i32>(row, 3)? as u32,
                col::<i32>(row, 4)? as u32,
            ];
            let counters = Counters {
                count: col(row, 5)?,
                sum: col(row, 6)?,
            };
            each(rtype, cube as usize, key, counters);
        }
        // Then the deltas not folded yet, cell by cell, to be added on top.
        let rows =
            self.read(|c| wait(c.query("SELECT deltas FROM rollup_deltas ORDER BY id", &[])))?;
        for row in &rows {
            decode_deltas(col(row, 0)?, &mut |f, sign| {
                let measure = i64::from(f.measure) * sign;
                cubes::for_each_cell(f, |cube, key| {
                    each(
                        f.rtype,
                        cube,
                        key,
                        Counters {
                            count: sign,
                            sum: measure,
                        },
                    )
                });
            })?;
        }
        Ok(true)
    }

    fn scan_facts(
        &self,
        rtype: RecordType,
        each: &mut dyn FnMut(&Facts),
    ) -> Result<(), StoreError> {
        let (lo, hi) = type_range(rtype);
        let mut bad = false;
        self.scan(&lo, &hi, true, &mut |_, v| match value::value_facts(v) {
            Some(f) => {
                each(&f);
                true
            }
            None => {
                bad = true;
                false
            }
        })?;
        if bad {
            return Err(StoreError::Malformed);
        }
        Ok(())
    }

    fn person_records(
        &self,
        person_key: &str,
        key: &crate::keys::DataKey,
        reveal: bool,
    ) -> Result<Vec<pes_schemas::Record>, StoreError> {
        let rows = self.read(|c| {
            wait(c.query(
                "SELECT r.key, r.value FROM person_index p JOIN records r ON r.key = p.record_key
                 WHERE p.person_key = $1 AND r.live ORDER BY r.key",
                &[&person_key],
            ))
        })?;
        let mut out = Vec::new();
        for row in &rows {
            let k: &[u8] = col(row, 0)?;
            let v: &[u8] = col(row, 1)?;
            if value::value_person_key(v) != Some(person_key.as_bytes()) {
                continue;
            }
            let record_id = std::str::from_utf8(k.get(1..).unwrap_or_default())
                .map_err(|_| StoreError::Malformed)?;
            out.push(super::decode_stored(self, record_id, v, key, reveal)?);
        }
        Ok(out)
    }

    fn person_record_keys(&self, person_key: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let rows = self.read(|c| {
            wait(c.query(
                "SELECT record_key FROM person_index WHERE person_key = $1 ORDER BY record_key",
                &[&person_key],
            ))
        })?;
        rows.iter().map(|r| col(r, 0)).collect()
    }

    fn scan_records(
        &self,
        rtype: RecordType,
        id_prefix: &str,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut prefix = Vec::with_capacity(id_prefix.len() + 1);
        value::encode_key(rtype, id_prefix, &mut prefix);
        let hi = successor(&prefix);
        self.scan(&prefix, &hi, false, each)
    }

    fn batch_envelope(&self, batch_id: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self.read(|c| {
            wait(c.query_opt(
                "SELECT shared FROM envelopes WHERE batch_id = $1",
                &[&&batch_id[..]],
            ))
        })?;
        row.map(|r| col(&r, 0)).transpose()
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(|c| {
            wait(c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            ))
        })?;
        Ok(())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row =
            self.read(|c| wait(c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])))?;
        row.map(|r| col(&r, 0)).transpose()
    }

    fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = self.read(|c| {
            wait(c.query(
                "SELECT key, value FROM meta WHERE starts_with(key, $1) ORDER BY key",
                &[&prefix],
            ))
        })?;
        rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
    }

    /// Pages through the rows (keyset by batch and row), so a large quarantine is never held
    /// whole.
    fn quarantined(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>, StoreError>> + Send + '_> {
        let mut after: Option<(Vec<u8>, i64)> = None;
        let mut page: std::vec::IntoIter<Vec<u8>> = Vec::new().into_iter();
        let mut done = false;
        Box::new(std::iter::from_fn(move || loop {
            if let Some(v) = page.next() {
                return Some(Ok(v));
            }
            if done {
                return None;
            }
            let (b, r) = after.clone().unwrap_or((Vec::new(), -1));
            let rows = match self.read(|c| {
                wait(c.query(
                    "SELECT batch_id, row_no, value FROM quarantine
                     WHERE (batch_id, row_no) > ($1, $2) ORDER BY batch_id, row_no LIMIT $3",
                    &[&b, &r, &PAGE],
                ))
            }) {
                Ok(rows) => rows,
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            };
            done = (rows.len() as i64) < PAGE;
            let mut vals = Vec::with_capacity(rows.len());
            for row in &rows {
                match (col(row, 0), col(row, 1), col(row, 2)) {
                    (Ok(b), Ok(r), Ok(v)) => {
                        after = Some((b, r));
                        vals.push(v);
                    }
                    _ => {
                        done = true;
                        return Some(Err(StoreError::Malformed));
                    }
                }
            }
            page = vals.into_iter();
        }))
    }

    fn quarantined_row(
        &self,
        batch_id: &[u8; 32],
        row: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.read(|c| {
            wait(c.query_opt(
                "SELECT value FROM quarantine WHERE batch_id = $1 AND row_no = $2",
                &[&&batch_id[..], &i64::from(row)],
            ))
        })?;
        r.map(|r| col(&r, 0)).transpose()
    }

    fn remove_quarantined(&self, batch_id: &[u8; 32], row: u32) -> Result<(), StoreError> {
        self.write(|c| {
            wait(c.execute(
                "DELETE FROM quarantine WHERE batch_id = $1 AND row_no = $2",
                &[&&batch_id[..], &i64::from(row)],
            ))
        })?;
        Ok(())
    }

    fn put_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let v = serde_json::to_vec(letter).map_err(|_| StoreError::Malformed)?;
        let end = offset_i64(letter.end_offset)?;
        self.write(|c| {
            let tx = wait(c.transaction())?;
            wait(tx.execute(
                "INSERT INTO dead_letters (end_offset, letter) VALUES ($1, $2)
                 ON CONFLICT (end_offset) DO UPDATE SET letter = excluded.letter",
                &[&end, &v],
            ))?;
            wait(tx.execute(
                "UPDATE applied SET end_offset = greatest(end_offset, $1)",
                &[&end],
            ))?;
            wait(tx.commit())
        })
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = self
            .read(|c| wait(c.query("SELECT letter FROM dead_letters ORDER BY end_offset", &[])))?;
        rows.iter()
            .map(|r| {
                let v: &[u8] = col(r, 0)?;
                serde_json::from_slice(v).map_err(|_| StoreError::Malformed)
            })
            .collect()
    }

    fn get_dead_letter(&self, end_offset: u64) -> Result<Option<DeadLetter>, StoreError> {
        let end = offset_i64(end_offset)?;
        let row = self.read(|c| {
            wait(c.query_opt(
                "SELECT letter FROM dead_letters WHERE end_offset = $1",
                &[&end],
            ))
        })?;
        match row {
            Some(r) => {
                let v: &[u8] = col(&r, 0)?;
                Ok(Some(
                    serde_json::from_slice(v).map_err(|_| StoreError::Malformed)?,
                ))
            }
            None => Ok(None),
        }
    }

    fn update_dead_letter(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let v = serde_json::to_vec(letter).map_err(|_| StoreError::Malformed)?;
        let end = offset_i64(letter.end_offset)?;
        self.write(|c| {
            wait(c.execute(
                "INSERT INTO dead_letters (end_offset, letter) VALUES ($1, $2)
                 ON CONFLICT (end_offset) DO UPDATE SET letter = excluded.letter",
                &[&end, &v],
            ))
        })?;
        Ok(())
    }

    fn remove_dead_letter(&self, end_offset: u64) -> Result<(), StoreError> {
        let end = offset_i64(end_offset)?;
        self.write(|c| wait(c.execute("DELETE FROM dead_letters WHERE end_offset = $1", &[&end])))?;
        Ok(())
    }

    /// One transaction: the person's records (those that still name them), every index pair of
    /// the person_key, the matching quarantined rows, and the rollup cells. PostgreSQL keeps
    /// deleted rows' bytes until VACUUM reclaims them (see docs/operator-guide.md, "Erasure").
    fn erase_person(
        &self,
        person_key: &str,
        quarantined: &RowMatch<'_>,
    ) -> Result<Erased, StoreError> {
        self.write(|c| {
            let tx = wait(c.transaction())?;
            let mut out = Erased::default();
            let rows = wait(tx.query(
                "SELECT r.key, r.value FROM person_index p JOIN records r ON r.key = p.record_key
                 WHERE p.person_key = $1",
                &[&person_key],
            ))?;
            let mut gone: Vec<&[u8]> = Vec::new();
            for row in &rows {
                let k: &[u8] = col(row, 0)?;
                let v: &[u8] = col(row, 1)?;
                // A listed record that names someone else since is theirs, not this person's.
                if value::value_person_key(v) != Some(person_key.as_bytes()) {
                    continue;
                }
                if value::is_live(v) {
                    out.deltas
                        .push((value::value_facts(v).ok_or(StoreError::Malformed)?, -1));
                }
                gone.push(k);
            }
            wait(tx.execute("DELETE FROM records WHERE key = ANY($1)", &[&gone]))?;
            out.index_pairs = wait(tx.execute(
                "DELETE FROM person_index WHERE person_key = $1",
                &[&person_key],
            ))?;
            let mut after: (Vec<u8>, i64) = (Vec::new(), -1);
            loop {
                let rows = wait(tx.query(
                    "SELECT batch_id, row_no, value FROM quarantine
                     WHERE (batch_id, row_no) > ($1, $2) ORDER BY batch_id, row_no LIMIT $3",
                    &[&after.0, &after.1, &PAGE],
                ))?;
                let mut ids: Vec<&[u8]> = Vec::new();
                let mut nos: Vec<i64> = Vec::new();
                for row in &rows {
                    let b: &[u8] = col(row, 0)?;
                    let r: i64 = col(row, 1)?;
                    let v: &[u8] = col(row, 2)?;
                    let id: [u8; 32] = b.try_into().map_err(|_| StoreError::Malformed)?;
                    let no = u32::try_from(r).map_err(|_| StoreError::Malformed)?;
                    if quarantined(&id, no, v) {
                        ids.push(b);
                        nos.push(r);
                    }
                }
                if !ids.is_empty() {
                    out.quarantined += wait(tx.execute(
                        "DELETE FROM quarantine q USING unnest($1::bytea[], $2::int8[]) AS d(b, r)
                         WHERE q.batch_id = d.b AND q.row_no = d.r",
                        &[&ids, &nos],
                    ))?;
                }
                match rows.last() {
                    Some(last) if rows.len() as i64 == PAGE => {
                        after = (col(last, 0)?, col(last, 1)?)
                    }
                    _ => break,
                }
            }
            self.log_deltas(&tx, &out.deltas)?;
            wait(tx.commit())?;
            Ok(out)
        })
    }
}

/// Bytes of one logged delta: the sign (i64 LE) and the facts.
const DELTA_LEN: usize = 8 + facts::FACTS_LEN;

/// Calls `each(facts, sign)` for every delta of a `rollup_deltas` row.
fn decode_deltas(mut b: &[u8], each: &mut dyn FnMut(&Facts, i64)) -> Result<(), StoreError> {
    while !b.is_empty() {
        let (sign, rest) = b.split_first_chunk::<8>().ok_or(StoreError::Malformed)?;
        let len = Facts::encoded_len(*rest.first().ok_or(StoreError::Malformed)?);
        let f = Facts::decode(rest.get(..len).ok_or(StoreError::Malformed)?)
            .ok_or(StoreError::Malformed)?;
        each(&f, i64::from_le_bytes(*sign));
        b = &rest[len..];
    }
    Ok(())
}

/// Rollup cell changes of one transaction, summed per cell before they are written.
#[derive(Default)]
struct CellDeltas {
    cells: rustc_hash::FxHashMap<(i16, i16, [i32; MAX_CUBE_DIMS]), (i64, i64)>,
}

impl CellDeltas {
    fn add(&mut self, f: &Facts, sign: i64) {
        let measure = i64::from(f.measure) * sign;
        let rtype = i16::from(facts::rtype_byte(f.rtype));
        cubes::for_each_cell(f, |cube, key| {
            let k = (rtype, cube as i16, key.map(|v| v as i32));
            let c = self.cells.entry(k).or_default();
            c.0 += sign;
            c.1 += measure;
        });
    }

    /// Adds the changes to `rollup_cells` and deletes cells that end at zero; returns how many
    /// cells changed.
    fn write(self, tx: &Transaction<'_>) -> Result<usize, StoreError> {
        let changed: Vec<_> = self
            .cells
            .into_iter()
            .filter(|(_, (n, s))| *n != 0 || *s != 0)
            .collect();
        for part in changed.chunks(CHUNK) {
            let mut cols = CellColumns::default();
            for ((t, cube, k), (n, s)) in part {
                cols.push(*t, *cube, *k);
                cols.count.push(*n);
                cols.sum.push(*s);
            }
            let zero = wait(tx.query(
                "WITH up AS (
                     INSERT INTO rollup_cells AS c (rtype, cube, k1, k2, k3, count, sum)
                     SELECT * FROM unnest($1::int2[], $2::int2[], $3::int4[], $4::int4[],
                                          $5::int4[], $6::int8[], $7::int8[])
                     ON CONFLICT (rtype, cube, k1, k2, k3) DO UPDATE
                         SET count = c.count + excluded.count, sum = c.sum + excluded.sum
                     RETURNING rtype, cube, k1, k2, k3, count, sum)
                 SELECT rtype, cube, k1, k2, k3 FROM up WHERE count = 0 AND sum = 0",
                &[
                    &cols.rtype,
                    &cols.cube,
                    &cols.k1,
                    &cols.k2,
                    &cols.k3,
                    &cols.count,
                    &cols.sum,
                ],
            ))?;
            if !zero.is_empty() {
                let mut z = CellColumns::default();
                for row in &zero {
                    let key = [col(row, 2)?, col(row, 3)?, col(row, 4)?];
                    z.push(col(row, 0)?, col(row, 1)?, key);
                }
                wait(tx.execute(
                    "DELETE FROM rollup_cells c USING unnest($1::int2[], $2::int2[], $3::int4[],
                                                            $4::int4[], $5::int4[]) AS z(t, u, a, b, d)
                     WHERE c.rtype = z.t AND c.cube = z.u AND c.k1 = z.a AND c.k2 = z.b AND c.k3 = z.d",
                    &[&z.rtype, &z.cube, &z.k1, &z.k2, &z.k3],
                ))?;
            }
        }
        Ok(changed.len())
    }
}

/// Rollup cells as one array per column, for `unnest`.
#[derive(Default)]
struct CellColumns {
    rtype: Vec<i16>,
    cube: Vec<i16>,
    k1: Vec<i32>,
    k2: Vec<i32>,
    k3: Vec<i32>,
    count: Vec<i64>,
    sum: Vec<i64>,
}

impl CellColumns {
    fn push(&mut self, rtype: i16, cube: i16, key: [i32; MAX_CUBE_DIMS]) {
        self.rtype.push(rtype);
        self.cube.push(cube);
        self.k1.push(key[0]);
        self.k2.push(key[1]);
        self.k3.push(key[2]);
    }
}

/// Stored values of `keys` (tombstones included), by key.
fn old_values(
    tx: &Transaction<'_>,
    keys: &[&[u8]],
) -> Result<HashMap<Vec<u8>, Vec<u8>>, StoreError> {
    let rows = wait(tx.query(
        "SELECT key, value FROM records WHERE key = ANY($1)",
        &[&keys],
    ))?;
    rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
}

/// Copies new records in (binary COPY: no conflict is possible, the writer lock and the read
/// above saw these keys absent).
fn copy_records(tx: &Transaction<'_>, rows: &[(&[u8], Cow<'_, [u8]>)]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sink = wait(tx.copy_in("COPY records (key, live, value) FROM STDIN (FORMAT binary)"))?;
    let writer = BinaryCopyInWriter::new(sink, &[Type::BYTEA, Type::BOOL, Type::BYTEA]);
    let mut writer = pin!(writer);
    for (k, v) in rows {
        let v: &[u8] = v;
        wait(
            writer
                .as_mut()
                .write(&[k as &(dyn ToSql + Sync), &true, &v]),
        )?;
    }
    wait(writer.finish())?;
    Ok(())
}

/// Replaces stored values (`live` says whether they are records or tombstones).
fn update_records(
    tx: &Transaction<'_>,
    rows: &[(&[u8], Cow<'_, [u8]>)],
    live: bool,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let keys: Vec<&[u8]> = rows.iter().map(|r| r.0).collect();
    let vals: Vec<&[u8]> = rows.iter().map(|r| &*r.1).collect();
    wait(tx.execute(
        "UPDATE records r SET value = u.v, live = $3
         FROM unnest($1::bytea[], $2::bytea[]) AS u(k, v) WHERE r.key = u.k",
        &[&keys, &vals, &live],
    ))?;
    Ok(())
}

/// The end of an entry's transaction: its summary and (not on a retry) the applied offset.
fn finish(
    tx: &Transaction<'_>,
    entry: &Entry<'_>,
    end_offset: u64,
    mode: ApplyMode,
    out: ApplyOutcome,
) -> Result<(), StoreError> {
    let summary = serde_json::to_vec(&BatchSummary::of(entry, end_offset, out))
        .map_err(|_| StoreError::Malformed)?;
    wait(tx.execute(
        "INSERT INTO batches (batch_id, summary) VALUES ($1, $2)
         ON CONFLICT (batch_id) DO UPDATE SET summary = excluded.summary",
        &[&&entry.batch_id[..], &summary],
    ))?;
    if mode != ApplyMode::Retry {
        wait(tx.execute(
            "UPDATE applied SET end_offset = $1",
            &[&offset_i64(end_offset)?],
        ))?;
    }
    Ok(())
}

/// Takes this schema's writer lock, trying for up to `patience`.
fn take_lock(c: &mut Client, key: i64, patience: Duration, schema: &str) -> Result<(), StoreError> {
    let started = Instant::now();
    loop {
        let row = wait(c.query_one("SELECT pg_try_advisory_lock($1)", &[&key]))?;
        if col::<bool>(&row, 0)? {
            return Ok(());
        }
        if started.elapsed() >= patience {
            return Err(StoreError::Backend(format!(
                "another gateway holds the writer lock of PostgreSQL schema `{schema}` \
                 (one writer per region at a time)"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The advisory lock key of a schema's writer: the first 8 bytes of SHA-256("pesgw:" schema).
fn lock_key(schema: &str) -> i64 {
    let d = ring::digest::digest(&ring::digest::SHA256, format!("pesgw:{schema}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    i64::from_be_bytes(b)
}

/// The key range of one record type: `[type byte, type byte + 1)`.
fn type_range(t: RecordType) -> (Vec<u8>, Vec<u8>) {
    let b = facts::rtype_byte(t);
    (vec![b], vec![b + 1])
}

/// The first key after every key starting with `prefix` (empty: none).
fn successor(prefix: &[u8]) -> Vec<u8> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < u8::MAX {
            s.push(last + 1);
            return s;
        }
    }
    s
}

/// A journal offset as PostgreSQL's bigint.
fn offset_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Malformed)
}

/// A person_key as text (validation allows only base64url).
fn person_str(pk: &[u8]) -> Result<&str, StoreError> {
    std::str::from_utf8(pk).map_err(|_| StoreError::Malformed)
}

/// Column `i` of a row, a type mismatch being the schema's fault, never a panic.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| StoreError::Backend(format!("PostgreSQL store column {i}: {e}")))
}

/// Drops a schema and everything in it: tests start each store on a fresh schema, the bench
/// each run. Never called by a gateway.
pub fn drop_schema(settings: &PgSettings) -> Result<(), StoreError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(StoreError::Io)?;
    let c = conn::connect(&rt, settings)?;
    wait(c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        settings.schema
    )))?;
    drop(c);
    rt.shutdown_background();
    Ok(())
}

/// The bench's bare floor: binary `COPY` of rows into a plain `(key bytea PRIMARY KEY, live
/// boolean, value bytea)` table in `settings`' schema (made anew), one synchronously committed
/// transaction per batch, exactly the durability the store gives an entry. `batches` yields
/// each batch's `(key, value)` rows (generated as it goes: the bench streams); only the
/// transactions are timed. Returns the rows copied, the time spent and the table's bytes.
pub fn copy_floor(
    settings: &PgSettings,
    batches: &mut dyn Iterator<Item = Vec<(Vec<u8>, Vec<u8>)>>,
) -> Result<(u64, Duration, u64), StoreError> {
    drop_schema(settings)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(StoreError::Io)?;
    let mut c = conn::connect(&rt, settings)?;
    wait(c.batch_execute(
        "CREATE TABLE floor (key bytea PRIMARY KEY, live boolean NOT NULL, value bytea NOT NULL)",
    ))?;
    let (mut rows, mut spent) = (0u64, Duration::ZERO);
    for batch in batches {
        let t = Instant::now();
        let tx = wait(c.transaction())?;
        let sink = wait(tx.copy_in("COPY floor (key, live, value) FROM STDIN (FORMAT binary)"))?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::BYTEA, Type::BOOL, Type::BYTEA]);
        let mut writer = pin!(writer);
        for (k, v) in &batch {
            wait(writer.as_mut().write(&[k as &(dyn ToSql + Sync), &true, v]))?;
        }
        rows += wait(writer.finish())?;
        wait(tx.commit())?;
        spent += t.elapsed();
    }
    let row = wait(c.query_one("SELECT pg_total_relation_size('floor')::bigint", &[]))?;
    let bytes: i64 = col(&row, 0)?;
    drop(c);
    rt.shutdown_background();
    Ok((rows, spent, bytes.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_end_after_every_key_with_the_prefix() {
        assert_eq!(successor(b"\x01ab"), b"\x01ac");
        assert_eq!(successor(b"\x01a\xFF"), b"\x01b");
        assert!(successor(b"\xFF\xFF").is_empty());
        assert_eq!(type_range(RecordType::Person).1.len(), 1);
        assert_ne!(lock_key("pes"), lock_key("pes_440000"));
    }

    #[test]
    fn a_password_never_comes_from_the_url_nor_shows_in_logs() {
        let refused = check_url("postgres://pesgw:s3cret@127.0.0.1/pes").unwrap_err();
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(check_url("postgres://pesgw@127.0.0.1:5433/pes").is_ok());
        assert!(check_url("postgres://pesgw@localhost/pes?host=/run/postgresql").is_ok());
        assert!(check_url("mysql://x").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let tuning = crate::config::StoreTuning {
            engine: crate::config::StoreEngine::Postgres,
            url: Some("postgres://pesgw@127.0.0.1/pes".into()),
            password_file: Some(file),
            ..Default::default()
        };
        let s = PgSettings::from_config(&tuning).unwrap();
        assert_eq!(s.config.get_password(), Some(&b"s3cret"[..]));
        let shown = format!("{s:?} {}", s.target());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("127.0.0.1:5432/pes"), "{shown}");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["pes", "pes_440000", "_x"] {
            assert!(check_schema(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1pes", "Pes", "pes;drop", "a\"b", &"x".repeat(64)] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }
}
