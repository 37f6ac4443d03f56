//! The [`Adapter`] trait and what flows out of it: records, row errors, summaries and faults.

use std::fmt;

use pes_schemas::Record;

use crate::national::PersonKeyer;

/// What an adapter needs to know about the push it decodes.
pub struct DecodeContext<'a> {
    /// GB/T 2260 province code of the gateway (the pusher's region).
    pub region: &'a str,
    /// Registered source id the batch was pushed for.
    pub source: &'a str,
    /// Lower-case hex SHA-256 of the raw batch (the batch id).
    pub raw_sha256: &'a str,
    /// RFC 3339 UTC ingest time, stamped on every record.
    pub ingested_at: &'a str,
    /// Turns raw ID numbers into pseudonymous person keys.
    pub keyer: &'a PersonKeyer,
}

/// One item an adapter hands to its sink, in input order.
#[derive(Debug)]
pub enum Decoded {
    /// A normalised record that passed validation.
    Record(Box<Record>),
    /// A row (or nested element) that could not become a valid record. With atomic rows (a
    /// mapping's `atomic_rows`, the default) a mapped adapter sends [`Decoded::FailedRow`]
    /// instead; the native adapter's rows hold one record each, so each of its row errors is a
    /// failed row of its own.
    RowError(Box<RowError>),
    /// A source row none of whose records is sent because one of them failed (atomic rows):
    /// every problem of the row, together, once the row ends.
    FailedRow(Box<FailedRow>),
}

/// A source row (CSV or fixed-width line, JSON or XML item with its nested elements) that yields
/// no record, with all of its problems.
#[derive(Debug, Clone)]
pub struct FailedRow {
    /// 0-based index of the row among the input's source rows (a header not counted).
    pub row: u64,
    /// The row's problems in the order its records were built; never empty. Each holds the
    /// row's raw text and names where in the row it is (`row:5`, `/3/registrations/0`).
    pub problems: Vec<RowError>,
}

/// The sink refused an item (for example the client went away); decoding stops.
#[derive(Debug, thiserror::Error)]
#[error("sink refused item: {0}")]
pub struct SinkError(pub String);

/// Counts of one decode run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecodeSummary {
    /// Rows, elements or lines read from the input (not counting a header).
    pub rows: u64,
    /// Records sent to the sink.
    pub records: u64,
    /// Row errors (problems) found, whether sent alone or within failed rows.
    pub row_errors: u64,
    /// Source rows with at least one row error (with atomic rows: the rows of which no record
    /// was sent).
    pub failed_rows: u64,
}

/// Stable machine-readable codes of row errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowErrorCode {
    /// A required field is empty or absent.
    Missing,
    /// A date matched none of the listed formats.
    BadDate,
    /// A number could not be read.
    BadNumber,
    /// A value is not among the allowed ones (enumeration or boolean).
    BadValue,
    /// A local code is not in the mapping's code table.
    UnknownLocalCode,
    /// An ID number failed GB 11643 checks.
    BadIdNumber,
    /// A row has the wrong shape (field count, line length, not an object).
    BadRow,
    /// The record failed schema validation (see the message for the validator's code).
    Invalid,
}

impl RowErrorCode {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            RowErrorCode::Missing => "missing",
            RowErrorCode::BadDate => "bad_date",
            RowErrorCode::BadNumber => "bad_number",
            RowErrorCode::BadValue => "bad_value",
            RowErrorCode::UnknownLocalCode => "unknown_local_code",
            RowErrorCode::BadIdNumber => "bad_id_number",
            RowErrorCode::BadRow => "bad_row",
            RowErrorCode::Invalid => "invalid",
        }
    }
}

/// A row that could not become a valid record. Fault: the pushing system's data.
///
/// `raw_row` holds the raw text so the gateway can quarantine it for a fixed re-push; it may hold
/// protected data, so [`fmt::Debug`] and [`fmt::Display`] leave it out.
#[derive(Clone, serde::Serialize)]
pub struct RowError {
    /// Where: `row:12`, `line:7`, a JSON Pointer (`/3/registrations/0`) or an XML path.
    pub location: String,
    /// 1-based line of the input where the row starts, when known.
    pub line: Option<u64>,
    /// Target field path in the national record (`person.birth_date`), if the error is about one.
    pub field: Option<String>,
    /// The raw value, masked if the field is protected.
    pub raw_value: Option<String>,
    /// Stable error code.
    pub code: RowErrorCode,
    /// Validator code when `code` is `invalid` (e.g. `division_unknown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_code: Option<String>,
    /// Human-readable message; never holds protected values.
    pub message: String,
    /// The raw row text (decoded to UTF-8), for quarantine and retry.
    #[serde(skip)]
    pub raw_row: String,
}

impl fmt::Debug for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowError")
            .field("location", &self.location)
            .field("line", &self.line)
            .field("field", &self.field)
            .field("raw_value", &self.raw_value)
            .field("code", &self.code)
            .field("detail_code", &self.detail_code)
            .field("message", &self.message)
            .field("raw_row", &format_args!("<{} bytes>", self.raw_row.len()))
            .finish()
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.code.as_str())?;
        if let Some(field) = &self.field {
            write!(f, " [{field}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a decode run stopped early. Every good row before the fault has already reached the sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The input is malformed at the given place (broken quoting, truncated document, bad
    /// nesting). Fault: the pushing system.
    #[error("malformed input at {location}: {message}")]
    Malformed {
        /// Line/byte position, e.g. `line 12, byte 4031`.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The bytes are not valid in the declared encoding. Fault: the pushing system.
    #[error("invalid byte sequence for {encoding} at {location}")]
    Encoding {
        /// Declared encoding.
        encoding: String,
        /// Where.
        location: String,
    },
    /// The input declares a DTD or uses entities other than the XML built-ins. Refused so that
    /// no entity expansion can happen. Fault: the pushing system.
    #[error("refused XML at {location}: {message}")]
    Refused {
        /// Where.
        location: String,
        /// What was refused.
        message: String,
    },
    /// Reading the input failed. Fault: the transport.
    #[error("reading input failed: {0}")]
    Io(#[from] std::io::Error),
    /// The sink stopped the run.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// A decoder of one provincial export format into national records.
///
/// Object safe, so the gateway can keep `Box<dyn Adapter>` per source. Decoding streams: memory
/// use is bounded by the largest row, never by the file (except the native adapter's `decode`,
/// which checks the whole body first; see [`Adapter::decode_bytes`]).
///
/// Implementations: [`crate::MappedAdapter`] (a provincial mapping) and
/// [`crate::NativeAdapter`] (national records as NDJSON).
pub trait Adapter: Send + Sync {
    /// Adapter id (the mapping's `id`), recorded in provenance.
    fn id(&self) -> &str;
    /// Adapter version, recorded in provenance.
    fn version(&self) -> &str;
    /// GB/T 2260 region code the adapter's exports come from.
    fn region(&self) -> &str;
    /// Media types accepted for pushes (anything else is a 415).
    fn content_types(&self) -> &[&'static str];
    /// Decodes `input`, sending each record or row error to `sink` in input order.
    fn decode(
        &self,
        input: &mut dyn std::io::Read,
        ctx: &DecodeContext<'_>,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<DecodeSummary, AdapterError>;

    /// Decodes a body already held whole in memory: the same items and the same fault as
    /// [`Adapter::decode`] over `&body[..]`, which is what the default does. The gateway holds
    /// every pushed body and calls this. An adapter that checks the whole body before its first
    /// row (the native format refuses a body that is not UTF-8 before reading any line)
    /// overrides it, so that the body is not copied.
    fn decode_bytes(
        &self,
        body: &[u8],
        ctx: &DecodeContext<'_>,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<DecodeSummary, AdapterError> {
        self.decode(&mut &body[..], ctx, sink)
    }

    /// What a quarantined row of `body` needs beside it to be pushed again alone: the export's
    /// header line (CSV column names), decoded to UTF-8. The gateway stores it with the
    /// quarantined rows and hands it back to [`Adapter::retry_body`]. `None` (the default) when
    /// the format's rows stand alone.
    fn retry_header(&self, body: &[u8]) -> Option<String> {
        let _ = body;
        None
    }

    /// A body holding only one quarantined row, in the format and encoding this adapter reads,
    /// so that it can be pushed again (`POST /v1/quarantine/{id}/retry`) once the data or the
    /// mapping is fixed. `raw_row` and `location` are the [`RowError`]'s; `header` is what
    /// [`Adapter::retry_header`] gave for the row's body. `None` when the row cannot be placed
    /// in a body of its own (a header is needed and missing, or the location does not name
    /// the raw row's element).
    fn retry_body(&self, raw_row: &str, header: Option<&str>, location: &str) -> Option<Vec<u8>>;

    /// A quarantined raw row as listed to whoever fixes the export: the cells that protected
    /// fields read (name, ID number, phone) are masked and every other cell stays readable.
    /// `header` is what [`Adapter::retry_header`] gave for the row's body. The default masks
    /// every letter and digit of the row.
    fn mask_row(&self, raw_row: &str, header: Option<&str>) -> String {
        let _ = header;
        crate::mask::mask_shape(raw_row)
    }
}

/// Why a national record does not belong to a push for `region` and `source`: the envelope
/// field at fault and a message (naming no record content beyond the region). The native
/// adapter checks every record it reads, since their envelopes come from the pushed body; the
/// gateway checks every record again, whatever its adapter.
pub fn envelope_problem(
    record: &Record,
    region: &str,
    source: &str,
) -> Option<(&'static str, String)> {
    if *record.region != *region {
        return Some((
            "region",
            format!(
                "record region {} is not this gateway's region {region}",
                record.region
            ),
        ));
    }
    if *record.source != *source {
        return Some((
            "source",
            "record source differs from the source pushed to".into(),
        ));
    }
    // `record_id == Record::make_id(..)`, without building the expected id for every record.
    let deterministic = record
        .record_id
        .strip_prefix(&*record.region)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.strip_prefix(&*record.source))
        .and_then(|rest| rest.strip_prefix(':'))
        == Some(&*record.source_record_id);
    if !deterministic {
        return Some((
            "record_id",
            "record_id must be <region>:<source>:<source_record_id>".into(),
        ));
    }
    None
}
