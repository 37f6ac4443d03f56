//! Turns a pushed body into a journal entry: decode through the source's adapter, check the
//! envelope, encode each valid record for the store (protected fields sealed) and quarantine the
//! rows that fail, with their raw text sealed.
//!
//! Adapters report a failed row as a [`pes_adapters::RowError`]; the gateway keeps and answers
//! with its own [`RowProblem`] (the wire form of push answers and quarantine listings), built
//! from it in one place, [`EntrySink::row_error`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::NaiveDate;
use std::hash::{Hash, Hasher};

use pes_adapters::{
    envelope_problem, Adapter, AdapterError, DecodeContext, Decoded as Item, NativeAdapter,
    RowError, SinkError,
};
use pes_schemas::person_key::PersonKeyer;
use pes_schemas::{Record, RecordBody};
use rustc_hash::{FxHashMap, FxHasher};
use serde::{Deserialize, Serialize};

use crate::ingest::IngestError;
use crate::keys::DataKey;
use crate::store::entry::EntryBuilder;
use crate::store::facts::key_group_mask;
use crate::store::value::{encode_key, encode_value, SharedEnvelope};

/// A row that failed, as reported to the pusher and kept in quarantine. Never holds protected
/// values outside `raw_row`, which is only ever stored sealed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowProblem {
    /// 0-based index of the row among the batch's rows (records and failures alike).
    pub row: u32,
    /// Where in the input: `line:7`, `row:12`, a JSON Pointer.
    pub location: String,
    /// Field path in the national record, if the problem is about one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The raw row (never serialised: kept sealed in quarantine only).
    #[serde(skip)]
    pub raw_row: String,
}

impl RowProblem {
    /// The gateway's form of an adapter's row error, the `row`-th of its batch. `code` is the
    /// validator's code when there is one (`division_unknown`), else the adapter's
    /// (`unknown_local_code`); the line and the masked raw value stay with the adapter.
    fn from_row_error(row: u32, e: RowError) -> RowProblem {
        RowProblem {
            row,
            location: e.location,
            field: e.field,
            code: e.detail_code.unwrap_or_else(|| e.code.as_str().to_string()),
            message: e.message,
            raw_row: e.raw_row,
        }
    }
}

/// What decoding one body produced.
pub struct Decoded {
    /// The journal entry.
    pub payload: Vec<u8>,
    /// Valid records.
    pub accepted: u64,
    /// Quarantined rows.
    pub quarantined: u64,
    /// The first row problems (capped), for the response.
    pub row_errors: Vec<RowProblem>,
}

/// Most row problems returned in one response (all are quarantined).
pub const MAX_REPORTED_ROW_ERRORS: usize = 1000;

/// Everything decoding needs besides the body.
pub struct DecodeInput<'a> {
    /// Gateway region.
    pub region: &'a str,
    /// Source id.
    pub source: &'a str,
    /// SHA-256 of the body.
    pub batch_id: &'a [u8; 32],
    /// RFC 3339 ingest time.
    pub ingested_at: &'a str,
    /// Today's date (age bands).
    pub today: NaiveDate,
    /// Data key.
    pub key: &'a DataKey,
    /// Row cap.
    pub max_rows: u64,
    /// Most rows that may be quarantined before the batch is refused.
    pub max_quarantined: u64,
    /// Largest share of failed rows (see [`crate::config::Limits::max_quarantined_share`]).
    pub max_quarantined_share: f64,
}

/// Row problems given back with a batch refused for too many bad rows.
pub const REFUSED_BATCH_ROW_ERRORS: usize = 20;

/// A stored quarantined row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantinedRow {
    /// Source id.
    pub source: String,
    /// Batch id (hex).
    pub batch_id: String,
    /// The problem.
    pub problem: RowProblem,
    /// The raw row, sealed with the quarantine id as AAD (base64).
    pub raw_sealed: String,
    /// The export's header line (CSV column names), so the row can be retried alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// Id of a quarantined row: `<batch id hex>-<row>`.
pub fn quarantine_id(batch_hex: &str, row: u32) -> String {
    format!("{batch_hex}-{row}")
}

/// Collects records and row problems into a journal entry.
pub struct EntrySink<'a> {
    input: &'a DecodeInput<'a>,
    builder: EntryBuilder,
    batch_hex: String,
    rows: u64,
    quarantined: u64,
    row_errors: Vec<RowProblem>,
    shared: Option<SharedEnvelope>,
    /// Key groups of the persons seen so far in this batch, by a 64-bit hash of the person_key
    /// (16 bytes an entry instead of a copy of the key), so a registration pushed with its
    /// person can be counted under the person's key groups.
    person_groups: FxHashMap<u64, u8>,
    /// The export's header line, kept with quarantined rows for retry.
    pub header: Option<String>,
}

impl<'a> EntrySink<'a> {
    /// Starts an entry.
    pub fn new(input: &'a DecodeInput<'a>, body_len: usize) -> EntrySink<'a> {
        EntrySink {
            builder: EntryBuilder::new(
                input.batch_id,
                input.source,
                input.ingested_at,
                body_len + body_len / 4,
            ),
            batch_hex: hex::encode(input.batch_id),
            input,
            rows: 0,
            quarantined: 0,
            row_errors: Vec::new(),
            shared: None,
            person_groups: FxHashMap::default(),
            header: None,
        }
    }

    fn next_row(&mut self) -> Result<u32, IngestError> {
        let row = self.rows;
        self.rows += 1;
        if self.rows > self.input.max_rows {
            return Err(IngestError::TooManyRows {
                limit: self.input.max_rows,
            });
        }
        Ok(row as u32)
    }

    /// Takes one decoded record: checks its envelope, then encodes it into the entry.
    pub fn record(
        &mut self,
        mut record: Record,
        location: String,
        raw_row: impl FnOnce() -> String,
    ) -> Result<(), IngestError> {
        let row = self.next_row()?;
        if let Some((field, message)) =
            envelope_problem(&record, self.input.region, self.input.source)
        {
            return self.quarantine(RowProblem {
                row,
                location,
                field: Some(field.into()),
                code: "invalid".into(),
                message,
                raw_row: raw_row(),
            });
        }
        self.stamp(&mut record);
        let key = self.input.key;
        let today = self.input.today;
        let batch_id = self.input.batch_id;
        let person_groups = self.link_person(&record);
        let shared = &mut self.shared;
        let (rtype, id) = (record.record_type(), record.record_id.clone());
        self.builder
            .push_record(
                |k| encode_key(rtype, &id, k),
                |v| {
                    encode_value(&mut record, key, today, batch_id, shared, person_groups, v)
                        .map(|_| ())
                },
            )
            .map_err(|e| IngestError::Malformed {
                location,
                message: format!("record could not be encoded: {e}"),
            })
    }

    /// Remembers a person's key groups; for a registration, returns its person's (when the
    /// person came earlier in this batch).
    fn link_person(&mut self, record: &Record) -> Option<u8> {
        let hash = |person_key: &str| {
            let mut h = FxHasher::default();
            person_key.hash(&mut h);
            h.finish()
        };
        match &record.body {
            RecordBody::Person(p) => {
                let mask = key_group_mask(&p.key_groups);
                self.person_groups.insert(hash(&p.person_key), mask);
                None
            }
            RecordBody::JobSeekerRegistration(r) => {
                self.person_groups.get(&hash(&r.person_key)).copied()
            }
            _ => None,
        }
    }

    /// Marks the entry as a batch of snapshot `id`.
    pub fn snapshot(&mut self, id: &str) {
        self.builder.snapshot(id);
    }

    /// What this sink was started with.
    pub fn input(&self) -> &DecodeInput<'a> {
        self.input
    }

    /// Sets the provenance fields the gateway owns: the batch hash and the ingest time.
    pub fn stamp(&self, record: &mut Record) {
        // Adapters are given the same values, so usually there is nothing to replace.
        if *record.provenance.raw_sha256 != *self.batch_hex {
            record.provenance.raw_sha256 = self.batch_hex.as_str().into();
        }
        if *record.provenance.ingested_at != *self.input.ingested_at {
            record.provenance.ingested_at = self.input.ingested_at.into();
        }
    }

    /// Takes one row an adapter could not turn into a record.
    pub fn row_error(&mut self, error: RowError) -> Result<(), IngestError> {
        let row = self.next_row()?;
        self.quarantine(RowProblem::from_row_error(row, error))
    }

    fn quarantine(&mut self, problem: RowProblem) -> Result<(), IngestError> {
        // Refuse as soon as the cap is passed: a body of a million bad rows must not hold a
        // million quarantine values in memory (or in one store batch) before it is refused.
        if self.quarantined >= self.input.max_quarantined {
            return Err(self.too_many_bad_rows(problem));
        }
        let qid = quarantine_id(&self.batch_hex, problem.row);
        let sealed = self
            .input
            .key
            .seal(qid.as_bytes(), problem.raw_row.as_bytes())
            .map_err(|_| IngestError::Io("sealing failed".into()))?;
        let stored = QuarantinedRow {
            source: self.input.source.to_string(),
            batch_id: self.batch_hex.clone(),
            problem: problem.clone(),
            raw_sealed: STANDARD.encode(sealed),
            header: self.header.clone(),
        };
        let value = serde_json::to_vec(&stored).map_err(|e| IngestError::Io(e.to_string()))?;
        self.builder.push_quarantined(problem.row, &value);
        self.quarantined += 1;
        if self.row_errors.len() < MAX_REPORTED_ROW_ERRORS {
            self.row_errors.push(problem);
        }
        Ok(())
    }

    fn too_many_bad_rows(&mut self, last: RowProblem) -> IngestError {
        let mut first = std::mem::take(&mut self.row_errors);
        first.truncate(REFUSED_BATCH_ROW_ERRORS);
        if first.len() < REFUSED_BATCH_ROW_ERRORS {
            first.push(last);
        }
        IngestError::TooManyBadRows {
            bad: self.quarantined + 1,
            rows: self.rows,
            max_rows: self.input.max_quarantined,
            max_share: self.input.max_quarantined_share,
            first,
        }
    }

    /// Checks the share of failed rows once every row is read.
    pub fn check_share(&mut self) -> Result<(), IngestError> {
        let bad = self.quarantined;
        if bad < crate::config::BAD_SHARE_MIN_ROWS || self.rows == 0 {
            return Ok(());
        }
        if bad as f64 / self.rows as f64 <= self.input.max_quarantined_share {
            return Ok(());
        }
        let mut first = std::mem::take(&mut self.row_errors);
        first.truncate(REFUSED_BATCH_ROW_ERRORS);
        Err(IngestError::TooManyBadRows {
            bad,
            rows: self.rows,
            max_rows: self.input.max_quarantined,
            max_share: self.input.max_quarantined_share,
            first,
        })
    }

    /// Finishes the entry.
    pub fn finish(self) -> Decoded {
        let accepted = u64::from(self.builder.records());
        let shared = self
            .shared
            .as_ref()
            .and_then(|s| serde_json::to_vec(s).ok())
            .unwrap_or_default();
        Decoded {
            payload: self.builder.finish(&shared),
            accepted,
            quarantined: self.quarantined,
            row_errors: self.row_errors,
        }
    }
}

/// Decodes a body through a source's adapter into the sink. Every record passes the envelope
/// check again ([`EntrySink::record`], whatever its adapter), row errors are quarantined with
/// the export's header (so that [`Adapter::retry_body`] can push one again), and an adapter's
/// fault becomes the push's: nothing of a body that ends in a fault is kept.
pub fn decode_body(
    adapter: &dyn Adapter,
    body: &[u8],
    keyer: &PersonKeyer,
    sink: &mut EntrySink<'_>,
) -> Result<(), IngestError> {
    sink.header = adapter.retry_header(body);
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
    let mut on_item = |item: Item| -> Result<(), SinkError> {
        let r = match item {
            Item::Record(record) => {
                let location = record.provenance.location.clone();
                sink.record(*record, location, String::new)
            }
            Item::RowError(e) => sink.row_error(*e),
        };
        r.map_err(|e| {
            let msg = e.to_string();
            failed = Some(e);
            SinkError(msg)
        })
    };
    let result = adapter.decode_bytes(body, &ctx, &mut on_item);
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

/// Decodes a native body (NDJSON of national records) as a push to a `native` source of this
/// sink's region would: for tests and tools that build journal entries without a server.
pub fn decode_native(body: &[u8], sink: &mut EntrySink<'_>) -> Result<(), IngestError> {
    let adapter = NativeAdapter::new(sink.input().region);
    // Native records carry their person keys already: the native adapter never uses a keyer.
    let keyer = PersonKeyer::new(&[]);
    decode_body(&adapter, body, &keyer, sink)
}

#[cfg(test)]
mod tests {
    use pes_adapters::{RowError, RowErrorCode};

    use super::RowProblem;

    fn row_error(code: RowErrorCode, detail_code: Option<&str>) -> RowError {
        RowError {
            location: "row:3".into(),
            line: Some(4),
            field: Some("person.hukou_division".into()),
            raw_value: Some("999999".into()),
            code,
            detail_code: detail_code.map(str::to_string),
            message: "unknown division".into(),
            raw_row: "a,b,c".into(),
        }
    }

    #[test]
    fn a_row_problem_carries_the_validators_code_when_there_is_one() {
        let p = RowProblem::from_row_error(
            7,
            row_error(RowErrorCode::Invalid, Some("division_unknown")),
        );
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "row": 7,
                "location": "row:3",
                "field": "person.hukou_division",
                "code": "division_unknown",
                "message": "unknown division",
            })
        );
        assert_eq!(p.raw_row, "a,b,c");
        let p = RowProblem::from_row_error(0, row_error(RowErrorCode::UnknownLocalCode, None));
        assert_eq!(p.code, "unknown_local_code");
    }
}
