//! The adapter a mapping builds: the mapping is the plugin (one config struct, one `build`).

use std::io::Read;

use crate::adapter::{Adapter, AdapterError, DecodeContext, DecodeSummary, Decoded, SinkError};
use crate::encoding;
use crate::formats;
use crate::mapping::{EncodingName, Format, Mapping};

/// An [`Adapter`] driven by a declarative [`Mapping`].
#[derive(Debug, Clone)]
pub struct MappedAdapter {
    mapping: Mapping,
}

impl MappedAdapter {
    /// Wraps a checked mapping.
    pub fn new(mapping: Mapping) -> Self {
        MappedAdapter { mapping }
    }

    /// The mapping this adapter runs.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }
}

/// Builds the adapter for a mapping.
pub fn build_adapter(mapping: &Mapping) -> Box<dyn Adapter> {
    Box::new(MappedAdapter::new(mapping.clone()))
}

impl Adapter for MappedAdapter {
    fn id(&self) -> &str {
        &self.mapping.id
    }

    fn version(&self) -> &str {
        &self.mapping.version
    }

    fn region(&self) -> &str {
        &self.mapping.region
    }

    fn content_types(&self) -> &[&'static str] {
        match self.mapping.format {
            Format::Csv { .. } => &["text/csv", "application/csv", "text/plain"],
            Format::FixedWidth { .. } => &["text/plain", "application/octet-stream"],
            Format::Json {
                layout: crate::mapping::JsonLayout::Array,
            } => &["application/json"],
            Format::Json { .. } => &[
                "application/x-ndjson",
                "application/jsonl",
                "application/json",
            ],
            Format::Xml { .. } => &["application/xml", "text/xml"],
        }
    }

    fn decode(
        &self,
        input: &mut dyn Read,
        ctx: &DecodeContext<'_>,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<DecodeSummary, AdapterError> {
        let summary = match self.mapping.format {
            Format::Csv { .. } => formats::csv::decode(&self.mapping, input, ctx, sink),
            Format::FixedWidth { .. } => {
                formats::fixed_width::decode(&self.mapping, input, ctx, sink)
            }
            Format::Json { .. } => formats::json::decode(&self.mapping, input, ctx, sink),
            Format::Xml { .. } => formats::xml::decode(&self.mapping, input, ctx, sink),
        }?;
        tracing::debug!(adapter = %self.mapping.id, rows = summary.rows, records = summary.records, row_errors = summary.row_errors, "decoded");
        Ok(summary)
    }

    fn retry_header(&self, body: &[u8]) -> Option<String> {
        match self.mapping.format {
            Format::Csv {
                header: true,
                encoding,
                ..
            } => Some(formats::csv::header_line(body, encoding)),
            _ => None,
        }
    }

    fn retry_body(&self, raw_row: &str, header: Option<&str>, location: &str) -> Option<Vec<u8>> {
        let (text, encoding) = match &self.mapping.format {
            Format::Csv {
                header: has_header,
                encoding,
                ..
            } => (
                formats::csv::retry_text(raw_row, header, *has_header)?,
                *encoding,
            ),
            Format::FixedWidth {
                encoding,
                skip_lines,
                ..
            } => (
                formats::fixed_width::retry_text(raw_row, *skip_lines),
                *encoding,
            ),
            Format::Json { layout } => (
                formats::json::retry_text(raw_row, *layout),
                EncodingName::Utf8,
            ),
            Format::Xml { encoding } => (formats::xml::retry_text(raw_row, location)?, *encoding),
        };
        Some(encoding::encode(&text, encoding))
    }

    fn mask_row(&self, raw_row: &str, header: Option<&str>) -> String {
        crate::row_mask::mask_row(&self.mapping, raw_row, header)
    }
}
