//! XML exports, streamed with quick-xml. Each record names the absolute element path of its items;
//! one item's subtree at a time is held as a small tree and read with relative paths
//! (`Name`, `Addr/City`, `@id`, `.`). DTDs and entities other than the five built-ins are refused,
//! so no entity is ever expanded.

use std::borrow::Cow;
use std::io::{BufReader, Read};

use quick_xml::events::Event;

use crate::adapter::{AdapterError, DecodeContext, DecodeSummary, Decoded, SinkError};
use crate::encoding::{encoding_of, io_to_adapter, StrictDecoder};
use crate::engine::{Emitter, Frame, FrameCache};
use crate::mapping::{EncodingName, Format, Mapping};
use crate::target::V;

/// One element of an item's subtree.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    /// All nodes at a relative element path (no attribute step).
    fn select<'n>(&'n self, segs: &[String], out: &mut Vec<&'n Node>) {
        match segs.split_first() {
            None => out.push(self),
            Some((first, rest)) if first == "." => self.select(rest, out),
            Some((first, rest)) => {
                for c in self.children.iter().filter(|c| &c.name == first) {
                    c.select(rest, out);
                }
            }
        }
    }

    /// The value at a relative path: text of the element(s), or an attribute (`@name` last).
    fn value(&self, segs: &[String]) -> V<'_> {
        let (elems, attr) = match segs.split_last() {
            Some((last, rest)) if last.starts_with('@') => (rest, Some(&last[1..])),
            _ => (segs, None),
        };
        let mut nodes = Vec::new();
        self.select(elems, &mut nodes);
        let mut texts: Vec<Cow<'_, str>> = nodes
            .into_iter()
            .filter_map(|n| match attr {
                Some(a) => n
                    .attrs
                    .iter()
                    .find(|(k, _)| k == a)
                    .map(|(_, v)| Cow::Borrowed(v.as_str())),
                None => Some(Cow::Borrowed(n.text.as_str())),
            })
            .collect();
        match texts.len() {
            0 => V::Absent,
            1 => V::Text(texts.remove(0)),
            _ => V::List(texts),
        }
    }
}

fn segments(p: &str) -> Vec<String> {
    p.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

struct XmlFrame<'a> {
    item: &'a Node,
    elem: &'a Node,
    segs: &'a [Vec<String>],
    row: u64,
    index: usize,
    location: &'a str,
    line: u64,
    raw: &'a str,
}

impl Frame for XmlFrame<'_> {
    fn path(&self, idx: usize, item: bool) -> V<'_> {
        let base = if item { self.item } else { self.elem };
        base.value(&self.segs[idx])
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
        self.raw.to_string()
    }
}

fn xml_error(e: quick_xml::Error, encoding: EncodingName, line: u64, pos: u64) -> AdapterError {
    match e {
        quick_xml::Error::Io(io) => {
            let owned = std::io::Error::new(io.kind(), io.to_string());
            match io
                .get_ref()
                .and_then(|i| i.downcast_ref::<crate::encoding::InvalidBytes>())
            {
                Some(b) => io_to_adapter(
                    std::io::Error::new(
                        io.kind(),
                        crate::encoding::InvalidBytes { offset: b.offset },
                    ),
                    encoding,
                ),
                None => AdapterError::Io(owned),
            }
        }
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
            AdapterError::Refused {
                location: format!("line {line}, byte {pos}"),
                message: format!(
                    "entity '&{name};' is not one of the XML built-ins; entities are not expanded"
                ),
            }
        }
        other => AdapterError::Malformed {
            location: format!("line {line}, byte {pos}"),
            message: other.to_string(),
        },
    }
}

/// Deepest element nesting accepted, the limit serde_json puts on JSON. An item's subtree is
/// held as a tree, and a tree thousands of levels deep overflows the stack when it is dropped
/// (found by fuzzing: 16 000 nested elements in one item, 112 KB, aborted the process).
const MAX_DEPTH: usize = 128;

fn count_lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Decodes an XML export.
pub(crate) fn decode(
    mapping: &Mapping,
    input: &mut dyn Read,
    ctx: &DecodeContext<'_>,
    sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
) -> Result<DecodeSummary, AdapterError> {
    let Format::Xml { encoding } = mapping.format else {
        return Err(AdapterError::Malformed {
            location: "mapping".into(),
            message: "not an XML mapping".into(),
        });
    };
    let segs: Vec<Vec<String>> = mapping.paths.iter().map(|p| segments(p)).collect();
    let mut item_paths: Vec<&[String]> = mapping
        .records
        .iter()
        .filter_map(|r| r.item.as_deref())
        .collect();
    item_paths.sort();
    item_paths.dedup();
    let mut item_counts = vec![0u64; item_paths.len()];

    let decoded =
        BufReader::with_capacity(64 * 1024, StrictDecoder::new(input, encoding_of(encoding)));
    let mut reader = quick_xml::Reader::from_reader(decoded);
    let mut emitter = Emitter::new(mapping);
    let mut buf = Vec::with_capacity(4096);
    let mut stack: Vec<String> = Vec::new();
    // While inside an item: the open nodes of its subtree, the item's path index, and its raw text.
    let mut open: Vec<Node> = Vec::new();
    let mut capture: Option<(usize, u64)> = None;
    let mut raw = String::new();
    let mut line = 1u64;
    let mut row = 0u64;

    // Closing an item is the same whether it ends with `/>` or with its end tag.
    macro_rules! close_item {
        () => {
            close(
                &mut open,
                &mut capture,
                &mut |node, path_idx, start_line| {
                    row += 1;
                    item_counts[path_idx] += 1;
                    let loc = format!(
                        "/{}[{}]",
                        item_paths[path_idx].join("/"),
                        item_counts[path_idx]
                    );
                    item(
                        mapping,
                        &mut emitter,
                        &segs,
                        item_paths[path_idx],
                        &node,
                        row,
                        &loc,
                        start_line,
                        &raw,
                        ctx,
                        sink,
                    )
                },
            )?
        };
    }

    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(e, encoding, line, pos))?;
        let esc = move |e: quick_xml::Error| xml_error(e, encoding, line, pos);
        match event {
            Event::DocType(_) => {
                return Err(AdapterError::Refused {
                    location: format!("line {line}, byte {pos}"),
                    message: "a DOCTYPE declaration is not accepted (no DTDs, no entity expansion)"
                        .into(),
                })
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                line += count_lines(e);
                let is_empty = matches!(event, Event::Empty(_));
                if stack.len() >= MAX_DEPTH {
                    return Err(AdapterError::Malformed {
                        location: format!("line {line}, byte {pos}"),
                        message: format!("elements are nested more than {MAX_DEPTH} deep"),
                    });
                }
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                stack.push(name.clone());
                if capture.is_none() {
                    if let Some(i) = item_paths.iter().position(|p| *p == stack.as_slice()) {
                        capture = Some((i, line));
                        raw.clear();
                    }
                }
                if capture.is_some() {
                    let mut node = Node {
                        name,
                        ..Node::default()
                    };
                    for a in e.attributes() {
                        let a = a.map_err(|err| esc(err.into()))?;
                        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                        node.attrs
                            .push((key, a.unescape_value().map_err(esc)?.into_owned()));
                    }
                    raw.push('<');
                    raw.push_str(&String::from_utf8_lossy(e));
                    raw.push_str(if is_empty { "/>" } else { ">" });
                    open.push(node);
                }
                if is_empty {
                    stack.pop();
                    if capture.is_some() {
                        close_item!();
                    }
                }
            }
            Event::End(ref e) => {
                if raw.len() > super::MAX_ITEM_BYTES {
                    return Err(AdapterError::Malformed {
                        location: format!("line {line}, byte {pos}"),
                        message: format!("an item is longer than {} bytes", super::MAX_ITEM_BYTES),
                    });
                }
                stack.pop();
                if capture.is_some() {
                    raw.push_str("</");
                    raw.push_str(&String::from_utf8_lossy(e.name().as_ref()));
                    raw.push('>');
                    close_item!();
                }
            }
            Event::Text(ref t) => {
                line += count_lines(t);
                if let Some(node) = open.last_mut() {
                    let text = t.unescape().map_err(esc)?;
                    node.text.push_str(&text);
                    raw.push_str(&String::from_utf8_lossy(t));
                }
            }
            Event::CData(ref t) => {
                line += count_lines(t);
                if let Some(node) = open.last_mut() {
                    let text = String::from_utf8_lossy(t);
                    node.text.push_str(&text);
                    raw.push_str("<![CDATA[");
                    raw.push_str(&text);
                    raw.push_str("]]>");
                }
            }
            Event::Comment(ref t) => line += count_lines(t),
            Event::PI(ref t) => line += count_lines(t),
            Event::Decl(_) => {}
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(AdapterError::Malformed {
                        location: format!("line {line}, byte {}", reader.buffer_position()),
                        message: format!("input ends inside <{open}>: truncated XML"),
                    });
                }
                break;
            }
        }
    }
    Ok(emitter.summary)
}

/// Closes the innermost open node; when it is the item itself, hands it to `done`.
fn close(
    open: &mut Vec<Node>,
    capture: &mut Option<(usize, u64)>,
    done: &mut dyn FnMut(Node, usize, u64) -> Result<(), AdapterError>,
) -> Result<(), AdapterError> {
    let Some(node) = open.pop() else {
        return Ok(());
    };
    match open.last_mut() {
        Some(parent) => {
            parent.children.push(node);
            Ok(())
        }
        None => {
            let Some((path_idx, start_line)) = capture.take() else {
                return Ok(());
            };
            done(node, path_idx, start_line)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn item(
    mapping: &Mapping,
    emitter: &mut Emitter<'_>,
    segs: &[Vec<String>],
    path: &[String],
    node: &Node,
    row: u64,
    location: &str,
    line: u64,
    raw: &str,
    ctx: &DecodeContext<'_>,
    sink: &mut dyn FnMut(Decoded) -> Result<(), SinkError>,
) -> Result<(), AdapterError> {
    emitter.summary.rows += 1;
    let item_frame = XmlFrame {
        item: node,
        elem: node,
        segs,
        row,
        index: 0,
        location,
        line,
        raw,
    };
    let mut item_cache = FrameCache::default();
    for spec in mapping
        .records
        .iter()
        .filter(|r| r.item.as_deref() == Some(path))
    {
        match spec.each {
            None => {
                if emitter.applies(spec, &item_frame) {
                    emitter.emit(spec, &item_frame, &mut item_cache, ctx, sink)?;
                }
            }
            Some(each) => {
                let mut elems = Vec::new();
                node.select(&segs[each], &mut elems);
                for (index, elem) in elems.into_iter().enumerate() {
                    let loc = format!("{location}/{}[{}]", mapping.paths[each], index + 1);
                    let frame = XmlFrame {
                        item: node,
                        elem,
                        segs,
                        row,
                        index,
                        location: &loc,
                        line,
                        raw,
                    };
                    if emitter.applies(spec, &frame) {
                        emitter.emit(spec, &frame, &mut FrameCache::default(), ctx, sink)?;
                    }
                }
            }
        }
    }
    emitter.end_row(sink)?;
    Ok(())
}

/// One quarantined item as an XML text of its own: the raw item wrapped back into its ancestors,
/// which are read from the item's location (`/Export/Employers/Employer[3]`, maybe followed by
/// a nested path), since items are only read at their absolute path. `None` when the location
/// does not name the raw item's element.
pub(crate) fn retry_text(raw_row: &str, location: &str) -> Option<String> {
    let path = location.split('[').next()?.strip_prefix('/')?;
    let segs: Vec<&str> = path.split('/').collect();
    let (item, ancestors) = segs.split_last()?;
    let rest = raw_row.trim_start().strip_prefix('<')?.strip_prefix(item)?;
    if !rest.starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace()) {
        return None;
    }
    let mut text = String::with_capacity(raw_row.len() + 2 * path.len() + 8);
    for a in ancestors {
        text.push_str(&format!("<{a}>"));
    }
    text.push_str(raw_row);
    for a in ancestors.iter().rev() {
        text.push_str(&format!("</{a}>"));
    }
    text.push('\n');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::retry_text;

    #[test]
    fn a_quarantined_item_is_put_back_inside_its_ancestors() {
        let raw = r#"<Employer id="E1" version="2"><Name>x</Name></Employer>"#;
        assert_eq!(
            retry_text(raw, "/Export/Employers/Employer[3]").as_deref(),
            Some(format!("<Export><Employers>{raw}</Employers></Export>\n").as_str())
        );
        // A nested location (a record per child element) still names the item first.
        assert!(retry_text(raw, "/Export/Employers/Employer[3]/Sites/Site[2]").is_some());
        assert!(retry_text("<Employer/>", "/Export/Employer[1]").is_some());
        // The location must name the raw item's own element.
        assert_eq!(retry_text(raw, "/Export/Vacancies/Vacancy[1]"), None);
        assert_eq!(retry_text(raw, "/Export/Employers/Employ[1]"), None);
        assert_eq!(retry_text(raw, "line:3"), None);
    }
}
