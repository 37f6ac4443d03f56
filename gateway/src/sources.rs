//! Registered sources and the decoder each one pushes through: a provincial mapping's adapter
//! (`pes_adapters`), or `native` NDJSON already in the national schema.

use std::collections::HashMap;
use std::path::Path;

use pes_adapters::mapping::{EncodingName, Format, JsonLayout};
use pes_adapters::{
    build_adapter, Adapter, AdapterError, DecodeContext, Decoded, Mapping, SinkError,
};
use pes_schemas::person_key::PersonKeyer;

use crate::config::GatewayConfig;
use crate::ingest::decode::{decode_native, EntrySink, RowProblem, NATIVE_CONTENT_TYPES};
use crate::ingest::IngestError;

/// A source's decoder could not be built (operator's fault: a bad mapping or key).
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
    /// A provincial mapping's adapter (and its format, to rebuild a body from one row).
    Mapped(Box<dyn Adapter>, Box<Format>),
}

fn encoding_of(format: &Format) -> Option<&EncodingName> {
    match format {
        Format::Csv { encoding, .. }
        | Format::FixedWidth { encoding, .. }
        | Format::Xml { encoding } => Some(encoding),
        Format::Json { .. } => None,
    }
}

/// Wraps a quarantined XML item back into its ancestors, from the item's location
/// (`/Export/Employers/Employer[3]`, maybe followed by a nested path): the adapter only reads
/// items at their absolute path. `None` when the location does not name the raw item's element.
fn xml_retry_text(raw_row: &str, location: &str) -> Option<String> {
    let path = location.split('[').next()?.strip_prefix('/')?;
    let segs: Vec<&str> = path.split('/').collect();
    let (item, ancestors) = segs.split_last()?;
    let rest = raw_row.trim_start().strip_prefix('<')?.strip_prefix(item)?;
    if !rest.starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace()) {
        return None;
    }
    let mut text = String::with_capacity(raw_row.len() + 2 * path.len() + 8);
    for a in ancestors {
        text.push_str(&format!("<{a}>"));
    }
    text.push_str(raw_row);
    for a in ancestors.iter().rev() {
        text.push_str(&format!("</{a}>"));
    }
    text.push('\n');
    Some(text)
}

fn encode(text: &str, enc: Option<&EncodingName>) -> Vec<u8> {
    match enc {
        Some(EncodingName::Gb18030) | Some(EncodingName::Gbk) => {
            encoding_rs::GB18030.encode(text).0.into_owned()
        }
        _ => text.as_bytes().to_vec(),
    }
}

fn decode_text(bytes: &[u8], enc: Option<&EncodingName>) -> String {
    match enc {
        Some(EncodingName::Gb18030) | Some(EncodingName::Gbk) => {
            encoding_rs::GB18030.decode(bytes).0.into_owned()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
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
            Decoder::Mapped(a, _) => a.content_types(),
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
    pub fn decode(
        &self,
        body: &[u8],
        keyer: &PersonKeyer,
        sink: &mut EntrySink<'_>,
    ) -> Result<(), IngestError> {
        let (adapter, format) = match &self.decoder {
            Decoder::Native => return decode_native(body, sink),
            Decoder::Mapped(a, f) => (a, f),
        };
        if let Format::Csv { header: true, .. } = **format {
            let first = body.split(|b| *b == b'\n').next().unwrap_or_default();
            sink.header = Some(
                decode_text(first, encoding_of(format))
                    .trim_end_matches('\r')
                    .to_string(),
            );
        }
        let input = sink.input();
        let (region, source, ingested_at) = (input.region, input.source, input.ingested_at);
        let raw = hex::encode(input.batch_id);
        let ctx = DecodeContext {
            region,
            source,
            raw_sha256: &raw,
            ingested_at,
            keyer,
        };
        // The sink's own failure (say, the row cap) is kept here and returned as itself.
        let mut failed: Option<IngestError> = None;
        let mut on_item = |item: Decoded| -> Result<(), SinkError> {
            let r = match item {
                Decoded::Record(record) => {
                    let location = record.provenance.location.clone();
                    sink.record(*record, location, String::new)
                }
                Decoded::RowError(e) => sink.row_error(RowProblem {
                    row: 0,
                    location: e.location.clone(),
                    field: e.field.clone(),
                    code: e
                        .detail_code
                        .clone()
                        .unwrap_or_else(|| e.code.as_str().to_string()),
                    message: e.message.clone(),
                    raw_row: e.raw_row.clone(),
                }),
            };
            r.map_err(|e| {
                let msg = e.to_string();
                failed = Some(e);
                SinkError(msg)
            })
        };
        let result = adapter.decode(&mut &body[..], &ctx, &mut on_item);
        if let Some(e) = failed {
            return Err(e);
        }
        match result {
            Ok(_) => Ok(()),
            Err(AdapterError::Encoding { encoding, location }) => {
                Err(IngestError::Encoding { encoding, location })
            }
            Err(AdapterError::Malformed { location, message })
            | Err(AdapterError::Refused { location, message }) => {
                Err(IngestError::Malformed { location, message })
            }
            Err(e) => Err(IngestError::Io(e.to_string())),
        }
    }
}

impl Source {
    /// Rebuilds a body holding one quarantined row (with the export's header where it has
    /// one, an XML item inside its ancestors), in the source's encoding; `None` when the row
    /// cannot be placed alone.
    pub fn retry_body(
        &self,
        raw_row: &str,
        header: Option<&str>,
        location: &str,
    ) -> Option<Vec<u8>> {
        match &self.decoder {
            Decoder::Native => Some(format!("{raw_row}\n").into_bytes()),
            Decoder::Mapped(_, format) => {
                let text = match &**format {
                    Format::Csv { header: true, .. } => format!("{}\n{raw_row}\n", header?),
                    Format::Csv { .. } => format!("{raw_row}\n"),
                    Format::FixedWidth { skip_lines, .. } => {
                        format!("{}{raw_row}\n", "\n".repeat(*skip_lines))
                    }
                    Format::Json {
                        layout: JsonLayout::Array,
                    } => format!("[{raw_row}]"),
                    Format::Json { .. } => format!("{raw_row}\n"),
                    Format::Xml { .. } => xml_retry_text(raw_row, location)?,
                };
                Some(encode(&text, encoding_of(format)))
            }
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
                Decoder::Mapped(build_adapter(&mapping), Box::new(mapping.format.clone()))
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

#[cfg(test)]
mod tests {
    use super::xml_retry_text;

    #[test]
    fn a_quarantined_xml_item_is_put_back_inside_its_ancestors() {
        let raw = r#"<Employer id="E1" version="2"><Name>x</Name></Employer>"#;
        assert_eq!(
            xml_retry_text(raw, "/Export/Employers/Employer[3]").as_deref(),
            Some(format!("<Export><Employers>{raw}</Employers></Export>\n").as_str())
        );
        // A nested location (a record per child element) still names the item first.
        assert!(xml_retry_text(raw, "/Export/Employers/Employer[3]/Sites/Site[2]").is_some());
        assert!(xml_retry_text("<Employer/>", "/Export/Employer[1]").is_some());
        // The location must name the raw item's own element.
        assert_eq!(xml_retry_text(raw, "/Export/Vacancies/Vacancy[1]"), None);
        assert_eq!(xml_retry_text(raw, "/Export/Employers/Employ[1]"), None);
        assert_eq!(xml_retry_text(raw, "line:3"), None);
    }
}
