//! Real `pesgw serve` processes on 127.0.0.1 for the fault suite: started with extra environment
//! (the journal's test-only fault variables), killed with SIGKILL, restarted on the same ports and
//! data, their stderr kept in a log file so a failure can show what the gateway said.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pes_gateway::auth::{claims_for, issue, Role};
use pes_gateway::config::FederationConfig;
use pes_gateway::config::{GatewayConfig, SourceConfig};
use ring::signature::KeyPair as _;
use serde_json::Value;

/// The native NDJSON source every test gateway registers.
pub const SOURCE: &str = "native-test";

/// A free 127.0.0.1 port (closed again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking HTTP client for 127.0.0.1 (no proxy).
pub fn client(timeout: Duration) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .unwrap()
}

/// One gateway: its directory (keys, config, data), its process when running.
pub struct Proc {
    pub region: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub cfg: GatewayConfig,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Extra environment of the process (e.g. fault injection).
    pub env: Vec<(String, String)>,
    /// Where the process's stderr goes (appended across restarts).
    pub log: PathBuf,
    pub http: reqwest::blocking::Client,
    child: Option<Child>,
    der: Vec<u8>,
    kid: String,
}

/// Federation settings of a gateway in a test federation.
pub struct FedSettings<'a> {
    pub pki_dir: &'a Path,
    pub trust_list: &'a Path,
    pub root_key: &'a str,
    pub fed_port: u16,
    pub deadline_ms: u64,
    pub linkage_key: &'a Path,
}

impl Proc {
    /// Initialises a gateway of `region` (keys, config with source [`SOURCE`], `k = 1` so small
    /// counts are exact) without starting it; `tweak` may change the config.
    pub fn create(region: &str, tweak: impl FnOnce(&mut GatewayConfig)) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let out =
            pes_gateway::keys::init(dir.path(), region, &format!("127.0.0.1:{port}")).unwrap();
        let mut cfg = GatewayConfig::load(&out.config_path).unwrap();
        cfg.sources.insert(
            SOURCE.into(),
            SourceConfig {
                mapping: "native".into(),
                pushers: vec![],
            },
        );
        cfg.k = 1;
        tweak(&mut cfg);
        std::fs::write(&out.config_path, cfg.to_toml().unwrap()).unwrap();
        let cfg = GatewayConfig::load(&out.config_path).unwrap();
        let der = std::fs::read(&cfg.keys.jwt_issuer_key).unwrap();
        let kid = pes_gateway::keys::key_id(
            pes_gateway::keys::load_ed25519(&cfg.keys.jwt_issuer_key)
                .unwrap()
                .public_key()
                .as_ref(),
        );
        let log = dir.path().join("pesgw.log");
        Proc {
            region: region.to_string(),
            config_path: out.config_path,
            cfg,
            base: format!("http://127.0.0.1:{port}"),
            env: Vec::new(),
            log,
            http: client(Duration::from_secs(60)),
            child: None,
            der,
            kid,
            dir,
        }
    }

    /// A gateway with a `[federation]` section.
    pub fn create_federated(region: &str, fed: &FedSettings<'_>) -> Proc {
        Proc::create(region, |c| {
            c.keys.linkage_key = fed.linkage_key.to_owned();
            c.federation = Some(FederationConfig {
                listen: format!("127.0.0.1:{}", fed.fed_port),
                pki_dir: fed.pki_dir.to_owned(),
                trust_list: fed.trust_list.to_owned(),
                root_key: fed.root_key.to_owned(),
                deadline_ms: fed.deadline_ms,
                reload_secs: 3600,
                state_dir: None,
                witness_key: None,
            });
        })
    }

    /// The data directory (journal, store, audit log).
    pub fn data_dir(&self) -> PathBuf {
        self.cfg.data_dir.clone()
    }

    /// Starts `pesgw serve` and waits until `/healthz` answers.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_healthy();
    }

    /// Starts `pesgw serve` without waiting.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.region);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pesgw"));
        cmd.args(["serve", "--config"])
            .arg(&self.config_path)
            .env("RUST_LOG", "warn")
            .env_remove(pes_gateway::ingest::journal::FAULT_FSYNC_ENV)
            .env_remove(pes_gateway::ingest::journal::FAULT_ENOSPC_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
    }

    /// Waits until `/healthz` answers (a restart replays the journal first).
    pub fn wait_healthy(&mut self) {
        let until = Instant::now() + Duration::from_secs(120);
        let quick = client(Duration::from_secs(2));
        while Instant::now() < until {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    panic!(
                        "{} exited at start ({status}):\n{}",
                        self.region,
                        self.log_tail(40)
                    );
                }
            }
            if quick
                .get(format!("{}/healthz", self.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "{} did not become healthy:\n{}",
            self.region,
            self.log_tail(40)
        );
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The last `n` lines the process wrote to stderr.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A token of this gateway's issuer, valid for an hour.
    pub fn token(&self, role: Role, sub: &str, sources: &[&str], purposes: &[&str]) -> String {
        let c = claims_for(
            sub,
            role,
            &self.region,
            sources.iter().map(|s| s.to_string()).collect(),
            purposes.iter().map(|s| s.to_string()).collect(),
            3600,
        );
        issue(&self.der, &self.kid, &c).unwrap()
    }

    pub fn pusher(&self) -> String {
        self.token(Role::Pusher, "pusher-1", &[SOURCE], &[])
    }

    pub fn auditor(&self) -> String {
        self.token(Role::Auditor, "auditor-1", &[], &[])
    }

    /// Pushes an NDJSON body: status, JSON answer, `Retry-After`.
    pub fn push(&self, body: Vec<u8>, wait: bool) -> reqwest::Result<Pushed> {
        push_to(&self.http, &self.base, &self.pusher(), body, wait)
    }

    /// Total records of a dataset from this region's rollups.
    pub fn total(&self, dataset: &str) -> i64 {
        let r = self
            .http
            .post(format!("{}/v1/query", self.base))
            .bearer_auth(self.token(Role::Analyst, "analyst-1", &[], &[]))
            .json(&serde_json::json!({ "dataset": dataset }))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().unwrap();
        v["cells"]
            .as_array()
            .unwrap()
            .first()
            .map(|c| c["count"].as_i64().unwrap())
            .unwrap_or(0)
    }

    /// `/readyz`: status and body.
    pub fn readyz(&self) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/readyz", self.base))
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    /// Waits until the store has applied everything the journal acknowledged.
    pub fn wait_applied(&self) {
        for _ in 0..6000 {
            let (_, v) = self.readyz();
            if v["as_of"]["applied_offset"] == v["as_of"]["journal_offset"] {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{} never applied:\n{}", self.region, self.log_tail(40));
    }

    /// The log's verifier key (`name+keyid+key`).
    pub fn verifier_key(&self) -> String {
        let text = std::fs::read_to_string(&self.cfg.keys.signing_key).unwrap();
        pes_gateway::signed_note::SigningKey::parse(text.trim())
            .unwrap()
            .verifier()
            .to_string()
    }

    /// The signing key of the audit log.
    pub fn signing_key(&self) -> pes_gateway::signed_note::SigningKey {
        let text = std::fs::read_to_string(&self.cfg.keys.signing_key).unwrap();
        pes_gateway::signed_note::SigningKey::parse(text.trim()).unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- last lines of {} ({}):\n{}",
                self.region,
                self.log.display(),
                self.log_tail(25)
            );
        }
        self.kill();
    }
}

/// The answer to a push.
#[derive(Debug)]
pub struct Pushed {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub retry_after: Option<String>,
}

/// Pushes to `base` with `token`.
pub fn push_to(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    body: Vec<u8>,
    wait: bool,
) -> reqwest::Result<Pushed> {
    let url = format!(
        "{base}/v1/ingest/{SOURCE}{}",
        if wait { "?wait=applied" } else { "" }
    );
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()?;
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let body = r.json().unwrap_or(Value::Null);
    Ok(Pushed {
        status,
        body,
        content_type,
        retry_after,
    })
}

/// Records `range` of the native sample for `region` that pass national validation (the sample
/// draws prefectures some provinces lack), as an NDJSON body and their record ids.
pub fn valid_batch(range: std::ops::Range<u64>, region: &str) -> (Vec<u8>, Vec<String>) {
    let mut body = Vec::new();
    let mut ids = Vec::new();
    for i in range {
        let r = pes_gateway::native_sample::record(i, region, SOURCE, 1);
        if pes_schemas::validate::validate_record(&r).is_ok() {
            serde_json::to_writer(&mut body, &r).unwrap();
            body.push(b'\n');
            ids.push(r.record_id.to_string());
        }
    }
    (body, ids)
}

/// Runs `pesgw` with `args`: success and stdout + stderr.
pub fn pesgw(args: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(args)
        .env_remove("PESGW_TOKEN")
        .env_remove("PES_TOKEN")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// The store of a stopped gateway after the journal is replayed into it (what a restart does),
/// checked to have set no entry aside as a dead letter.
pub fn replayed_store(data_dir: &Path) -> std::sync::Arc<dyn pes_gateway::store::RecordStore> {
    use pes_gateway::ingest::apply::{replay, ApplyState};
    let store = pes_gateway::store::open(
        &data_dir.join("store"),
        &pes_gateway::config::StoreTuning::default(),
    )
    .unwrap();
    let state = ApplyState::new(
        pes_gateway::query::rollup::Rollups::rebuild(&*store).unwrap(),
        store.applied_offset().unwrap(),
    );
    let dead = pes_gateway::store::dead_letter::payload_dir(data_dir);
    replay(&*store, &state, &data_dir.join("journal"), &dead).unwrap();
    // Every journaled entry applied: none was set aside.
    assert_eq!(
        store.dead_letters().unwrap().len(),
        0,
        "dead letters in {}",
        data_dir.display()
    );
    store
}

/// Records of the three sample datasets in a store.
pub fn store_count(store: &std::sync::Arc<dyn pes_gateway::store::RecordStore>) -> i64 {
    use pes_schemas::RecordType;
    [
        RecordType::Person,
        RecordType::JobSeekerRegistration,
        RecordType::Vacancy,
    ]
    .into_iter()
    .map(|t| store.count_type(t) as i64)
    .sum()
}

/// The datasets the native sample fills.
pub const DATASETS: [&str; 3] = ["person", "job_seeker_registration", "vacancy"];

/// Purpose and legal basis of the person lookups the tests make.
pub const LOOKUP_PURPOSE: &str = "case_management";
pub const LOOKUP_BASIS: &str = "就业服务与就业管理规定 第六十二条";

/// The files a test federation shares: PKI, signed trust list, root key, linkage key.
pub struct FedFiles {
    pub pki: crate::fed::Pki,
    pub trust: pes_gateway::federation::trust::TrustList,
    pub trust_path: PathBuf,
    pub root_key: String,
    pub linkage: PathBuf,
}

impl FedFiles {
    /// A PKI for `regions`, a trust list naming them at `fed_ports` on 127.0.0.1 (policies allow
    /// statistics and person lookups for case management), signed by a fresh root.
    pub fn new(regions: &[&str], fed_ports: &[u16]) -> FedFiles {
        let pki = crate::fed::Pki::new(regions);
        let mut trust = crate::fed::policy_trust(&pki, regions, 1, fed_ports);
        for p in &mut trust.policies {
            p.purposes.push(LOOKUP_PURPOSE.into());
        }
        let root = pes_gateway::signed_note::SigningKey::generate(
            "pes-federation-root",
            pes_gateway::signed_note::KeyType::Ed25519,
        )
        .unwrap();
        let trust_path = pki.path().join("federation.json");
        std::fs::write(
            &trust_path,
            pes_gateway::federation::trust::sign_trust_list(&trust, &root).unwrap(),
        )
        .unwrap();
        let linkage = pki.path().join("linkage.key");
        std::fs::write(&linkage, [7u8; 32]).unwrap();
        FedFiles {
            root_key: root.verifier().to_string(),
            pki,
            trust,
            trust_path,
            linkage,
        }
    }

    /// Settings of the member of `region` listening for peers on `fed_port`.
    pub fn settings(&self, fed_port: u16, deadline_ms: u64) -> FedSettings<'_> {
        FedSettings {
            pki_dir: self.pki.path(),
            trust_list: &self.trust_path,
            root_key: &self.root_key,
            fed_port,
            deadline_ms,
            linkage_key: &self.linkage,
        }
    }
}
