//! Fixed-width legacy exports: one row per line, columns at byte offsets in the legacy encoding.

use std::borrow::Cow;
use std::io::{BufReader, Read};

use crate::adapter::{AdapterError, DecodeContext, DecodeSummary, Decoded, SinkError};
use crate::encoding::{decode_slice, encoding_of, label};
use crate::engine::{Emitter, Frame, FrameCache};
use crate::mapping::{Format, Mapping};
use crate::target::V;

struct FixedFrame<'a> {
    /// Decoded value per path; `None` where the line is too short.
    values: &'a [Option<Cow<'a, str>>],
    text: &'a str,
    row: u64,
    line: u64,
}

impl Frame for FixedFrame<'_> {
    fn path(&self, idx: usize, _item: bool) -> V<'_> {
        match &self.values[idx] {
            Some(v) => V::Text(Cow::Borrowed(v.as_ref())),
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
        format!("line:{}", self.line)
    }
    fn line(&self) -> Option<u64> {
        Some(self.line)
    }
    fn raw(&self) -> String {
        self.text.to_string()
    }
}

/// Decodes a fixed-width export.
pub(crate) fn decode(
    mapping: &Mapping,
    input: &mut dyn Read,
    ctx: &DecodeContext<'_>,
    sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
) -> Result<DecodeSummary, AdapterError> {
    let Format::FixedWidth {
        encoding,
        skip_lines,
        columns,
    } = &mapping.format
    else {
        return Err(AdapterError::Malformed {
            location: "mapping".into(),
            message: "not a fixed-width mapping".into(),
        });
    };
    let enc = encoding_of(*encoding);
    let ranges: Vec<_> = mapping
        .paths
        .iter()
        .map(|p| columns.get(p).cloned())
        .collect();
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut emitter = Emitter::new(mapping);
    let mut buf = Vec::with_capacity(512);
    let mut line_no = 0u64;
    let mut offset = 0u64;
    let mut row = 0u64;
    loop {
        buf.clear();
        let n = super::read_line(&mut reader, &mut buf, line_no + 1)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line_start = offset;
        offset += n as u64;
        let mut bytes: &[u8] = &buf;
        while let Some((b'\n' | b'\r', rest)) = bytes.split_last() {
            bytes = rest;
        }
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        if line_no <= *skip_lines as u64 || bytes.iter().all(|b| *b == b' ') {
            continue;
        }
        let text = decode_slice(bytes, enc).ok_or_else(|| AdapterError::Encoding {
            encoding: label(*encoding).to_string(),
            location: format!("line {line_no} (byte {line_start})"),
        })?;
        row += 1;
        emitter.summary.rows += 1;
        let mut values = Vec::with_capacity(ranges.len());
        let mut cut = None;
        for (p, r) in mapping.paths.iter().zip(&ranges) {
            let v = r
                .as_ref()
                .and_then(|r| bytes.get(r.start.min(bytes.len())..r.end.min(bytes.len())));
            match v {
                Some(slice) if !slice.is_empty() => match decode_slice(slice, enc) {
                    Some(s) => values.push(Some(s)),
                    None => {
                        cut = Some(p.as_str());
                        values.push(None);
                    }
                },
                _ => values.push(None),
            }
        }
        let frame = FixedFrame {
            values: &values,
            text: &text,
            row,
            line: line_no,
        };
        if let Some(col) = cut {
            let msg = format!(
                "column '{col}' splits a multi-byte character: the layout does not fit this line"
            );
            emitter.bad_row(&frame, msg, sink)?;
            emitter.end_row(sink)?;
            continue;
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

/// One quarantined line as a fixed-width text of its own, after the lines the format skips.
pub(crate) fn retry_text(raw_row: &str, skip_lines: usize) -> String {
    format!("{}{raw_row}\n", "\n".repeat(skip_lines))
}
