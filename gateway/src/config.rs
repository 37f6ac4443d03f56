//! `gateway.toml`: the regional gateway's configuration.
//!
//! Loading never panics: every problem becomes a [`ConfigError`] that names the key at fault and
//! what is wrong with it, so an operator can fix the file without reading code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole configuration of one regional gateway.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// GB/T 2260 province code of this gateway's region, e.g. `440000`.
    pub region: String,
    /// Address the HTTP API listens on, e.g. `127.0.0.1:8440`.
    pub listen: String,
    /// Directory that holds the journal, the sled store and the audit log.
    #[schemars(extend("format" = "path"))]
    pub data_dir: PathBuf,
    /// Key files (relative paths are taken from the config file's directory).
    pub keys: KeyFiles,
    /// Registered sources: source id to mapping and allowed pushers.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Limits on ingest.
    #[serde(default)]
    pub limits: Limits,
    /// The record store: sled in `data_dir` (the default), or a PostgreSQL database. sled's
    /// two values are always set explicitly (sled's defaults are 1 GiB / 500 ms).
    #[serde(default)]
    pub store: StoreTuning,
    /// Small-cell suppression threshold: cells from fewer than `k` records are suppressed.
    #[serde(default = "default_k")]
    pub k: u64,
    /// How refusals reach the audit log.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Snapshots, retirement and retention of stored records.
    #[serde(default)]
    pub lifecycle: LifecycleSettings,
    /// Optional federation side: the mTLS listener for peers and the trust list. Without it the
    /// gateway answers for its own region only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<FederationConfig>,
    /// The dashboard.
    #[serde(default, skip_serializing_if = "UiSettings::is_default")]
    pub ui: UiSettings,
    /// Vacancy search (`POST /v1/vacancies/search`).
    #[serde(default, skip_serializing_if = "SearchSettings::is_default")]
    pub search: SearchSettings,
}

/// Settings of vacancy search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Lets anyone search this gateway's vacancies without a token (a public job board):
    /// vacancies are public data, and each anonymous search is audited as such. Off by default:
    /// a search then needs a token of role `analyst`, `caseworker` or `admin`. Default false.
    #[serde(default)]
    pub public: bool,
}

impl SearchSettings {
    fn is_default(&self) -> bool {
        *self == SearchSettings::default()
    }
}

/// Settings of the dashboard served at `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    /// Ready-made sign-in tokens offered by the dashboard's role picker
    /// (`GET /ui/demo/tokens.json`), a JSON file that `pesgw demo` writes. Only for
    /// demonstrations: anyone who can reach the gateway can read these tokens. Unset (the
    /// default), the route answers 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demo_tokens: Option<PathBuf>,
}

impl UiSettings {
    fn is_default(&self) -> bool {
        *self == UiSettings::default()
    }
}

/// Paths of the key files.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyFiles {
    /// Ed25519 signing key of this gateway (signed-note private key text; its name is the audit
    /// log origin).
    #[schemars(extend("format" = "path"))]
    pub signing_key: PathBuf,
    /// AES-256 data key (32 raw bytes) that encrypts protected fields and quarantined rows.
    #[schemars(extend("format" = "path"))]
    pub data_key: PathBuf,
    /// Ed25519 JWT issuer key (PKCS#8 DER) used by `pesgw token issue`.
    #[schemars(extend("format" = "path"))]
    pub jwt_issuer_key: PathBuf,
    /// JWKS file with the public keys accepted for bearer tokens, pinned by `kid`.
    #[schemars(extend("format" = "path"))]
    pub jwks: PathBuf,
    /// Federation linkage key (raw bytes) that turns ID numbers into person keys; shared by
    /// every gateway of the federation.
    #[schemars(extend("format" = "path"))]
    pub linkage_key: PathBuf,
}

/// One registered source (a provincial system that pushes exports).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Adapter mapping TOML file (a relative path is taken from the config file's directory),
    /// or the word `native` for NDJSON already in the national schema.
    pub mapping: String,
    /// Token subjects allowed to push to this source; empty means any pusher whose token names
    /// the source.
    #[serde(default)]
    pub pushers: Vec<String>,
}

/// `[federation]` settings of a gateway.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    /// mTLS listener for peers, e.g. `127.0.0.1:9443`.
    pub listen: String,
    /// PKI directory written by `pesgw certs init`: `ca.pem`, `crl.pem`, and `<region>/` with
    /// this gateway's certificates and keys (layout of `pes_certs::GatewayPaths`).
    #[schemars(extend("format" = "path"))]
    pub pki_dir: PathBuf,
    /// Signed trust list (`federation.json`), re-read every `reload_secs` and on SIGHUP.
    #[schemars(extend("format" = "path"))]
    pub trust_list: PathBuf,
    /// National root verifier key (`name+keyid+key`).
    pub root_key: String,
    /// Per-peer deadline in milliseconds.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Seconds between reloads of the trust list and the CRL.
    #[serde(default = "default_reload_secs")]
    pub reload_secs: u64,
    /// Federation state kept across restarts (the last accepted trust-list version). A config
    /// file loaded by `pesgw serve` defaults it to `<data_dir>/federation` (only a config built
    /// in code can leave it unset and keep no state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "path"))]
    pub state_dir: Option<PathBuf>,
    /// This gateway's witness cosigning key (signed-note private key text of type 0x04, from
    /// `pesgw audit keygen --witness`). With it the gateway cosigns the checkpoints members
    /// submit; its verifier key goes in the trust list's `witnesses` with `member` set to this
    /// region. Needs `state_dir` (the witness state lives in `<state_dir>/witness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "path"))]
    pub witness_key: Option<PathBuf>,
}

fn default_deadline_ms() -> u64 {
    2000
}

fn default_reload_secs() -> u64 {
    10
}

/// Limits on ingest.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted, in bytes (read as a stream, refused with 413 past it).
    pub max_body_bytes: u64,
    /// Most rows one batch may hold.
    pub max_rows_per_batch: u64,
    /// Most pushes one pusher may have in flight at once (429 past it).
    pub max_concurrent_pushes_per_pusher: u32,
    /// Most journaled batches the store may be behind before pushes wait for it.
    pub max_apply_lag_batches: u64,
    /// Most rows of one batch that may fail and be quarantined; past it the whole batch is
    /// refused (422 `too-many-bad-rows`) as soon as the row is read, and nothing of it is kept.
    pub max_quarantined_rows: u64,
    /// Largest share (0 to 1) of a batch's rows that may fail, checked once the batch has at
    /// least 1,000 failed rows ([`BAD_SHARE_MIN_ROWS`]); past it the batch is refused like above.
    pub max_quarantined_share: f64,
    /// Memory all pushes in flight together may hold for bodies and the entries decoded from
    /// them, in bytes. A push that would go past it waits briefly, then gets 503 with
    /// Retry-After. Must be at least 3 times `max_body_bytes` ([`INGEST_MEMORY_FACTOR`]).
    pub ingest_memory_bytes: u64,
    /// Seconds a push may send no body bytes before it is answered 408 `body-read-timeout`.
    pub body_read_timeout_secs: u64,
}

/// Failed rows a batch must have before [`Limits::max_quarantined_share`] is checked, so a
/// small batch with a few bad rows is never refused for its share.
pub const BAD_SHARE_MIN_ROWS: u64 = 1000;

/// Bytes of the ingest memory budget one body byte reserves: the body itself plus the journal
/// entry decoded from it (sealed records are about 1.25 times the body).
pub const INGEST_MEMORY_FACTOR: u64 = 3;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 256 * 1024 * 1024,
            max_rows_per_batch: 2_000_000,
            max_concurrent_pushes_per_pusher: 4,
            max_apply_lag_batches: 256,
            max_quarantined_rows: 10_000,
            max_quarantined_share: 0.5,
            ingest_memory_bytes: 1024 * 1024 * 1024,
            body_read_timeout_secs: 30,
        }
    }
}

/// `[store]`: which record store, and its settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreTuning {
    /// `sled` (default: embedded, in `data_dir/store`) or `postgres` (a PostgreSQL 13+
    /// database the operator runs, with its replication and backups; see docs/decisions.md,
    /// "PostgreSQL store").
    #[schemars(with = "String", extend("enum" = ["sled", "postgres"]))]
    pub engine: StoreEngine,
    /// sled page cache, in MiB.
    pub cache_capacity_mib: u64,
    /// sled background flush interval, in milliseconds.
    pub flush_every_ms: u64,
    /// With `engine = "postgres"`: the database, as a libpq-style URL without a password, e.g.
    /// `postgres://pesgw@127.0.0.1:5432/pes` or `postgres://pesgw@localhost/pes?host=/run/postgresql`
    /// (a unix socket). Connections are not encrypted: use a loopback address or a unix socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// With `engine = "postgres"`: a file holding the database password (its first line),
    /// relative to the config file. A password in `url` is refused, so it never reaches a log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "path"))]
    pub password_file: Option<PathBuf>,
    /// With `engine = "postgres"`: the name of an environment variable holding the database
    /// password (read when the gateway starts), instead of `password_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// With `engine = "postgres"`: the schema holding this region's tables (created on first
    /// start, migrated on later ones). Default `pes`.
    pub schema: String,
}

/// The record store's engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// sled, embedded in the gateway's data directory.
    #[default]
    Sled,
    /// A PostgreSQL database.
    Postgres,
}

impl Default for StoreTuning {
    fn default() -> Self {
        StoreTuning {
            engine: StoreEngine::Sled,
            cache_capacity_mib: 32,
            flush_every_ms: 1000,
            url: None,
            password_file: None,
            password_env: None,
            schema: "pes".into(),
        }
    }
}

fn default_k() -> u64 {
    5
}

/// `[audit]`: how refusals reach the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Seconds per interval over which anonymous refusals (no token, a malformed one, a bad
    /// signature) are aggregated: per client address and reason, the first refusal of an
    /// interval is logged at once and the rest as one entry with their `count` when it ends.
    /// Default 60.
    pub anonymous_refusal_interval_secs: u64,
    /// Most client addresses aggregated in one interval; refusals from further addresses are
    /// counted under the client `other`. Bounds the aggregator's memory. Default 10,000.
    pub anonymous_refusal_max_clients: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            anonymous_refusal_interval_secs: 60,
            anonymous_refusal_max_clients: 10_000,
        }
    }
}

/// `[lifecycle]`: how records leave the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleSettings {
    /// The largest share of a source's stored records (in the snapshot's record types) that a
    /// committed snapshot may retire on its own; one that would retire more waits for an
    /// admin's confirmation, so a truncated export cannot wipe a province. Default 0.2.
    pub snapshot_max_retire_share: f64,
    /// Seconds between two retention runs (also run at start and by
    /// `POST /v1/admin/retention`). Default 3600.
    pub retention_interval_secs: u64,
    /// Days a retired record is kept (as a tombstone: out of every answer, but it still stops
    /// an older copy from coming back) before retention deletes it. Default 90.
    pub purge_retired_after_days: u64,
    /// Months after its last change that a record of a type expires (is retired by
    /// retention), by record type, e.g. `job_seeker_registration = 18`. Types not listed
    /// never expire. Default: none.
    pub expire_after_months: BTreeMap<String, u32>,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        LifecycleSettings {
            snapshot_max_retire_share: 0.2,
            retention_interval_secs: 3600,
            purge_retired_after_days: 90,
            expire_after_months: BTreeMap::new(),
        }
    }
}

/// A configuration problem, naming the key and what is wrong (the operator's fault).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (the message names the key).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's description, which names the key and line.
        message: String,
    },
    /// A key has a value that is not allowed.
    #[error("config key `{key}`: {problem}")]
    Invalid {
        /// Dotted key path.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

impl GatewayConfig {
    /// Reads, parses and checks a config file; relative paths are resolved against its folder.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg: GatewayConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        cfg.check()?;
        Ok(cfg)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.keys.signing_key);
        fix(&mut self.keys.data_key);
        fix(&mut self.keys.jwt_issuer_key);
        fix(&mut self.keys.jwks);
        fix(&mut self.keys.linkage_key);
        if let Some(f) = &mut self.federation {
            fix(&mut f.pki_dir);
            fix(&mut f.trust_list);
            if let Some(k) = &mut f.witness_key {
                fix(k);
            }
            match &mut f.state_dir {
                Some(d) => fix(d),
                None => f.state_dir = Some(self.data_dir.join("federation")),
            }
        }
        if let Some(p) = &mut self.ui.demo_tokens {
            fix(p);
        }
        if let Some(p) = &mut self.store.password_file {
            fix(p);
        }
        for src in self.sources.values_mut() {
            if src.mapping != "native" && Path::new(&src.mapping).is_relative() {
                src.mapping = base.join(&src.mapping).to_string_lossy().into_owned();
            }
        }
    }

    /// The `[store]` keys: a PostgreSQL store needs its URL (without a password) and a schema
    /// name that is a plain SQL identifier.
    fn check_store(&self) -> Result<(), ConfigError> {
        let st = &self.store;
        if st.engine != StoreEngine::Postgres {
            return Ok(());
        }
        let Some(url) = &st.url else {
            return Err(invalid(
                "store.url",
                "is required with engine = \"postgres\"",
            ));
        };
        if let Err(problem) = check_url(url) {
            return Err(invalid("store.url", problem));
        }
        if st.password_file.is_some() && st.password_env.is_some() {
            return Err(invalid(
                "store.password_file",
                "set either password_file or password_env, not both",
            ));
        }
        check_schema(&st.schema).map_err(|p| invalid("store.schema", p))
    }

    /// Checks values that TOML types alone cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !is_province_code(&self.region) {
            return Err(invalid(
                "region",
                format!(
                    "`{}` is not a GB/T 2260 province code (six digits ending in 0000)",
                    self.region
                ),
            ));
        }
        self.listen_addr()?;
        if self.k == 0 {
            return Err(invalid("k", "must be at least 1"));
        }
        self.check_store()?;
        if let Some(f) = &self.federation {
            if f.listen.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    "federation.listen",
                    format!("`{}` is not an address such as 127.0.0.1:9443", f.listen),
                ));
            }
            if f.deadline_ms == 0 {
                return Err(invalid("federation.deadline_ms", "must be positive"));
            }
        }
        if self.limits.max_body_bytes == 0 {
            return Err(invalid("limits.max_body_bytes", "must be positive"));
        }
        if self.limits.max_rows_per_batch == 0 {
            return Err(invalid("limits.max_rows_per_batch", "must be positive"));
        }
        if self.limits.max_concurrent_pushes_per_pusher == 0 {
            return Err(invalid(
                "limits.max_concurrent_pushes_per_pusher",
                "must be positive",
            ));
        }
        if self.limits.max_apply_lag_batches == 0 {
            return Err(invalid("limits.max_apply_lag_batches", "must be positive"));
        }
        if !(0.0..=1.0).contains(&self.limits.max_quarantined_share) {
            return Err(invalid(
                "limits.max_quarantined_share",
                "must be between 0 and 1",
            ));
        }
        let per_push = self
            .limits
            .max_body_bytes
            .saturating_mul(INGEST_MEMORY_FACTOR);
        if self.limits.ingest_memory_bytes < per_push {
            return Err(invalid(
                "limits.ingest_memory_bytes",
                format!(
                    "must be at least {per_push} ({INGEST_MEMORY_FACTOR} x limits.max_body_bytes), \
                     or a push of the largest allowed body could never run"
                ),
            ));
        }
        if self.limits.body_read_timeout_secs == 0 {
            return Err(invalid("limits.body_read_timeout_secs", "must be positive"));
        }
        if self.audit.anonymous_refusal_interval_secs == 0 {
            return Err(invalid(
                "audit.anonymous_refusal_interval_secs",
                "must be positive",
            ));
        }
        if self.audit.anonymous_refusal_max_clients == 0 {
            return Err(invalid(
                "audit.anonymous_refusal_max_clients",
                "must be positive",
            ));
        }
        if !(0.0..=1.0).contains(&self.lifecycle.snapshot_max_retire_share) {
            return Err(invalid(
                "lifecycle.snapshot_max_retire_share",
                "must be between 0 and 1",
            ));
        }
        if self.lifecycle.retention_interval_secs == 0 {
            return Err(invalid(
                "lifecycle.retention_interval_secs",
                "must be positive",
            ));
        }
        for t in self.lifecycle.expire_after_months.keys() {
            if pes_schemas::RecordType::parse(t).is_none() {
                return Err(invalid(
                    format!("lifecycle.expire_after_months.{t}"),
                    format!(
                        "not a record type (known: {})",
                        pes_schemas::RecordType::ALL.map(|t| t.as_str()).join(", ")
                    ),
                ));
            }
        }
        if self.store.cache_capacity_mib == 0 {
            return Err(invalid("store.cache_capacity_mib", "must be positive"));
        }
        if self.store.flush_every_ms == 0 {
            return Err(invalid("store.flush_every_ms", "must be positive"));
        }
        for (id, src) in &self.sources {
            let valid_id = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid_id {
                return Err(invalid(
                    format!("sources.{id}"),
                    "source ids use lower-case letters, digits and '-' only",
                ));
            }
            if src.mapping != "native" && !Path::new(&src.mapping).is_file() {
                return Err(invalid(
                    format!("sources.{id}.mapping"),
                    format!("mapping file {} does not exist", src.mapping),
                ));
            }
        }
        for (key, path) in [
            ("keys.signing_key", &self.keys.signing_key),
            ("keys.data_key", &self.keys.data_key),
            ("keys.jwks", &self.keys.jwks),
            ("keys.linkage_key", &self.keys.linkage_key),
        ] {
            if !path.is_file() {
                return Err(invalid(
                    key,
                    format!("file {} does not exist", path.display()),
                ));
            }
        }
        Ok(())
    }

    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8440", self.listen),
            )
        })
    }

    /// Writes the config as TOML.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| invalid("(whole file)", e.to_string()))
    }
}

/// Whether `code` looks like a GB/T 2260 province-level code (`NN0000`).
pub fn is_province_code(code: &str) -> bool {
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && code.ends_with("0000")
        && !code.starts_with("00")
}

/// Checks a `[store] url`: it must parse, and must not hold a password (a URL is logged and
/// shown; the password comes from `password_file` or `password_env`).
pub fn check_url(url: &str) -> Result<(), String> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("is not a PostgreSQL URL: {e}"))?;
    if config.get_password().is_some() {
        return Err("holds a password: put it in password_file or password_env".into());
    }
    Ok(())
}

/// Checks a schema name: 1-63 characters of a-z, 0-9 and `_`, not starting with a digit (it is
/// written into SQL as an identifier, so nothing else is allowed).
pub fn check_schema(schema: &str) -> Result<(), String> {
    let ident = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if schema.is_empty()
        || schema.len() > 63
        || !schema.chars().all(ident)
        || schema.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err("must be 1-63 characters of a-z, 0-9 and _, not starting with a digit".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        for f in ["signing.key", "data.key", "jwks.json", "linkage.key"] {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let p = dir.join("gateway.toml");
        std::fs::write(&p, body).unwrap();
        p
    }

    const GOOD: &str = r#"
region = "440000"
listen = "127.0.0.1:8440"
data_dir = "data"
[keys]
signing_key = "signing.key"
data_key = "data.key"
jwt_issuer_key = "jwt.key"
jwks = "jwks.json"
linkage_key = "linkage.key"
[sources.gd-hr]
mapping = "native"
"#;

    #[test]
    fn good_config_loads_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = GatewayConfig::load(&write(dir.path(), GOOD)).unwrap();
        assert_eq!(cfg.k, 5);
        assert_eq!(cfg.limits.max_body_bytes, 256 * 1024 * 1024);
        assert_eq!(cfg.data_dir, dir.path().join("data"));
    }

    #[test]
    fn bad_region_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            GatewayConfig::load(&write(dir.path(), &GOOD.replace("440000", "441234"))).unwrap_err();
        assert!(err.to_string().contains("`region`"), "{err}");
    }

    #[test]
    fn bad_listen_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = GatewayConfig::load(&write(
            dir.path(),
            &GOOD.replace("127.0.0.1:8440", "nowhere"),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("`listen`"), "{err}");
    }

    #[test]
    fn missing_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = GatewayConfig::load(&write(
            dir.path(),
            &GOOD.replace("region = \"440000\"\n", ""),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("region"), "{err}");
        let err =
            GatewayConfig::load(&write(dir.path(), &format!("colour = 1\n{GOOD}"))).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn missing_mapping_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = GatewayConfig::load(&write(
            dir.path(),
            &GOOD.replace("\"native\"", "\"gd.toml\""),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("sources.gd-hr.mapping"), "{err}");
    }

    #[test]
    fn federation_section_is_optional_resolved_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = GatewayConfig::load(&write(dir.path(), GOOD)).unwrap();
        assert!(cfg.federation.is_none());
        let fed = "[federation]\nlisten = \"127.0.0.1:9443\"\npki_dir = \"pki\"\ntrust_list = \"pki/federation.json\"\nroot_key = \"root+abcd+AQ\"\n";
        let cfg = GatewayConfig::load(&write(dir.path(), &format!("{GOOD}{fed}"))).unwrap();
        let f = cfg.federation.unwrap();
        assert_eq!(f.deadline_ms, 2000);
        assert_eq!(f.pki_dir, dir.path().join("pki"));
        assert_eq!(f.trust_list, dir.path().join("pki/federation.json"));
        assert_eq!(f.state_dir, Some(cfg.data_dir.join("federation")));
        let bad = fed.replace("127.0.0.1:9443", "nowhere");
        let err = GatewayConfig::load(&write(dir.path(), &format!("{GOOD}{bad}"))).unwrap_err();
        assert!(err.to_string().contains("`federation.listen`"), "{err}");
    }
}
