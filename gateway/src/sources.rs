//! Registered sources: for each source id, the adapter its bodies go through (a provincial
//! mapping's, or `native` for NDJSON already in the national schema) and who may push to it.
//! What a format is, which media types it takes and how one of its rows is pushed again are the
//! adapter's business (`pes_adapters`); this is only the registry.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use pes_adapters::{build_adapter, Adapter, Mapping, NativeAdapter};

use crate::config::GatewayConfig;

/// The `mapping` value that registers a source of national records.
const NATIVE: &str = "native";

/// A source's decoder could not be built (operator's fault: a bad mapping or key).
#[derive(Debug, thiserror::Error)]
#[error("source `{source_id}`: {problem}")]
pub struct SourceError {
    source_id: String,
    problem: String,
}

/// One registered source.
pub struct Source {
    adapter: Box<dyn Adapter>,
    /// Token subjects allowed to push (empty: any pusher whose token names the source).
    pub pushers: Vec<String>,
    /// The mapping's bytes (with its code tables'), to tell a changed mapping on reload.
    fingerprint: Vec<u8>,
}

impl Source {
    /// The adapter the source's bodies (and retried quarantined rows) go through.
    pub fn adapter(&self) -> &dyn Adapter {
        self.adapter.as_ref()
    }

    /// Media types the source accepts.
    pub fn content_types(&self) -> &[&'static str] {
        self.adapter.content_types()
    }

    /// Whether the media type (without parameters) is accepted.
    pub fn accepts(&self, content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.content_types().iter().any(|c| *c == essence)
    }
}

type SourceMap = HashMap<String, Arc<Source>>;

/// All registered sources. Their mappings can be re-read while the gateway runs
/// ([`Sources::reload`]): a push already decoding keeps the adapter it started with.
pub struct Sources {
    map: RwLock<Arc<SourceMap>>,
}

/// What [`Sources::reload`] found: per source, the adapter version now in force and whether it
/// changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReloadedSource {
    /// Source id.
    pub source: String,
    /// Adapter version in force (the mapping's `version`).
    pub version: String,
    /// Whether the mapping file differed from the one in force.
    pub changed: bool,
}

impl Sources {
    /// Builds every source's adapter from the config.
    pub fn load(cfg: &GatewayConfig) -> Result<Sources, SourceError> {
        Ok(Sources {
            map: RwLock::new(Arc::new(Self::build(cfg)?)),
        })
    }

    /// Re-reads every source's mapping file. All or nothing: when one mapping is refused, the
    /// error names it and the mappings in force stay. Sources are those of the config the
    /// gateway started with; adding or removing a source needs a restart.
    pub fn reload(&self, cfg: &GatewayConfig) -> Result<Vec<ReloadedSource>, SourceError> {
        let fresh = Self::build(cfg)?;
        let mut guard = self.map.write().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<ReloadedSource> = fresh
            .iter()
            .map(|(id, src)| ReloadedSource {
                source: id.clone(),
                version: src.adapter.version().to_string(),
                changed: guard
                    .get(id)
                    .is_none_or(|old| old.fingerprint != src.fingerprint),
            })
            .collect();
        out.sort_by(|a, b| a.source.cmp(&b.source));
        *guard = Arc::new(fresh);
        Ok(out)
    }

    fn build(cfg: &GatewayConfig) -> Result<SourceMap, SourceError> {
        let mut map = HashMap::new();
        for (id, sc) in &cfg.sources {
            let mut fingerprint = Vec::new();
            let adapter: Box<dyn Adapter> = if sc.mapping == NATIVE {
                Box::new(NativeAdapter::new(&cfg.region))
            } else {
                let path = Path::new(&sc.mapping);
                let mapping = Mapping::from_path(path).map_err(|e| SourceError {
                    source_id: id.clone(),
                    problem: e.to_string(),
                })?;
                // The mapping's text and its code tables' decide what a reload changed.
                fingerprint = fingerprint_of(path, &mapping);
                if mapping.region != cfg.region {
                    return Err(SourceError {
                        source_id: id.clone(),
                        problem: format!(
                            "mapping is for region {}, this gateway is {}",
                            mapping.region, cfg.region
                        ),
                    });
                }
                build_adapter(&mapping)
            };
            map.insert(
                id.clone(),
                Arc::new(Source {
                    adapter,
                    pushers: sc.pushers.clone(),
                    fingerprint,
                }),
            );
        }
        Ok(map)
    }

    /// A source by id, as in force now.
    pub fn get(&self, id: &str) -> Option<Arc<Source>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned()
    }
}

/// The bytes of a mapping file and of the code-table files it reads.
fn fingerprint_of(path: &Path, mapping: &Mapping) -> Vec<u8> {
    let mut out = std::fs::read(path).unwrap_or_default();
    for file in &mapping.code_table_files {
        out.extend_from_slice(&std::fs::read(file).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceConfig;

    /// A gateway config with one mapped source (`gd`), its mapping and code table copied into a
    /// scratch directory so the test can change them.
    fn config_with_mapping(dir: &Path) -> (GatewayConfig, std::path::PathBuf) {
        let out = crate::keys::init(dir, "440000", "127.0.0.1:0").unwrap();
        let mut cfg = GatewayConfig::load(&out.config_path).unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/mappings");
        std::fs::create_dir_all(dir.join("mappings/codes")).unwrap();
        let mapping = dir.join("mappings/gd.toml");
        std::fs::copy(shipped.join("gd_440000_csv.toml"), &mapping).unwrap();
        std::fs::copy(
            shipped.join("codes/gd_occupation.csv"),
            dir.join("mappings/codes/gd_occupation.csv"),
        )
        .unwrap();
        cfg.sources.insert(
            "gd".into(),
            SourceConfig {
                mapping: mapping.to_string_lossy().into_owned(),
                pushers: Vec::new(),
            },
        );
        (cfg, mapping)
    }

    #[test]
    fn reload_puts_a_changed_mapping_in_force_and_keeps_the_old_one_when_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, mapping) = config_with_mapping(dir.path());
        let sources = Sources::load(&cfg).unwrap();
        let before = sources.get("gd").unwrap();
        assert_eq!(before.adapter().version(), "2.3.0");

        // Nothing changed: nothing reported as changed.
        let r = sources.reload(&cfg).unwrap();
        assert!(r.iter().all(|s| !s.changed), "{r:?}");

        let text = std::fs::read_to_string(&mapping).unwrap();
        std::fs::write(
            &mapping,
            text.replace("version = \"2.3.0\"", "version = \"2.4.0\""),
        )
        .unwrap();
        let r = sources.reload(&cfg).unwrap();
        let gd = r.iter().find(|s| s.source == "gd").unwrap();
        assert!(gd.changed);
        assert_eq!(gd.version, "2.4.0");
        assert_eq!(sources.get("gd").unwrap().adapter().version(), "2.4.0");
        // A push that started before keeps the adapter it had.
        assert_eq!(before.adapter().version(), "2.3.0");

        // A code-table edit alone is a change too.
        let codes = dir.path().join("mappings/codes/gd_occupation.csv");
        let mut table = std::fs::read_to_string(&codes).unwrap();
        table.push_str("GD9999,2-02-10-03\n");
        std::fs::write(&codes, table).unwrap();
        assert!(sources
            .reload(&cfg)
            .unwrap()
            .iter()
            .any(|s| s.source == "gd" && s.changed));

        // A broken mapping is refused, naming the source, and the one in force stays.
        std::fs::write(&mapping, "id = ").unwrap();
        let e = sources.reload(&cfg).unwrap_err();
        assert!(e.to_string().contains("source `gd`"), "{e}");
        assert_eq!(sources.get("gd").unwrap().adapter().version(), "2.4.0");
    }
}
