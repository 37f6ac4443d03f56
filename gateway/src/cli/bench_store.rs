//! `pesgw bench ingest --store-url postgres://…`: the record stores side by side, in one run,
//! on the same records: the sled store (the default), the PostgreSQL store, and the bare floor
//! of the database, a binary `COPY` of the same stored rows.
//!
//! Store level, as the applier drives a store: each batch of `--batch-rows` native records is
//! encoded into a journal entry (protected fields sealed, facts coded) and applied with
//! `apply_entry`, its rollup deltas added to in-memory rollups; the sled store is flushed at the
//! end (its durability point is the journal), every PostgreSQL transaction commits
//! synchronously (each entry durable before the next). Only applying is timed, not building
//! the entries. It streams: each batch is generated, applied and dropped, so the workload never
//! sits in memory whole, whatever `--records` is. Then each store is closed and opened again:
//! "restart" is opening it plus loading its rollups (the sled store rescans every record, the
//! PostgreSQL store loads its stored cells), as `pesgw serve` does at start.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pes_gateway::config::StoreTuning;
use pes_gateway::keys::DataKey;
use pes_gateway::native_sample;
use pes_gateway::query::rollup::Rollups;
use pes_gateway::store::entry::{Entry, EntryBuilder};
use pes_gateway::store::postgres::{self, PgSettings, PgStore};
use pes_gateway::store::value::{encode_key, encode_value};
use pes_gateway::store::{ApplyMode, RecordStore, SledStore};

const REGION: &str = "440000";
const SOURCE: &str = "bench";

/// What one store did.
struct Measured {
    records: u64,
    applying: Duration,
    bytes: u64,
    restart: Duration,
    rollup_total: i64,
}

/// Encodes batch `n` (records `n * rows ..`) into a journal entry.
fn batch_entry(key: &DataKey, n: u64, rows: u64, records: u64) -> anyhow::Result<Vec<u8>> {
    let (start, end) = (n * rows, ((n + 1) * rows).min(records));
    let mut batch_id = [0u8; 32];
    batch_id[..8].copy_from_slice(&n.to_be_bytes());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let mut b = EntryBuilder::new(
        &batch_id,
        SOURCE,
        "2026-01-01T00:00:00Z",
        (end - start) as usize * 400,
    );
    let mut shared = None;
    for i in start..end {
        let mut r = native_sample::record(i, REGION, SOURCE, 1);
        let (t, id) = (r.record_type(), r.record_id.clone());
        b.push_record(
            |k| encode_key(t, &id, k),
            |v| encode_value(&mut r, key, today, &batch_id, &mut shared, None, v).map(|_| ()),
        )?;
    }
    Ok(b.finish(&serde_json::to_vec(&shared)?))
}

/// Applies every batch to `store` as the applier would, timing only the applying.
fn fill(
    store: &dyn RecordStore,
    key: &DataKey,
    records: u64,
    rows: u64,
) -> anyhow::Result<(u64, Duration)> {
    let mut rollups = Rollups::rebuild(store)?;
    let (mut applied, mut spent) = (0u64, Duration::ZERO);
    let mut deltas = Vec::new();
    for n in 0..records.div_ceil(rows) {
        let bytes = batch_entry(key, n, rows, records)?;
        let entry = Entry::parse(&bytes)?;
        let t = Instant::now();
        deltas.clear();
        let out =
            store.apply_entry(&entry, (n + 1) * 1_000_000, ApplyMode::Journal, &mut deltas)?;
        for (f, sign) in &deltas {
            rollups.apply(f, *sign);
        }
        spent += t.elapsed();
        applied += out.applied;
    }
    let t = Instant::now();
    store.flush()?;
    spent += t.elapsed();
    Ok((applied, spent))
}

fn total(r: &Rollups) -> i64 {
    pes_schemas::RecordType::ALL
        .iter()
        .map(|t| r.total(*t).count)
        .sum()
}

/// Runs the store bench.
pub fn run(
    url: &str,
    schema: &str,
    records: u64,
    rows: u64,
    dir: &Path,
    tuning: &StoreTuning,
) -> anyhow::Result<ExitCode> {
    // `RUST_LOG=pes_gateway::store=debug` shows where each PostgreSQL entry's time goes.
    super::logging::init("warn");
    let rows = rows.max(1);
    let key = DataKey::from_bytes(&[7; 32])?;
    println!(
        "pesgw bench ingest (stores): {records} native records in batches of {rows}, sled cache {} MiB, \
         PostgreSQL schema {schema}, dir {}",
        tuning.cache_capacity_mib,
        dir.display()
    );

    // The sled store, the default.
    let sled_dir = dir.join("bench-sled-store");
    let _ = std::fs::remove_dir_all(&sled_dir);
    let sled = {
        let store = SledStore::open(&sled_dir, tuning)?;
        let (n, applying) = fill(&store, &key, records, rows)?;
        let bytes = store.size_on_disk();
        drop(store);
        let t = Instant::now();
        let store = SledStore::open(&sled_dir, tuning)?;
        let rollups = Rollups::rebuild(&store)?;
        let restart = t.elapsed();
        Measured {
            records: n,
            applying,
            bytes,
            restart,
            rollup_total: total(&rollups),
        }
    };
    let _ = std::fs::remove_dir_all(&sled_dir);
    println!("sled store: done");

    // The PostgreSQL store, on a fresh schema.
    let settings = PgSettings::from_url(url, schema)?;
    postgres::drop_schema(&settings)?;
    let pg = {
        let store = PgStore::open(&settings)?;
        let (n, applying) = fill(&store, &key, records, rows)?;
        let bytes = store.size_on_disk()?;
        drop(store);
        let t = Instant::now();
        let store = PgStore::open(&settings)?;
        let rollups = Rollups::rebuild(&store)?;
        let restart = t.elapsed();
        Measured {
            records: n,
            applying,
            bytes,
            restart,
            rollup_total: total(&rollups),
        }
    };
    postgres::drop_schema(&settings)?;
    println!("PostgreSQL store: done");

    // The floor: a binary COPY of the same stored rows, one committed transaction per batch.
    let floor_settings = PgSettings::from_url(url, &format!("{schema}_floor"))?;
    let mut failed = None;
    let mut batches = (0..records.div_ceil(rows)).map_while(|n| {
        let made = batch_entry(&key, n, rows, records).and_then(|bytes| {
            let e = Entry::parse(&bytes)?;
            Ok(e.records
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect::<Vec<_>>())
        });
        match made {
            Ok(rows) => Some(rows),
            Err(e) => {
                failed = Some(e);
                None
            }
        }
    });
    let (floor_rows, floor_time, floor_bytes) =
        postgres::copy_floor(&floor_settings, &mut batches)?;
    if let Some(e) = failed {
        return Err(e);
    }
    postgres::drop_schema(&floor_settings)?;

    let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let per = |bytes: u64, n: u64| bytes as f64 / n.max(1) as f64;
    let floor_rate = rate(floor_rows, floor_time);
    println!();
    println!(
        "{:<44} {:>12} {:>12} {:>12} {:>10}",
        "store", "records/s", "× COPY floor", "B/record", "restart s"
    );
    for (name, m) in [
        ("sled store (default; flush at end)", &sled),
        ("PostgreSQL store (commit per batch)", &pg),
    ] {
        println!(
            "{:<44} {:>12.0} {:>12.2} {:>12.0} {:>10.2}",
            name,
            rate(m.records, m.applying),
            rate(m.records, m.applying) / floor_rate,
            per(m.bytes, m.records),
            m.restart.as_secs_f64()
        );
    }
    println!(
        "{:<44} {:>12.0} {:>12.2} {:>12.0} {:>10}",
        "floor: binary COPY of the same rows",
        floor_rate,
        1.0,
        per(floor_bytes, floor_rows),
        "-"
    );
    println!();
    println!("targets on the PostgreSQL store: >= 150000 records/s, >= 0.75× the COPY floor, restart <= 5 s, <= 500 B/record");
    if sled.rollup_total != pg.rollup_total || pg.records != records {
        anyhow::bail!(
            "the stores disagree: sled rollups count {}, PostgreSQL {} ({} applied of {records})",
            sled.rollup_total,
            pg.rollup_total,
            pg.records
        );
    }
    println!(
        "rollups after restart count {} records on both stores",
        pg.rollup_total
    );
    Ok(ExitCode::SUCCESS)
}
