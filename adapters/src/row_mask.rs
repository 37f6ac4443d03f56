//! Masking a quarantined raw row for listing: the cells that protected fields read (name, ID
//! number, phone, and what is derived from them) are hidden, every other cell stays readable so
//! that whoever fixes the export can see what was wrong with it.
//!
//! The cells are found from the mapping: a CSV or fixed-width column, a JSON Pointer or an XML
//! path that a protected field reads. Where a row cannot be read back into its cells (a CSV row
//! that does not parse, an XML element that does not), or a protected source sits inside a
//! nested `each` element, the whole row is masked instead: hiding too much is the safe side.

use std::collections::BTreeSet;

use crate::mapping::{Format, Mapping, SourceRef};
use crate::mask::mask_shape;
use crate::target::fields_of;

/// The sources protected fields read, as written in the mapping (column names, pointers,
/// paths), and whether one of them is read inside a nested `each` element.
struct Protected {
    paths: BTreeSet<String>,
    nested: bool,
}

fn protected(mapping: &Mapping) -> Protected {
    let mut out = Protected {
        paths: BTreeSet::new(),
        nested: false,
    };
    for spec in &mapping.records {
        let defs = fields_of(spec.record_type);
        for (field, def) in spec.fields.iter().zip(defs) {
            let Some(field) = field.as_ref().filter(|_| def.protected) else {
                continue;
            };
            for s in &field.sources {
                if let SourceRef::Path { idx, item } = s {
                    if spec.each.is_some() && !item {
                        out.nested = true;
                    }
                    out.paths.insert(mapping.paths[*idx].clone());
                }
            }
        }
    }
    out
}

/// Masks the protected cells of a raw row of `mapping`'s format. `header` is the CSV header line
/// stored with the row (see `Adapter::retry_header`).
pub(crate) fn mask_row(mapping: &Mapping, raw: &str, header: Option<&str>) -> String {
    let p = protected(mapping);
    if p.paths.is_empty() {
        return raw.to_string();
    }
    let masked = match &mapping.format {
        Format::Csv {
            delimiter,
            quote,
            quoting,
            header: has_header,
            ..
        } => csv_row(
            raw,
            header.filter(|_| *has_header),
            *delimiter,
            *quote,
            *quoting,
            &p,
        ),
        Format::FixedWidth { columns, .. } => {
            let ranges = columns
                .iter()
                .filter(|(name, _)| p.paths.contains(*name))
                .map(|(_, r)| r.clone())
                .collect::<Vec<_>>();
            Some(fixed_width_row(raw, &ranges))
        }
        Format::Json { .. } if !p.nested => json_row(raw, &p),
        Format::Xml { .. } if !p.nested => xml_row(raw, &p),
        Format::Json { .. } | Format::Xml { .. } => None,
    };
    masked.unwrap_or_else(|| mask_shape(raw))
}

fn csv_row(
    raw: &str,
    header: Option<&str>,
    delimiter: u8,
    quote: u8,
    quoting: bool,
    p: &Protected,
) -> Option<String> {
    let first = |text: &str| -> Option<csv::StringRecord> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .quote(quote)
            .quoting(quoting)
            .from_reader(text.as_bytes())
            .records()
            .next()?
            .ok()
    };
    let names: Vec<String> = match header {
        Some(h) => first(h.trim_start_matches('\u{feff}'))?
            .iter()
            .map(|n| n.trim().to_string())
            .collect(),
        None => Vec::new(),
    };
    let row = first(raw)?;
    let hidden = |i: usize| {
        // Headerless exports name columns by 0-based index.
        names.get(i).is_some_and(|n| p.paths.contains(n)) || p.paths.contains(&i.to_string())
    };
    let cells: Vec<String> = row
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if hidden(i) {
                mask_shape(c)
            } else {
                c.to_string()
            }
        })
        .collect();
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(&cells).ok()?;
    let bytes = w.into_inner().ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(text.trim_end_matches('\n').to_string())
}

/// Masks the characters whose bytes fall in a protected column's byte range (ranges are of the
/// export's bytes; a row kept as UTF-8 may be longer, so a character is masked when any of its
/// bytes is in range: the masked span can only grow).
fn fixed_width_row(raw: &str, ranges: &[std::ops::Range<usize>]) -> String {
    raw.char_indices()
        .map(|(at, c)| {
            let end = at + c.len_utf8();
            let hit = ranges.iter().any(|r| at < r.end && end > r.start);
            if hit && !c.is_whitespace() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

fn json_row(raw: &str, p: &Protected) -> Option<String> {
    let mut item: serde_json::Value = serde_json::from_str(raw).ok()?;
    for pointer in &p.paths {
        if let Some(v) = item.pointer_mut(pointer) {
            mask_json(v);
        }
    }
    serde_json::to_string(&item).ok()
}

/// Masks a national record's `protected` object (name, ID number, phone), leaving the rest.
pub(crate) fn mask_native(raw: &str) -> String {
    let Ok(mut record) = serde_json::from_str::<serde_json::Value>(raw) else {
        return mask_shape(raw);
    };
    if let Some(p) = record.get_mut("protected") {
        mask_json(p);
    }
    serde_json::to_string(&record).unwrap_or_else(|_| mask_shape(raw))
}

fn mask_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = mask_shape(s),
        serde_json::Value::Number(n) => *v = serde_json::Value::String(mask_shape(&n.to_string())),
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_json),
        serde_json::Value::Object(o) => o.values_mut().for_each(mask_json),
        serde_json::Value::Bool(_) | serde_json::Value::Null => {}
    }
}

/// Rewrites an item element, masking the text of protected child paths (`IdCard`,
/// `Contact/Phone`) and protected attributes (`@id`, `Contact/@tel`), relative to the item.
fn xml_row(raw: &str, p: &Protected) -> Option<String> {
    use quick_xml::events::{BytesStart, BytesText, Event};
    let mut reader = quick_xml::Reader::from_str(raw);
    let mut writer = quick_xml::Writer::new(Vec::new());
    // Element names below the item's own element.
    let mut stack: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let path_of = |stack: &[String]| stack.join("/");
    loop {
        let event = reader.read_event().ok()?;
        match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let is_empty = matches!(event, Event::Empty(_));
                if depth > 0 {
                    stack.push(name.clone());
                }
                let here = path_of(&stack);
                let mut out = BytesStart::new(name.clone());
                for a in e.attributes() {
                    let a = a.ok()?;
                    let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                    let value = a.unescape_value().ok()?.into_owned();
                    let attr_path = if here.is_empty() {
                        format!("@{key}")
                    } else {
                        format!("{here}/@{key}")
                    };
                    let value = if p.paths.contains(&attr_path) {
                        mask_shape(&value)
                    } else {
                        value
                    };
                    out.push_attribute((key.as_str(), value.as_str()));
                }
                if is_empty {
                    writer.write_event(Event::Empty(out)).ok()?;
                    if depth > 0 {
                        stack.pop();
                    }
                } else {
                    writer.write_event(Event::Start(out)).ok()?;
                    depth += 1;
                }
            }
            Event::End(e) => {
                writer.write_event(Event::End(e)).ok()?;
                depth = depth.saturating_sub(1);
                if depth > 0 {
                    stack.pop();
                }
            }
            Event::Text(_) | Event::CData(_) => {
                let text = match &event {
                    Event::Text(t) => t.unescape().ok()?.into_owned(),
                    _ => String::from_utf8_lossy(&event).into_owned(),
                };
                let text = if p.paths.contains(&path_of(&stack)) {
                    mask_shape(&text)
                } else {
                    text
                };
                writer
                    .write_event(Event::Text(BytesText::new(&text)))
                    .ok()?;
            }
            // Comments, processing instructions and declarations could carry anything.
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
        }
    }
    String::from_utf8(writer.into_inner()).ok()
}
