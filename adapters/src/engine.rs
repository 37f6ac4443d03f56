//! The mapping engine: from one row (a [`Frame`]) and one record declaration to a validated
//! national record or a row error. Formats only say how to read a value at a path.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::mem::ManuallyDrop;
use std::sync::Arc;

use pes_schemas::{Provenance, Record, RecordType, SCHEMA_VERSION};

use crate::adapter::{
    DecodeContext, DecodeSummary, Decoded, FailedRow, RowError, RowErrorCode, SinkError,
};
use crate::mapping::{CondTest, Condition, Field, Mapping, RecordSpec, SourceRef, SHARED_CHAINS};
use crate::mask::mask;
use chrono::Datelike;

use crate::national::{self, IdNumber, IdNumberError};
use crate::target::{build_body, code_lists_of, fields_of, V};
use crate::transform;

/// One row, item or nested element as the engine sees it.
pub(crate) trait Frame {
    /// Value at path `idx` of the mapping's path table; `item` reads the enclosing item.
    fn path(&self, idx: usize, item: bool) -> V<'_>;
    /// 1-based row or item number.
    fn row(&self) -> u64;
    /// 0-based index inside the `each` array.
    fn index(&self) -> usize;
    /// Location for provenance and errors.
    fn location(&self) -> String;
    /// 1-based input line where the row starts, if known.
    fn line(&self) -> Option<u64>;
    /// The raw row text, for quarantine.
    fn raw(&self) -> String;
}

/// Turns frames into records for one decode run, counting as it goes.
pub(crate) struct Emitter<'m> {
    mapping: &'m Mapping,
    /// Code-list versions per record type (indexed like [`RecordType::ALL`]), shared by every
    /// record of that type.
    code_lists: Vec<Arc<BTreeMap<String, String>>>,
    schema_version: Arc<str>,
    adapter_id: Arc<str>,
    adapter_version: Arc<str>,
    /// The decode context's envelope values, shared by the records of the run (built on the
    /// first record; a context with other values replaces it).
    run: RefCell<Option<RunEnvelope>>,
    /// The shared envelope values already validated (checked once per run, not per record).
    checked: RefCell<national::SharedChecked>,
    /// The last raw ID number seen, parsed and keyed: a row's records usually share one person,
    /// so each row parses and HMACs it once.
    last_id: RefCell<Option<(String, IdNumber, String)>>,
    /// With atomic rows: the current source row's records and problems, sent when the row ends
    /// ([`Emitter::end_row`]): its records only if it has no problem.
    pending: Vec<Decoded>,
    /// Whether the current source row has a problem (counted in `summary.failed_rows`).
    pending_failed: bool,
    pub summary: DecodeSummary,
}

/// The envelope values a decode context gives every record.
struct RunEnvelope {
    region: Arc<str>,
    source: Arc<str>,
    raw_sha256: Arc<str>,
    ingested_at: Arc<str>,
}

impl RunEnvelope {
    fn of(ctx: &DecodeContext<'_>) -> Self {
        RunEnvelope {
            region: ctx.region.into(),
            source: ctx.source.into(),
            raw_sha256: ctx.raw_sha256.into(),
            ingested_at: ctx.ingested_at.into(),
        }
    }

    fn is_for(&self, ctx: &DecodeContext<'_>) -> bool {
        *self.region == *ctx.region
            && *self.source == *ctx.source
            && *self.raw_sha256 == *ctx.raw_sha256
            && *self.ingested_at == *ctx.ingested_at
    }
}

/// Results of the transform chains several fields share, for one frame (row, item or element).
pub(crate) struct FrameCache<'f> {
    vals: [Option<V<'f>>; SHARED_CHAINS],
}

impl Default for FrameCache<'_> {
    fn default() -> Self {
        FrameCache {
            vals: std::array::from_fn(|_| None),
        }
    }
}

/// Most target fields of any record type (vacancy has 18).
const MAX_FIELDS: usize = 18;

fn type_index(t: RecordType) -> usize {
    RecordType::ALL.iter().position(|x| *x == t).unwrap_or(0)
}

impl<'m> Emitter<'m> {
    pub(crate) fn new(mapping: &'m Mapping) -> Self {
        let versions = national::code_list_versions();
        let code_lists = RecordType::ALL
            .iter()
            .map(|t| {
                code_lists_of(*t)
                    .iter()
                    .filter_map(|name| versions.get(*name).map(|v| (name.to_string(), v.clone())))
                    .collect::<BTreeMap<_, _>>()
                    .into()
            })
            .collect();
        Emitter {
            mapping,
            code_lists,
            schema_version: SCHEMA_VERSION.into(),
            adapter_id: mapping.id.as_str().into(),
            adapter_version: mapping.version.as_str().into(),
            run: RefCell::new(None),
            checked: RefCell::default(),
            last_id: RefCell::new(None),
            pending: Vec::new(),
            pending_failed: false,
            summary: DecodeSummary::default(),
        }
    }

    /// Ends a source row (a CSV or fixed-width line, a JSON or XML item with its nested
    /// elements). With atomic rows, its records go to the sink only when none of the row's
    /// records failed; otherwise only its problems do, and the row is quarantined whole.
    /// The failed row goes as one [`Decoded::FailedRow`] holding all its problems, so that the
    /// gateway keeps it as one quarantine entry.
    pub(crate) fn end_row(
        &mut self,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let failed = std::mem::take(&mut self.pending_failed);
        if failed {
            self.summary.failed_rows += 1;
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        if failed {
            let problems = self
                .pending
                .drain(..)
                .filter_map(|item| match item {
                    Decoded::RowError(e) => Some(*e),
                    _ => None,
                })
                .collect();
            // Every front-end counts a row in `summary.rows` before reading it.
            let row = self.summary.rows.saturating_sub(1);
            return sink(Decoded::FailedRow(Box::new(FailedRow { row, problems })));
        }
        for item in self.pending.drain(..) {
            self.summary.records += 1;
            sink(item)?;
        }
        Ok(())
    }

    /// Ends the run: the last row is sent (see [`Emitter::end_row`]) and the counts returned.
    pub(crate) fn finish(
        mut self,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<DecodeSummary, SinkError> {
        self.end_row(sink)?;
        Ok(self.summary)
    }

    /// Whether the record's condition holds for this frame.
    pub(crate) fn applies<F: Frame>(&self, spec: &RecordSpec, frame: &F) -> bool {
        match &spec.when {
            None => true,
            Some(c) => self.holds(c, frame),
        }
    }

    fn holds<F: Frame>(&self, c: &Condition, frame: &F) -> bool {
        let v = read(&c.source, frame);
        let owned;
        let text = match &v {
            V::Text(t) => t.trim(),
            V::Absent => "",
            other => {
                owned = other.display();
                owned.trim()
            }
        };
        match &c.test {
            CondTest::OneOf(values) => values.iter().any(|x| x == text),
            CondTest::Present(want) => text.is_empty() != *want,
        }
    }

    /// Sends a row error.
    pub(crate) fn row_error(
        &mut self,
        err: RowError,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        self.summary.row_errors += 1;
        self.pending_failed = true;
        if self.mapping.atomic_rows {
            self.pending.push(Decoded::RowError(Box::new(err)));
            return Ok(());
        }
        sink(Decoded::RowError(Box::new(err)))
    }

    /// A row error about the whole row (shape, syntax).
    pub(crate) fn bad_row<F: Frame>(
        &mut self,
        frame: &F,
        message: impl Into<String>,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let err = RowError {
            location: frame.location(),
            line: frame.line(),
            field: None,
            raw_value: None,
            code: RowErrorCode::BadRow,
            detail_code: None,
            message: message.into(),
            raw_row: frame.raw(),
        };
        self.row_error(err, sink)
    }

    /// Builds, validates and sends the record `spec` declares for `frame` (or a row error).
    /// `cache` belongs to `frame`: one per frame, shared by the records it yields.
    pub(crate) fn emit<'f, F: Frame>(
        &mut self,
        spec: &'f RecordSpec,
        frame: &'f F,
        cache: &mut FrameCache<'f>,
        ctx: &DecodeContext<'_>,
        sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
    ) -> Result<(), SinkError>
    where
        'm: 'f,
    {
        match self.build(spec, frame, cache, ctx) {
            Ok(record) if self.mapping.atomic_rows => {
                self.pending.push(Decoded::Record(Box::new(record)));
                Ok(())
            }
            Ok(record) => {
                self.summary.records += 1;
                sink(Decoded::Record(Box::new(record)))
            }
            Err(err) => self.row_error(*err, sink),
        }
    }

    pub(crate) fn build<'f, F: Frame>(
        &self,
        spec: &'f RecordSpec,
        frame: &'f F,
        cache: &mut FrameCache<'f>,
        ctx: &DecodeContext<'_>,
    ) -> Result<Record, Box<RowError>>
    where
        'm: 'f,
    {
        let defs = fields_of(spec.record_type);
        // On the stack: no record type has more than MAX_FIELDS target fields.
        let mut slots = FieldValues::new();
        for (slot, field) in spec.fields.iter().enumerate().take(MAX_FIELDS) {
            if let Some(f) = field {
                let v = self.cached_value(f, frame, cache).map_err(|fail| {
                    self.field_error(spec, slot, frame, fail.code, None, fail.message)
                })?;
                slots.set(slot, v);
            }
        }
        let vals = &mut slots.0[..defs.len().min(MAX_FIELDS)];
        let source_record_id = match std::mem::replace(&mut vals[0], V::Absent) {
            V::Text(t) if !t.is_empty() => t.into_owned(),
            _ => {
                return Err(self.field_error(
                    spec,
                    0,
                    frame,
                    RowErrorCode::Missing,
                    None,
                    "source record id is missing".into(),
                ))
            }
        };
        let from_ingest = spec
            .fields
            .get(1)
            .and_then(Option::as_ref)
            .is_some_and(|f| f.sources.contains(&SourceRef::IngestedAt));
        let record_version = match std::mem::replace(&mut vals[1], V::Absent) {
            // The push's ingest time: later pushes win, and the record says when it came.
            _ if from_ingest => chrono::DateTime::parse_from_rfc3339(ctx.ingested_at)
                .ok()
                .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
                .unwrap_or(1),
            V::Text(t) if !t.is_empty() => t.trim().parse::<u64>().map_err(|_| {
                self.field_error(
                    spec,
                    1,
                    frame,
                    RowErrorCode::BadNumber,
                    None,
                    "record version is not a whole number".into(),
                )
            })?,
            // An export or update date is a version: later dates win (`20240305`).
            V::Date(d) => {
                u64::try_from(d.year()).unwrap_or(0) * 10_000
                    + u64::from(d.month()) * 100
                    + u64::from(d.day())
            }
            // No version column: the store orders the record by push (`versioning`).
            _ if spec.fields.get(1).is_none_or(Option::is_none) => 0,
            // A version column left empty: the lowest version, so any dated copy wins.
            _ => 1,
        };
        let id_of = |raw: &str| -> Result<(IdNumber, String), IdNumberError> {
            if let Some((last_raw, id, key)) = &*self.last_id.borrow() {
                if last_raw == raw {
                    return Ok((*id, key.clone()));
                }
            }
            let id = IdNumber::parse(raw)?;
            let key = ctx.keyer.key(&id);
            let mut last = self.last_id.borrow_mut();
            match &mut *last {
                // Reuse the buffer: this runs once per row.
                Some((last_raw, last_id, last_key)) => {
                    last_raw.clear();
                    last_raw.push_str(raw);
                    *last_id = id;
                    last_key.clone_from(&key);
                }
                None => *last = Some((raw.to_string(), id, key.clone())),
            }
            Ok((id, key))
        };
        let body = build_body(spec.record_type, vals, &id_of).map_err(|fail| {
            self.field_error(spec, fail.slot, frame, fail.code, None, fail.message)
        })?;
        let mut run = self.run.borrow_mut();
        let run = match &mut *run {
            Some(run) if run.is_for(ctx) => run,
            other => other.insert(RunEnvelope::of(ctx)),
        };
        let record = Record {
            // Same as `Record::make_id`, without the formatting machinery (hot path).
            record_id: {
                let mut id = String::with_capacity(
                    ctx.region.len() + ctx.source.len() + source_record_id.len() + 2,
                );
                id.push_str(ctx.region);
                id.push(':');
                id.push_str(ctx.source);
                id.push(':');
                id.push_str(&source_record_id);
                id
            },
            region: Arc::clone(&run.region),
            source: Arc::clone(&run.source),
            source_record_id,
            record_version,
            schema_version: Arc::clone(&self.schema_version),
            code_lists: Arc::clone(&self.code_lists[type_index(spec.record_type)]),
            provenance: Provenance {
                raw_sha256: Arc::clone(&run.raw_sha256),
                adapter_id: Arc::clone(&self.adapter_id),
                adapter_version: Arc::clone(&self.adapter_version),
                ingested_at: Arc::clone(&run.ingested_at),
                location: frame.location(),
            },
            body,
        };
        if let Err(errors) = national::validate_record_with(&record, &mut self.checked.borrow_mut())
        {
            let first = &errors[0];
            let path = first.path.trim_start_matches('/').replace('/', ".");
            let name = path.rsplit('.').next().unwrap_or(&path);
            let name = if name == "person_key" {
                "id_number"
            } else {
                name
            };
            let slot = defs.iter().position(|d| d.name == name);
            let more = match errors.len() {
                1 => String::new(),
                n => format!(
                    " (and {} more: {})",
                    n - 1,
                    errors[1..]
                        .iter()
                        .map(|e| e.code)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let message = format!("{}{more}", first.message);
            let mut err = match slot {
                Some(slot) => self.field_error(
                    spec,
                    slot,
                    frame,
                    RowErrorCode::Invalid,
                    Some(first.code.to_string()),
                    message,
                ),
                None => {
                    let mut e = self.field_error(
                        spec,
                        0,
                        frame,
                        RowErrorCode::Invalid,
                        Some(first.code.to_string()),
                        message,
                    );
                    e.raw_value = None;
                    e
                }
            };
            err.field = Some(format!("{}.{}", spec.record_type, path));
            return Err(err);
        }
        Ok(record)
    }

    /// Reads and transforms one field, taking a chain that other fields share from `cache`
    /// (computing and storing it the first time in this frame).
    pub(crate) fn cached_value<'f, F: Frame>(
        &self,
        f: &'f Field,
        frame: &'f F,
        cache: &mut FrameCache<'f>,
    ) -> Result<V<'f>, transform::StepFail>
    where
        'm: 'f,
    {
        let Some(slot) = f.shared.and_then(|i| cache.vals.get_mut(i)) else {
            return self.value(f, frame);
        };
        let v = match slot {
            Some(v) => v.clone(),
            None => {
                let v = self.chain(f, frame)?;
                *slot = Some(v.clone());
                v
            }
        };
        Ok(finish(f, v))
    }

    /// Reads and transforms one field.
    pub(crate) fn value<'f, F: Frame>(
        &self,
        f: &'f Field,
        frame: &'f F,
    ) -> Result<V<'f>, transform::StepFail>
    where
        'm: 'f,
    {
        Ok(finish(f, self.chain(f, frame)?))
    }

    /// Reads a field's sources and runs its steps (before its default and prefix).
    fn chain<'f, F: Frame>(&self, f: &'f Field, frame: &'f F) -> Result<V<'f>, transform::StepFail>
    where
        'm: 'f,
    {
        let tables: &'m [transform::CodeTable] = &self.mapping.tables;
        let mut v: V<'f> = match (&f.constant, f.sources.as_slice()) {
            (Some(c), _) => V::Text(Cow::Borrowed(c.as_str())),
            (None, [one]) => read(one, frame),
            (None, many) => {
                let parts: Vec<String> = many.iter().map(|s| read(s, frame).display()).collect();
                if parts.iter().all(String::is_empty) {
                    V::Absent
                } else {
                    V::Text(Cow::Owned(parts.join(&f.sep)))
                }
            }
        };
        for step in &f.steps {
            v = transform::apply(step, v, tables)?;
        }
        Ok(v)
    }

    fn field_error<F: Frame>(
        &self,
        spec: &RecordSpec,
        slot: usize,
        frame: &F,
        code: RowErrorCode,
        detail_code: Option<String>,
        message: String,
    ) -> Box<RowError> {
        let def = fields_of(spec.record_type)[slot];
        let raw_value = spec.fields[slot].as_ref().and_then(|f| {
            let raw = match (&f.constant, f.sources.as_slice()) {
                (Some(c), _) => c.clone(),
                (None, sources) => sources
                    .iter()
                    .map(|s| read(s, frame).display())
                    .collect::<Vec<_>>()
                    .join(&f.sep),
            };
            if raw.is_empty() {
                None
            } else if def.protected || reads_protected_source(spec, f) {
                Some(mask(&raw))
            } else {
                Some(raw)
            }
        });
        let source = spec.fields[slot]
            .as_ref()
            .and_then(|f| f.sources.first())
            .map(|s| format!(" (source {})", self.mapping.source_text(s)))
            .unwrap_or_default();
        Box::new(RowError {
            location: frame.location(),
            line: frame.line(),
            field: Some(format!("{}.{}", spec.record_type, def.name)),
            raw_value,
            code,
            detail_code,
            message: format!("{message}{source}"),
            raw_row: frame.raw(),
        })
    }
}

/// The mapped values of one record's target fields. Building the body takes each value out,
/// leaving `Absent`; dropping checks for that inline rather than calling `V`'s drop glue for all
/// [`MAX_FIELDS`] slots (those calls cost more per row than the trims and code lookups).
struct FieldValues<'f>(ManuallyDrop<[V<'f>; MAX_FIELDS]>);

impl<'f> FieldValues<'f> {
    fn new() -> Self {
        FieldValues(ManuallyDrop::new(std::array::from_fn(|_| V::Absent)))
    }

    fn set(&mut self, slot: usize, v: V<'f>) {
        let old = std::mem::replace(&mut self.0[slot], v);
        if matches!(old, V::Absent) {
            // Owns nothing: skip the drop glue.
            std::mem::forget(old);
        } else {
            drop(old);
        }
    }
}

impl Drop for FieldValues<'_> {
    fn drop(&mut self) {
        for v in self.0.iter_mut() {
            if !matches!(v, V::Absent) {
                // A value not taken (a record refused part-way): drop it here.
                *v = V::Absent;
            }
        }
    }
}

/// Applies a field's default (when empty) and prefix to its transformed value.
#[inline]
/// Appends `n` in decimal: locations are built once per row or record, where `format!`'s
/// machinery was a measurable share of the cost.
pub(crate) fn push_decimal(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}

fn finish<'f>(f: &'f Field, mut v: V<'f>) -> V<'f> {
    if v.is_empty() {
        if let Some(d) = &f.default {
            v = V::Text(Cow::Borrowed(d.as_str()));
        }
    }
    if let (Some(p), V::Text(t)) = (&f.prefix, &v) {
        if !t.is_empty() {
            let mut s = String::with_capacity(p.len() + t.len());
            s.push_str(p);
            s.push_str(t);
            v = V::Text(Cow::Owned(s));
        }
    }
    v
}

fn read<'f, F: Frame>(s: &SourceRef, frame: &'f F) -> V<'f> {
    match s {
        SourceRef::Path { idx, item } => frame.path(*idx, *item),
        SourceRef::Row => V::Text(Cow::Owned(frame.row().to_string())),
        SourceRef::Index => V::Text(Cow::Owned(frame.index().to_string())),
        // Read from the decode context by `Emitter::build`, never from the input.
        SourceRef::IngestedAt => V::Absent,
    }
}

/// Whether a field reads a source that a protected field of the same record also reads (sex
/// derived from the ID number shows the ID number as its raw value, so it must be masked too).
fn reads_protected_source(spec: &RecordSpec, field: &Field) -> bool {
    let defs = fields_of(spec.record_type);
    spec.fields.iter().zip(defs).any(|(f, d)| {
        d.protected
            && f.as_ref()
                .is_some_and(|f| f.sources.iter().any(|s| field.sources.contains(s)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_fits_the_stack_slots() {
        for t in RecordType::ALL {
            assert!(fields_of(t).len() <= MAX_FIELDS, "{t}");
        }
    }
}
