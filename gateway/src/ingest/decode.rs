//! Turns a pushed body into a journal entry: decode through the source's adapter, check the
//! envelope, encode each valid record for the store (protected fields sealed) and quarantine the
//! rows that fail, with their raw text sealed.
//!
//! Adapters report a failed row as a [`pes_adapters::FailedRow`] holding all its problems (atomic
//! rows, the default for mappings) or as one [`pes_adapters::RowError`]; the gateway keeps and
//! answers with its own [`RowProblem`] (the wire form of push answers and quarantine listings),
//! built from it in one place, [`RowProblem::from_row_error`]. A failed source row is one
//! quarantine entry ([`QuarantinedRow`]) with every problem of the row.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::NaiveDate;
use std::hash::{Hash, Hasher};

use pes_adapters::{
    envelope_problem, Adapter, AdapterError, DecodeContext, Decoded as Item, FailedRow,
    NativeAdapter, RowError, SinkError,
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
    /// 0-based index of the source row among the batch's rows: a CSV or fixed-width line, a JSON
    /// or XML item with its nested elements, an NDJSON line (a header and blank lines not
    /// counted). The quarantine id ends with it. Only with a mapping's `atomic_rows = false`,
    /// where each failed record is quarantined on its own, does it count the batch's records and
    /// failures instead.
    pub row: u32,
    /// Where in the input: the source row (`row:12` for CSV, `line:7` for fixed-width and
    /// NDJSON, a JSON Pointer or an XML path to the item), or the nested element within it
    /// (`/3/registrations/0`).
    pub location: String,
    /// 1-based line of the input where the source row starts, when the adapter knows it (a
    /// CSV row's `row:12` may start on line 14, after the header and a multi-line field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
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
    /// (`unknown_local_code`); the masked raw value stays with the adapter.
    fn from_row_error(row: u32, e: RowError) -> RowProblem {
        RowProblem {
            row,
            location: e.location,
            line: e.line,
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
    /// Problems of the quarantined rows (all of them; a row may have several).
    pub problems: u64,
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

/// A stored quarantined row: one failed source row with all its problems.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantinedRow {
    /// Source id.
    pub source: String,
    /// Batch id (hex).
    pub batch_id: String,
    /// The row's problems, at least one, all with the row's `row`. Values stored before rows
    /// were quarantined whole hold one, as `problem`.
    #[serde(alias = "problem", deserialize_with = "one_or_more")]
    pub problems: Vec<RowProblem>,
    /// The raw row, sealed with the quarantine id as AAD (base64).
    pub raw_sealed: String,
    /// The export's header line (CSV column names), so the row can be retried alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

impl QuarantinedRow {
    /// The row's 0-based index in its batch (see [`RowProblem::row`]).
    pub fn row(&self) -> u32 {
        self.problems.first().map_or(0, |p| p.row)
    }

    /// Where the row is in its batch: its first problem's location, which names the raw row's
    /// item (retry needs it to place the row in a body of its own).
    pub fn location(&self) -> &str {
        self.problems.first().map_or("", |p| p.location.as_str())
    }
}

/// Reads `problems` as a list, or the single `problem` object of older stored values.
fn one_or_more<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RowProblem>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMore {
        More(Vec<RowProblem>),
        One(Box<RowProblem>),
    }
    Ok(match OneOrMore::deserialize(d)? {
        OneOrMore::More(v) => v,
        OneOrMore::One(p) => vec![*p],
    })
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
    /// Items taken (records, and failed rows or row errors), for the row cap.
    rows: u64,
    /// Source rows read, as the adapter counts them, once it has sent a [`FailedRow`] (atomic
    /// rows): the last failed row's index + 1 while decoding, the adapter's count at the end.
    source_rows: Option<u64>,
    quarantined: u64,
    problems: u64,
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
            source_rows: None,
            quarantined: 0,
            problems: 0,
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
            return self.quarantine(vec![RowProblem {
                row,
                location,
                line: None,
                field: Some(field.into()),
                code: "invalid".into(),
                message,
                raw_row: raw_row(),
            }]);
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

    /// Takes one row error an adapter sent alone: a failed row of one problem (a native line,
    /// or a failed record of a mapping without atomic rows).
    pub fn row_error(&mut self, error: RowError) -> Result<(), IngestError> {
        let row = self.next_row()?;
        self.quarantine(vec![RowProblem::from_row_error(row, error)])
    }

    /// Takes a source row none of whose records was sent (atomic rows): one quarantine entry
    /// with all its problems, numbered by the row's index among the source's rows.
    pub fn failed_row(&mut self, failed: FailedRow) -> Result<(), IngestError> {
        self.next_row()?;
        let row = u32::try_from(failed.row).map_err(|_| IngestError::TooManyRows {
            limit: self.input.max_rows,
        })?;
        self.source_rows = Some(self.source_rows.unwrap_or(0).max(failed.row + 1));
        let problems = failed
            .problems
            .into_iter()
            .map(|e| RowProblem::from_row_error(row, e))
            .collect();
        self.quarantine(problems)
    }

    /// Rows read so far, for the bad-row limits: source rows when the adapter quarantines rows
    /// whole, else the items taken (the same for native bodies, one record a line).
    fn rows_read(&self) -> u64 {
        self.source_rows.unwrap_or(self.rows)
    }

    /// Quarantines one failed row (`problems` is not empty, all with the row's `row`): its raw
    /// text is sealed once, with the quarantine id as AAD.
    fn quarantine(&mut self, problems: Vec<RowProblem>) -> Result<(), IngestError> {
        let Some(first) = problems.first() else {
            return Ok(());
        };
        // Refuse as soon as the cap is passed: a body of a million bad rows must not hold a
        // million quarantine values in memory (or in one store batch) before it is refused.
        if self.quarantined >= self.input.max_quarantined {
            return Err(self.too_many_bad_rows(problems));
        }
        let row = first.row;
        let qid = quarantine_id(&self.batch_hex, row);
        let sealed = self
            .input
            .key
            .seal(qid.as_bytes(), first.raw_row.as_bytes())
            .map_err(|_| IngestError::Io("sealing failed".into()))?;
        let stored = QuarantinedRow {
            source: self.input.source.to_string(),
            batch_id: self.batch_hex.clone(),
            problems,
            raw_sealed: STANDARD.encode(sealed),
            header: self.header.clone(),
        };
        let value = serde_json::to_vec(&stored).map_err(|e| IngestError::Io(e.to_string()))?;
        self.builder.push_quarantined(row, &value);
        self.quarantined += 1;
        self.problems += stored.problems.len() as u64;
        let room = MAX_REPORTED_ROW_ERRORS.saturating_sub(self.row_errors.len());
        self.row_errors
            .extend(stored.problems.into_iter().take(room));
        Ok(())
    }

    fn too_many_bad_rows(&mut self, last: Vec<RowProblem>) -> IngestError {
        let mut first = std::mem::take(&mut self.row_errors);
        first.truncate(REFUSED_BATCH_ROW_ERRORS);
        let room = REFUSED_BATCH_ROW_ERRORS.saturating_sub(first.len());
        first.extend(last.into_iter().take(room));
        IngestError::TooManyBadRows {
            bad: self.quarantined + 1,
            rows: self.rows_read(),
            max_rows: self.input.max_quarantined,
            max_share: self.input.max_quarantined_share,
            first,
        }
    }

    /// Checks the share of failed rows once every row is read.
    pub fn check_share(&mut self) -> Result<(), IngestError> {
        let bad = self.quarantined;
        let rows = self.rows_read();
        if bad < crate::config::BAD_SHARE_MIN_ROWS || rows == 0 {
            return Ok(());
        }
        if bad as f64 / rows as f64 <= self.input.max_quarantined_share {
            return Ok(());
        }
        let mut first = std::mem::take(&mut self.row_errors);
        first.truncate(REFUSED_BATCH_ROW_ERRORS);
        Err(IngestError::TooManyBadRows {
            bad,
            rows,
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
            problems: self.problems,
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
            Item::FailedRow(f) => sink.failed_row(*f),
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
        Ok(summary) => {
            // The bad-row share of an adapter that quarantines rows whole is over all its rows,
            // the clean ones included (which the sink saw only as records).
            if let Some(rows) = &mut sink.source_rows {
                *rows = (*rows).max(summary.rows);
            }
            Ok(())
        }
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
    use chrono::NaiveDate;
    use pes_adapters::{FailedRow, RowError, RowErrorCode};

    use super::{DecodeInput, EntrySink, QuarantinedRow, RowProblem, MAX_REPORTED_ROW_ERRORS};
    use crate::ingest::IngestError;
    use crate::keys::DataKey;

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
                "line": 4,
                "field": "person.hukou_division",
                "code": "division_unknown",
                "message": "unknown division",
            })
        );
        assert_eq!(p.raw_row, "a,b,c");
        let p = RowProblem::from_row_error(0, row_error(RowErrorCode::UnknownLocalCode, None));
        assert_eq!(p.code, "unknown_local_code");
    }

    fn decode_input(key: &DataKey, max_quarantined_share: f64) -> DecodeInput<'_> {
        DecodeInput {
            region: "440000",
            source: "prov",
            batch_id: &[3; 32],
            ingested_at: "2026-01-01T00:00:00Z",
            today: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
            key,
            max_rows: 100_000,
            max_quarantined: 10_000,
            max_quarantined_share,
        }
    }

    /// Every other source row of 2,000 fails with two problems: 1,000 quarantined rows (one
    /// entry each, its raw row sealed once), 2,000 problems, a share of half of the source rows.
    fn every_other_row_fails(sink: &mut EntrySink<'_>) -> Result<(), IngestError> {
        for i in 0..1000u64 {
            let row = 2 * i + 1;
            let problems = vec![
                row_error(RowErrorCode::BadIdNumber, None),
                row_error(RowErrorCode::UnknownLocalCode, None),
            ];
            sink.failed_row(FailedRow { row, problems })?;
        }
        // What `decode_body` takes from the adapter's summary once the body is read.
        sink.source_rows = Some(2000);
        sink.check_share()
    }

    #[test]
    fn a_failed_row_is_one_entry_and_the_bad_share_is_over_source_rows() {
        let key = DataKey::from_bytes(&[7; 32]).unwrap();
        let input = decode_input(&key, 0.5);
        let mut sink = EntrySink::new(&input, 0);
        every_other_row_fails(&mut sink).unwrap();
        let d = sink.finish();
        assert_eq!((d.quarantined, d.problems), (1000, 2000));
        assert_eq!(d.row_errors.len(), MAX_REPORTED_ROW_ERRORS);
        assert_eq!(d.row_errors[0].row, 1);
        assert_eq!(d.row_errors[1].row, 1);
        assert_eq!(d.row_errors[2].row, 3);
        let entry = crate::store::entry::Entry::parse(&d.payload).unwrap();
        assert_eq!(entry.quarantined.len(), 1000);
        let (row, value) = &entry.quarantined[0];
        assert_eq!(*row, 1);
        let stored: QuarantinedRow = serde_json::from_slice(value).unwrap();
        assert_eq!(stored.problems.len(), 2);

        // Half of the source rows failed: over a 40% limit the batch is refused.
        let input = decode_input(&key, 0.4);
        let mut sink = EntrySink::new(&input, 0);
        match every_other_row_fails(&mut sink) {
            Err(IngestError::TooManyBadRows { bad, rows, .. }) => {
                assert_eq!((bad, rows), (1000, 2000));
            }
            other => panic!("{other:?}"),
        }
    }
}
