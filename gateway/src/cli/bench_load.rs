//! `pesgw bench load`: a bounded mixed load against a demo federation whose gateways each run as
//! their own `pesgw serve` process (so each one's memory can be read): pushes to every
//! province, national federated queries, national person lookups and audit reads, all at once
//! for a fixed time.
//!
//! It prints throughput, p50 and p99 per class, answers by status, and each gateway's peak
//! resident memory, then checks the targets: no 5xx, nothing acknowledged lost (every province
//! holds exactly what it held before plus what its 2xx answers accepted), every gateway under
//! `--max-rss-mib`. The exit status is 1 if a target is missed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use pes_gateway::auth::Role;
use serde_json::{json, Value};

use super::demo;
use super::memory::rss_of;

/// Arguments of `pesgw bench load`.
#[derive(Debug, Args)]
pub struct LoadBench {
    /// Provincial gateways beside the national one.
    #[arg(long, default_value_t = 4)]
    regions: usize,
    /// Records loaded before the timed load (spread over the provinces).
    #[arg(long, default_value_t = 20_000)]
    records: u64,
    /// Seconds of mixed load.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Records per push during the load.
    #[arg(long, default_value_t = 500)]
    push_rows: u64,
    /// Work directory (configs, keys, stores, each gateway's log); a second run reuses it.
    #[arg(long, default_value = "pes-bench-load")]
    dir: PathBuf,
    /// Port of the national gateway; the provinces and the federation listeners follow it.
    #[arg(long, default_value_t = 18440)]
    port: u16,
    /// Server binary to run (default: this one).
    #[arg(long)]
    server_exe: Option<PathBuf>,
    /// Target: peak resident memory of every gateway, in MiB.
    #[arg(long, default_value_t = 512)]
    max_rss_mib: u64,
}

/// Latencies and statuses of one class of request.
#[derive(Default)]
struct Class {
    latencies: Vec<Duration>,
    statuses: BTreeMap<String, u64>,
}

impl Class {
    fn record(&mut self, took: Duration, status: Result<u16, String>) {
        self.latencies.push(took);
        let key = match status {
            Ok(s) => s.to_string(),
            Err(e) => e,
        };
        *self.statuses.entry(key).or_default() += 1;
    }

    fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(k, _)| k.starts_with('5') || !k.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Runs the bench.
pub fn run(a: LoadBench) -> anyhow::Result<ExitCode> {
    let (gateways, linkage) =
        demo::prepare_federation(&a.dir, a.regions, a.port, true, Vec::new())?;
    let sample_key = demo::sample_person_key(&linkage)?;
    let n = gateways.len() as u16;
    let exe = match &a.server_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("locating pesgw")?,
    };
    let procs = demo::start_all(&exe, &gateways, &[("RUST_LOG", "warn")])?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let plans = demo::plan_pushes(
        &gateways,
        a.records,
        &sample_key,
        chrono::Utc::now().date_naive(),
    );
    let loaded = Instant::now();
    let summary = demo::push_all(&plans)?;
    for g in &gateways {
        wait_applied(&client, &g.url())?;
    }
    println!(
        "pesgw bench load: national + {} provinces, each its own process, on 127.0.0.1:{}-{}; {} ({:.1} s)",
        a.regions,
        a.port,
        a.port + n - 1,
        if summary.reused == plans.len() {
            format!("stores reused from {}", a.dir.display())
        } else {
            format!("{} records loaded into {}", summary.accepted, a.dir.display())
        },
        loaded.elapsed().as_secs_f64()
    );

    let national = &gateways[0];
    let token_of = |g: &demo::DemoSite, role: Role| -> anyhow::Result<String> {
        g.token(role)
            .map(str::to_string)
            .with_context(|| format!("no {} token for {}", role.as_str(), g.region))
    };
    let provinces = &gateways[1..];
    let before = provinces
        .iter()
        .map(|g| held(&client, &g.url(), &token_of(g, Role::Analyst)?))
        .collect::<anyhow::Result<Vec<i64>>>()?;

    let classes: BTreeMap<&str, Mutex<Class>> =
        ["push", "national query", "person lookup", "audit read"]
            .into_iter()
            .map(|c| (c, Mutex::new(Class::default())))
            .collect();
    let accepted: Vec<Mutex<i64>> = provinces.iter().map(|_| Mutex::new(0)).collect();
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let started = Instant::now();
    let national_analyst = token_of(national, Role::Analyst)?;
    let national_caseworker = token_of(national, Role::Caseworker)?;
    let auditors = provinces
        .iter()
        .map(|g| token_of(g, Role::Auditor))
        .collect::<anyhow::Result<Vec<String>>>()?;
    std::thread::scope(|s| {
        for (i, g) in provinces.iter().enumerate() {
            let (classes, accepted, client) = (&classes, &accepted, &client);
            let push_rows = a.push_rows;
            s.spawn(move || {
                // Fresh record indices per push, past anything the demo loaded.
                let mut next = 3_000_000_000 + i as u64 * 100_000_000;
                while Instant::now() < deadline {
                    let body = pes_gateway::native_sample::ndjson(
                        next..next + push_rows,
                        &g.region,
                        "native",
                        1,
                    );
                    next += push_rows;
                    let t = Instant::now();
                    let r = client
                        .post(format!("{}/v1/ingest/native", g.url()))
                        .bearer_auth(&g.pusher)
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .send();
                    let status = match r {
                        Ok(r) => {
                            let code = r.status().as_u16();
                            if code == 200 {
                                let v: Value = r.json().unwrap_or_default();
                                let n = v["accepted"].as_i64().unwrap_or(0);
                                *accepted[i].lock().unwrap_or_else(|p| p.into_inner()) += n;
                            }
                            Ok(code)
                        }
                        Err(e) => Err(transport(&e)),
                    };
                    classes["push"]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(t.elapsed(), status);
                }
            });
        }
        for _ in 0..2 {
            let (classes, client, token) = (&classes, &client, &national_analyst);
            s.spawn(move || {
                let q = json!({ "dataset": "vacancy", "measures": ["count", "sum"], "group_by": ["province"],
                    "filters": { "status": ["open"] }, "regions": ["all"], "purpose": "dashboard_overview" });
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let status = client
                        .post(format!("{}/v1/query", national.url()))
                        .bearer_auth(token)
                        .json(&q)
                        .send()
                        .map(|r| r.status().as_u16())
                        .map_err(|e| transport(&e));
                    classes["national query"].lock().unwrap_or_else(|p| p.into_inner()).record(t.elapsed(), status);
                }
            });
        }
        {
            let (classes, client, token, key) =
                (&classes, &client, &national_caseworker, &sample_key);
            s.spawn(move || {
                let q = json!({ "person_key": key, "purpose": "case_management",
                    "legal_basis": "bench load", "regions": ["all"] });
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let status = client
                        .post(format!("{}/v1/persons/lookup", national.url()))
                        .bearer_auth(token)
                        .json(&q)
                        .send()
                        .map(|r| r.status().as_u16())
                        .map_err(|e| transport(&e));
                    classes["person lookup"]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(t.elapsed(), status);
                }
            });
        }
        {
            let (classes, client, auditors) = (&classes, &client, &auditors);
            s.spawn(move || {
                let mut i = 0usize;
                while Instant::now() < deadline {
                    let g = &provinces[i % provinces.len()];
                    let path = if i.is_multiple_of(2) {
                        "checkpoint"
                    } else {
                        "entries?start=0&limit=100"
                    };
                    let t = Instant::now();
                    let status = client
                        .get(format!("{}/v1/audit/{path}", g.url()))
                        .bearer_auth(&auditors[i % provinces.len()])
                        .send()
                        .and_then(|r| {
                            let code = r.status().as_u16();
                            r.bytes().map(|_| code)
                        })
                        .map_err(|e| transport(&e));
                    classes["audit read"]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(t.elapsed(), status);
                    i += 1;
                }
            });
        }
    });
    let elapsed = started.elapsed();

    // Nothing acknowledged is lost: each province holds what it held plus what it accepted.
    let mut lost = 0i64;
    let mut rows = Vec::new();
    for (i, g) in provinces.iter().enumerate() {
        wait_applied(&client, &g.url())?;
        let after = held(&client, &g.url(), &token_of(g, Role::Analyst)?)?;
        let acked = *accepted[i].lock().unwrap_or_else(|p| p.into_inner());
        lost += (before[i] + acked - after).abs();
        rows.push((g.region.clone(), before[i], acked, after));
    }
    let rss: Vec<(String, u64, u64)> = procs
        .iter()
        .map(|p| {
            let (now, peak) = rss_of(p.pid());
            (p.region.clone(), now / 1024, peak / 1024)
        })
        .collect();

    println!(
        "\n{:<16} {:>9} {:>9} {:>9} {:>9}  statuses",
        "class", "requests", "per s", "p50 ms", "p99 ms"
    );
    let mut server_errors = 0;
    for (name, c) in &classes {
        let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
        let n = c.latencies.len();
        server_errors += c.server_errors();
        let (p50, p99) = (c.quantile_ms(0.5), c.quantile_ms(0.99));
        let statuses: Vec<String> = c
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        println!(
            "{:<16} {:>9} {:>9.1} {:>9.2} {:>9.2}  {}",
            name,
            n,
            n as f64 / elapsed.as_secs_f64(),
            p50,
            p99,
            statuses.join(", ")
        );
    }
    println!(
        "\n{:<10} {:>12} {:>12} {:>12}",
        "province", "held before", "accepted", "held after"
    );
    for (region, b, acked, after) in &rows {
        println!("{region:<10} {b:>12} {acked:>12} {after:>12}");
    }
    println!(
        "\n{:<10} {:>14} {:>14}",
        "gateway", "RSS now MiB", "peak RSS MiB"
    );
    for (region, now, peak) in &rss {
        println!("{region:<10} {now:>14} {peak:>14}");
    }
    let worst = rss.iter().map(|r| r.2).max().unwrap_or(0);
    let checks = [
        (
            "no 5xx or transport error",
            server_errors == 0,
            format!("{server_errors}"),
        ),
        (
            "nothing acknowledged lost",
            lost == 0,
            format!("{lost} records off"),
        ),
        (
            "every gateway under the RSS bound",
            worst < a.max_rss_mib,
            format!("peak {worst} MiB, bound {} MiB", a.max_rss_mib),
        ),
    ];
    println!();
    let mut ok = true;
    for (what, pass, figure) in checks {
        ok &= pass;
        println!("{} {what} ({figure})", if pass { "PASS" } else { "FAIL" });
    }
    drop(procs);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else {
        "transport error".into()
    }
}

/// Records a province holds: persons, registrations and vacancies (what the native sample
/// pushes), from its own rollups.
fn held(client: &reqwest::blocking::Client, url: &str, token: &str) -> anyhow::Result<i64> {
    let mut total = 0;
    for dataset in ["person", "job_seeker_registration", "vacancy"] {
        let v: Value = client
            .post(format!("{url}/v1/query"))
            .bearer_auth(token)
            .json(&json!({ "dataset": dataset, "measures": ["count"] }))
            .send()?
            .error_for_status()?
            .json()?;
        total += v["cells"]
            .as_array()
            .and_then(|c| c.first())
            .and_then(|c| c["count"].as_i64())
            .unwrap_or(0);
    }
    Ok(total)
}

fn wait_applied(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let v: Value = client.get(format!("{url}/readyz")).send()?.json()?;
        if v["as_of"]["applied_offset"] == v["as_of"]["journal_offset"] {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("{url} did not apply its journal within 120 s")
}
