//! `pesgw bench matching`: vacancy search through a national gateway fanned out to N regional
//! gateways (default 8) holding `--vacancies` demo vacancies each, all in this process on
//! 127.0.0.1 over mTLS with RFC 9421 signatures, beside the floor of the same searches as a
//! brute-force scan over the same vacancies in one process.
//!
//! Printed in one run: the load (vacancies pushed through the ingest API and followed by each
//! region's index), the index build rate (a fresh index of one region's vacancies, one
//! thread), search p50 and p99 through `POST /v1/vacancies/search` on the national gateway
//! (1,000 mixed searches: text, occupation group, division, wage), the brute-force p50 and p99
//! of the same searches, and how many filter-only searches gave exactly the brute force's
//! first page.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use anyhow::Context as _;
use chrono::NaiveDate;
use clap::Args;
use pes_gateway::auth::Role;
use pes_gateway::federation::node::Federation;
use pes_gateway::matching::{brute_force, EmploymentKind, SearchQuery, VacancyDoc, VacancyIndex};
use pes_gateway::native_sample;
use pes_gateway::node::Node;
use pes_schemas::RecordBody;

use super::demo;

/// Arguments of `pesgw bench matching`.
#[derive(Debug, Args)]
pub struct MatchingBench {
    /// Regional gateways to fan out to.
    #[arg(long, default_value_t = 8)]
    regions: usize,
    /// Vacancies pushed into each regional gateway (about half are open and valid today).
    #[arg(long, default_value_t = 1_000_000)]
    vacancies: u64,
    /// Timed searches (after 20 warm-up searches).
    #[arg(long, default_value_t = 1000)]
    searches: usize,
    /// Cache directory: keys, PKI, trust list and the regional stores; reused by later runs.
    #[arg(long, default_value = "pes-bench-matching")]
    dir: PathBuf,
    /// First port; the gateways take the ports after it.
    #[arg(long, default_value_t = 18640)]
    port: u16,
}

const SOURCE: &str = "native";
const BATCH: u64 = 10_000;
const WARMUP: usize = 20;
/// Words of the demo vocabulary a job seeker would type.
const WORDS: [&str; 12] = [
    "包吃住",
    "五险一金",
    "配送",
    "开发",
    "仓库",
    "培训",
    "经验",
    "烹饪",
    "日结",
    "厨师",
    "管理",
    "技术",
];

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The `n`-th search of the mix: a quarter each text, occupation group, division and wage;
/// every fourth also names an employment type. All ask every region for 20 hits.
fn search_of(n: usize, docs: &[VacancyDoc]) -> SearchQuery {
    let h = mix(n as u64 ^ 0x5ea2c4);
    let d = &docs[(h >> 8) as usize % docs.len().max(1)];
    let mut q = SearchQuery {
        regions: vec!["all".into()],
        limit: Some(20),
        ..SearchQuery::default()
    };
    match n % 4 {
        0 => q.text = Some(WORDS[(h >> 40) as usize % WORDS.len()].to_string()),
        1 => {
            // A major, middle or minor group of a vacancy that exists.
            let cut = [1, 4, 7][(h >> 40) as usize % 3];
            q.occupation = vec![d.occupation.chars().take(cut).collect()];
        }
        2 => {
            let path = d.division_path();
            q.division = vec![path[(h >> 40) as usize % path.len()].clone()];
        }
        _ => {
            q.wage_min = Some(3000 + ((h >> 40) % 120) as u32 * 100);
        }
    }
    if (h >> 20).is_multiple_of(4) {
        q.employment_type = vec![
            [
                EmploymentKind::FullTime,
                EmploymentKind::PartTime,
                EmploymentKind::Gig,
            ][(h >> 24) as usize % 3],
        ];
    }
    q
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The vacancies of one region, as pushed: NDJSON lines in batches, and their searchable part.
fn vacancy_lines(
    region: &str,
    first: u64,
    count: u64,
    today: NaiveDate,
) -> (Vec<Vec<u8>>, Vec<VacancyDoc>) {
    let mut batches = Vec::new();
    let mut docs = Vec::new();
    let mut body = Vec::new();
    for i in first..first + count {
        let rec = native_sample::demo_vacancy_record(i, region, SOURCE, today);
        if pes_schemas::validate::validate_record(&rec).is_err() {
            continue;
        }
        if let Some(d) = VacancyDoc::from_body(&rec.record_id, &rec.body) {
            docs.push(d);
        }
        let RecordBody::Vacancy(_) = rec.body else {
            continue;
        };
        if serde_json::to_writer(&mut body, &rec).is_ok() {
            body.push(b'\n');
        }
        if (i - first + 1).is_multiple_of(BATCH) {
            batches.push(std::mem::take(&mut body));
        }
    }
    if !body.is_empty() {
        batches.push(body);
    }
    (batches, docs)
}

/// Runs the bench.
pub fn run(a: MatchingBench) -> anyhow::Result<ExitCode> {
    let (gateways, _) = demo::prepare_federation(&a.dir, a.regions, a.port, false, Vec::new())?;
    let marker = a.dir.join("bench-matching.json");
    let reused: Option<serde_json::Value> = std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|v: &serde_json::Value| v["vacancies"] == a.vacancies);
    let today = reused
        .as_ref()
        .and_then(|v| v["today"].as_str())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(pes_gateway::matching::today);
    let mut nodes = Vec::new();
    let mut feds = Vec::new();
    for g in &gateways {
        nodes
            .push(Arc::new(Node::open(g.config.clone()).with_context(
                || format!("starting the {} gateway", g.region),
            )?));
        let fc = g.config.federation.clone().context("federation section")?;
        feds.push(Federation::open(&g.region, fc)?);
    }
    let plans: Vec<Plan> = gateways
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, g)| Plan {
            url: g.url(),
            token: g.pusher.clone(),
            region: g.region.clone(),
            first: i as u64 * 100_000_000,
            count: a.vacancies,
            push: reused.is_none(),
            today,
        })
        .collect();
    let analyst = gateways[0]
        .token(Role::Analyst)
        .context("analyst token")?
        .to_string();
    let national_url = gateways[0].url();

    actix_web::rt::System::new().block_on(async move {
        for (g, (node, fed)) in gateways.iter().zip(nodes.iter().zip(&feds)) {
            let data = web::Data::from(node.clone());
            actix_web::rt::spawn(fed.clone().serve(data));
            let f = fed.clone();
            let api = pes_gateway::api::start(node.clone(), g.addr, None, move |cfg: &mut web::ServiceConfig| {
                cfg.app_data(web::Data::from(f.clone()));
            })?;
            actix_web::rt::spawn(api);
        }
        // Load: every region's vacancies through its ingest API, then until every index has
        // caught up with its store.
        let load_started = Instant::now();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(push_all(plans));
        });
        let (pushed, all_docs) = rx.await.context("push thread")??;
        loop {
            let behind = nodes.iter().any(|n| {
                n.search_lag_bytes() > 0 || n.state.as_of().applied_offset < n.state.as_of().journal_offset
            });
            if !behind {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let loaded = load_started.elapsed();
        if reused.is_none() {
            std::fs::write(
                &marker,
                serde_json::to_vec(&serde_json::json!({"vacancies": a.vacancies, "today": today.to_string()}))?,
            )?;
        }
        let held: Vec<u64> = nodes[1..].iter().map(|n| n.vacancies.len()).collect();
        let index_bytes = dir_bytes(&nodes[1].config.data_dir.join(pes_gateway::node::SEARCH_DIR));

        // Index build: a fresh index of the first region's open vacancies, one writer thread.
        let region_docs: Vec<VacancyDoc> = all_docs
            .iter()
            .filter(|d| d.region == nodes[1].config.region)
            .cloned()
            .collect();
        let tmp = tempfile::tempdir()?;
        let fresh = VacancyIndex::open(tmp.path(), &nodes[1].config.region)?;
        let t = Instant::now();
        fresh.add_all(&region_docs)?;
        fresh.commit(1)?;
        let build = t.elapsed();
        drop(fresh);

        // Searches through the national gateway.
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        let searches: Vec<SearchQuery> = (0..a.searches + WARMUP).map(|n| search_of(n, &all_docs)).collect();
        let mut lat = Vec::with_capacity(a.searches);
        let mut answers = Vec::with_capacity(a.searches);
        let mut partial = 0usize;
        for (n, q) in searches.iter().enumerate() {
            let t = Instant::now();
            let r = http
                .post(format!("{national_url}/v1/vacancies/search"))
                .bearer_auth(&analyst)
                .json(q)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "search {n}: {}", r.status());
            let v: serde_json::Value = r.json().await?;
            let took = t.elapsed();
            if n >= WARMUP {
                lat.push(took);
                if v["complete"] != true {
                    partial += 1;
                }
                answers.push(v);
            }
        }
        // The floor: the same searches, brute force over the same vacancies in this process.
        let mut floor = Vec::with_capacity(a.searches);
        let (mut compared, mut identical) = (0usize, 0usize);
        for (q, answer) in searches[WARMUP..].iter().zip(&answers) {
            let checked = q.check()?;
            let t = Instant::now();
            let hits = brute_force(&all_docs, &checked, today);
            floor.push(t.elapsed());
            if q.text.is_none() {
                compared += 1;
                let got: Vec<&str> = answer["hits"]
                    .as_array()
                    .map(|h| h.iter().filter_map(|h| h["vacancy_id"].as_str()).collect())
                    .unwrap_or_default();
                let want: Vec<&str> = hits.iter().map(|h| h.vacancy_id.as_str()).collect();
                if got == want {
                    identical += 1;
                }
            }
        }
        let rate = |n: u64, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        println!(
            "pesgw bench matching: national + {} regional gateways on 127.0.0.1 (mTLS + RFC 9421), {} vacancies pushed per region, open in the indexes: {} (min) .. {} (max), {} open in all",
            held.len(),
            a.vacancies,
            held.iter().min().unwrap_or(&0),
            held.iter().max().unwrap_or(&0),
            all_docs.len(),
        );
        if pushed > 0 {
            println!(
                "  load: {} vacancies generated, pushed through the ingest API, applied and indexed in {:.1} s ({:.0} vacancies/s end to end)",
                pushed,
                loaded.as_secs_f64(),
                rate(pushed, loaded)
            );
        } else {
            println!("  stores and indexes reused from {}", a.dir.display());
        }
        println!("| measure | value |");
        println!("|---|---|");
        println!(
            "| index build, fresh, one writer thread ({} open vacancies) | {:.0} vacancies/s |",
            region_docs.len(),
            rate(region_docs.len() as u64, build)
        );
        println!(
            "| search through the national gateway, {} searches, p50 / p99 | {:.2} / {:.2} ms |",
            lat.len(),
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99)
        );
        println!(
            "| floor: brute-force scan of {} vacancies in one process, p50 / p99 | {:.2} / {:.2} ms |",
            all_docs.len(),
            pct(&mut floor, 0.5),
            pct(&mut floor, 0.99)
        );
        println!(
            "| index on disk, first region | {:.0} bytes per open vacancy |",
            index_bytes as f64 / held.first().copied().unwrap_or(1).max(1) as f64
        );
        println!("| filter-only searches identical to the brute force | {identical} / {compared} |");
        println!("| answers not complete (a region missing) | {partial} |");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Bytes of the files in `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// One region's vacancies.
struct Plan {
    url: String,
    token: String,
    region: String,
    first: u64,
    count: u64,
    /// Push them (false: the store already holds them, from an earlier run).
    push: bool,
    today: NaiveDate,
}

/// Generates each region's vacancies and pushes them (the last batch waiting until applied),
/// one region at a time so that only one region's bodies are held; returns the vacancies
/// accepted and the searchable part of every open one.
fn push_all(plans: Vec<Plan>) -> anyhow::Result<(u64, Vec<VacancyDoc>)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut accepted = 0;
    let mut docs = Vec::new();
    for p in plans {
        let (batches, d) = vacancy_lines(&p.region, p.first, p.count, p.today);
        docs.extend(d);
        if !p.push {
            continue;
        }
        let (url, token) = (p.url, p.token);
        let n = batches.len();
        for (i, body) in batches.into_iter().enumerate() {
            let wait = if i + 1 == n { "?wait=applied" } else { "" };
            let mut tries = 0;
            let v: serde_json::Value = loop {
                tries += 1;
                let r = client
                    .post(format!("{url}/v1/ingest/{SOURCE}{wait}"))
                    .bearer_auth(&token)
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send();
                match r {
                    Ok(r) if r.status().is_success() => break r.json()?,
                    // Back-pressure (503 with Retry-After) or the listener not bound yet.
                    Ok(r)
                        if tries < 600
                            && (r.status().as_u16() == 503 || r.status().as_u16() == 409) => {}
                    Err(_) if tries < 600 => {}
                    Ok(r) => anyhow::bail!("push to {url}: {}", r.status()),
                    Err(e) => return Err(e.into()),
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            accepted += v["accepted"].as_u64().unwrap_or(0);
        }
    }
    Ok((accepted, docs))
}
