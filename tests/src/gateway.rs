//! [`TestGateway`]: one gateway as a real `pesgw serve` child process on 127.0.0.1, with real
//! sled in a temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pes_gateway::auth::{issue, Claims, Role};
use pes_gateway::cluster::process::Process;
use pes_gateway::cluster::Site;
use pes_gateway::config::{FederationConfig, GatewayConfig, SourceConfig};
use pes_gateway::ingest::journal::{FAULT_ENOSPC_ENV, FAULT_FSYNC_ENV};
use ring::signature::KeyPair as _;
use serde_json::Value;

use crate::http::{client, free_port, push_to, Pushed};

/// Region of a gateway started without naming one (Guangdong).
pub const REGION: &str = "440000";

/// The native NDJSON source every test gateway registers.
pub const SOURCE: &str = "gd-hr";

/// Lifetime of the tokens the harness issues.
const TOKEN_TTL_SECS: u64 = 3600;

type Tweak<'a> = Box<dyn FnOnce(&mut GatewayConfig) + 'a>;

/// How to make a [`TestGateway`]; from [`TestGateway::builder`] or
/// [`crate::TestFederation::member`].
pub struct GatewayBuilder<'a> {
    exe: PathBuf,
    region: String,
    k: Option<u64>,
    federation: Option<FederationConfig>,
    linkage_key: Option<PathBuf>,
    env: Vec<(String, String)>,
    tweaks: Vec<Tweak<'a>>,
}

impl<'a> GatewayBuilder<'a> {
    /// The gateway's region (default [`REGION`]).
    pub fn region(mut self, region: &str) -> Self {
        self.region = region.to_string();
        self
    }

    /// The minimum cell size of answers (`k = 1` makes small counts exact).
    pub fn k(mut self, k: u64) -> Self {
        self.k = Some(k);
        self
    }

    /// A `[federation]` section.
    pub fn federation(mut self, federation: FederationConfig) -> Self {
        self.federation = Some(federation);
        self
    }

    /// The person-linkage key file (a federation shares one).
    pub fn linkage_key(mut self, path: &Path) -> Self {
        self.linkage_key = Some(path.to_path_buf());
        self
    }

    /// An environment variable of the process (every start).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Changes the config after the harness's own settings.
    pub fn config(mut self, tweak: impl FnOnce(&mut GatewayConfig) + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Writes keys and config; nothing runs yet (see [`TestGateway::run`]).
    pub fn create(self) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let (site, cfg) = write_site(dir.path(), &self.region, |cfg| {
            if let Some(k) = self.k {
                cfg.k = k;
            }
            if let Some(path) = self.linkage_key {
                cfg.keys.linkage_key = path;
            }
            cfg.federation = self.federation;
            for tweak in self.tweaks {
                tweak(cfg);
            }
        });
        TestGateway {
            region: self.region,
            config_path: site.config_path.clone(),
            cfg,
            base: site.url(),
            env: self.env,
            log: site.dir.join("gateway.log"),
            exe: self.exe,
            site,
            process: None,
            http: OnceLock::new(),
            dir,
        }
    }

    /// [`GatewayBuilder::create`], then [`TestGateway::run`].
    pub fn start(self) -> TestGateway {
        let mut g = self.create();
        g.run();
        g
    }
}

/// Initialises a gateway in `dir` (keys, config with source [`SOURCE`], a free API port on
/// 127.0.0.1), lets `edit` change the config and writes it; the site and the config as
/// `pesgw serve` loads it.
pub(crate) fn write_site(
    dir: &Path,
    region: &str,
    edit: impl FnOnce(&mut GatewayConfig),
) -> (Site, GatewayConfig) {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let out = pes_gateway::keys::init(dir, region, &addr.to_string()).unwrap();
    let mut cfg = GatewayConfig::load(&out.config_path).unwrap();
    cfg.sources.insert(
        SOURCE.into(),
        SourceConfig {
            mapping: "native".into(),
            pushers: vec![],
        },
    );
    edit(&mut cfg);
    std::fs::write(&out.config_path, cfg.to_toml().unwrap()).unwrap();
    let cfg = GatewayConfig::load(&out.config_path).unwrap();
    let site = Site {
        region: region.to_string(),
        name: format!("region {region}"),
        dir: dir.to_path_buf(),
        config_path: out.config_path,
        addr,
        config: cfg.clone(),
        mapping: None,
    };
    (site, cfg)
}

/// A token of `site`'s issuer, valid for `ttl_secs`.
pub(crate) fn site_token(
    site: &Site,
    role: Role,
    sub: &str,
    sources: &[&str],
    purposes: &[&str],
    ttl_secs: u64,
) -> String {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    site.token(sub, role, strings(sources), strings(purposes), ttl_secs)
        .unwrap()
}

/// One gateway: its directory (keys, config, data), its `pesgw serve` process when running
/// (SIGKILLed on drop), and blocking helpers to call its API.
///
/// The blocking helpers must not be called from an async test (reqwest's blocking client
/// refuses to run inside a runtime): there, use [`TestGateway::ready`] and an async client.
pub struct TestGateway {
    /// Region code.
    pub region: String,
    /// The gateway's directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// `dir/gateway.toml`.
    pub config_path: PathBuf,
    /// The config as `pesgw serve` loads it.
    pub cfg: GatewayConfig,
    /// `http://127.0.0.1:<port>` of the HTTP API.
    pub base: String,
    /// Extra environment of the process (e.g. fault injection), read at every start.
    pub env: Vec<(String, String)>,
    /// Where the process's stdout and stderr go (appended across restarts).
    pub log: PathBuf,
    exe: PathBuf,
    site: Site,
    process: Option<Process>,
    http: OnceLock<reqwest::blocking::Client>,
}

impl TestGateway {
    /// A builder of a gateway run from `exe` (the `pesgw` binary: [`crate::pesgw!`]).
    pub fn builder<'a>(exe: impl AsRef<Path>) -> GatewayBuilder<'a> {
        GatewayBuilder {
            exe: exe.as_ref().to_path_buf(),
            region: REGION.to_string(),
            k: None,
            federation: None,
            linkage_key: None,
            env: Vec::new(),
            tweaks: Vec::new(),
        }
    }

    /// A running gateway of [`REGION`] with the native source [`SOURCE`].
    pub fn start(exe: impl AsRef<Path>) -> TestGateway {
        TestGateway::builder(exe).start()
    }

    /// [`TestGateway::start`] after `tweak` changed the config.
    pub fn start_with(exe: impl AsRef<Path>, tweak: impl FnOnce(&mut GatewayConfig)) -> Self {
        TestGateway::builder(exe).config(tweak).start()
    }

    /// A running gateway of another region.
    pub fn start_in(
        exe: impl AsRef<Path>,
        region: &str,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> TestGateway {
        TestGateway::builder(exe)
            .region(region)
            .config(tweak)
            .start()
    }

    /// The data directory (journal, store, audit log).
    pub fn data_dir(&self) -> PathBuf {
        self.cfg.data_dir.clone()
    }

    /// A blocking HTTP client for 127.0.0.1 (made at first use, so an async test that never
    /// calls it does not make one).
    pub fn http(&self) -> &reqwest::blocking::Client {
        self.http.get_or_init(|| client(Duration::from_secs(120)))
    }

    /// Starts `pesgw serve` and waits until `/healthz` answers (a restart replays the journal
    /// first).
    pub fn run(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Starts `pesgw serve` without waiting.
    pub fn spawn(&mut self) {
        assert!(self.process.is_none(), "{} is already running", self.region);
        // The journal's fault injection is switched on only where a test asks for it.
        for var in [FAULT_FSYNC_ENV, FAULT_ENOSPC_ENV] {
            assert!(
                std::env::var_os(var).is_none() || self.env.iter().any(|(k, _)| k == var),
                "{var} is set in the test's environment: unset it"
            );
        }
        let mut env: Vec<(&str, &str)> = vec![("RUST_LOG", "warn"), ("PES_LOG_FORMAT", "text")];
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.process = Some(Process::spawn(&self.exe, &self.site, &env).unwrap());
    }

    /// Waits until `/healthz` answers 200; panics with the end of the log if the process exits
    /// or is not up within two minutes.
    pub fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(120);
        let quick = client(Duration::from_secs(2));
        while Instant::now() < until {
            self.check_alive();
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

    /// [`TestGateway::push`] for async tests: national NDJSON to [`SOURCE`] as pusher `pusher`,
    /// waiting until applied; asserts the 200 and returns the answer.
    pub async fn push_async(&self, http: &reqwest::Client, body: Vec<u8>) -> Value {
        let r = http
            .post(format!("{}/v1/ingest/{SOURCE}?wait=applied", self.base))
            .bearer_auth(self.token_as(Role::Pusher, "pusher", &[SOURCE], &[]))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    /// [`TestGateway::metrics`] for async tests.
    pub async fn metrics_async(&self, http: &reqwest::Client) -> String {
        http.get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// [`TestGateway::wait_ready`] for async tests.
    pub async fn ready(&mut self) {
        let http = reqwest::Client::new();
        for _ in 0..2400 {
            self.check_alive();
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} never became healthy:\n{}", self.base, self.log_tail(40));
    }

    fn check_alive(&mut self) {
        if let Some(status) = self.process.as_mut().and_then(|p| p.exit_status()) {
            self.process = None;
            panic!(
                "{} exited at start ({status}):\n{}",
                self.region,
                self.log_tail(40)
            );
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.wait_or_kill(Duration::ZERO);
        }
    }

    /// SIGTERM, as a service manager stops it; SIGKILL if it takes longer than
    /// [`pes_gateway::cluster::process::STOP_GRACE`].
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.process.take().and_then(|mut p| p.stop())
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }

    /// Everything the process wrote (all starts).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines the process wrote.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Signs `claims` with this gateway's JWT issuer key.
    pub fn sign(&self, claims: &Claims) -> String {
        let path = &self.cfg.keys.jwt_issuer_key;
        let der = std::fs::read(path).unwrap();
        let kid = pes_gateway::keys::key_id(
            pes_gateway::keys::load_ed25519(path)
                .unwrap()
                .public_key()
                .as_ref(),
        );
        issue(&der, &kid, claims).unwrap()
    }

    /// A token of `role` for subject `<role>-test`.
    pub fn token(&self, role: Role, sources: &[&str], purposes: &[&str]) -> String {
        self.token_as(role, &format!("{}-test", role.as_str()), sources, purposes)
    }

    /// A token of `role` for subject `sub`.
    pub fn token_as(&self, role: Role, sub: &str, sources: &[&str], purposes: &[&str]) -> String {
        site_token(&self.site, role, sub, sources, purposes, TOKEN_TTL_SECS)
    }

    /// A pusher token for [`SOURCE`].
    pub fn pusher(&self) -> String {
        self.token(Role::Pusher, &[SOURCE], &[])
    }

    /// An auditor token.
    pub fn auditor(&self) -> String {
        self.token(Role::Auditor, &[], &[])
    }

    /// Pushes `body` to `source`: status, JSON answer (or null), content type.
    pub fn push_raw(
        &self,
        source: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
        wait: bool,
    ) -> (u16, Value, String) {
        let url = format!(
            "{}/v1/ingest/{source}{}",
            self.base,
            if wait { "?wait=applied" } else { "" }
        );
        let r = self
            .http()
            .post(url)
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, r.json().unwrap_or(Value::Null), ct)
    }

    /// Pushes NDJSON to [`SOURCE`], asserting 200; the JSON answer.
    pub fn push(&self, body: Vec<u8>, wait: bool) -> Value {
        let (status, v, _) =
            self.push_raw(SOURCE, &self.pusher(), "application/x-ndjson", body, wait);
        assert_eq!(status, 200, "{v}");
        v
    }

    /// Pushes NDJSON to [`SOURCE`], whatever the answer (or a transport error).
    pub fn try_push(&self, body: Vec<u8>, wait: bool) -> reqwest::Result<Pushed> {
        push_to(self.http(), &self.base, &self.pusher(), body, wait)
    }

    /// `POST /v1/query` as an analyst, asserting 200; the answer.
    pub fn query(&self, q: Value) -> Value {
        let r = self
            .http()
            .post(format!("{}/v1/query", self.base))
            .bearer_auth(self.token(Role::Analyst, &[], &[]))
            .json(&q)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().unwrap()
    }

    /// Total records of a dataset (k = 1 in tests that need exact small counts).
    pub fn total(&self, dataset: &str) -> i64 {
        let v = self.query(serde_json::json!({ "dataset": dataset }));
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
            .http()
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

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        self.http()
            .get(format!("{}/metrics", self.base))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// Audit log entries read over `GET /v1/audit/entries`, waiting until at least `min` are
    /// integrated. The entries of reads of the log itself (`audit_read`, one per read, this
    /// helper's included) are left out, so indices into the answer stay comparable between
    /// calls.
    pub fn audit_events(&self, min: usize) -> Vec<Value> {
        self.audit_entries(min, |e| e["action"] != "audit_read")
    }

    /// Every audit log entry `keep` accepts, read as [`TestGateway::audit_events`].
    pub fn audit_entries(&self, min: usize, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        let auditor = self.auditor();
        let mut last = Vec::new();
        for _ in 0..300 {
            let r = self
                .http()
                .get(format!("{}/v1/audit/entries", self.base))
                .bearer_auth(&auditor)
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            last = r
                .text()
                .unwrap()
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .filter(|e| keep(e))
                .collect();
            if last.len() >= min {
                return last;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        last
    }

    /// The signing key of the audit log.
    pub fn signing_key(&self) -> pes_gateway::signed_note::SigningKey {
        let text = std::fs::read_to_string(&self.cfg.keys.signing_key).unwrap();
        pes_gateway::signed_note::SigningKey::parse(text.trim()).unwrap()
    }

    /// The log's verifier key (`name+keyid+key`).
    pub fn verifier_key(&self) -> String {
        self.signing_key().verifier().to_string()
    }
}

impl Drop for TestGateway {
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
