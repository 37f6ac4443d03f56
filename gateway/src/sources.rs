//! Registered sources: for each source id, the adapter its bodies go through (a provincial
//! mapping's, or `native` for NDJSON already in the national schema) and who may push to it.
//! What a format is, which media types it takes and how one of its rows is pushed again are the
//! adapter's business (`pes_adapters`); this is only the registry.

use std::collections::HashMap;
use std::path::Path;

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

/// All registered sources.
pub struct Sources {
    map: HashMap<String, Source>,
}

impl Sources {
    /// Builds every source's adapter from the config.
    pub fn load(cfg: &GatewayConfig) -> Result<Sources, SourceError> {
        let mut map = HashMap::new();
        for (id, sc) in &cfg.sources {
            let adapter: Box<dyn Adapter> = if sc.mapping == NATIVE {
                Box::new(NativeAdapter::new(&cfg.region))
            } else {
                let mapping =
                    Mapping::from_path(Path::new(&sc.mapping)).map_err(|e| SourceError {
                        source_id: id.clone(),
                        problem: e.to_string(),
                    })?;
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
                Source {
                    adapter,
                    pushers: sc.pushers.clone(),
                },
            );
        }
        Ok(Sources { map })
    }

    /// A source by id.
    pub fn get(&self, id: &str) -> Option<&Source> {
        self.map.get(id)
    }
}
