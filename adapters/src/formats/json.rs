//! JSON exports: a top-level array streamed item by item, or NDJSON. Sources are JSON Pointers;
//! `each` points at a nested array and yields one record per element.
//!
//! A small scanner finds each item's bytes (tracking strings, escapes and nesting) so that only
//! one item is held at a time; serde_json then parses that item alone.

use std::io::{BufRead, BufReader, Read};

use super::json_value::JVal;
use crate::adapter::{AdapterError, DecodeContext, DecodeSummary, Decoded, SinkError};
use crate::engine::{push_decimal, Emitter, Frame, FrameCache};
use crate::mapping::{Format, JsonLayout, Mapping};
use crate::target::V;

/// Splits a JSON Pointer into unescaped reference tokens.
pub(crate) fn pointer_tokens(p: &str) -> Vec<String> {
    if p.is_empty() {
        return Vec::new();
    }
    p.split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn resolve<'v, 'a>(mut v: &'v JVal<'a>, tokens: &[String]) -> Option<&'v JVal<'a>> {
    for t in tokens {
        v = v.get(t)?;
    }
    Some(v)
}

fn to_v<'v>(v: Option<&'v JVal<'_>>) -> V<'v> {
    match v {
        None | Some(JVal::Null) | Some(JVal::Obj(_)) => V::Absent,
        Some(JVal::Arr(a)) => V::List(a.iter().filter_map(JVal::scalar).collect()),
        Some(other) => other.scalar().map(V::Text).unwrap_or(V::Absent),
    }
}

struct JsonFrame<'a> {
    item: &'a JVal<'a>,
    elem: &'a JVal<'a>,
    tokens: &'a [Vec<String>],
    row: u64,
    index: usize,
    location: &'a str,
    line: u64,
    raw: &'a [u8],
}

impl Frame for JsonFrame<'_> {
    fn path(&self, idx: usize, item: bool) -> V<'_> {
        let base = if item { self.item } else { self.elem };
        to_v(resolve(base, &self.tokens[idx]))
    }
    fn row(&self) -> u64 {
        self.row
    }
    fn index(&self) -> usize {
        self.index
    }
    fn location(&self) -> String {
        self.location.to_string()
    }
    fn line(&self) -> Option<u64> {
        Some(self.line)
    }
    fn raw(&self) -> String {
        String::from_utf8_lossy(self.raw).into_owned()
    }
}

/// Scans JSON text from a buffered reader, keeping line and byte counts.
struct Scanner<R> {
    r: R,
    line: u64,
    offset: u64,
}

impl<R: BufRead> Scanner<R> {
    fn malformed(&self, message: impl Into<String>) -> AdapterError {
        AdapterError::Malformed {
            location: format!("line {}, byte {}", self.line, self.offset),
            message: message.into(),
        }
    }

    fn consume(&mut self, n: usize) {
        self.offset += n as u64;
        self.r.consume(n);
    }

    /// Skips white space; returns the next byte without consuming it.
    fn peek(&mut self) -> Result<Option<u8>, AdapterError> {
        loop {
            let buf = self.r.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let ws = buf
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            let lines = buf[..ws].iter().filter(|b| **b == b'\n').count() as u64;
            let next = buf.get(ws).copied();
            self.line += lines;
            self.consume(ws);
            if let Some(b) = next {
                return Ok(Some(b));
            }
        }
    }

    /// Reads one JSON value's bytes into `out` (which is cleared first).
    fn value(&mut self, out: &mut Vec<u8>) -> Result<(), AdapterError> {
        out.clear();
        let mut depth = 0u32;
        let mut in_str = false;
        let mut escape = false;
        let mut started = false;
        loop {
            let buf = self.r.fill_buf()?;
            if buf.is_empty() {
                if depth == 0 && started && !in_str {
                    return Ok(());
                }
                return Err(self.malformed("input ends inside a value: truncated JSON"));
            }
            let mut end = None;
            let mut i = 0;
            while i < buf.len() {
                let b = buf[i];
                if in_str {
                    if escape {
                        escape = false;
                    } else if b == b'\\' {
                        escape = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    } else {
                        // Most of an item is string text: jump to its next quote or escape.
                        i += memchr::memchr2(b'"', b'\\', &buf[i..]).unwrap_or(buf.len() - i);
                        continue;
                    }
                    i += 1;
                    continue;
                }
                match b {
                    b'"' => {
                        in_str = true;
                        started = true;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        started = true;
                    }
                    b'}' | b']' => {
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    b',' | b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    _ => started = true,
                }
                i += 1;
            }
            let take = end.unwrap_or(buf.len());
            out.extend_from_slice(&buf[..take]);
            if out.len() > super::MAX_ITEM_BYTES {
                return Err(self.malformed(format!(
                    "an item is longer than {} bytes",
                    super::MAX_ITEM_BYTES
                )));
            }
            self.line += memchr::memchr_iter(b'\n', &buf[..take]).count() as u64;
            self.consume(take);
            if end.is_some() {
                if out.is_empty() {
                    return Err(self.malformed("expected a value"));
                }
                return Ok(());
            }
        }
    }
}

struct Run<'m, 'c, 's> {
    mapping: &'m Mapping,
    tokens: Vec<Vec<String>>,
    emitter: Emitter<'m>,
    ctx: &'c DecodeContext<'c>,
    sink: &'s mut dyn FnMut(Decoded) -> Result<(), SinkError>,
}

impl Run<'_, '_, '_> {
    fn item(
        &mut self,
        bytes: &[u8],
        row: u64,
        line: u64,
        location: &str,
        offset: u64,
    ) -> Result<(), AdapterError> {
        self.emitter.summary.rows += 1;
        let null = JVal::Null;
        // One fast UTF-8 check of the whole item, so that serde_json reads it as text and does
        // not check each string again. An invalid sequence is a fault of the file.
        let text = match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                let at = std::str::from_utf8(bytes)
                    .err()
                    .map_or(0, |u| u.valid_up_to());
                return Err(AdapterError::Encoding {
                    encoding: "UTF-8".into(),
                    location: format!("byte {}", offset + at as u64),
                });
            }
        };
        let value: JVal<'_> = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let frame = JsonFrame {
                    item: &null,
                    elem: &null,
                    tokens: &self.tokens,
                    row,
                    index: 0,
                    location,
                    line,
                    raw: bytes,
                };
                let msg = format!(
                    "not valid JSON: {} (line {} of the item)",
                    e.classify_message(),
                    e.line()
                );
                self.emitter.bad_row(&frame, msg, self.sink)?;
                return Ok(());
            }
        };
        let item_frame = JsonFrame {
            item: &value,
            elem: &value,
            tokens: &self.tokens,
            row,
            index: 0,
            location,
            line,
            raw: bytes,
        };
        if !value.is_object() {
            self.emitter
                .bad_row(&item_frame, "an item must be a JSON object", self.sink)?;
            return Ok(());
        }
        let mut item_cache = FrameCache::default();
        for spec in &self.mapping.records {
            match spec.each {
                None => {
                    if self.emitter.applies(spec, &item_frame) {
                        self.emitter.emit(
                            spec,
                            &item_frame,
                            &mut item_cache,
                            self.ctx,
                            self.sink,
                        )?;
                    }
                }
                Some(each) => {
                    let elems: Vec<&JVal<'_>> = match resolve(&value, &self.tokens[each]) {
                        Some(JVal::Arr(a)) => a.iter().collect(),
                        Some(v @ JVal::Obj(_)) => vec![v],
                        _ => Vec::new(),
                    };
                    let each_path = &self.mapping.paths[each];
                    for (index, elem) in elems.into_iter().enumerate() {
                        let mut loc = String::with_capacity(location.len() + each_path.len() + 8);
                        loc.push_str(location);
                        loc.push_str(each_path);
                        loc.push('/');
                        push_decimal(&mut loc, index as u64);
                        let frame = JsonFrame {
                            item: &value,
                            elem,
                            tokens: &self.tokens,
                            row,
                            index,
                            location: &loc,
                            line,
                            raw: bytes,
                        };
                        if self.emitter.applies(spec, &frame) {
                            let mut cache = FrameCache::default();
                            self.emitter
                                .emit(spec, &frame, &mut cache, self.ctx, self.sink)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

trait ClassifyMessage {
    fn classify_message(&self) -> &'static str;
}

impl ClassifyMessage for serde_json::Error {
    fn classify_message(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Eof => "unexpected end",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Io => "read error",
        }
    }
}

/// Decodes a JSON export.
pub(crate) fn decode(
    mapping: &Mapping,
    input: &mut dyn Read,
    ctx: &DecodeContext<'_>,
    sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
) -> Result<DecodeSummary, AdapterError> {
    let Format::Json { layout } = mapping.format else {
        return Err(AdapterError::Malformed {
            location: "mapping".into(),
            message: "not a JSON mapping".into(),
        });
    };
    let tokens = mapping.paths.iter().map(|p| pointer_tokens(p)).collect();
    let mut run = Run {
        mapping,
        tokens,
        emitter: Emitter::new(mapping),
        ctx,
        sink,
    };
    // A UTF-8 byte-order mark is tolerated. Its three bytes are read one by one if need be: a
    // reader may hand out fewer bytes than asked (found by fuzzing with 1-byte reads).
    let mut head = [0u8; 3];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let bom = if head[..got] == *b"\xef\xbb\xbf" {
        3
    } else {
        0
    };
    let mut reader = BufReader::with_capacity(64 * 1024, (&head[bom..got]).chain(input));
    let mut buf = Vec::with_capacity(4096);
    match layout {
        JsonLayout::Ndjson => {
            let mut line = 0u64;
            let mut offset = bom as u64;
            let mut row = 0u64;
            loop {
                buf.clear();
                let n = super::read_line(&mut reader, &mut buf, line + 1)?;
                if n == 0 {
                    break;
                }
                line += 1;
                let start = offset;
                offset += n as u64;
                let text = buf.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                row += 1;
                let mut location = String::with_capacity(24);
                location.push_str("line:");
                push_decimal(&mut location, line);
                run.item(text, row, line, &location, start)?;
                run.emitter.end_row(run.sink)?;
            }
        }
        JsonLayout::Array => {
            let mut sc = Scanner {
                r: reader,
                line: 1,
                offset: bom as u64,
            };
            match sc.peek()? {
                Some(b'[') => sc.consume(1),
                Some(_) => {
                    return Err(sc.malformed("expected '[' at the start of a JSON array export"))
                }
                None => return Ok(run.emitter.summary),
            }
            let mut row = 0u64;
            if sc.peek()? == Some(b']') {
                sc.consume(1);
            } else {
                loop {
                    sc.peek()?;
                    let (line, offset) = (sc.line, sc.offset);
                    sc.value(&mut buf)?;
                    let mut location = String::with_capacity(24);
                    location.push('/');
                    push_decimal(&mut location, row);
                    row += 1;
                    run.item(&buf, row, line, &location, offset)?;
                    run.emitter.end_row(run.sink)?;
                    match sc.peek()? {
                        Some(b',') => sc.consume(1),
                        Some(b']') => {
                            sc.consume(1);
                            break;
                        }
                        Some(_) => return Err(sc.malformed("expected ',' or ']' after an item")),
                        None => {
                            return Err(sc.malformed("input ends inside the array: truncated JSON"))
                        }
                    }
                }
            }
            if sc.peek()?.is_some() {
                return Err(sc.malformed("unexpected data after the end of the array"));
            }
        }
    }
    Ok(run.emitter.summary)
}

/// One quarantined item as a JSON text of its own, in the export's layout.
pub(crate) fn retry_text(raw_row: &str, layout: JsonLayout) -> String {
    match layout {
        JsonLayout::Array => format!("[{raw_row}]"),
        JsonLayout::Ndjson => format!("{raw_row}\n"),
    }
}

#[cfg(test)]
mod scanner_tests {
    use super::Scanner;
    use std::io::BufReader;

    proptest::proptest! {
        /// Items split at any buffer size, with quotes, escapes and brackets inside strings,
        /// come out whole, and lines are counted.
        #[test]
        fn values_survive_any_buffer_size(cap in 1usize..64, text in "[a-z{}\\[\\],\"\\\\ 中\n]{0,12}") {
            let item = serde_json::json!({ "a": text, "b": [1, { "c": text }] }).to_string();
            let input = format!("{item},\n{item}]");
            let mut sc = Scanner { r: BufReader::with_capacity(cap, input.as_bytes()), line: 1, offset: 0 };
            let mut out = Vec::new();
            sc.value(&mut out).unwrap();
            proptest::prop_assert_eq!(&out, item.as_bytes());
            proptest::prop_assert_eq!(sc.peek().unwrap(), Some(b','));
            sc.consume(1);
            sc.peek().unwrap();
            sc.value(&mut out).unwrap();
            proptest::prop_assert_eq!(&out, item.as_bytes());
            proptest::prop_assert_eq!(sc.line, 2);
        }
    }
}
