//! Writing generated items in a mapping's format and encoding.

use std::io::Write;

use encoding_rs::Encoding;
use serde_json::{Map, Value};

use super::item::{Item, Raw, Unit};
use super::SynthError;
use crate::encoding::encoding_of;
use crate::formats::json::pointer_tokens;
use crate::mapping::{Format, JsonLayout, Mapping};

pub(crate) struct Writer<'m, 'o> {
    m: &'m Mapping,
    out: &'o mut dyn Write,
    enc: &'static Encoding,
    first: bool,
    /// Open XML container elements.
    xml_open: Vec<String>,
    /// CSV: cells per row and each path's column.
    csv_columns: Vec<usize>,
    csv_width: usize,
    /// CSV delimiter and quote.
    csv: Option<(u8, u8)>,
    eol: &'static str,
    /// Element name of the current XML item path.
    item_name: String,
}

impl<'m, 'o> Writer<'m, 'o> {
    pub(crate) fn new(m: &'m Mapping, out: &'o mut dyn Write) -> Result<Self, SynthError> {
        let enc = match m.format {
            Format::Csv { encoding, .. }
            | Format::FixedWidth { encoding, .. }
            | Format::Xml { encoding } => encoding_of(encoding),
            Format::Json { .. } => encoding_rs::UTF_8,
        };
        let eol = if enc == encoding_rs::UTF_8 {
            "\n"
        } else {
            "\r\n"
        };
        let mut w = Writer {
            m,
            out,
            enc,
            first: true,
            xml_open: Vec::new(),
            csv_columns: Vec::new(),
            csv_width: 0,
            csv: None,
            eol,
            item_name: String::new(),
        };
        w.prelude()?;
        Ok(w)
    }

    fn put(&mut self, text: &str) -> Result<(), SynthError> {
        if self.enc == encoding_rs::UTF_8 {
            self.out.write_all(text.as_bytes())?;
        } else {
            self.out.write_all(&self.enc.encode(text).0)?;
        }
        Ok(())
    }

    fn prelude(&mut self) -> Result<(), SynthError> {
        match &self.m.format {
            Format::Csv {
                delimiter,
                quote,
                header,
                ..
            } => {
                self.csv = Some((*delimiter, *quote));
                if *header {
                    self.csv_columns = (0..self.m.paths.len()).collect();
                    self.csv_width = self.m.paths.len();
                    let header = self.m.paths.clone();
                    self.csv_row(&header)?;
                } else {
                    self.csv_columns = self
                        .m
                        .paths
                        .iter()
                        .map(|p| p.parse::<usize>().unwrap_or(0))
                        .collect();
                    self.csv_width = self.csv_columns.iter().max().map(|m| m + 1).unwrap_or(0);
                }
            }
            Format::FixedWidth { skip_lines, .. } => {
                for i in 0..*skip_lines {
                    let line = format!(
                        "SYNTH {} {} {}{}",
                        self.m.id,
                        self.m.version,
                        i + 1,
                        self.eol
                    );
                    self.put(&line)?;
                }
            }
            Format::Json {
                layout: JsonLayout::Array,
            } => self.out.write_all(b"[\n")?,
            Format::Json {
                layout: JsonLayout::Ndjson,
            } => {}
            Format::Xml { .. } => {
                let label = self.enc.name();
                self.put(&format!("<?xml version=\"1.0\" encoding=\"{label}\"?>\n"))?;
            }
        }
        Ok(())
    }

    /// Writes one CSV row, quoting cells that need it.
    fn csv_row(&mut self, cells: &[String]) -> Result<(), SynthError> {
        let Some((delim, quote)) = self.csv else {
            return Ok(());
        };
        let (delim, quote) = (char::from(delim), char::from(quote));
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                line.push(delim);
            }
            if c.contains([delim, quote, '\n', '\r']) {
                line.push(quote);
                line.push_str(&c.replace(quote, &format!("{quote}{quote}")));
                line.push(quote);
            } else {
                line.push_str(c);
            }
        }
        line.push_str(self.eol);
        self.put(&line)
    }

    /// Starts the items of one XML item path (closes and opens containers as needed).
    pub(crate) fn begin_group(&mut self, item_path: Option<&[String]>) -> Result<(), SynthError> {
        let Some(path) = item_path else { return Ok(()) };
        self.item_name = path.last().cloned().unwrap_or_default();
        let container = &path[..path.len().saturating_sub(1)];
        let common = self
            .xml_open
            .iter()
            .zip(container)
            .take_while(|(a, b)| a == b)
            .count();
        while self.xml_open.len() > common {
            let name = self.xml_open.pop().unwrap_or_default();
            let indent = "  ".repeat(self.xml_open.len());
            self.put(&format!("{indent}</{name}>\n"))?;
        }
        for name in &container[common..] {
            let indent = "  ".repeat(self.xml_open.len());
            self.put(&format!("{indent}<{name}>\n"))?;
            self.xml_open.push(name.clone());
        }
        Ok(())
    }

    pub(crate) fn item(&mut self, item: &Item) -> Result<(), SynthError> {
        match &self.m.format {
            Format::Csv { .. } => {
                let mut cells = vec![String::new(); self.csv_width];
                for (idx, raw) in &item.values {
                    if let (Some(col), Raw::Text(t)) = (self.csv_columns.get(*idx), raw) {
                        cells[*col] = t.clone();
                    }
                }
                self.csv_row(&cells)
            }
            Format::FixedWidth { columns, .. } => {
                let width = columns.values().map(|r| r.end).max().unwrap_or(0);
                let mut line = vec![b' '; width];
                for (idx, raw) in &item.values {
                    let (Some(range), Raw::Text(t)) = (columns.get(&self.m.paths[*idx]), raw)
                    else {
                        continue;
                    };
                    let bytes = self.enc.encode(t).0;
                    let n = bytes.len().min(range.len());
                    line[range.start..range.start + n].copy_from_slice(&bytes[..n]);
                }
                self.out.write_all(&line)?;
                self.out.write_all(self.eol.as_bytes())?;
                Ok(())
            }
            Format::Json { layout } => {
                let mut obj = Map::new();
                self.json_unit(&mut obj, &item.values);
                for (each, units) in &item.elements {
                    let arr: Vec<Value> = units
                        .iter()
                        .map(|u| {
                            let mut o = Map::new();
                            self.json_unit(&mut o, u);
                            Value::Object(o)
                        })
                        .collect();
                    set_pointer(
                        &mut obj,
                        &pointer_tokens(&self.m.paths[*each]),
                        Value::Array(arr),
                    );
                }
                if *layout == JsonLayout::Array && !self.first {
                    self.out.write_all(b",\n")?;
                }
                self.first = false;
                serde_json::to_writer(&mut *self.out, &Value::Object(obj))
                    .map_err(|e| SynthError::Io(e.into()))?;
                if *layout == JsonLayout::Ndjson {
                    self.out.write_all(b"\n")?;
                }
                Ok(())
            }
            Format::Xml { .. } => {
                let mut node = XNode::new(&self.item_name);
                self.xml_unit(&mut node, &item.values);
                for (each, units) in &item.elements {
                    let segs: Vec<&str> = self.m.paths[*each]
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .collect();
                    let Some((last, parents)) = segs.split_last() else {
                        continue;
                    };
                    for u in units {
                        let mut child = XNode::new(last);
                        self.xml_unit(&mut child, u);
                        node.at(parents).children.push(child);
                    }
                }
                let mut s = String::new();
                node.render(&mut s, self.xml_open.len());
                self.put(&s)
            }
        }
    }

    fn json_unit(&self, obj: &mut Map<String, Value>, unit: &Unit) {
        for (idx, raw) in unit {
            let v = match raw {
                Raw::Text(t) => Value::String(t.clone()),
                Raw::List(l) => Value::Array(l.iter().map(|s| Value::String(s.clone())).collect()),
                Raw::Null => Value::Null,
            };
            set_pointer(obj, &pointer_tokens(&self.m.paths[*idx]), v);
        }
    }

    fn xml_unit(&self, node: &mut XNode, unit: &Unit) {
        for (idx, raw) in unit {
            let segs: Vec<&str> = self.m.paths[*idx]
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .collect();
            match (segs.split_last(), raw) {
                (_, Raw::Null) => {}
                (Some((last, parents)), Raw::Text(t)) if last.starts_with('@') => {
                    node.at(parents)
                        .attrs
                        .push((last[1..].to_string(), t.clone()));
                }
                (Some((last, parents)), Raw::List(items)) => {
                    let parent = node.at(parents);
                    for i in items {
                        let mut c = XNode::new(last);
                        c.text = Some(i.clone());
                        parent.children.push(c);
                    }
                }
                (Some(_), Raw::Text(t)) => node.at(&segs).text = Some(t.clone()),
                (None, Raw::Text(t)) => node.text = Some(t.clone()),
                (None, Raw::List(_)) => {}
            }
        }
    }

    pub(crate) fn finish(&mut self) -> Result<(), SynthError> {
        match &self.m.format {
            Format::Json {
                layout: JsonLayout::Array,
            } => {
                if !self.first {
                    self.out.write_all(b"\n")?;
                }
                self.out.write_all(b"]\n")?;
            }
            Format::Xml { .. } => {
                while let Some(name) = self.xml_open.pop() {
                    let indent = "  ".repeat(self.xml_open.len());
                    self.put(&format!("{indent}</{name}>\n"))?;
                }
            }
            _ => {}
        }
        self.out.flush()?;
        Ok(())
    }
}

fn set_pointer(obj: &mut Map<String, Value>, tokens: &[String], v: Value) {
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut cur = obj;
    for t in parents {
        let next = cur
            .entry(t.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        match next {
            Value::Object(o) => cur = o,
            _ => return,
        }
    }
    cur.insert(last.clone(), v);
}

/// A small XML element tree for writing one item.
struct XNode {
    name: String,
    attrs: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<XNode>,
}

impl XNode {
    fn new(name: &str) -> XNode {
        XNode {
            name: name.to_string(),
            attrs: Vec::new(),
            text: None,
            children: Vec::new(),
        }
    }

    /// The descendant at a relative element path, created if missing (first match otherwise).
    fn at(&mut self, segs: &[&str]) -> &mut XNode {
        let Some((first, rest)) = segs.split_first() else {
            return self;
        };
        let i = match self.children.iter().position(|c| c.name == *first) {
            Some(i) => i,
            None => {
                self.children.push(XNode::new(first));
                self.children.len() - 1
            }
        };
        self.children[i].at(rest)
    }

    fn render(&self, out: &mut String, depth: usize) {
        let indent = "  ".repeat(depth);
        out.push_str(&indent);
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
        if self.children.is_empty() {
            match &self.text {
                Some(t) => out.push_str(&format!(">{}</{}>\n", escape(t), self.name)),
                None => out.push_str("/>\n"),
            }
            return;
        }
        out.push_str(">\n");
        if let Some(t) = &self.text {
            out.push_str(&format!("{indent}  {}\n", escape(t)));
        }
        for c in &self.children {
            c.render(out, depth + 1);
        }
        out.push_str(&format!("{indent}</{}>\n", self.name));
    }
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}
