//! `pesgw bench federation`: a federated aggregate query fanned out from a national gateway to
//! N regional gateways (default 8) holding `--records` records each (default 1,000,000), all on
//! 127.0.0.1, timed over mTLS with RFC 9421 signatures and, in the same run and interleaved
//! round by round, over plain HTTP without signatures or TLS.
//!
//! Both paths do the same work apart from the transport security: each region plans the query,
//! answers it from its rollups, suppresses small cells and appends an audit entry; the national
//! gateway merges the answers and audits the outcome. The secure path is the real one
//! ([`Federation::aggregate`]); the plain path is a bench-only route on a second, plain listener
//! of each regional gateway.
//!
//! The gateways are built like `pesgw demo` (same keys, PKI, trust list, and the records pushed
//! through the real ingest API, `native` NDJSON): the first run fills `--dir` (a few minutes for
//! 8 million records), later runs reuse it (a `bench-pushed.json` marker per region). All
//! gateways run in this one process, so the memory printed is the total over all of them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context as _;
use clap::Args;
use pes_gateway::api::AuditReceipt;
use pes_gateway::audit::event::{Action, Actor, AuditEvent, Outcome};
use pes_gateway::federation::fanout::merge_answers;
use pes_gateway::federation::node::Federation;
use pes_gateway::federation::service::FederatedAnswer;
use pes_gateway::node::Node;
use pes_gateway::query::QueryRequest;

use pes_gateway::cluster::NATIONAL;

use super::demo::{self, PushPlan};

/// Arguments of `pesgw bench federation`.
#[derive(Debug, Args)]
pub struct FederationBench {
    /// Regional gateways to fan out to.
    #[arg(long, default_value_t = 8)]
    regions: usize,
    /// Records pushed into each regional gateway (first run only).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Timed queries per path (after 50 warm-up rounds).
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Cache directory: keys, PKI, trust list and the regional stores; reused by later runs.
    #[arg(long, default_value = "pes-bench-federation")]
    dir: PathBuf,
    /// First port; the gateways take the ports after it.
    #[arg(long, default_value_t = 18440)]
    port: u16,
    /// Also time the secure path with the caller's crypto placed the other way (inline on the
    /// reactor vs tokio's blocking pool), interleaved with the others.
    #[arg(long)]
    ab_crypto: bool,
    /// Time only one path (`secure` or `plain`), e.g. to profile it alone.
    #[arg(long, value_parser = ["secure", "plain"])]
    only: Option<String>,
}

const PLAIN_PATH: &str = "/bench/plain/query";
const WARMUP: usize = 50;

/// Runs the bench.
pub fn run(a: FederationBench) -> anyhow::Result<ExitCode> {
    // No witnessing: checkpoint submissions would run beside the timed queries.
    let (gateways, _) = demo::prepare_federation(&a.dir, a.regions, a.port, false, Vec::new())?;
    let n = gateways.len() as u16;
    let plain_port = a.port + 2 * n;
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
    let plans: Vec<PushPlan> = gateways
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, g)| {
            let first = i as u64 * 100_000_000;
            PushPlan {
                region: g.region.clone(),
                url: g.url(),
                token: g.pusher.clone(),
                marker: g.dir.join("bench-pushed.json"),
                first,
                count: indices_for(a.records, first, &g.region),
                drop_vacancy_pct: 0,
                mapped: None,
                sample_key: None,
                // The fixed sample records, which the benchmark counts on.
                today: None,
            }
        })
        .collect();

    actix_web::rt::System::new().block_on(async move {
        let mut handles = Vec::new();
        let mut plain_urls = Vec::new();
        for (i, ((g, node), fed)) in gateways.iter().zip(&nodes).zip(&feds).enumerate() {
            let data = web::Data::from(node.clone());
            actix_web::rt::spawn(fed.clone().serve(data.clone()));
            let api = pes_gateway::api::start(node.clone(), g.addr, Some(1), |_: &mut web::ServiceConfig| {})?;
            handles.push(api.handle());
            actix_web::rt::spawn(api);
            if i == 0 {
                continue;
            }
            // The plain twin of the federation listener: same default worker count, no TLS.
            let addr = format!("127.0.0.1:{}", plain_port + i as u16);
            let plain = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route(PLAIN_PATH, web::post().to(plain_query))
            })
            .bind(&addr)?
            .run();
            handles.push(plain.handle());
            actix_web::rt::spawn(plain);
            plain_urls.push(format!("http://{addr}{PLAIN_PATH}"));
        }

        let load_started = Instant::now();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(demo::push_all(&plans));
        });
        let summary = rx.await.context("push thread")??;
        let mut held = Vec::new();
        for g in &gateways[1..] {
            let marker = std::fs::read(g.dir.join("bench-pushed.json")).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&marker).unwrap_or_default();
            held.push(v["accepted"].as_u64().unwrap_or(0));
        }
        println!(
            "pesgw bench federation: national + {} regional gateways on 127.0.0.1, records held per region: {} (min) .. {} (max)",
            held.len(),
            held.iter().min().unwrap_or(&0),
            held.iter().max().unwrap_or(&0),
        );
        if summary.reused == held.len() {
            println!("  stores reused from {}", a.dir.display());
        } else {
            println!(
                "  loaded {} records through the ingest API into {} in {:.0} s (reused by later runs)",
                summary.accepted,
                a.dir.display(),
                load_started.elapsed().as_secs_f64()
            );
        }

        let national = web::Data::from(nodes[0].clone());
        let fed = feds[0].clone();
        let plain = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let q = QueryRequest {
            dataset: "person".into(),
            measures: vec!["count".into()],
            regions: vec!["all".into()],
            purpose: Some("statistics".into()),
            ..Default::default()
        };
        let body = serde_json::to_vec(&QueryRequest {
            regions: Vec::new(),
            ..q.clone()
        })?;
        let actor = Actor {
            sub: "bench".into(),
            role: "analyst".into(),
            region: Some(NATIONAL.into()),
            peer_member: None,
        };
        let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        // Series: the secure path as configured, optionally the secure path with the caller's
        // crypto placed the other way (inline vs blocking pool), and the plain path; interleaved
        // round by round so all see the same machine state.
        let default_inline = pes_gateway::federation::outbound::crypto_inline();
        let place = |inline: bool| if inline { "crypto inline" } else { "crypto on blocking pool" };
        let mut series = vec![Series::new(format!("mTLS + RFC 9421, {}", place(default_inline)))];
        if a.ab_crypto {
            series.push(Series::new(format!("mTLS + RFC 9421, {}", place(!default_inline))));
        }
        series.push(Series::new("plain HTTP, unsigned".into()));
        let mut secure_runs = series.len() - 1;
        match a.only.as_deref() {
            Some("secure") => {
                series.pop();
            }
            Some(_) => {
                series.drain(..secure_runs);
                secure_runs = 0;
            }
            None => {}
        }
        let mut totals = Vec::new();
        for round in 0..WARMUP + a.queries {
            let rid = format!("bench-{round}");
            totals.clear();
            for (i, se) in series.iter_mut().enumerate() {
                let rid = format!("{rid}-{i}");
                let c0 = process_cpu();
                let t = Instant::now();
                let total = if i < secure_runs {
                    pes_gateway::federation::outbound::set_crypto_inline(
                        default_inline != (i == 1),
                    );
                    let s = fed
                        .aggregate(&national, &q, &rid, &actor)
                        .await
                        .map_err(|e| anyhow::anyhow!("federated query: {e}"))?;
                    anyhow::ensure!(s.complete, "a region did not answer: {:?}", s.regions);
                    sum(&s.cells)
                } else {
                    plain_fan_out(&plain, &plain_urls, &body, &national, &rid, &actor).await?
                };
                let d = t.elapsed();
                if round >= WARMUP {
                    se.latency.push(d);
                    se.cpu += process_cpu().saturating_sub(c0);
                }
                totals.push(total);
            }
        }
        pes_gateway::federation::outbound::set_crypto_inline(default_inline);
        let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        anyhow::ensure!(
            totals.iter().all(|t| *t == totals[0]),
            "the paths disagree: {totals:?}"
        );
        println!(
            "  query: person count across all regions (total {}), {} rounds per path after {WARMUP} warm-up, interleaved",
            totals[0], a.queries
        );
        let (sign_us, verify_us) = ed25519_floor()?;
        let rows: Vec<(f64, f64, f64)> = series
            .iter_mut()
            .map(|se| se.summary(a.queries))
            .collect();
        for (se, (p50, p99, cpu)) in series.iter().zip(&rows) {
            println!(
                "  {:<42} p50 {p50:.3} ms  p99 {p99:.3} ms  CPU {cpu:.3} ms per fan-out (whole process)",
                se.name
            );
        }
        println!("  (targets: secure p99 <= 20 ms; secure overhead <= 30% of plain)");
        // The fan-out signs and verifies 8 requests and 8 responses: 16 + 16 Ed25519 operations.
        println!(
            "  Ed25519 (ring) on this machine now: sign {sign_us:.1} us, verify {verify_us:.1} us; 16 signs + 16 verifications per fan-out = {:.3} ms CPU",
            16.0 * (sign_us + verify_us) / 1000.0
        );
        let (p50, p99, _) = rows[rows.len() - 1];
        let with_plain = a.only.is_none();
        for (se, (s50, s99, _)) in series.iter().zip(&rows).take(secure_runs).filter(|_| with_plain) {
            println!(
                "  security overhead, {}: p50 {:+.1}%  p99 {:+.1}%   (target <= 30%)",
                se.name,
                (s50 / p50 - 1.0) * 100.0,
                (s99 / p99 - 1.0) * 100.0
            );
        }
        println!(
            "  load average before: {}  after: {}",
            load_before.trim(),
            load_after.trim()
        );
        let (rss, hwm) = super::memory::rss_of(std::process::id());
        println!(
            "  resident memory of this process (all {} gateways): {} MiB now, {} MiB peak (~{} MiB per gateway)",
            nodes.len(),
            rss / 1024,
            hwm / 1024,
            rss / 1024 / nodes.len() as u64
        );
        for h in handles {
            h.stop(true).await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// How many sample indices give about `records` valid records: the sample draws prefectures
/// from a fixed list and the push leaves out records whose prefecture is not in the province,
/// so the share of valid ones (estimated on the first 2,000) differs by province.
fn indices_for(records: u64, first: u64, region: &str) -> u64 {
    const PROBE: u64 = 2_000;
    let valid = (first..first + PROBE)
        .filter(|&i| {
            let rec = pes_gateway::native_sample::record(i, region, "native", 1);
            pes_schemas::validate::validate_record(&rec).is_ok()
        })
        .count() as u64;
    records * PROBE / valid.max(1)
}

/// Latencies and CPU time of one timed path.
struct Series {
    name: String,
    latency: Vec<Duration>,
    cpu: Duration,
}

impl Series {
    fn new(name: String) -> Self {
        Series {
            name,
            latency: Vec::new(),
            cpu: Duration::ZERO,
        }
    }

    /// p50 and p99 in ms, and the process CPU time per round in ms.
    fn summary(&mut self, rounds: usize) -> (f64, f64, f64) {
        self.latency.sort();
        let pct = |p: f64| {
            let i = ((self.latency.len() as f64 - 1.0) * p).round() as usize;
            self.latency
                .get(i)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let cpu = self.cpu.as_secs_f64() * 1000.0 / rounds.max(1) as f64;
        (pct(0.5), pct(0.99), cpu)
    }
}

/// Microseconds per Ed25519 signature and per verification (ring), measured now on one thread
/// over a message the size of a signature base.
fn ed25519_floor() -> anyhow::Result<(f64, f64)> {
    use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
    const N: u32 = 2000;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let msg = [b'x'; 400];
    let t = Instant::now();
    let mut sig = pair.sign(&msg);
    for _ in 1..N {
        sig = pair.sign(std::hint::black_box(&msg));
    }
    let sign = t.elapsed();
    let public = UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref());
    let t = Instant::now();
    for _ in 0..N {
        public
            .verify(std::hint::black_box(&msg), sig.as_ref())
            .map_err(|_| anyhow::anyhow!("own signature does not verify"))?;
    }
    let verify = t.elapsed();
    let us = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(N);
    Ok((us(sign), us(verify)))
}

/// CPU time used so far by every thread of this process (all the gateways).
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn sum(cells: &[pes_gateway::federation::fanout::MergedCell]) -> i64 {
    cells.iter().filter_map(|c| c.count).sum()
}

/// The plain path's caller side: the same body to every region, answers merged, the outcome
/// audited at the national gateway.
async fn plain_fan_out(
    client: &reqwest::Client,
    urls: &[String],
    body: &[u8],
    national: &web::Data<Node>,
    rid: &str,
    actor: &Actor,
) -> anyhow::Result<i64> {
    let calls = urls.iter().map(|u| async move {
        let r = client
            .post(u)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await?;
        r.json::<FederatedAnswer>().await
    });
    let mut answers = Vec::new();
    for a in futures_util::future::join_all(calls).await {
        answers.push(a?.answer);
    }
    let cells = merge_answers(&answers);
    let mut ev = AuditEvent::new(
        NATIONAL,
        rid,
        actor.clone(),
        Action::QueryAggregate,
        Outcome::Ok,
    );
    ev.counts.insert("cells".into(), cells.len() as u64);
    national.audit.append(&ev).await?;
    Ok(sum(&cells))
}

/// The plain route of a regional gateway: plan, answer from the store, suppress, audit.
async fn plain_query(req: HttpRequest, body: web::Bytes, node: web::Data<Node>) -> HttpResponse {
    let Ok(q) = serde_json::from_slice::<QueryRequest>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let Ok(answer) = pes_gateway::query::local::answer(node.local(), &q, node.config.k).await
    else {
        return HttpResponse::InternalServerError().finish();
    };
    let ev = pes_gateway::api::event(
        &node,
        &req,
        Action::Admin,
        None,
        200,
        pes_gateway::api::Detail::new()
            .dataset(&q.dataset)
            .purpose(&q.purpose),
    );
    let receipt: AuditReceipt = match pes_gateway::api::audit(&node, ev).await {
        Ok(r) => r,
        Err(_) => return HttpResponse::ServiceUnavailable().finish(),
    };
    HttpResponse::Ok().json(FederatedAnswer {
        answer,
        receipt,
        data_as_of: None,
    })
}
