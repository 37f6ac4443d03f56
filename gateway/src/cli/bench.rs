//! `pesgw bench ingest`: measures ingest and queries beside their floors, in one run.
//!
//! Floors: bare parsing of the same rows (NDJSON into records, and a CSV rendering of them with
//! the `csv` crate) and a bare sled `apply_batch` of the same rows (same cache size and flush
//! interval, one flush at the end). Measured: acknowledged ingest over HTTP into a `pesgw serve`
//! child process, fully applied ingest, rollup query latency with every record stored, and the
//! server's resident memory. With `--snapshot`, the records carry no version of their own
//! (ordered by push) and the workload is then pushed again as a snapshot with 10% of the
//! records changed and 5% missing, timed until the commit has retired them, beside the first
//! push.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use pes_gateway::auth::{claims_for, issue, Role};
use pes_gateway::config::{GatewayConfig, SourceConfig};
use pes_gateway::native_sample;
// The floors measure bare sled, the store's backend, beneath the gateway: they open it through
// the store's own sled module (same crate version, same tuning), not the store boundary.
use pes_gateway::store::sled_store::{self, sled};

use super::memory::rss_of;
use ring::signature::KeyPair;

/// Arguments of `pesgw bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Ingest and query throughput beside the bare parse and sled floors.
    Ingest(IngestBench),
    /// Federated aggregate across regional gateways: mTLS + signatures vs plain HTTP.
    Federation(super::bench_federation::FederationBench),
    /// A bounded mixed load (pushes, national queries, person lookups, audit reads) against a
    /// demo federation of separate gateway processes: latency, statuses, losses, peak RSS.
    Load(super::bench_load::LoadBench),
    /// Vacancy search across regional gateways beside a brute-force scan of the same vacancies.
    Matching(super::bench_matching::MatchingBench),
}

#[derive(Debug, Args)]
struct IngestBench {
    /// Records to push.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Rows per pushed batch.
    #[arg(long, default_value_t = 10_000)]
    batch_rows: u64,
    /// Concurrent pushing clients.
    #[arg(long, default_value_t = 2)]
    pushers: usize,
    /// Aggregate queries to time.
    #[arg(long, default_value_t = 300)]
    queries: usize,
    /// Push a mapping's synthetic CSV export through its adapter instead of native NDJSON.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Work directory (a temporary one by default).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// sled cache of the server and of the bare sled floor, in MiB (default: the gateway's).
    #[arg(long)]
    sled_cache_mib: Option<u64>,
    /// Server binary to run (default: this one), to compare two builds on the same workload.
    #[arg(long)]
    server_exe: Option<PathBuf>,
    /// Push the native workload again as a snapshot (10% changed, 5% missing) and time it
    /// beside the first push.
    #[arg(long, conflicts_with = "mapping")]
    snapshot: bool,
    /// Compare the record stores instead, on a PostgreSQL database (a URL without a password;
    /// PGPASSWORD is not read): the sled store, the PostgreSQL store and a bare binary COPY of
    /// the same stored rows, streaming the workload (see `bench_store`).
    #[arg(long, conflicts_with_all = ["mapping", "snapshot"])]
    store_url: Option<String>,
    /// With `--store-url`: the schema the bench creates and drops (and `<schema>_floor`).
    #[arg(long, default_value = "pes_bench")]
    store_schema: String,
}

const REGION: &str = "440000";
const SOURCE: &str = "bench";

/// What the bench pushes.
struct Workload {
    label: String,
    region: String,
    source: String,
    mapping: Option<pes_adapters::Mapping>,
    mapping_path: Option<PathBuf>,
    content_type: String,
    rows: u64,
    bodies: Vec<Vec<u8>>,
}

/// Native NDJSON records, or a mapping's synthetic export split into batches.
fn workload(a: &IngestBench) -> anyhow::Result<Workload> {
    let Some(path) = &a.mapping else {
        let mut bodies = Vec::new();
        let mut start = 0;
        while start < a.records {
            let end = (start + a.batch_rows).min(a.records);
            // Versionless with --snapshot: the re-export is ordered by push.
            let version = u64::from(!a.snapshot);
            bodies.push(native_sample::ndjson(start..end, REGION, SOURCE, version));
            start = end;
        }
        return Ok(Workload {
            label: "native NDJSON national records".into(),
            region: REGION.into(),
            source: SOURCE.into(),
            mapping: None,
            mapping_path: None,
            content_type: "application/x-ndjson".into(),
            rows: a.records,
            bodies,
        });
    };
    let mapping = pes_adapters::Mapping::from_path(path)?;
    let opts = pes_adapters::synth::SynthOptions {
        rows: a.records,
        seed: 7,
        defect_rate: 0.0,
        keep_expected: false,
        // The fixed reference day: the same bytes on every run.
        ..Default::default()
    };
    let mut export = Vec::new();
    pes_adapters::synth::write_export(&mapping, &opts, &mut export)?;
    let ct = pes_adapters::build_adapter(&mapping).content_types()[0].to_string();
    if ct != "text/csv" {
        anyhow::bail!("--mapping: the bench splits CSV exports only");
    }
    Ok(Workload {
        label: format!("{} synthetic export ({})", mapping.id, ct),
        region: mapping.region.clone(),
        source: "bench".into(),
        bodies: super::push::split_batches(&export, a.batch_rows as usize, true),
        mapping: Some(mapping),
        mapping_path: Some(std::fs::canonicalize(path)?),
        content_type: ct,
        rows: a.records,
    })
}

/// Key of a raw row for the bare sled floor: its first field (the record id), made unique.
fn row_key(line: &[u8], n: u64) -> Vec<u8> {
    let first = line.split(|c| *c == b',').next().unwrap_or_default();
    let mut k = first.to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// Runs the bench.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let a = match args.command {
        BenchCommand::Ingest(a) => a,
        BenchCommand::Federation(f) => return super::bench_federation::run(f),
        BenchCommand::Load(l) => return super::bench_load::run(l),
        BenchCommand::Matching(m) => return super::bench_matching::run(m),
    };
    let tmp = tempfile::tempdir()?;
    let dir = a.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    if let Some(url) = &a.store_url {
        let mut tuning = pes_gateway::config::StoreTuning::default();
        if let Some(mib) = a.sled_cache_mib {
            tuning.cache_capacity_mib = mib;
        }
        return super::bench_store::run(
            url,
            &a.store_schema,
            a.records,
            a.batch_rows,
            &dir,
            &tuning,
        );
    }
    println!(
        "pesgw bench ingest: {} records, {} rows per batch, {} pushers, sled cache {} MiB, dir {}",
        a.records,
        a.batch_rows,
        a.pushers,
        a.sled_cache_mib
            .unwrap_or(pes_gateway::config::StoreTuning::default().cache_capacity_mib),
        dir.display()
    );

    let t = Instant::now();
    let mut w = workload(&a)?;
    let bodies = std::mem::take(&mut w.bodies);
    let total_bytes: usize = bodies.iter().map(Vec::len).sum();
    println!(
        "workload: {} ({} rows, {} MB in {} batches), generated in {:.1}s",
        w.label,
        w.rows,
        total_bytes / 1_000_000,
        bodies.len(),
        t.elapsed().as_secs_f64()
    );

    // Floor 1: bare CSV parsing of the same rows (the native workload is rendered as CSV).
    let csv_bodies: Vec<Vec<u8>> = match &w.mapping {
        Some(_) => bodies.clone(),
        None => bodies
            .iter()
            .map(|b| to_csv(b))
            .collect::<anyhow::Result<_>>()?,
    };
    let t = Instant::now();
    let mut csv_rows = 0u64;
    for b in &csv_bodies {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(&b[..]);
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec)? {
            csv_rows += 1;
        }
    }
    let parse_csv = rate(csv_rows, t.elapsed());
    // Floor 1b: the decoder alone (adapter, or JSON parse for native), one core.
    let t = Instant::now();
    let decoded = match &w.mapping {
        Some(m) => {
            let adapter = pes_adapters::build_adapter(m);
            let keyer = pes_schemas::person_key::PersonKeyer::new(b"bench");
            let raw = "0".repeat(64);
            let ctx = pes_adapters::DecodeContext {
                region: &w.region,
                source: &w.source,
                raw_sha256: &raw,
                ingested_at: "2026-01-01T00:00:00.000Z",
                keyer: &keyer,
            };
            let mut n = 0u64;
            for b in &bodies {
                adapter.decode(&mut &b[..], &ctx, &mut |d| {
                    n += u64::from(matches!(d, pes_adapters::Decoded::Record(_)));
                    Ok(())
                })?;
            }
            n
        }
        None => {
            let mut n = 0u64;
            for b in &bodies {
                for line in b.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                    let r: pes_schemas::Record = serde_json::from_slice(line)?;
                    n += u64::from(!r.record_id.is_empty());
                }
            }
            n
        }
    };
    let decode_floor = rate(decoded, t.elapsed());
    drop(csv_bodies);

    // Floor 2: bare sled apply_batch of the same rows (raw row keyed by its first field), same
    // tuning, one flush at the end.
    let mut tuning = pes_gateway::config::StoreTuning::default();
    if let Some(mib) = a.sled_cache_mib {
        tuning.cache_capacity_mib = mib;
    }
    let sled_dir = dir.join("bare-sled");
    let _ = std::fs::remove_dir_all(&sled_dir);
    let db = sled_store::open_sled(&sled_dir, &tuning)?;
    let t = Instant::now();
    let mut sled_rows = 0u64;
    for b in &bodies {
        let mut batch = sled::Batch::default();
        let mut lines = b.split(|c| *c == b'\n').filter(|l| !l.is_empty());
        if w.mapping.is_some() {
            lines.next(); // header
        }
        for (i, line) in lines.enumerate() {
            let key = row_key(line, sled_rows + i as u64);
            batch.insert(key, line);
        }
        sled_rows += b.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count() as u64
            - u64::from(w.mapping.is_some());
        db.apply_batch(batch)?;
    }
    db.flush()?;
    let sled_floor = rate(sled_rows, t.elapsed());
    drop(db);
    let _ = std::fs::remove_dir_all(&sled_dir);

    // The server, as a child process so its memory is its own.
    let gw_dir = dir.join("gateway");
    let _ = std::fs::remove_dir_all(&gw_dir);
    let port = free_port()?;
    let init = pes_gateway::keys::init(&gw_dir, &w.region, &format!("127.0.0.1:{port}"))?;
    let mut cfg = GatewayConfig::load(&init.config_path)?;
    cfg.sources.insert(
        w.source.clone(),
        SourceConfig {
            mapping: w
                .mapping_path
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "native".into()),
            pushers: vec![],
        },
    );
    cfg.limits.max_concurrent_pushes_per_pusher = 64;
    cfg.store = tuning.clone();
    std::fs::write(&init.config_path, cfg.to_toml()?)?;
    let exe = match &a.server_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let serve = || -> anyhow::Result<ChildGuard> {
        let child = Command::new(&exe)
            .args(["serve", "--config"])
            .arg(&init.config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting pesgw serve")?;
        Ok(ChildGuard(child))
    };
    let child = serve()?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    wait_healthy(&client, &base)?;
    let der = std::fs::read(&cfg.keys.jwt_issuer_key)?;
    let kid = pes_gateway::keys::key_id(
        pes_gateway::keys::load_ed25519(&cfg.keys.jwt_issuer_key)?
            .public_key()
            .as_ref(),
    );
    let pusher = issue(
        &der,
        &kid,
        &claims_for(
            "bench-pusher",
            Role::Pusher,
            &w.region,
            vec![w.source.clone()],
            vec![],
            3600,
        ),
    )?;
    let analyst = issue(
        &der,
        &kid,
        &claims_for(
            "bench-analyst",
            Role::Analyst,
            &w.region,
            vec![],
            vec![],
            3600,
        ),
    )?;

    // Acknowledged and fully applied ingest over HTTP.
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(Mutex::new(0u64));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..a.pushers.max(1))
        .map(|_| {
            let (bodies, next, accepted, client, pusher, base) = (
                bodies.clone(),
                next.clone(),
                accepted.clone(),
                client.clone(),
                pusher.clone(),
                base.clone(),
            );
            let (source, ct) = (w.source.clone(), w.content_type.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = bodies.get(i) else {
                        return Ok(());
                    };
                    let r = client
                        .post(format!("{base}/v1/ingest/{source}"))
                        .bearer_auth(&pusher)
                        .header("content-type", ct.as_str())
                        .body(b.clone())
                        .send()?;
                    let status = r.status();
                    let v: serde_json::Value = r.json()?;
                    if !status.is_success() {
                        anyhow::bail!("push failed: {status} {v}");
                    }
                    *accepted.lock().unwrap_or_else(|p| p.into_inner()) +=
                        v["accepted"].as_u64().unwrap_or(0);
                }
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("pusher thread panicked"))??;
    }
    let acked = t0.elapsed();
    let n_acc = *accepted.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let v: serde_json::Value = client.get(format!("{base}/readyz")).send()?.json()?;
        let asof = &v["as_of"];
        if asof["applied_offset"] == asof["journal_offset"] && asof["lag_batches"] == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let applied = t0.elapsed();
    let snapshot = if a.snapshot {
        Some(snapshot_repush(
            &client,
            &base,
            (&pusher, &analyst),
            &w,
            &a,
            applied,
        )?)
    } else {
        None
    };

    // Rollup query latency with every record stored.
    let q = serde_json::json!({ "dataset": "job_seeker_registration", "measures": ["count"], "group_by": ["prefecture", "occupation_major"], "filters": { "status": ["active"] } });
    let (lat, from) = time_queries(&client, &base, &analyst, &q, a.queries)?;
    let median = lat.get(lat.len() / 2).copied().unwrap_or_default();
    let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or_default();
    let (rss, hwm) = rss_of(child.0.id());
    // Idle for a moment: the allocator hands freed memory back on its own schedule.
    std::thread::sleep(Duration::from_secs(5));
    let (rss_idle, _) = rss_of(child.0.id());
    drop(child);

    // The same store after a restart: what a gateway holding these records keeps resident once
    // the push is over (start-up replays nothing and rebuilds the rollups with one scan).
    let t = Instant::now();
    let child = serve()?;
    wait_healthy(&client, &base)?;
    let restart = t.elapsed();
    let (lat_restarted, _) = time_queries(&client, &base, &analyst, &q, a.queries)?;
    let median_restarted = lat_restarted
        .get(lat_restarted.len() / 2)
        .copied()
        .unwrap_or_default();
    let (rss_restarted, hwm_restarted) = rss_of(child.0.id());
    drop(child);

    // Floor 3: bare sled apply_batch of exactly the records the gateway stored (same keys and
    // values, in key order, in as many batches as were pushed), one flush at the end: sled's own
    // cost for this data, which the fully applied rate is set against.
    let (floor_records, record_floor) = stored_records_floor(
        &cfg.data_dir.join("store"),
        &dir.join("bare-sled-records"),
        bodies.len(),
        &tuning,
    )?;

    let ack_rate = rate(n_acc, acked);
    let app_rate = rate(n_acc, applied);
    println!();
    println!("{:<48} {:>14} {:>10}", "measure", "value", "target");
    println!(
        "{:<48} {:>14.0} {:>10}",
        "floor: decoder alone, one core (records/s)", decode_floor, ""
    );
    println!(
        "{:<48} {:>14.0} {:>10}",
        "floor: bare CSV parse, same rows (rows/s)", parse_csv, ""
    );
    println!(
        "{:<48} {:>14.0} {:>10}",
        "floor: bare sled apply_batch + flush (rows/s)", sled_floor, ""
    );
    println!(
        "{:<48} {:>14.0} {:>10}",
        "acknowledged ingest over HTTP (records/s)", ack_rate, ">=250000"
    );
    println!(
        "{:<48} {:>14.0} {:>10}",
        "fully applied ingest (records/s)", app_rate, ">=100000"
    );
    println!(
        "{:<48} {:>14.0} {:>10}",
        format!("floor: bare sled, the {floor_records} stored records (rec/s)"),
        record_floor,
        ""
    );
    println!(
        "{:<48} {:>13.0}% {:>10}",
        "fully applied / stored-records sled floor",
        100.0 * app_rate / record_floor,
        ">=75%"
    );
    println!(
        "{:<48} {:>13.0}% {:>10}",
        "fully applied records / bare sled rows floor",
        100.0 * app_rate / sled_floor,
        ""
    );
    println!(
        "{:<48} {:>14.3} {:>10}",
        format!("rollup query median over HTTP, {} records (ms)", n_acc),
        median.as_secs_f64() * 1e3,
        "<2"
    );
    println!(
        "{:<48} {:>14.3} {:>10}",
        "rollup query p99 (ms)",
        p99.as_secs_f64() * 1e3,
        ""
    );
    println!(
        "{:<48} {:>14} {:>10}",
        "query answered from", from, "rollup"
    );
    println!(
        "{:<48} {:>14} {:>10}",
        format!("server RSS with {} records (MB)", n_acc),
        rss / 1024,
        "<300"
    );
    println!(
        "{:<48} {:>14} {:>10}",
        "server RSS after 5 s idle (MB)",
        rss_idle / 1024,
        "<300"
    );
    println!(
        "{:<48} {:>14} {:>10}",
        "server peak RSS (MB)",
        hwm / 1024,
        ""
    );
    println!(
        "{:<48} {:>14.1} {:>10}",
        "restart until healthy (s)",
        restart.as_secs_f64(),
        ""
    );
    println!(
        "{:<48} {:>14.3} {:>10}",
        "rollup query median after restart (ms)",
        median_restarted.as_secs_f64() * 1e3,
        "<2"
    );
    println!(
        "{:<48} {:>14} {:>10}",
        format!("restarted server RSS, {} records (MB)", n_acc),
        rss_restarted / 1024,
        "<300"
    );
    println!(
        "{:<48} {:>14} {:>10}",
        "restarted server peak RSS (MB)",
        hwm_restarted / 1024,
        ""
    );
    if let Some(s) = snapshot {
        println!(
            "{:<48} {:>14.2} {:>10}",
            "first push, fully applied (s)",
            applied.as_secs_f64(),
            ""
        );
        println!(
            "{:<48} {:>14.2} {:>10}",
            "snapshot re-push, applied and committed (s)",
            s.elapsed.as_secs_f64(),
            ""
        );
        println!(
            "{:<48} {:>14.2} {:>10}",
            "snapshot / first push",
            s.elapsed.as_secs_f64() / applied.as_secs_f64(),
            "<=1.5"
        );
        println!(
            "{:<48} {:>14} {:>10}",
            "  records in the snapshot, changed, missing",
            format!("{}/{}/{}", s.pushed, s.changed, s.missing),
            ""
        );
        println!(
            "{:<48} {:>14} {:>10}",
            "  retired by the commit (= missing)", s.retired, ""
        );
        println!(
            "{:<48} {:>14} {:>10}",
            "  live records after, by rollup (= total - missing)", s.live_after, ""
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What the snapshot re-push measured.
struct SnapshotRun {
    elapsed: Duration,
    pushed: u64,
    changed: u64,
    missing: u64,
    retired: u64,
    live_after: i64,
}

/// Record `i` of the workload with other content (still valid).
fn changed_record(i: u64) -> pes_schemas::Record {
    let mut r = native_sample::record(i, REGION, SOURCE, 0);
    match &mut r.body {
        pes_schemas::RecordBody::Person(p) => {
            p.hukou_nature = pes_schemas::HukouNature::Agricultural
        }
        pes_schemas::RecordBody::JobSeekerRegistration(j) => {
            j.status = pes_schemas::RegistrationStatus::Withdrawn
        }
        pes_schemas::RecordBody::Vacancy(v) => v.openings += 1,
        _ => {}
    }
    r
}

/// Pushes the workload again as a snapshot: every 10th record changed, every 20th missing;
/// times it from the first batch until the commit has retired what is missing.
fn snapshot_repush(
    client: &reqwest::blocking::Client,
    base: &str,
    (pusher, analyst): (&str, &str),
    w: &Workload,
    a: &IngestBench,
    first: Duration,
) -> anyhow::Result<SnapshotRun> {
    let (mut changed, mut missing) = (0u64, 0u64);
    let mut bodies = Vec::new();
    let mut start = 0;
    while start < a.records {
        let end = (start + a.batch_rows).min(a.records);
        let mut body = Vec::with_capacity((end - start) as usize * 520);
        for i in start..end {
            if i % 20 == 19 {
                missing += 1;
                continue;
            }
            let r = if i % 10 == 3 {
                changed += 1;
                changed_record(i)
            } else {
                native_sample::record(i, REGION, SOURCE, 0)
            };
            serde_json::to_writer(&mut body, &r)?;
            body.push(b'\n');
        }
        bodies.push(body);
        start = end;
    }
    let pushed = a.records - missing;
    println!(
        "snapshot phase: first push took {:.1}s; pushing {pushed} records ({changed} changed, {missing} missing) as a snapshot",
        first.as_secs_f64()
    );
    let snapshots = format!("{base}/v1/sources/{}/snapshots", w.source);
    let t0 = Instant::now();
    let opened: serde_json::Value = client
        .post(&snapshots)
        .bearer_auth(pusher)
        .json(&serde_json::json!({}))
        .send()?
        .error_for_status()?
        .json()?;
    let id = opened["id"].as_str().context("no snapshot id")?.to_string();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..a.pushers.max(1))
        .map(|_| {
            let (bodies, next, client) = (bodies.clone(), next.clone(), client.clone());
            let url = format!("{base}/v1/ingest/{}?snapshot={id}", w.source);
            let (pusher, ct) = (pusher.to_string(), w.content_type.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = bodies.get(i) else {
                        return Ok(());
                    };
                    let r = client
                        .post(&url)
                        .bearer_auth(&pusher)
                        .header("content-type", ct.as_str())
                        .body(b.clone())
                        .send()?;
                    if !r.status().is_success() {
                        anyhow::bail!("snapshot push failed: {} {}", r.status(), r.text()?);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("pusher thread panicked"))??;
    }
    // The commit waits until every batch is applied, then retires what is missing.
    let committed: serde_json::Value = client
        .post(format!("{snapshots}/{id}/commit"))
        .bearer_auth(pusher)
        .send()?
        .error_for_status()?
        .json()?;
    let elapsed = t0.elapsed();
    if committed["state"] != "committed" {
        anyhow::bail!("the snapshot was not committed: {committed}");
    }
    let mut live_after = 0i64;
    for d in ["person", "job_seeker_registration", "vacancy"] {
        let v: serde_json::Value = client
            .post(format!("{base}/v1/query"))
            .bearer_auth(analyst)
            .json(&serde_json::json!({ "dataset": d }))
            .send()?
            .json()?;
        live_after += v["cells"][0]["count"].as_i64().unwrap_or(0);
    }
    Ok(SnapshotRun {
        elapsed,
        pushed,
        changed,
        missing,
        retired: committed["retired"].as_u64().unwrap_or(0),
        live_after,
    })
}

fn to_csv(ndjson: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "record_id",
        "version",
        "type",
        "division",
        "code",
        "status",
        "date",
        "name",
        "id_number",
        "phone",
    ])?;
    for line in ndjson.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line)?;
        let s = |k: &str| {
            v[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v[k].to_string())
        };
        w.write_record([
            s("record_id"),
            s("record_version"),
            s("record_type"),
            s("work_division"),
            s("occupation"),
            s("status"),
            s("posted_on"),
            v["protected"]["name"].to_string(),
            v["protected"]["id_number"].to_string(),
            v["protected"]["phone"].to_string(),
        ])?;
    }
    Ok(w.into_inner()?)
}

/// Re-inserts the records of a (stopped) gateway's store into a fresh sled with the same tuning,
/// in `batches` batches and one flush; returns the record count and records per second.
fn stored_records_floor(
    store_dir: &Path,
    scratch: &Path,
    batches: usize,
    tuning: &pes_gateway::config::StoreTuning,
) -> anyhow::Result<(u64, f64)> {
    // The gateway's store read as bare sled: records are the keys under the record-type bytes.
    let src = sled_store::open_sled(store_dir, tuning)?;
    let mut records = Vec::new();
    for t in pes_schemas::RecordType::ALL {
        for kv in src.scan_prefix([pes_gateway::store::facts::rtype_byte(t)]) {
            records.push(kv?);
        }
    }
    drop(src);
    let _ = std::fs::remove_dir_all(scratch);
    let db = sled_store::open_sled(scratch, tuning)?;
    let per = records.len().div_ceil(batches.max(1)).max(1);
    let t = Instant::now();
    for chunk in records.chunks(per) {
        let mut batch = sled::Batch::default();
        for (k, v) in chunk {
            batch.insert(k.clone(), v.clone());
        }
        db.apply_batch(batch)?;
    }
    db.flush()?;
    let r = rate(records.len() as u64, t.elapsed());
    drop(db);
    let _ = std::fs::remove_dir_all(scratch);
    Ok((records.len() as u64, r))
}

/// Times `n` runs of an aggregate query; returns the sorted latencies and where the last answer
/// came from.
fn time_queries(
    client: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    q: &serde_json::Value,
    n: usize,
) -> anyhow::Result<(Vec<Duration>, String)> {
    let mut lat = Vec::with_capacity(n);
    let mut from = String::new();
    for _ in 0..n {
        let t = Instant::now();
        let v: serde_json::Value = client
            .post(format!("{base}/v1/query"))
            .bearer_auth(token)
            .json(q)
            .send()?
            .json()?;
        lat.push(t.elapsed());
        from = v["answered_from"].as_str().unwrap_or("?").to_string();
    }
    lat.sort();
    Ok((lat, from))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_healthy(client: &reqwest::blocking::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("the gateway did not become healthy")
}
