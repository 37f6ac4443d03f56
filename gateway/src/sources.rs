//! Registered sources and the decoder each one pushes through.

use std::collections::HashMap;

use crate::config::GatewayConfig;
use crate::ingest::decode::{decode_native, EntrySink, NATIVE_CONTENT_TYPES};
use crate::ingest::IngestError;

/// A source's decoder could not be built (operator's fault: a bad mapping).
#[derive(Debug, thiserror::Error)]
#[error("source `{source_id}`: {problem}")]
pub struct SourceError {
    source_id: String,
    problem: String,
}

/// How a source's bodies are decoded.
enum Decoder {
    /// NDJSON of records already in the national schema.
    Native,
}

/// One registered source.
pub struct Source {
    decoder: Decoder,
    /// Token subjects allowed to push (empty: any pusher whose token names the source).
    pub pushers: Vec<String>,
}

impl Source {
    /// Media types the source accepts.
    pub fn content_types(&self) -> &[&'static str] {
        match &self.decoder {
            Decoder::Native => NATIVE_CONTENT_TYPES,
        }
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

    /// Decodes a body into the sink.
    pub fn decode(&self, body: &[u8], sink: &mut EntrySink<'_>) -> Result<(), IngestError> {
        match &self.decoder {
            Decoder::Native => decode_native(body, sink),
        }
    }
}

/// All registered sources.
pub struct Sources {
    map: HashMap<String, Source>,
}

impl Sources {
    /// Builds every source's decoder from the config.
    pub fn load(cfg: &GatewayConfig) -> Result<Sources, SourceError> {
        let mut map = HashMap::new();
        for (id, sc) in &cfg.sources {
            let decoder = if sc.mapping == "native" {
                Decoder::Native
            } else {
                return Err(SourceError {
                    source_id: id.clone(),
                    problem: "mapping-based adapters are not wired in yet".into(),
                });
            };
            map.insert(
                id.clone(),
                Source {
                    decoder,
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
