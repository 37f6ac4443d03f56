//! `pesgw demo [--regions 8] [--records 50000] [--dir DIR]`: a national gateway and N provincial
//! gateways deployed on loopback, each its own `pesgw serve` process, with synthetic data pushed
//! into each province; prints the dashboard URL, the auditor URL, the processes and ready-made
//! tokens.
//!
//! The deployment is [`pes_gateway::cluster`]: per gateway, the directory an operator would have
//! (config, keys, certificates, signed trust list, mapping), started with `pesgw serve --config`.
//! On top, the demo issues tokens (the same code as `pesgw token issue`), writes them where the
//! dashboard's sign-in page offers them (`[ui] demo_tokens`), and pushes synthetic records
//! through the real ingest API: national-schema NDJSON into every province (varied per
//! province so the map has something to show), and a synthetic export in the province's own
//! format through its shipped mapping (GB18030 CSV, fixed-width, JSON, XML).
//!
//! A second run with the same `--dir` reuses keys and data (nothing is pushed twice). Ctrl-C or
//! SIGTERM stops every gateway (SIGTERM to each, then SIGKILL after 10 s); a gateway that dies
//! meanwhile is reported on the console and the others keep running, which is how an outage
//! looks to the federation. `DIR/demo.json` lists URLs, processes and tokens for scripts (the
//! browser test reads it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pes_adapters::{build_adapter, Mapping};
use pes_gateway::auth::Role;
use pes_gateway::cluster::{self, process::Process, Site, NATIONAL};
use pes_gateway::web::{DemoGateway, DemoToken, DemoTokens};
use pes_gateway::{grassroots_sample, native_sample};

/// Arguments of `pesgw demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Provincial gateways to start (1 to 16), beside the national one.
    #[arg(long, default_value_t = 8)]
    regions: usize,
    /// Synthetic national-schema records to generate, spread over the provinces (vacancies are
    /// thinned per province so supply and demand differ; the mapped exports come on top).
    #[arg(long, default_value_t = 50_000)]
    records: u64,
    /// Directory for the gateways' directories and `demo.json`; a second run reuses it.
    #[arg(long, default_value = "pes-demo")]
    dir: PathBuf,
    /// Port of the national gateway; the provinces take the ports after it, the federation
    /// listeners the ports after those.
    #[arg(long, default_value_t = 8440)]
    port: u16,
    /// Directory of provincial mappings; provinces that have one also push through it.
    #[arg(long, default_value = "adapters/mappings")]
    mappings: PathBuf,
    /// The `pesgw` executable to start the gateways with (default: this one).
    #[arg(long)]
    server_exe: Option<PathBuf>,
}

/// Roles the dashboard offers; the pusher token stays inside the demo.
const ROLES: [Role; 4] = [Role::Analyst, Role::Caseworker, Role::Auditor, Role::Admin];
/// Purposes in the demo's tokens (the caseworker's lookups).
const PURPOSES: [&str; 4] = [
    "case_management",
    "benefit_eligibility",
    "job_matching",
    "training_referral",
];
const SOURCE: &str = cluster::NATIVE_SOURCE;
const TOKEN_TTL_SECS: u64 = 7 * 24 * 3600;
const BATCH_ROWS: usize = 10_000;
/// File in each gateway's directory with its sign-in tokens, named by `[ui] demo_tokens`.
const TOKENS_FILE: &str = "demo-tokens.json";
/// How long a gateway process may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One gateway of the demo: its site and the tokens issued for it.
pub(super) struct DemoSite {
    pub(super) site: Site,
    tokens: Vec<DemoToken>,
    pub(super) pusher: String,
}

impl std::ops::Deref for DemoSite {
    type Target = Site;
    fn deref(&self) -> &Site {
        &self.site
    }
}

impl DemoSite {
    /// This gateway's demo token for `role` (analyst, caseworker, auditor, admin).
    pub(super) fn token(&self, role: Role) -> Option<&str> {
        self.tokens
            .iter()
            .find(|t| t.role == role.as_str())
            .map(|t| t.token.as_str())
    }
}
/// A person every province has registered, so a newcomer can try the caseworker page (the
/// example number of GB 11643 itself, not a real person's).
const SAMPLE_ID_NUMBER: &str = "11010519491231002X";

/// The sample person's person_key under this federation's linkage key.
pub(super) fn sample_person_key(linkage: &Path) -> anyhow::Result<String> {
    let key = std::fs::read(linkage).with_context(|| format!("reading {}", linkage.display()))?;
    let id = pes_schemas::id_number::IdNumber::parse(SAMPLE_ID_NUMBER)
        .map_err(|e| anyhow::anyhow!("sample ID number: {}", e.code()))?;
    Ok(pes_schemas::person_key::PersonKeyer::new(&key).key(&id))
}

/// The sample person's registration in one province: a sample registration record past the
/// province's range, naming the sample person.
fn sample_registration(p: &PushPlan) -> Option<pes_schemas::Record> {
    let sample_key = p.sample_key.as_ref()?;
    let first = p.first + p.count;
    (first..first + 30).find_map(|i| {
        let mut rec = p.record(i);
        match &mut rec.body {
            pes_schemas::RecordBody::JobSeekerRegistration(j) => {
                j.person_key.clone_from(sample_key);
                pes_schemas::validate::validate_record(&rec)
                    .is_ok()
                    .then_some(rec)
            }
            _ => None,
        }
    })
}

/// What the demo and the benches do first: log warnings to stderr, then deploy a national
/// gateway and `regions` provinces in `dir` on `port` onwards ([`cluster::prepare`]), issue
/// each gateway's tokens and write them where its dashboard offers them. Returns the gateways
/// (national first) and the federation linkage key's path.
pub(super) fn prepare_federation(
    dir: &Path,
    regions: usize,
    port: u16,
    witness: bool,
    mappings: Vec<(PathBuf, Mapping)>,
) -> anyhow::Result<(Vec<DemoSite>, PathBuf)> {
    // The shared setup: `--log-format`, and colour only when stderr is a terminal.
    super::logging::init("warn");
    let mut plan = cluster::Plan::national_and(dir, regions, port)?;
    plan.witness = witness;
    plan.mappings = mappings;
    let sites = cluster::prepare(&plan).context("preparing the gateways' directories")?;
    let directory: Vec<DemoGateway> = sites
        .iter()
        .map(|s| DemoGateway {
            region: s.region.clone(),
            url: s.url(),
        })
        .collect();
    let mut out = Vec::new();
    for mut site in sites {
        let mut tokens = Vec::new();
        let purposes: Vec<String> = PURPOSES.iter().map(|p| p.to_string()).collect();
        for role in ROLES {
            let sub = format!("demo-{}@{}", role.as_str(), site.region);
            let token = site.token(&sub, role, vec![], purposes.clone(), TOKEN_TTL_SECS)?;
            tokens.push(DemoToken {
                role: role.as_str().into(),
                region: site.region.clone(),
                sub,
                token,
            });
        }
        let pusher_sub = format!("demo-pusher@{}", site.region);
        let pusher = site.token(
            &pusher_sub,
            Role::Pusher,
            site.sources(),
            vec![],
            TOKEN_TTL_SECS,
        )?;
        let file = site.dir.join(TOKENS_FILE);
        let sign_in = DemoTokens {
            tokens: tokens.clone(),
            gateways: directory.clone(),
        };
        cluster::write_private(&file, serde_json::to_vec_pretty(&sign_in)?)?;
        site.rewrite_config(|c| c.ui.demo_tokens = Some(PathBuf::from(TOKENS_FILE)))?;
        out.push(DemoSite {
            site,
            tokens,
            pusher,
        });
    }
    let linkage = std::path::absolute(cluster::linkage_key(dir)?)?;
    Ok((out, linkage))
}

/// Starts every gateway as a `pesgw serve` process of `exe` and waits until each is ready.
pub(super) fn start_all(
    exe: &Path,
    sites: &[DemoSite],
    envs: &[(&str, &str)],
) -> anyhow::Result<Vec<Process>> {
    let mut procs = Vec::new();
    for s in sites {
        procs.push(Process::spawn(exe, s, envs)?);
    }
    for p in &mut procs {
        p.wait_ready(READY_TIMEOUT)?;
    }
    Ok(procs)
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mappings = match cluster::load_mappings(&a.mappings) {
        Ok(m) => m,
        Err(e) => {
            println!(
                "no provincial mappings ({e}): every province gets national-schema records only"
            );
            Vec::new()
        }
    };
    let (sites, linkage) = prepare_federation(&a.dir, a.regions, a.port, true, mappings)?;
    let sample_key = sample_person_key(&linkage)?;
    let exe = match &a.server_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("locating pesgw")?,
    };
    let mut procs = start_all(&exe, &sites, &[])?;
    println!(
        "pesgw demo: a national gateway and {} provincial gateways, each its own `pesgw serve` \
         process, on 127.0.0.1:{}-{} (federation mTLS on the next {} ports); directories in {}",
        sites.len() - 1,
        a.port,
        a.port as usize + sites.len() - 1,
        sites.len(),
        a.dir.display()
    );
    // Dated by the clock, so the dashboard's months run up to this month.
    let today = chrono::Utc::now().date_naive();
    let plans = plan_pushes(&sites, a.records, &sample_key, today);
    let summary = match push_all(&plans) {
        Ok(s) => s,
        Err(e) => {
            stop(&mut procs);
            return Err(e.context("pushing the synthetic data"));
        }
    };
    write_demo_json(&a.dir, &sites, &procs, &sample_key)?;
    print_ready(
        &sites,
        &procs,
        &a.dir,
        &summary,
        started.elapsed(),
        &sample_key,
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(watch(&mut procs))?;
    stop(&mut procs);
    Ok(ExitCode::SUCCESS)
}

/// Reports each gateway process that exits, until Ctrl-C or SIGTERM.
async fn watch(procs: &mut [Process]) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut reported = vec![false; procs.len()];
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => return r.context("waiting for Ctrl-C"),
            _ = term.recv() => return Ok(()),
            _ = tick.tick() => {
                for (p, seen) in procs.iter_mut().zip(reported.iter_mut()) {
                    if *seen {
                        continue;
                    }
                    if let Some(status) = p.exit_status() {
                        *seen = true;
                        println!(
                            "{} the {} gateway (pid {}) exited: {status}; the others keep running \
                             and report it as unreachable. Its log: {}",
                            chrono::Local::now().format("%H:%M:%S"),
                            p.region,
                            p.pid(),
                            p.log_path.display()
                        );
                    }
                }
            }
        }
    }
}

/// Stops every gateway: SIGTERM to all at once, then waits for each.
fn stop(procs: &mut [Process]) {
    use std::io::Write as _;
    // Whoever started the demo may have closed its end of stdout by now.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "\nstopping {} gateways…", procs.len());
    for p in procs.iter_mut() {
        p.terminate();
    }
    for p in procs.iter_mut() {
        p.wait_or_kill(cluster::process::STOP_GRACE);
    }
    let _ = writeln!(out, "stopped.");
}

/// What to push into one province.
pub(super) struct PushPlan {
    pub(super) region: String,
    pub(super) url: String,
    pub(super) token: String,
    pub(super) marker: PathBuf,
    /// National-schema sample records: index range and the share of vacancies dropped.
    pub(super) first: u64,
    pub(super) count: u64,
    pub(super) drop_vacancy_pct: u64,
    /// A synthetic export in the province's own format, and its mapping.
    pub(super) mapped: Option<(Mapping, u64)>,
    /// person_key of the sample person registered in every province (none: no sample person).
    pub(super) sample_key: Option<String>,
    /// The day the data is generated: [`native_sample::demo_record`]s dated up to it and a
    /// synthetic export as of it; none: the fixed [`native_sample::record`]s (benchmarks).
    pub(super) today: Option<NaiveDate>,
}

impl PushPlan {
    /// National-schema record `i` of this push.
    fn record(&self, i: u64) -> pes_schemas::Record {
        match self.today {
            Some(today) => native_sample::demo_record(i, &self.region, SOURCE, today),
            None => native_sample::record(i, &self.region, SOURCE, 1),
        }
    }
}

/// splitmix64, for per-province variation that is the same on every run.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// What to push into each province: demo records dated up to `today`.
pub(super) fn plan_pushes(
    gateways: &[DemoSite],
    records: u64,
    sample_key: &str,
    today: NaiveDate,
) -> Vec<PushPlan> {
    let provinces: Vec<&DemoSite> = gateways.iter().filter(|g| g.region != NATIONAL).collect();
    // Each province weighs between 60 and 140, so provinces differ in size; shares add up to
    // `records`.
    let weight = |g: &DemoSite| 60 + mix(g.region.parse::<u64>().unwrap_or(0)) % 81;
    let total: u64 = provinces.iter().map(|g| weight(g)).sum::<u64>().max(1);
    provinces
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let h = mix(g.region.parse::<u64>().unwrap_or(0));
            let count = (records * weight(g) / total).max(1);
            PushPlan {
                region: g.region.clone(),
                url: g.url(),
                token: g.pusher.clone(),
                marker: g.dir.join("demo-pushed.json"),
                first: (i as u64 + 1) * 100_000_000,
                count,
                drop_vacancy_pct: (h >> 8) % 70,
                mapped: g.mapping.clone().map(|m| (m, (count / 5).max(1))),
                sample_key: Some(sample_key.to_owned()),
                today: Some(today),
            }
        })
        .collect()
}

/// What the pushes did.
#[derive(Default)]
pub(super) struct Summary {
    pub(super) accepted: u64,
    quarantined: u64,
    pub(super) reused: usize,
    mapped: Vec<String>,
}

pub(super) fn push_all(plans: &[PushPlan]) -> anyhow::Result<Summary> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    for p in plans {
        wait_healthy(&client, &p.url)?;
    }
    let todo: Vec<&PushPlan> = plans.iter().filter(|p| !p.marker.exists()).collect();
    let mut s = Summary {
        reused: plans.len() - todo.len(),
        ..Default::default()
    };
    let total: u64 = todo
        .iter()
        .map(|p| p.count + p.mapped.as_ref().map_or(0, |m| m.1))
        .sum();
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "pushing {msg:>28} [{bar:32}] {pos}/{len} rows {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    for p in todo {
        let (mut accepted, mut quarantined) = (0, 0);
        if let Some((mapping, rows)) = &p.mapped {
            pb.set_message(format!("{} via {}", p.region, mapping.id));
            let today = p.today.unwrap_or_else(pes_adapters::synth::reference_day);
            let (body, content_type) = mapped_export(mapping, *rows, &p.region, today)?;
            let (a, q) = push(&client, p, &mapping.id, content_type, body, true)?;
            accepted += a;
            quarantined += q;
            s.mapped.push(format!("{} ({})", p.region, mapping.id));
            pb.inc(*rows);
        }
        pb.set_message(format!("{} national records", p.region));
        let mut start = p.first;
        let end = p.first + p.count;
        while start < end {
            let stop = (start + BATCH_ROWS as u64).min(end);
            let mut body = Vec::with_capacity((stop - start) as usize * 600);
            for i in start..stop {
                let rec = p.record(i);
                let is_vacancy = matches!(rec.body, pes_schemas::RecordBody::Vacancy(_));
                if is_vacancy && mix(i ^ 0x5eed) % 100 < p.drop_vacancy_pct {
                    continue;
                }
                // The sample draws prefectures from a fixed list, which some provinces lack;
                // such records would only be quarantined, so they are left out here.
                if pes_schemas::validate::validate_record(&rec).is_err() {
                    continue;
                }
                serde_json::to_writer(&mut body, &rec)?;
                body.push(b'\n');
            }
            if start == p.first {
                if let Some(rec) = sample_registration(p) {
                    serde_json::to_writer(&mut body, &rec)?;
                    body.push(b'\n');
                }
            }
            let (a, q) = push(
                &client,
                p,
                SOURCE,
                "application/x-ndjson",
                body,
                stop == end,
            )?;
            accepted += a;
            quarantined += q;
            pb.inc(stop - start);
            start = stop;
        }
        if let Some(today) = p.today {
            // Stations, their services, training and platform work for the coverage page.
            pb.set_message(format!("{} grassroots records", p.region));
            let records = grassroots_sample::records(&p.region, SOURCE, today);
            pb.inc_length(records.len() as u64);
            let batches = records.chunks(BATCH_ROWS).count();
            for (n, chunk) in records.chunks(BATCH_ROWS).enumerate() {
                let mut body = Vec::with_capacity(chunk.len() * 600);
                for rec in chunk {
                    serde_json::to_writer(&mut body, rec)?;
                    body.push(b'\n');
                }
                let (a, q) = push(
                    &client,
                    p,
                    SOURCE,
                    "application/x-ndjson",
                    body,
                    n + 1 == batches,
                )?;
                accepted += a;
                quarantined += q;
                pb.inc(chunk.len() as u64);
            }
        }
        std::fs::write(
            &p.marker,
            serde_json::to_vec_pretty(
                &serde_json::json!({ "accepted": accepted, "quarantined": quarantined }),
            )?,
        )?;
        s.accepted += accepted;
        s.quarantined += quarantined;
    }
    pb.finish_and_clear();
    Ok(s)
}

/// A synthetic export in the mapping's own format (the bytes the provincial system would send),
/// and the media type its adapter takes.
fn mapped_export(
    mapping: &Mapping,
    rows: u64,
    region: &str,
    today: NaiveDate,
) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let opts = pes_adapters::synth::SynthOptions {
        rows,
        seed: mix(region.parse::<u64>().unwrap_or(1)),
        defect_rate: 0.0,
        keep_expected: false,
        as_of: today,
    };
    let mut raw = Vec::new();
    pes_adapters::synth::write_export(mapping, &opts, &mut raw)?;
    let content_type = build_adapter(mapping)
        .content_types()
        .first()
        .copied()
        .unwrap_or("application/octet-stream");
    Ok((raw, content_type))
}

fn push(
    client: &reqwest::blocking::Client,
    p: &PushPlan,
    source: &str,
    content_type: &str,
    body: Vec<u8>,
    wait: bool,
) -> anyhow::Result<(u64, u64)> {
    let url = format!(
        "{}/v1/ingest/{source}{}",
        p.url,
        if wait { "?wait=applied" } else { "" }
    );
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = client
            .post(&url)
            .bearer_auth(&p.token)
            .header("content-type", content_type)
            .body(body.clone())
            .send()?;
        let status = r.status();
        let v: serde_json::Value = r.json().unwrap_or(serde_json::Value::Null);
        if status.is_success() {
            for e in v["row_errors"].as_array().into_iter().flatten().take(2) {
                eprintln!(
                    "  {} quarantined {}: {} ({})",
                    p.region,
                    e["location"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or(""),
                    e["code"].as_str().unwrap_or("")
                );
            }
            return Ok((
                v["accepted"].as_u64().unwrap_or(0),
                v["quarantined"].as_u64().unwrap_or(0),
            ));
        }
        if (status.as_u16() == 429 || status.is_server_error()) && attempt < 5 {
            std::thread::sleep(Duration::from_millis(200 << attempt));
            continue;
        }
        anyhow::bail!(
            "push to {} refused: {} {}",
            p.region,
            status.as_u16(),
            v["detail"].as_str().unwrap_or("")
        );
    }
}

fn wait_healthy(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{url}/healthz")).send() {
            if r.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{url} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_demo_json(
    dir: &Path,
    sites: &[DemoSite],
    procs: &[Process],
    sample_key: &str,
) -> anyhow::Result<()> {
    let national = &sites[0];
    let v = serde_json::json!({
        "dashboard_url": format!("{}/", national.url()),
        "auditor_url": format!("{}/#/audit", national.url()),
        "national": { "region": national.region, "url": national.url() },
        "sample_person": { "id_number": SAMPLE_ID_NUMBER, "person_key": sample_key },
        "gateways": sites.iter().zip(procs).map(|(g, p)| serde_json::json!({
            "region": g.region, "name": g.name, "url": g.url(),
            "role": if g.region == NATIONAL { "national" } else { "provincial" },
            "pid": p.pid(),
            "config": std::path::absolute(&g.config_path).unwrap_or_else(|_| g.config_path.clone()),
            "log": std::path::absolute(&p.log_path).unwrap_or_else(|_| p.log_path.clone()),
        })).collect::<Vec<_>>(),
        "tokens": sites.iter().flat_map(|g| g.tokens.iter()).map(|t| serde_json::json!({
            "role": t.role, "region": t.region, "sub": t.sub, "token": t.token,
        })).collect::<Vec<_>>(),
    });
    let path = dir.join("demo.json");
    let tmp = dir.join("demo.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&v)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

fn print_ready(
    sites: &[DemoSite],
    procs: &[Process],
    dir: &Path,
    s: &Summary,
    took: Duration,
    sample_key: &str,
) {
    let national = &sites[0];
    println!(
        "pushed {} records ({} quarantined){}; through provincial mappings: {}",
        s.accepted,
        s.quarantined,
        if s.reused > 0 {
            format!(", {} provinces reused from {}", s.reused, dir.display())
        } else {
            String::new()
        },
        if s.mapped.is_empty() {
            "none".to_string()
        } else {
            s.mapped.join(", ")
        }
    );
    println!();
    println!("  Dashboard (national)   {}/", national.url());
    println!("  Auditor view           {}/#/audit", national.url());
    println!();
    println!("  {:<22} {:<24} {:>8}  config", "gateway", "URL", "pid");
    for (g, p) in sites.iter().zip(procs) {
        println!(
            "  {:<22} {:<24} {:>8}  {}",
            g.name,
            format!("{}/", g.url()),
            p.pid(),
            g.config_path.display()
        );
    }
    println!(
        "  (every dashboard shows the federation: its own region answered in-process, the others\n   \
         by signed mTLS fan-out. Stop one province, e.g. `kill {}`, to see how an outage looks.)",
        procs.get(1).map_or(0, |p| p.pid())
    );
    println!();
    println!(
        "Tokens for the national gateway (every gateway's are in {}/demo.json;",
        dir.display()
    );
    println!("the dashboard's sign-in page offers them as roles):");
    for t in &national.tokens {
        println!("  {:<10} {}", t.role, t.token);
    }
    println!();
    println!(
        "Try the caseworker page (#/caseworker, caseworker role) with the sample person registered\n\
         in every province: ID number {SAMPLE_ID_NUMBER}, person_key {sample_key}"
    );
    println!();
    println!(
        "Ready in {:.1} s. Press Ctrl-C to stop every gateway.",
        took.as_secs_f64()
    );
}
