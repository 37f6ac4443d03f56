//! `pesgw demo [--regions 8] [--records 50000] [--dir DIR]`: one command brings up a national
//! gateway and N provincial gateways on loopback, pushes synthetic data into each province, and
//! prints the dashboard URL, the auditor URL and ready-made tokens.
//!
//! Every gateway is a full regional gateway (`Node` + the HTTP API + the dashboard), each a
//! separate server on its own 127.0.0.1 port, all in this one process. Keys and configs come from
//! the same code as `pesgw init`; tokens from the same code as `pesgw token issue`; every
//! gateway shares one federation linkage key, so a person has the same person_key everywhere.
//! A province with a shipped mapping (`--mappings`) gets that mapping registered as a source and
//! a synthetic export in its own format pushed through it (GB18030 CSV, fixed-width, JSON, XML);
//! every province also gets national-schema NDJSON (job seekers, vacancies, people in key
//! groups), varied per province so the map has something to show.
//!
//! A second run with the same `--dir` reuses keys, configs and data (nothing is pushed twice).
//! Ctrl-C stops every server gracefully. `DIR/demo.json` lists URLs and tokens for scripts
//! (the browser test reads it); the dashboard's sign-in page offers the same tokens as roles.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pes_adapters::{build_adapter, Mapping};
use pes_gateway::auth::{claims_for, issue, Role};
use pes_gateway::config::FederationConfig;
use pes_gateway::config::{GatewayConfig, SourceConfig};
use pes_gateway::federation::node::Federation;
use pes_gateway::node::Node;
use pes_gateway::web::{DemoGateway, DemoToken, DemoTokens};
use ring::signature::KeyPair as _;

/// Arguments of `pesgw demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Provincial gateways to start (1 to 16), beside the national one.
    #[arg(long, default_value_t = 8)]
    regions: usize,
    /// Synthetic records to push, spread over the provinces.
    #[arg(long, default_value_t = 50_000)]
    records: u64,
    /// Directory for configs, keys, data and `demo.json`; a second run reuses it.
    #[arg(long, default_value = "pes-demo")]
    dir: PathBuf,
    /// Port of the national gateway; the provinces take the ports after it.
    #[arg(long, default_value_t = 8440)]
    port: u16,
    /// Directory of provincial mappings; provinces that have one also push through it.
    #[arg(long, default_value = "adapters/mappings")]
    mappings: PathBuf,
}

/// Region code of the national gateway (not a province: it holds no records of its own).
pub(super) const NATIONAL: &str = "100000";
/// Provinces in start order: those with a shipped mapping first.
pub(super) const PROVINCES: [(&str, &str); 16] = [
    ("440000", "广东 Guangdong"),
    ("510000", "四川 Sichuan"),
    ("330000", "浙江 Zhejiang"),
    ("110000", "北京 Beijing"),
    ("320000", "江苏 Jiangsu"),
    ("370000", "山东 Shandong"),
    ("410000", "河南 Henan"),
    ("420000", "湖北 Hubei"),
    ("430000", "湖南 Hunan"),
    ("350000", "福建 Fujian"),
    ("610000", "陕西 Shaanxi"),
    ("500000", "重庆 Chongqing"),
    ("340000", "安徽 Anhui"),
    ("360000", "江西 Jiangxi"),
    ("450000", "广西 Guangxi"),
    ("530000", "云南 Yunnan"),
];
/// Roles the dashboard offers; the pusher token stays inside the demo.
const ROLES: [Role; 4] = [Role::Analyst, Role::Caseworker, Role::Auditor, Role::Admin];
const PURPOSES: [&str; 4] = [
    "case_management",
    "benefit_eligibility",
    "job_matching",
    "training_referral",
];
const SOURCE: &str = "native";
const TOKEN_TTL_SECS: u64 = 7 * 24 * 3600;
const BATCH_ROWS: usize = 10_000;

/// One gateway of the demo.
pub(super) struct Gateway {
    pub(super) region: String,
    name: String,
    pub(super) dir: PathBuf,
    pub(super) addr: SocketAddr,
    pub(super) config: GatewayConfig,
    tokens: Vec<DemoToken>,
    pub(super) pusher: String,
    mapping: Option<Mapping>,
}

impl Gateway {
    pub(super) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

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
        let mut rec = pes_gateway::native_sample::record(i, &p.region, SOURCE, 1);
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

/// What the demo and `pesgw bench federation` do first: check `--regions`, log warnings to
/// stderr, and create the working directory.
pub(super) fn begin(regions: usize, dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=PROVINCES.len()).contains(&regions),
        "--regions must be between 1 and {}",
        PROVINCES.len()
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Runs the demo until Ctrl-C.
pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    begin(a.regions, &a.dir)?;
    let linkage_path = linkage_key(&a.dir)?;
    let sample_key = sample_person_key(&linkage_path)?;
    let mappings = load_mappings(&a.mappings);

    let mut regions = vec![(NATIONAL, "全国 National")];
    regions.extend(PROVINCES.iter().take(a.regions).copied());
    let mut gateways = Vec::new();
    for (i, (region, name)) in regions.iter().enumerate() {
        let port = a
            .port
            .checked_add(i as u16)
            .context("--port leaves no room for every gateway")?;
        let mapping = mappings.iter().find(|(_, m)| m.region == *region).cloned();
        gateways.push(prepare(&a.dir, region, name, port, &linkage_path, mapping)?);
    }
    // The federation listeners take the ports right after the HTTP APIs.
    let fed_port = a
        .port
        .checked_add(regions.len() as u16)
        .context("--port leaves no room for the federation listeners")?;
    federate(&a.dir, &mut gateways, fed_port, true)?;
    let directory: Vec<DemoGateway> = gateways
        .iter()
        .map(|g| DemoGateway {
            region: g.region.clone(),
            url: g.url(),
        })
        .collect();

    let mut nodes = Vec::new();
    let mut feds = Vec::new();
    for g in &gateways {
        let node = Node::open(g.config.clone())
            .with_context(|| format!("starting the {} gateway", g.region))?;
        nodes.push(Arc::new(node));
        let fed_config = g
            .config
            .federation
            .clone()
            .context("every demo gateway has a [federation] section")?;
        feds.push(
            Federation::open(&g.region, fed_config)
                .with_context(|| format!("starting the {} federation side", g.region))?,
        );
    }
    let plans = plan_pushes(&gateways, a.records, &sample_key);

    actix_web::rt::System::new().block_on(async move {
        let mut handles = Vec::new();
        for ((g, node), fed) in gateways.iter().zip(&nodes).zip(&feds) {
            let tokens = actix_web::web::Data::new(DemoTokens {
                tokens: g.tokens.clone(),
                gateways: directory.clone(),
            });
            let region = g.region.clone();
            let listener = fed.clone();
            let data = actix_web::web::Data::from(node.clone());
            actix_web::rt::spawn(async move {
                if let Err(e) = listener.serve(data).await {
                    eprintln!("the {region} federation listener stopped: {e}");
                }
            });
            let fed_data = actix_web::web::Data::from(fed.clone());
            let server = pes_gateway::api::start(node.clone(), g.addr, Some(1), move |cfg| {
                cfg.app_data(tokens.clone());
                cfg.app_data(fed_data.clone());
            })
            .with_context(|| format!("binding {}", g.addr))?;
            handles.push(server.handle());
            actix_web::rt::spawn(server);
        }
        println!(
            "pesgw demo: national gateway and {} provincial gateways on 127.0.0.1:{}-{} ({})",
            gateways.len() - 1,
            a.port,
            a.port as usize + gateways.len() - 1,
            a.dir.display()
        );

        // Pushes run on a plain thread: the blocking HTTP client must not run on the runtime.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(push_all(&plans));
        });
        tokio::select! {
            r = rx => match r {
                Ok(Ok(summary)) => {
                    write_demo_json(&a.dir, &gateways, &sample_key)?;
                    print_ready(&gateways, &a.dir, &summary, started.elapsed(), &sample_key);
                }
                Ok(Err(e)) => eprintln!("pushing the synthetic data failed: {e:#}; the gateways keep running"),
                Err(_) => eprintln!("the push thread stopped unexpectedly; the gateways keep running"),
            },
            _ = shutdown_signal() => {
                stop(&handles).await;
                return Ok(ExitCode::SUCCESS);
            }
        }
        shutdown_signal().await?;
        stop(&handles).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C, or SIGTERM (`kill`, `timeout`, a service manager): either stops every gateway cleanly.
async fn shutdown_signal() -> anyhow::Result<()> {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        r = actix_web::rt::signal::ctrl_c() => r.context("waiting for Ctrl-C"),
        _ = term.recv() => Ok(()),
    }
}

async fn stop(handles: &[actix_web::dev::ServerHandle]) {
    // Whoever started the demo may have closed its end of stdout by now.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "\nstopping {} gateways…", handles.len());
    for h in handles {
        h.stop(true).await;
    }
    let _ = writeln!(out, "stopped.");
}

/// Every purpose a demo gateway states to the others: the dashboard's pages and the
/// caseworker's lookups.
const FEDERATION_PURPOSES: [&str; 4] = [
    "statistics",
    "dashboard_overview",
    "dashboard_key_groups",
    "region_health",
];

/// The demo federation: a development PKI (made once, remade when the set of gateways changed),
/// a national root key, and a trust list signed with it naming every gateway with its mTLS
/// listener, SPKI pins and signing key, and a policy per caller (every dataset, the dashboard's
/// purposes, no protected field, k = 5). Each gateway gets its `[federation]` section.
///
/// With `witness`, the national gateway runs a witness (its key in `DIR/pki/witness.key`), every
/// member's audit-log key is in the trust list, and each province submits its checkpoints to the
/// national witness, so published checkpoints carry its cosignature.
pub(super) fn federate(
    root: &Path,
    gateways: &mut [Gateway],
    first_port: u16,
    witness: bool,
) -> anyhow::Result<()> {
    use pes_gateway::federation::trust::{
        sign_trust_list, CallerPolicy, Member, MemberKey, TrustList, WitnessKey, TRUST_LIST_FORMAT,
    };
    use pes_gateway::signed_note::{KeyType, SigningKey};
    let pki = std::path::absolute(root.join("pki"))?;
    let regions: Vec<String> = gateways.iter().map(|g| g.region.clone()).collect();
    let index = match pes_certs::load_index(&pki) {
        Ok(ix) if regions.iter().all(|r| ix.for_region(r).next().is_some()) => ix,
        _ => {
            if pki.exists() {
                std::fs::remove_dir_all(&pki)
                    .with_context(|| format!("replacing {}", pki.display()))?;
            }
            std::fs::create_dir_all(&pki)?;
            pes_certs::init(&pki, &regions, &pes_certs::InitOptions::default())
                .context("generating the development PKI")?
        }
    };
    let root_path = pki.join("federation-root.key");
    let root_key = match std::fs::read_to_string(&root_path) {
        Ok(text) => SigningKey::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", root_path.display()))?,
        Err(_) => {
            let k = SigningKey::generate("pes-federation-root", KeyType::Ed25519)
                .map_err(|e| anyhow::anyhow!("making the root key: {e}"))?;
            write_private(&root_path, &k.to_private_text())?;
            k
        }
    };
    let witness_path = pki.join("witness.key");
    let witness_key = if witness {
        Some(match std::fs::read_to_string(&witness_path) {
            Ok(text) => SigningKey::parse(text.trim())
                .map_err(|e| anyhow::anyhow!("{}: {e}", witness_path.display()))?,
            Err(_) => {
                let name = format!("pes.example/witness/{NATIONAL}");
                let k = SigningKey::generate(&name, KeyType::Cosignature)
                    .map_err(|e| anyhow::anyhow!("making the witness key: {e}"))?;
                write_private(&witness_path, &k.to_private_text())?;
                k
            }
        })
    } else {
        None
    };
    let mut log_keys = Vec::new();
    for g in gateways.iter() {
        let path = &g.config.keys.signing_key;
        let log_key = match witness {
            true => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let key = SigningKey::parse(text.trim())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                Some(key.verifier().to_string())
            }
            false => None,
        };
        log_keys.push(log_key);
    }
    let now = chrono::Utc::now();
    let members = gateways
        .iter()
        .zip(log_keys)
        .enumerate()
        .map(|(i, (g, log_key))| Member {
            region: g.region.clone(),
            name: g.name.clone(),
            url: format!("https://127.0.0.1:{}", first_port as usize + i),
            spki_pins: index
                .for_region(&g.region)
                .map(|c| c.spki_pin.clone())
                .collect(),
            signing_keys: index
                .signing_keys
                .iter()
                .filter(|k| k.region == g.region)
                .map(|k| MemberKey {
                    kid: k.kid.clone(),
                    public_key: k.public_key.clone(),
                    not_before: now - chrono::Duration::days(1),
                    not_after: now + chrono::Duration::days(365),
                })
                .collect(),
            log_key,
        })
        .collect::<Vec<_>>();
    let policies = members
        .iter()
        .map(|m| CallerPolicy {
            caller: m.region.clone(),
            datasets: pes_schemas::RecordType::ALL
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            purposes: FEDERATION_PURPOSES
                .iter()
                .chain(PURPOSES.iter())
                .map(|p| p.to_string())
                .collect(),
            protected_fields: vec![],
            k: 5,
        })
        .collect();
    let trust_path = pki.join("federation.json");
    // Each run signs a newer list, so a gateway never sees a lower version (gateways remember
    // the last one they accepted): the time in seconds, or one past the previous run's list when
    // two runs fall within the same second.
    let previous = std::fs::read_to_string(&trust_path)
        .ok()
        .and_then(|text| {
            pes_gateway::federation::trust::verify_trust_list(&text, root_key.verifier(), now).ok()
        })
        .map_or(0, |l| l.version);
    let list = TrustList {
        format: TRUST_LIST_FORMAT.into(),
        version: (now.timestamp().max(1) as u64).max(previous + 1),
        issued_at: now - chrono::Duration::minutes(1),
        expires_at: now + chrono::Duration::days(30),
        members,
        policies,
        witnesses: witness_key
            .iter()
            .map(|k| WitnessKey {
                name: k.verifier().name().to_string(),
                vkey: k.verifier().to_string(),
                member: Some(NATIONAL.to_string()),
            })
            .collect(),
    };
    let signed = sign_trust_list(&list, &root_key)
        .map_err(|e| anyhow::anyhow!("signing the trust list: {e}"))?;
    std::fs::write(&trust_path, signed)
        .with_context(|| format!("writing {}", trust_path.display()))?;
    for (i, g) in gateways.iter_mut().enumerate() {
        g.config.federation = Some(FederationConfig {
            listen: format!("127.0.0.1:{}", first_port as usize + i),
            pki_dir: pki.clone(),
            trust_list: trust_path.clone(),
            root_key: root_key.verifier().to_string(),
            deadline_ms: 2000,
            reload_secs: 60,
            state_dir: Some(g.config.data_dir.join("federation")),
            witness_key: (witness && g.region == NATIONAL).then(|| witness_path.clone()),
        });
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The federation's person-linkage key, shared by every gateway: made once, reused later.
pub(super) fn linkage_key(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = std::path::absolute(dir.join("linkage.key"))?;
    if let Ok(k) = std::fs::read(&path) {
        anyhow::ensure!(k.len() == 32, "{} is not a 32-byte key", path.display());
        return Ok(path);
    }
    let mut k = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k)
        .map_err(|_| anyhow::anyhow!("no randomness for the linkage key"))?;
    std::fs::write(&path, &k).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The shipped mappings (file, mapping); none when the directory is missing.
fn load_mappings(dir: &Path) -> Vec<(PathBuf, Mapping)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        println!(
            "no mappings at {}: every province gets national-schema records only",
            dir.display()
        );
        return vec![];
    };
    let mut out = Vec::new();
    for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.extension().is_some_and(|x| x == "toml") {
            match Mapping::from_path(&p) {
                Ok(m) => out.push((std::path::absolute(&p).unwrap_or(p), m)),
                Err(e) => println!("skipping mapping {}: {e}", p.display()),
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Writes (first run) or reuses (later runs) one gateway's config and keys, and issues tokens.
pub(super) fn prepare(
    root: &Path,
    region: &str,
    name: &str,
    port: u16,
    linkage: &Path,
    mapping: Option<(PathBuf, Mapping)>,
) -> anyhow::Result<Gateway> {
    let dir = root.join(region);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let path = dir.join("gateway.toml");
    if !path.exists() {
        pes_gateway::keys::init(&dir, region, &addr.to_string())
            .with_context(|| format!("writing keys and config for {region}"))?;
    }
    let mut config = GatewayConfig::load(&path)?;
    config.listen = addr.to_string();
    config.keys.linkage_key = linkage.to_path_buf();
    let mut sources = vec![SOURCE.to_string()];
    if let Some((file, m)) = &mapping {
        config.sources.insert(
            m.id.clone(),
            SourceConfig {
                mapping: file.to_string_lossy().into_owned(),
                pushers: vec![],
            },
        );
        sources.push(m.id.clone());
    }
    let der = std::fs::read(&config.keys.jwt_issuer_key)
        .with_context(|| format!("reading {}", config.keys.jwt_issuer_key.display()))?;
    let pair = pes_gateway::keys::load_ed25519(&config.keys.jwt_issuer_key)?;
    let kid = pes_gateway::keys::key_id(pair.public_key().as_ref());
    let token = |role: Role, sources: Vec<String>, purposes: Vec<String>| {
        let sub = format!("demo-{}@{region}", role.as_str());
        let claims = claims_for(&sub, role, region, sources, purposes, TOKEN_TTL_SECS);
        issue(&der, &kid, &claims).map(|t| (sub, t))
    };
    let mut tokens = Vec::new();
    for role in ROLES {
        let purposes = PURPOSES.iter().map(|p| p.to_string()).collect();
        let (sub, t) = token(role, vec![], purposes)?;
        tokens.push(DemoToken {
            role: role.as_str().into(),
            region: region.into(),
            sub,
            token: t,
        });
    }
    let (_, pusher) = token(Role::Pusher, sources, vec![])?;
    Ok(Gateway {
        region: region.into(),
        name: name.into(),
        dir,
        addr,
        config,
        tokens,
        pusher,
        mapping: mapping.map(|(_, m)| m),
    })
}

/// A national gateway and `regions` provinces without mappings, prepared in `dir` (configs,
/// keys, tokens) on `port` onwards and federated with the ports after them: what the benches
/// start. Returns the gateways (national first) and the federation linkage key's path.
pub(super) fn prepare_federation(
    dir: &Path,
    regions: usize,
    port: u16,
    witness: bool,
) -> anyhow::Result<(Vec<Gateway>, PathBuf)> {
    begin(regions, dir)?;
    let linkage = linkage_key(dir)?;
    let mut all = vec![(NATIONAL, "全国 National")];
    all.extend(PROVINCES.iter().take(regions).copied());
    let n = all.len() as u16;
    let mut gateways = Vec::new();
    for (i, (region, name)) in all.iter().enumerate() {
        gateways.push(prepare(dir, region, name, port + i as u16, &linkage, None)?);
    }
    federate(dir, &mut gateways, port + n, witness)?;
    Ok((gateways, linkage))
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
}

/// splitmix64, for per-province variation that is the same on every run.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(super) fn plan_pushes(gateways: &[Gateway], records: u64, sample_key: &str) -> Vec<PushPlan> {
    let provinces: Vec<&Gateway> = gateways.iter().filter(|g| g.region != NATIONAL).collect();
    // Each province weighs between 60 and 140, so provinces differ in size; shares add up to
    // `records`.
    let weight = |g: &Gateway| 60 + mix(g.region.parse::<u64>().unwrap_or(0)) % 81;
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
            let (body, content_type) = mapped_export(mapping, *rows, &p.region)?;
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
                let rec = pes_gateway::native_sample::record(i, &p.region, SOURCE, 1);
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

/// A synthetic export in the mapping's own format (the bytes the provincial system would send),
/// and the media type its adapter takes.
fn mapped_export(
    mapping: &Mapping,
    rows: u64,
    region: &str,
) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let opts = pes_adapters::synth::SynthOptions {
        rows,
        seed: mix(region.parse::<u64>().unwrap_or(1)),
        defect_rate: 0.0,
        keep_expected: false,
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

fn write_demo_json(dir: &Path, gateways: &[Gateway], sample_key: &str) -> anyhow::Result<()> {
    let national = &gateways[0];
    let v = serde_json::json!({
        "dashboard_url": format!("{}/", national.url()),
        "auditor_url": format!("{}/#/audit", national.url()),
        "national": { "region": national.region, "url": national.url() },
        "sample_person": { "id_number": SAMPLE_ID_NUMBER, "person_key": sample_key },
        "gateways": gateways.iter().map(|g| serde_json::json!({
            "region": g.region, "name": g.name, "url": g.url(),
            "role": if g.region == NATIONAL { "national" } else { "provincial" },
        })).collect::<Vec<_>>(),
        "tokens": gateways.iter().flat_map(|g| g.tokens.iter()).map(|t| serde_json::json!({
            "role": t.role, "region": t.region, "sub": t.sub, "token": t.token,
        })).collect::<Vec<_>>(),
    });
    let path = dir.join("demo.json");
    let tmp = dir.join("demo.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&v)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

fn print_ready(gateways: &[Gateway], dir: &Path, s: &Summary, took: Duration, sample_key: &str) {
    let national = &gateways[0];
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
    for g in &gateways[1..] {
        println!("  {:<22} {}/", g.name, g.url());
    }
    println!(
        "  (the national view's figures are signed mTLS fan-outs to the provinces; each\n   \
         province's own dashboard shows its local data)"
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
