//! Delimited text: header or column indexes, any supported encoding, streamed row by row.

use std::borrow::Cow;
use std::io::Read;

use crate::adapter::{AdapterError, DecodeContext, DecodeSummary, Decoded, SinkError};
use crate::encoding::{encoding_of, io_to_adapter, StrictDecoder};
use crate::engine::{Emitter, Frame};
use crate::mapping::{EncodingName, Format, Mapping};
use crate::target::V;

struct CsvFrame<'a> {
    rec: &'a csv::StringRecord,
    cols: &'a [Option<usize>],
    row: u64,
    line: u64,
    delimiter: u8,
}

impl Frame for CsvFrame<'_> {
    fn path(&self, idx: usize, _item: bool) -> V<'_> {
        match self.cols[idx].and_then(|c| self.rec.get(c)) {
            Some(s) => V::Text(Cow::Borrowed(s)),
            None => V::Absent,
        }
    }
    fn row(&self) -> u64 {
        self.row
    }
    fn index(&self) -> usize {
        0
    }
    fn location(&self) -> String {
        format!("row:{}", self.row)
    }
    fn line(&self) -> Option<u64> {
        Some(self.line)
    }
    fn raw(&self) -> String {
        let mut w = csv::WriterBuilder::new().delimiter(self.delimiter).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
        // Writing to a Vec cannot fail; an empty string is an acceptable fallback regardless.
        let _ = w.write_record(self.rec);
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default().trim_end_matches('\n').to_string()
    }
}

fn csv_error(e: csv::Error, encoding: EncodingName) -> AdapterError {
    let location = e.position().map(|p| format!("line {}", p.line())).unwrap_or_else(|| "unknown position".into());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_to_adapter(io, encoding),
        other => AdapterError::Malformed { location, message: format!("{other:?}") },
    }
}

/// Decodes a CSV export.
pub(crate) fn decode(
    mapping: &Mapping,
    input: &mut dyn Read,
    ctx: &DecodeContext<'_>,
    sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
) -> Result<DecodeSummary, AdapterError> {
    let Format::Csv { encoding, delimiter, quote, quoting, header, multiline_fields } = mapping.format else {
        return Err(AdapterError::Malformed { location: "mapping".into(), message: "not a CSV mapping".into() });
    };
    let reader = StrictDecoder::new(input, encoding_of(encoding));
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .quoting(quoting)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(reader);
    let mut rec = csv::StringRecord::new();
    let mut emitter = Emitter::new(mapping);

    let (cols, width): (Vec<Option<usize>>, Option<usize>) = if header {
        if !rdr.read_record(&mut rec).map_err(|e| csv_error(e, encoding))? {
            return Ok(emitter.summary);
        }
        let names: Vec<&str> = rec.iter().map(|h| h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')).collect();
        let mut cols = Vec::with_capacity(mapping.paths.len());
        for p in &mapping.paths {
            match names.iter().position(|h| h == p) {
                Some(i) => cols.push(Some(i)),
                None => {
                    return Err(AdapterError::Malformed {
                        location: "line 1".into(),
                        message: format!("the header has no column '{p}' that the mapping reads"),
                    })
                }
            }
        }
        (cols, Some(names.len()))
    } else {
        (mapping.paths.iter().map(|p| p.parse::<usize>().ok()).collect(), None)
    };

    let mut row = 0u64;
    loop {
        if !rdr.read_record(&mut rec).map_err(|e| csv_error(e, encoding))? {
            break;
        }
        row += 1;
        emitter.summary.rows += 1;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if !multiline_fields && rec.iter().any(|f| f.contains(['\n', '\r'])) {
            return Err(AdapterError::Malformed {
                location: format!("line {line}"),
                message: "a quoted field runs across lines: broken or unterminated quoting".into(),
            });
        }
        let frame = CsvFrame { rec: &rec, cols: &cols, row, line, delimiter };
        if let Some(w) = width {
            if rec.len() != w {
                let msg = format!("row has {} fields, the header has {w}", rec.len());
                emitter.bad_row(&frame, msg, sink)?;
                continue;
            }
        }
        for spec in &mapping.records {
            if emitter.applies(spec, &frame) {
                emitter.emit(spec, &frame, ctx, sink)?;
            }
        }
    }
    Ok(emitter.summary)
}
