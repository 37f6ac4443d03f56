//! A real `pesgw serve` child process on 127.0.0.1 with real sled in a temporary directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pes_gateway::auth::{claims_for, issue, Claims, Role};
use pes_gateway::config::{GatewayConfig, SourceConfig};
use ring::signature::KeyPair;
use serde_json::Value;

pub const REGION: &str = "440000";
pub const SOURCE: &str = "gd-hr";

pub struct Gateway {
    pub region: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub cfg: GatewayConfig,
    pub base: String,
    child: Option<Child>,
    der: Vec<u8>,
    kid: String,
    pub http: reqwest::blocking::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Gateway {
    /// Initialises a gateway with a native source `gd-hr`; `tweak` may change the config.
    pub fn start_with(tweak: impl FnOnce(&mut GatewayConfig)) -> Gateway {
        Gateway::start_in(REGION, tweak)
    }

    /// A gateway of another region.
    pub fn start_in(region: &str, tweak: impl FnOnce(&mut GatewayConfig)) -> Gateway {
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
        let mut g = Gateway {
            region: region.to_string(),
            dir,
            config_path: out.config_path,
            base: format!("http://127.0.0.1:{port}"),
            cfg,
            child: None,
            der,
            kid,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        };
        g.spawn();
        g
    }

    pub fn start() -> Gateway {
        Gateway::start_with(|_| {})
    }

    pub fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_pesgw"))
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..400 {
            if self
                .http
                .get(format!("{}/healthz", self.base))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("gateway did not start");
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        issue(&self.der, &self.kid, claims).unwrap()
    }

    pub fn token(&self, role: Role, sources: &[&str], purposes: &[&str]) -> String {
        let c = claims_for(
            &format!("{}-test", role.as_str()),
            role,
            &self.region,
            sources.iter().map(|s| s.to_string()).collect(),
            purposes.iter().map(|s| s.to_string()).collect(),
            600,
        );
        self.sign(&c)
    }

    pub fn pusher(&self) -> String {
        self.token(Role::Pusher, &[SOURCE], &[])
    }

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
            .http
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

    pub fn push(&self, body: Vec<u8>, wait: bool) -> Value {
        let (status, v, _) =
            self.push_raw(SOURCE, &self.pusher(), "application/x-ndjson", body, wait);
        assert_eq!(status, 200, "{v}");
        v
    }

    pub fn query(&self, q: Value) -> Value {
        let r = self
            .http
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

    pub fn wait_applied(&self) {
        for _ in 0..2000 {
            let v: Value = self
                .http
                .get(format!("{}/readyz", self.base))
                .send()
                .unwrap()
                .json()
                .unwrap();
            if v["as_of"]["applied_offset"] == v["as_of"]["journal_offset"] {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("never applied");
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        self.http
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

    /// Every audit log entry (reads of the log included), read as [`Gateway::audit_events`].
    pub fn audit_entries(&self, min: usize, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        let auditor = self.token(Role::Auditor, &[], &[]);
        let mut last = Vec::new();
        for _ in 0..300 {
            let r = self
                .http
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
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}
