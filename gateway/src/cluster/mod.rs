//! A federation deployed on loopback: what `pesgw demo` runs, what the benches and the tests
//! start.
//!
//! [`prepare`] writes, per gateway, the directory an operator would have after following
//! `docs/operator-guide.md`:
//!
//! ```text
//! DIR/linkage.key              the federation's person-linkage key (shared by every member)
//! DIR/pki/                     the federation authority: CA, CRL, index, root key, trust list
//! DIR/<region>/gateway.toml    the config, every path in it relative to this file
//! DIR/<region>/keys/           audit-log, data, JWT issuer and linkage keys (+ witness key)
//! DIR/<region>/pki/            this gateway's certificates and keys, the CA, the CRL and the
//!                              signed trust list (copied from the authority, as an operator
//!                              receives them)
//! DIR/<region>/mappings/       the province's mapping and its code tables
//! DIR/<region>/data/           journal, store and audit log (made by the gateway)
//! ```
//!
//! [`process::Process`] starts one such directory as a `pesgw serve` child process. Nothing
//! here is specific to the demo: the demo adds synthetic pushes and sign-in tokens on top.
//!
//! A second [`prepare`] of the same directory keeps keys and data, reissues the PKI only when
//! the set of gateways changed, and signs a trust list with a higher version.

pub mod process;
mod trust;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pes_adapters::Mapping;
use ring::signature::KeyPair as _;

use crate::auth::{claims_for, issue, Role};
use crate::config::{ConfigError, GatewayConfig, SourceConfig};
use crate::keys::KeyError;

/// Region code of the national gateway (not a province: it holds no records of its own).
pub const NATIONAL: &str = "100000";

/// Provinces in start order: those with a shipped mapping first.
pub const PROVINCES: [(&str, &str); 16] = [
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

/// Name of the national gateway in the trust list.
pub const NATIONAL_NAME: &str = "全国 National";

/// Source id of national-schema NDJSON, registered on every gateway.
pub const NATIVE_SOURCE: &str = "native";

/// Why a cluster could not be prepared or started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A gateway's keys could not be made or read.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A gateway's config does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The development PKI could not be made or read.
    #[error("development PKI: {0}")]
    Certs(#[from] pes_certs::CertsError),
    /// A mapping does not load.
    #[error("mapping {path}: {message}")]
    Mapping {
        /// The mapping file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key, trust list or token could not be made or signed.
    #[error("{0}")]
    Signing(String),
    /// The requested layout does not fit (regions, ports).
    #[error("{0}")]
    Layout(String),
    /// A gateway process could not be started, or did not become ready.
    #[error("the {region} gateway: {message}")]
    Process {
        /// Region of the gateway.
        region: String,
        /// What happened, with the end of its log when there is one.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Working directory (created if missing); a later run reuses it.
    pub dir: PathBuf,
    /// Gateways to deploy, `(region code, name)`, the national one first.
    pub gateways: Vec<(String, String)>,
    /// Port of the first gateway's HTTP API; the others take the ports after it, and the
    /// federation listeners the ports after those.
    pub port: u16,
    /// Run a witness on the national gateway that cosigns every member's checkpoints.
    pub witness: bool,
    /// Provincial mappings `(file, mapping)`: a province with one gets it registered as a source.
    pub mappings: Vec<(PathBuf, Mapping)>,
}

impl Plan {
    /// The national gateway and the first `provinces` of [`PROVINCES`].
    pub fn national_and(dir: &Path, provinces: usize, port: u16) -> Result<Plan, ClusterError> {
        if !(1..=PROVINCES.len()).contains(&provinces) {
            return Err(ClusterError::Layout(format!(
                "the number of provinces must be between 1 and {}",
                PROVINCES.len()
            )));
        }
        let mut gateways = vec![(NATIONAL.to_string(), NATIONAL_NAME.to_string())];
        gateways.extend(
            PROVINCES
                .iter()
                .take(provinces)
                .map(|(r, n)| (r.to_string(), n.to_string())),
        );
        Ok(Plan {
            dir: dir.to_path_buf(),
            gateways,
            port,
            witness: false,
            mappings: Vec::new(),
        })
    }
}

/// One prepared gateway: its directory and its loaded config.
#[derive(Debug, Clone)]
pub struct Site {
    /// Region code.
    pub region: String,
    /// Name in the trust list.
    pub name: String,
    /// The gateway's directory.
    pub dir: PathBuf,
    /// `dir/gateway.toml`.
    pub config_path: PathBuf,
    /// HTTP API address.
    pub addr: SocketAddr,
    /// The config as `pesgw serve` loads it (paths made absolute).
    pub config: GatewayConfig,
    /// The mapping registered as a source, if the province has one.
    pub mapping: Option<Mapping>,
}

impl Site {
    /// `http://addr` of the HTTP API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Issues a bearer token of this gateway (signed with its JWT issuer key), as
    /// `pesgw token issue` does.
    pub fn token(
        &self,
        sub: &str,
        role: Role,
        sources: Vec<String>,
        purposes: Vec<String>,
        ttl_secs: u64,
    ) -> Result<String, ClusterError> {
        let path = &self.config.keys.jwt_issuer_key;
        let der = std::fs::read(path).map_err(io(path))?;
        let pair = crate::keys::load_ed25519(path)?;
        let kid = crate::keys::key_id(pair.public_key().as_ref());
        let claims = claims_for(sub, role, &self.region, sources, purposes, ttl_secs);
        issue(&der, &kid, &claims).map_err(|e| ClusterError::Signing(format!("token: {e}")))
    }

    /// Sources registered on this gateway.
    pub fn sources(&self) -> Vec<String> {
        self.config.sources.keys().cloned().collect()
    }

    /// Rewrites `gateway.toml` after `edit` changed the config, keeping every path relative to
    /// the directory, and reloads it.
    pub fn rewrite_config(
        &mut self,
        edit: impl FnOnce(&mut GatewayConfig),
    ) -> Result<(), ClusterError> {
        let text = std::fs::read_to_string(&self.config_path).map_err(io(&self.config_path))?;
        let mut raw: GatewayConfig = toml::from_str(&text).map_err(|e| {
            ClusterError::Config(ConfigError::Parse {
                path: self.config_path.clone(),
                message: e.to_string(),
            })
        })?;
        edit(&mut raw);
        write_config(&self.config_path, &raw)?;
        self.config = GatewayConfig::load(&self.config_path)?;
        Ok(())
    }
}

/// Prepares every gateway of `plan` in `plan.dir` (see the module docs for the layout) and
/// returns them in plan order.
pub fn prepare(plan: &Plan) -> Result<Vec<Site>, ClusterError> {
    let dir = std::path::absolute(&plan.dir).map_err(io(&plan.dir))?;
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let n = plan.gateways.len();
    let last = plan.port as usize + 2 * n;
    if n == 0 || last > u16::MAX as usize {
        return Err(ClusterError::Layout(format!(
            "{n} gateways need ports {} to {last}",
            plan.port
        )));
    }
    let linkage = linkage_key(&dir)?;
    let regions: Vec<String> = plan.gateways.iter().map(|g| g.0.clone()).collect();
    let authority = trust::Authority::open(&dir.join("pki"), &regions, plan.witness)?;
    let mut drafts = Vec::new();
    for (i, (region, name)) in plan.gateways.iter().enumerate() {
        let site_dir = dir.join(region);
        let addr: SocketAddr = ([127, 0, 0, 1], plan.port + i as u16).into();
        let fed_listen = format!("127.0.0.1:{}", plan.port as usize + n + i);
        let config_path = site_dir.join("gateway.toml");
        if !config_path.exists() {
            crate::keys::init(&site_dir, region, &addr.to_string())?;
        }
        // Every member holds the federation's linkage key, so a person has one person_key
        // everywhere (`init` made a fresh one).
        copy(&linkage, &site_dir.join("keys/linkage.key"))?;
        let mapping = plan
            .mappings
            .iter()
            .find(|(_, m)| m.region == *region)
            .map(|(file, _)| install_mapping(file, &site_dir))
            .transpose()?;
        drafts.push((
            region,
            name,
            site_dir,
            config_path,
            addr,
            fed_listen,
            mapping,
        ));
    }
    let members: Vec<trust::MemberSite> = drafts
        .iter()
        .map(
            |(region, name, site_dir, _, _, fed_listen, _)| trust::MemberSite {
                region: region.to_string(),
                name: name.to_string(),
                url: format!("https://{fed_listen}"),
                log_key_file: site_dir.join("keys/signing.key"),
            },
        )
        .collect();
    let signed = authority.sign_trust_list(&members)?;
    let mut sites = Vec::new();
    for (region, name, site_dir, config_path, addr, fed_listen, mapping) in drafts {
        authority.install(region, &site_dir, &signed)?;
        let witness_key = match (&authority.witness_key, region.as_str()) {
            (Some(k), NATIONAL) => {
                let path = site_dir.join("keys/witness.key");
                if !path.exists() {
                    write_private(&path, k.to_private_text())?;
                }
                Some(PathBuf::from("keys/witness.key"))
            }
            _ => None,
        };
        let text = std::fs::read_to_string(&config_path).map_err(io(&config_path))?;
        let mut raw: GatewayConfig = toml::from_str(&text).map_err(|e| {
            ClusterError::Config(ConfigError::Parse {
                path: config_path.clone(),
                message: e.to_string(),
            })
        })?;
        raw.listen = addr.to_string();
        raw.sources.retain(|id, _| id == NATIVE_SOURCE);
        if let Some((file, m)) = &mapping {
            raw.sources.insert(
                m.id.clone(),
                SourceConfig {
                    mapping: file.to_string_lossy().into_owned(),
                    pushers: vec![],
                },
            );
        }
        raw.federation = Some(crate::config::FederationConfig {
            listen: fed_listen,
            pki_dir: PathBuf::from("pki"),
            trust_list: PathBuf::from(trust::TRUST_LIST_FILE),
            root_key: authority.root_verifier(),
            deadline_ms: 2000,
            reload_secs: 60,
            state_dir: None,
            witness_key,
        });
        write_config(&config_path, &raw)?;
        let config = GatewayConfig::load(&config_path)?;
        sites.push(Site {
            region: region.clone(),
            name: name.clone(),
            dir: site_dir,
            config_path,
            addr,
            config,
            mapping: mapping.map(|(_, m)| m),
        });
    }
    Ok(sites)
}

/// The shipped mappings in `dir` (`(file, mapping)`, sorted by file); a mapping that does not
/// load is an error, so a broken shipped mapping is not silently left out.
pub fn load_mappings(dir: &Path) -> Result<Vec<(PathBuf, Mapping)>, ClusterError> {
    let rd = std::fs::read_dir(dir).map_err(io(dir))?;
    let mut out = Vec::new();
    for p in rd.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.extension().is_some_and(|x| x == "toml") {
            let m = Mapping::from_path(&p).map_err(|e| ClusterError::Mapping {
                path: p.clone(),
                message: e.to_string(),
            })?;
            out.push((std::path::absolute(&p).map_err(io(&p))?, m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Copies a mapping and the code-table files it names into `site/mappings/`, keeping their
/// places relative to the mapping; returns the mapping's path relative to the site and the
/// mapping as loaded from its new place.
fn install_mapping(file: &Path, site: &Path) -> Result<(PathBuf, Mapping), ClusterError> {
    let src_dir = file.parent().unwrap_or(Path::new("."));
    let dst_dir = site.join("mappings");
    let name = file
        .file_name()
        .ok_or_else(|| ClusterError::Layout(format!("{} is not a file", file.display())))?;
    std::fs::create_dir_all(&dst_dir).map_err(io(&dst_dir))?;
    copy(file, &dst_dir.join(name))?;
    let text = std::fs::read_to_string(file).map_err(io(file))?;
    for table in code_table_files(&text) {
        let rel = Path::new(&table);
        if rel.is_absolute() || rel.components().any(|c| c.as_os_str() == "..") {
            continue;
        }
        let to = dst_dir.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        copy(&src_dir.join(rel), &to)?;
    }
    let installed = dst_dir.join(name);
    let mapping = Mapping::from_path(&installed).map_err(|e| ClusterError::Mapping {
        path: installed.clone(),
        message: e.to_string(),
    })?;
    Ok((Path::new("mappings").join(name), mapping))
}

/// The `file = "..."` values of a mapping's `[code_tables.*]` sections.
fn code_table_files(mapping_text: &str) -> Vec<String> {
    let Ok(value) = mapping_text.parse::<toml::Table>() else {
        return Vec::new();
    };
    value
        .get("code_tables")
        .and_then(|t| t.as_table())
        .into_iter()
        .flat_map(|t| t.values())
        .filter_map(|t| t.get("file").and_then(|f| f.as_str()).map(str::to_owned))
        .collect()
}

/// The federation's person-linkage key at `dir/linkage.key`: made once, reused later.
pub fn linkage_key(dir: &Path) -> Result<PathBuf, ClusterError> {
    let path = dir.join("linkage.key");
    if let Ok(k) = std::fs::read(&path) {
        if k.len() != 32 {
            return Err(ClusterError::Layout(format!(
                "{} is not a 32-byte key",
                path.display()
            )));
        }
        return Ok(path);
    }
    let mut k = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k)
        .map_err(|_| ClusterError::Signing("no randomness for the linkage key".into()))?;
    write_private(&path, k)?;
    Ok(path)
}

fn write_config(path: &Path, config: &GatewayConfig) -> Result<(), ClusterError> {
    let text = config.to_toml()?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Copies `from` to `to`, keeping a private file private.
fn copy(from: &Path, to: &Path) -> Result<(), ClusterError> {
    let bytes = std::fs::read(from).map_err(io(from))?;
    if std::fs::read(to).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to).map_err(io(to))?;
    Ok(())
}

/// Writes a new file (replacing an old one) readable by its owner only.
pub fn write_private(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), ClusterError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes.as_ref()).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_table_files_are_read_from_the_mapping() {
        let text = "[code_tables.occ]\nfile = \"codes/occ.csv\"\n[code_tables.size]\nentries = { a = \"b\" }\n";
        assert_eq!(code_table_files(text), vec!["codes/occ.csv".to_string()]);
    }

    #[test]
    fn a_prepared_site_is_self_contained_and_relative() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mappings =
            load_mappings(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/mappings"))
                .expect("shipped mappings load");
        let mut plan = Plan::national_and(tmp.path(), 1, 40100).expect("plan");
        plan.mappings = mappings;
        plan.witness = true;
        let sites = prepare(&plan).expect("prepare");
        assert_eq!(sites.len(), 2);
        let gd = &sites[1];
        assert_eq!(gd.region, "440000");
        let text = std::fs::read_to_string(&gd.config_path).expect("config");
        // Nothing in the config points outside the site directory.
        assert!(!text.contains(&*tmp.path().to_string_lossy()), "{text}");
        assert!(text.contains("pki_dir = \"pki\""), "{text}");
        // The mapping's code table came along and the installed mapping loads.
        assert!(gd.dir.join("mappings/codes/gd_occupation.csv").exists());
        assert!(gd.mapping.is_some());
        // Every member holds the same linkage key; the national one holds the witness key.
        let k0 = std::fs::read(sites[0].dir.join("keys/linkage.key")).expect("key");
        assert_eq!(
            k0,
            std::fs::read(gd.dir.join("keys/linkage.key")).expect("key")
        );
        assert!(sites[0].dir.join("keys/witness.key").exists());
        assert!(!gd.dir.join("keys/witness.key").exists());
        // Only this gateway's private keys are in its pki directory.
        assert!(gd.dir.join("pki/440000/server.key").exists());
        assert!(!gd.dir.join("pki/100000").exists());
        assert!(!gd.dir.join("pki/ca.key").exists());
        // A second prepare signs a newer trust list and keeps the keys.
        let signing = std::fs::read(gd.dir.join("keys/signing.key")).expect("key");
        let before = std::fs::read_to_string(gd.dir.join(trust::TRUST_LIST_FILE)).expect("tl");
        let again = prepare(&plan).expect("prepare again");
        let after = std::fs::read_to_string(again[1].dir.join(trust::TRUST_LIST_FILE)).expect("tl");
        assert_ne!(before, after);
        assert_eq!(
            signing,
            std::fs::read(gd.dir.join("keys/signing.key")).expect("key")
        );
    }
}
