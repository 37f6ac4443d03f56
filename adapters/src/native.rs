//! The native adapter: NDJSON of records already in the national schema, for systems that
//! normalise themselves (the gateway's `native` source). Nothing is mapped; each line is read as
//! a [`Record`], given this push's batch hash and ingest time, validated, and checked against
//! the push's envelope.

use std::io::Read;

use pes_schemas::Record;

use crate::adapter::{
    envelope_problem, Adapter, AdapterError, DecodeContext, DecodeSummary, Decoded, RowError,
    RowErrorCode, SinkError,
};
use crate::national::validate_record;

/// Media types of a native body.
const CONTENT_TYPES: &[&str] = &["application/x-ndjson", "application/jsonl"];

/// An [`Adapter`] for NDJSON of national records, one record per line.
///
/// - The whole body must be UTF-8; that is checked before any line is read, so a body that is
///   not gets [`AdapterError::Encoding`] at the offset of its first invalid byte and nothing
///   reaches the sink.
/// - Blank lines are skipped. Row locations are `line:N`, 1-based, blank lines counted.
/// - A line that is not JSON makes the whole body malformed ([`AdapterError::Malformed`] at
///   `line:N`); a line that is JSON but not a national record, a record that fails
///   [`validate_record`], and a record whose envelope is not this push's
///   ([`envelope_problem`]) each become a row error with code `invalid` (the first validator
///   code in `detail_code`), and the line is kept as the raw row.
/// - Records keep their own provenance, except the batch hash and the ingest time, which are
///   the push's.
///
/// [`Adapter::decode`] reads the whole input before its first line (the UTF-8 check above);
/// callers that hold the body already use [`Adapter::decode_bytes`], which does not copy it.
#[derive(Debug, Clone)]
pub struct NativeAdapter {
    region: String,
}

impl NativeAdapter {
    /// The native adapter of a gateway in `region` (GB/T 2260 province code).
    pub fn new(region: impl Into<String>) -> NativeAdapter {
        NativeAdapter {
            region: region.into(),
        }
    }

    /// What one non-blank line becomes; `Err` when it is not JSON at all.
    fn line(
        &self,
        line: &str,
        line_no: u64,
        ctx: &DecodeContext<'_>,
    ) -> Result<Decoded, AdapterError> {
        let location = || format!("line:{line_no}");
        let row_error = |field: Option<String>, detail_code: Option<String>, message: String| {
            Decoded::RowError(Box::new(RowError {
                location: location(),
                line: Some(line_no),
                field,
                raw_value: None,
                code: RowErrorCode::Invalid,
                detail_code,
                message,
                raw_row: line.to_string(),
            }))
        };
        let mut record = match serde_json::from_str::<Record>(line) {
            Ok(record) => record,
            Err(e) if e.is_data() => return Ok(row_error(None, None, data_error_message(&e))),
            Err(e) => {
                return Err(AdapterError::Malformed {
                    location: location(),
                    message: format!("not JSON (column {})", e.column()),
                })
            }
        };
        stamp(&mut record, ctx);
        if let Err(errors) = validate_record(&record) {
            let first = errors.first();
            let message = errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Ok(row_error(
                first.map(|e| e.path.clone()),
                first.map(|e| e.code.to_string()),
                message,
            ));
        }
        if let Some((field, message)) = envelope_problem(&record, ctx.region, ctx.source) {
            return Ok(row_error(Some(field.into()), None, message));
        }
        Ok(Decoded::Record(Box::new(record)))
    }
}

/// Sets the provenance fields that belong to the push: the batch hash and the ingest time.
fn stamp(record: &mut Record, ctx: &DecodeContext<'_>) {
    if *record.provenance.raw_sha256 != *ctx.raw_sha256 {
        record.provenance.raw_sha256 = ctx.raw_sha256.into();
    }
    if *record.provenance.ingested_at != *ctx.ingested_at {
        record.provenance.ingested_at = ctx.ingested_at.into();
    }
}

/// serde's data errors may quote the offending value, which could be protected: keep only the
/// part before any quoted value.
fn data_error_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        // These quote a field name, never a value.
        let cut = msg.find(" at line").unwrap_or(msg.len());
        return format!("not a valid national record: {}", &msg[..cut]);
    }
    let cut = msg.find(['`', '"']).unwrap_or(msg.len());
    format!("not a valid national record: {}", msg[..cut].trim())
}

impl Adapter for NativeAdapter {
    fn id(&self) -> &str {
        "native"
    }

    /// The version of the national schema the lines are read as.
    fn version(&self) -> &str {
        pes_schemas::SCHEMA_VERSION
    }

    fn region(&self) -> &str {
        &self.region
    }

    fn content_types(&self) -> &[&'static str] {
        CONTENT_TYPES
    }

    fn decode(
        &self,
        input: &mut dyn Read,
        ctx: &DecodeContext<'_>,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<DecodeSummary, AdapterError> {
        let mut body = Vec::new();
        input.read_to_end(&mut body)?;
        self.decode_bytes(&body, ctx, sink)
    }

    fn decode_bytes(
        &self,
        body: &[u8],
        ctx: &DecodeContext<'_>,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<DecodeSummary, AdapterError> {
        let text = std::str::from_utf8(body).map_err(|e| AdapterError::Encoding {
            encoding: "UTF-8".into(),
            location: format!("byte {}", e.valid_up_to()),
        })?;
        let mut summary = DecodeSummary::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            summary.rows += 1;
            let item = self.line(line, i as u64 + 1, ctx)?;
            match item {
                Decoded::Record(_) => summary.records += 1,
                // A native row is one record: its error is a failed row of its own.
                Decoded::RowError(_) => {
                    summary.row_errors += 1;
                    summary.failed_rows += 1;
                }
                Decoded::FailedRow(_) => {}
            }
            sink(item)?;
        }
        Ok(summary)
    }

    /// The line itself: native rows stand alone.
    fn retry_body(&self, raw_row: &str, _header: Option<&str>, _location: &str) -> Option<Vec<u8>> {
        Some(format!("{raw_row}\n").into_bytes())
    }

    fn mask_row(&self, raw_row: &str, _header: Option<&str>) -> String {
        crate::row_mask::mask_native(raw_row)
    }
}

#[cfg(test)]
mod tests {
    use super::data_error_message;

    fn message_of(line: &str) -> String {
        let e = serde_json::from_str::<pes_schemas::Record>(line).unwrap_err();
        assert!(e.is_data(), "{e}");
        data_error_message(&e)
    }

    #[test]
    fn data_errors_name_fields_but_never_quote_values() {
        let m = message_of(r#"{"record_id":"x"}"#);
        assert!(
            m.starts_with("not a valid national record: missing field `"),
            "{m}"
        );
        assert!(!m.contains(" at line"), "{m}");
        // A wrongly typed value is quoted by serde; the message stops before it.
        let m = message_of(r#"{"record_id":"x","record_version":"110101199003077777"}"#);
        assert!(!m.contains("110101199003077777"), "{m}");
        assert!(
            m.starts_with("not a valid national record: invalid type"),
            "{m}"
        );
    }
}
