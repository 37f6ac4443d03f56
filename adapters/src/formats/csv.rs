//! Delimited text: header or column indexes, any supported encoding, streamed row by row.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

use crate::adapter::{AdapterError, DecodeContext, DecodeSummary, Decoded, SinkError};
use crate::encoding::{decode_lossy, encoding_of, io_to_adapter, StrictDecoder};
use crate::engine::{push_decimal, Emitter, Frame, FrameCache};
use crate::mapping::{EncodingName, Format, Mapping};
use crate::target::V;

struct CsvFrame<'a> {
    rec: &'a csv::ByteRecord,
    /// The row's fields back to back (`rec.as_slice()`), checked as UTF-8 once.
    text: &'a str,
    cols: &'a [Option<usize>],
    row: u64,
    line: u64,
    delimiter: u8,
    location: String,
}

impl Frame for CsvFrame<'_> {
    fn path(&self, idx: usize, _item: bool) -> V<'_> {
        // Fields end at ASCII delimiters and quotes, so their ranges are char boundaries.
        match self.cols[idx]
            .and_then(|c| self.rec.range(c))
            .and_then(|r| self.text.get(r))
        {
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
        self.location.clone()
    }
    fn line(&self) -> Option<u64> {
        Some(self.line)
    }
    fn raw(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .delimiter(self.delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        // Writing to a Vec cannot fail; an empty string is an acceptable fallback regardless.
        let _ = w.write_record(self.rec);
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8(bytes)
            .unwrap_or_default()
            .trim_end_matches('\n')
            .to_string()
    }
}

/// Remembers where the line breaks of the decoded text are, so that a record's start byte can be
/// turned into a line number (the csv crate's own line count is off by one after CRLF).
#[derive(Default)]
struct Lines {
    /// Offsets of line feeds not yet passed.
    pending: VecDeque<u64>,
    /// Line feeds already passed.
    passed: u64,
    /// Bytes read so far.
    read: u64,
}

impl Lines {
    /// 1-based line of the byte at `offset` (a record start); offsets must not decrease.
    fn line_at(&mut self, offset: u64) -> u64 {
        // A record "starts" at the LF of a preceding CRLF, so an LF at the offset is passed too.
        while self.pending.front().is_some_and(|nl| *nl <= offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

struct LineCounting<R> {
    inner: R,
    lines: Rc<RefCell<Lines>>,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut lines = self.lines.borrow_mut();
        let base = lines.read;
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            lines.pending.push_back(base + i as u64);
        }
        lines.read += n as u64;
        Ok(n)
    }
}

fn csv_error(e: csv::Error, encoding: EncodingName) -> AdapterError {
    let location = e
        .position()
        .map(|p| format!("line {}", p.line()))
        .unwrap_or_else(|| "unknown position".into());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io_to_adapter(io, encoding),
        other => AdapterError::Malformed {
            location,
            message: format!("{other:?}"),
        },
    }
}

/// `row:N` without the formatting machinery (once per row).
fn row_location(row: u64) -> String {
    let mut s = String::with_capacity(24);
    s.push_str("row:");
    push_decimal(&mut s, row);
    s
}

/// Decodes a CSV export.
pub(crate) fn decode(
    mapping: &Mapping,
    input: &mut dyn Read,
    ctx: &DecodeContext<'_>,
    sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
) -> Result<DecodeSummary, AdapterError> {
    let Format::Csv {
        encoding,
        delimiter,
        quote,
        quoting,
        header,
        multiline_fields,
    } = mapping.format
    else {
        return Err(AdapterError::Malformed {
            location: "mapping".into(),
            message: "not a CSV mapping".into(),
        });
    };
    let lines = Rc::new(RefCell::new(Lines::default()));
    let reader = LineCounting {
        inner: StrictDecoder::new(input, encoding_of(encoding)),
        lines: Rc::clone(&lines),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .quoting(quoting)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(reader);
    let mut rec = csv::StringRecord::new();
    let mut brec = csv::ByteRecord::new();
    let mut emitter = Emitter::new(mapping);

    let (cols, width): (Vec<Option<usize>>, Option<usize>) = if header {
        if !rdr
            .read_record(&mut rec)
            .map_err(|e| csv_error(e, encoding))?
        {
            return Ok(emitter.summary);
        }
        let names: Vec<&str> = rec
            .iter()
            .map(|h| h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}'))
            .collect();
        let cols: Vec<Option<usize>> = mapping
            .paths
            .iter()
            .map(|p| names.iter().position(|h| h == p))
            .collect();
        let missing: Vec<&str> = mapping
            .paths
            .iter()
            .zip(&cols)
            .filter(|(_, c)| c.is_none())
            .map(|(p, _)| p.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(AdapterError::Malformed {
                location: "line 1".into(),
                message: format!(
                    "the header lacks columns the mapping reads: {}",
                    missing.join(", ")
                ),
            });
        }
        (cols, Some(names.len()))
    } else {
        (
            mapping
                .paths
                .iter()
                .map(|p| p.parse::<usize>().ok())
                .collect(),
            None,
        )
    };

    let mut row = 0u64;
    loop {
        if !rdr
            .read_byte_record(&mut brec)
            .map_err(|e| csv_error(e, encoding))?
        {
            break;
        }
        let rec = &brec;
        row += 1;
        emitter.summary.rows += 1;
        let line = lines
            .borrow_mut()
            .line_at(rec.position().map(|p| p.byte()).unwrap_or(0));
        // One byte scan over the row's fields (which sit back to back in one buffer) rather
        // than a char search per field.
        if !multiline_fields && memchr::memchr2(b'\n', b'\r', rec.as_slice()).is_some() {
            return Err(AdapterError::Malformed {
                location: format!("line {line}"),
                message: "a quoted field runs across lines: broken or unterminated quoting".into(),
            });
        }
        // The decoder already produced UTF-8; one fast check of the whole row keeps this safe
        // code without the csv crate's slower per-record validation.
        let Ok(text) = simdutf8::basic::from_utf8(rec.as_slice()) else {
            return Err(AdapterError::Malformed {
                location: format!("line {line}"),
                message: "the row is not valid UTF-8 after decoding".into(),
            });
        };
        let frame = CsvFrame {
            rec,
            text,
            cols: &cols,
            row,
            line,
            delimiter,
            location: row_location(row),
        };
        if let Some(w) = width {
            if rec.len() != w {
                let msg = format!("row has {} fields, the header has {w}", rec.len());
                emitter.bad_row(&frame, msg, sink)?;
                emitter.end_row(sink)?;
                continue;
            }
        }
        let mut cache = FrameCache::default();
        for spec in &mapping.records {
            if emitter.applies(spec, &frame) {
                emitter.emit(spec, &frame, &mut cache, ctx, sink)?;
            }
        }
        emitter.end_row(sink)?;
    }
    Ok(emitter.finish(sink)?)
}

/// The header line of a CSV body, kept so that a quarantined row can be retried alone: the first
/// line, decoded leniently, without its line break.
pub(crate) fn header_line(body: &[u8], encoding: EncodingName) -> String {
    // No byte of a GB 18030 multi-byte character is a line feed, so this splits any encoding.
    let first = body.split(|b| *b == b'\n').next().unwrap_or_default();
    decode_lossy(first, encoding)
        .trim_end_matches('\r')
        .to_string()
}

/// One quarantined row as a CSV text of its own: under the export's header when the format has
/// one (`None` if that header is missing).
pub(crate) fn retry_text(raw_row: &str, header: Option<&str>, has_header: bool) -> Option<String> {
    Some(if has_header {
        format!("{}\n{raw_row}\n", header?)
    } else {
        format!("{raw_row}\n")
    })
}

#[cfg(test)]
mod tests {
    use super::row_location;

    #[test]
    fn row_location_matches_format() {
        for row in [0u64, 1, 9, 10, 99, 100, 12_345, u64::MAX] {
            assert_eq!(row_location(row), format!("row:{row}"));
        }
    }
}
