//! Declarative mappings: parse a TOML file, check it against the national schema and code lists,
//! and compile it into the form the format decoders run.
//!
//! Every check that fails names the line of the TOML file it is about.

pub(crate) mod config;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use pes_schemas::RecordType;

pub use config::{
    CodeTableConfig, ConditionConfig, EncodingName, FieldConfig, FixedColumn, FormatConfig,
    JsonLayout, MappingConfig, OnUnknown, OneOrMany, RecordConfig, Transform, Versioning,
};

use crate::national;
use crate::target::{fields_of, FieldDef};
use crate::transform::{CodeTable, DateFormat, DatePattern, Step};

/// Most transform chains one frame caches (see [`Field::shared`]; the engine's frame cache has this many slots); further shared chains are
/// simply recomputed.
pub(crate) const SHARED_CHAINS: usize = 16;

/// A mapping that cannot be used. Fault: the mapping's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    /// The mapping file, when loaded from disk.
    pub file: Option<PathBuf>,
    /// 1-based line in the TOML (or code-table CSV) file.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Where a field's value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceRef {
    /// A path (column, pointer, element path) by index into [`Mapping::paths`].
    Path {
        /// Index into the mapping's path table.
        idx: usize,
        /// Read from the enclosing item rather than the nested element (`^` prefix).
        item: bool,
    },
    /// 1-based row or item number.
    Row,
    /// 0-based index in the `each` array (0 without one).
    Index,
    /// The push's ingest time (`$ingested_at`), as milliseconds since the Unix epoch: only as
    /// a record's `record_version`, so the later push wins and the record shows when.
    IngestedAt,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub source: SourceRef,
    pub test: CondTest,
}

/// What a condition tests.
#[derive(Debug, Clone)]
pub(crate) enum CondTest {
    OneOf(Vec<String>),
    Present(bool),
}

/// A compiled target field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub sources: Vec<SourceRef>,
    pub sep: String,
    pub constant: Option<String>,
    pub default: Option<String>,
    pub steps: Vec<Step>,
    pub prefix: Option<String>,
    /// Slot in the per-frame cache when another field runs the same steps on the same sources
    /// (a row's records share its ID number, record number, ...): computed once per frame.
    pub shared: Option<usize>,
}

impl Field {
    /// Whether `other` reads the same sources through the same steps (default and prefix aside).
    fn same_chain(&self, other: &Field) -> bool {
        self.sources == other.sources
            && self.sep == other.sep
            && self.constant == other.constant
            && self.steps == other.steps
    }
}

/// Gives each transform chain that more than one field runs a slot of the per-frame cache (up to
/// [`SHARED_CHAINS`]). Chains without steps are not worth caching: reading a source is cheap.
fn share_chains(records: &mut [RecordSpec]) {
    let chained: Vec<(usize, usize)> = records
        .iter()
        .enumerate()
        .flat_map(|(r, spec)| {
            spec.fields.iter().enumerate().filter_map(move |(slot, f)| {
                f.as_ref()
                    .filter(|f| !f.steps.is_empty() && !f.sources.is_empty())
                    .map(|_| (r, slot))
            })
        })
        .collect();
    let field = |records: &[RecordSpec], (r, slot): (usize, usize)| -> Option<Field> {
        records[r].fields[slot].clone()
    };
    let mut next = 0;
    for (i, &at) in chained.iter().enumerate() {
        let Some(first) = field(records, at) else {
            continue;
        };
        if first.shared.is_some() || next == SHARED_CHAINS {
            continue;
        }
        let twins: Vec<(usize, usize)> = chained[i + 1..]
            .iter()
            .copied()
            .filter(|&other| field(records, other).is_some_and(|f| f.same_chain(&first)))
            .collect();
        if twins.is_empty() {
            continue;
        }
        for (r, slot) in std::iter::once(at).chain(twins) {
            if let Some(f) = records[r].fields[slot].as_mut() {
                f.shared = Some(next);
            }
        }
        next += 1;
    }
}

/// A compiled record declaration.
#[derive(Debug, Clone)]
pub(crate) struct RecordSpec {
    pub record_type: RecordType,
    pub when: Option<Condition>,
    /// XML item path segments (absolute, without the leading empty segment).
    pub item: Option<Vec<String>>,
    /// Index into [`Mapping::paths`] of the nested array / element path.
    pub each: Option<usize>,
    /// One entry per target slot of the record type.
    pub fields: Vec<Option<Field>>,
}

/// Options of the export format, checked.
#[derive(Debug, Clone)]
pub enum Format {
    /// Delimited text.
    Csv {
        /// Text encoding.
        encoding: EncodingName,
        /// Delimiter byte.
        delimiter: u8,
        /// Quote byte.
        quote: u8,
        /// Whether quotes are recognised.
        quoting: bool,
        /// Whether the first row is a header.
        header: bool,
        /// Whether quoted fields may span lines.
        multiline_fields: bool,
    },
    /// Fixed-width lines.
    FixedWidth {
        /// Text encoding.
        encoding: EncodingName,
        /// Lines skipped at the start.
        skip_lines: usize,
        /// Columns by name: 0-based byte range.
        columns: BTreeMap<String, Range<usize>>,
    },
    /// JSON items.
    Json {
        /// Array or NDJSON.
        layout: JsonLayout,
    },
    /// XML.
    Xml {
        /// Text encoding.
        encoding: EncodingName,
    },
}

/// A checked, compiled mapping: everything an adapter needs.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Adapter id.
    pub id: String,
    /// Adapter version.
    pub version: String,
    /// GB/T 2260 province code of the exporting region.
    pub region: String,
    /// Operator-facing description.
    pub description: String,
    /// Format and options.
    pub format: Format,
    /// Distinct source paths, as written (without `^`).
    pub(crate) paths: Vec<String>,
    pub(crate) records: Vec<RecordSpec>,
    pub(crate) tables: Vec<CodeTable>,
    /// File the mapping was loaded from.
    pub file: Option<PathBuf>,
    /// Code-table files the mapping read (a reload re-reads them too).
    pub code_table_files: Vec<PathBuf>,
    /// Whether a source row is stored whole or not at all (see `MappingConfig::atomic_rows`).
    pub atomic_rows: bool,
}

impl Mapping {
    /// Parses and checks a mapping. `base_dir` resolves code-table files.
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Mapping, MappingError> {
        let cfg: MappingConfig = toml::from_str(text).map_err(|e| MappingError {
            file: None,
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        Compiler {
            text,
            base_dir,
            paths: Vec::new(),
        }
        .compile(cfg)
    }

    /// Loads a mapping file; code-table files are resolved beside it.
    pub fn from_path(path: &Path) -> Result<Mapping, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|e| MappingError {
            file: Some(path.to_path_buf()),
            line: None,
            message: format!("cannot read mapping: {e}"),
        })?;
        let mut m = Mapping::from_toml_str(&text, path.parent()).map_err(|mut e| {
            e.file = Some(path.to_path_buf());
            e
        })?;
        m.file = Some(path.to_path_buf());
        Ok(m)
    }

    /// Record types this mapping can produce.
    pub fn record_types(&self) -> Vec<RecordType> {
        let mut v: Vec<RecordType> = self.records.iter().map(|r| r.record_type).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The source path text of a source reference (for messages).
    pub(crate) fn source_text(&self, s: &SourceRef) -> String {
        match s {
            SourceRef::Path { idx, item } => {
                format!("{}{}", if *item { "^" } else { "" }, self.paths[*idx])
            }
            SourceRef::Row => "$row".into(),
            SourceRef::Index => "$index".into(),
            SourceRef::IngestedAt => "$ingested_at".into(),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

struct Compiler<'t> {
    text: &'t str,
    base_dir: Option<&'t Path>,
    paths: Vec<String>,
}

impl Compiler<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> MappingError {
        MappingError {
            file: None,
            line: Some(line_of(self.text, span.start)),
            message: message.into(),
        }
    }

    fn compile(mut self, cfg: MappingConfig) -> Result<Mapping, MappingError> {
        let region = cfg.region.get_ref();
        if region.len() != 6
            || !region.bytes().all(|b| b.is_ascii_digit())
            || !region.ends_with("0000")
        {
            return Err(self.err(
                cfg.region.span(),
                format!("region '{region}' is not a GB/T 2260 province code"),
            ));
        }
        let format_span = cfg.format.span();
        let format = self.format(cfg.format.into_inner(), format_span)?;

        let mut tables = Vec::new();
        let mut table_index = HashMap::new();
        let mut code_table_files = Vec::new();
        for (name, t) in cfg.code_tables {
            let span = t.span();
            let (table, file) = self.code_table(&name, t.into_inner(), span)?;
            code_table_files.extend(file);
            table_index.insert(name, tables.len());
            tables.push(table);
        }

        if cfg.records.is_empty() {
            return Err(MappingError {
                file: None,
                line: None,
                message: "mapping declares no [[records]]".into(),
            });
        }
        let mut records = Vec::new();
        let versioning = cfg.versioning;
        for r in cfg.records {
            let span = r.record_type.span();
            let spec = self.record(r, &format, &table_index)?;
            // Slot 1 of every record type is `record_version` (see `target::ENVELOPE`).
            let mapped = spec.fields.get(1).is_some_and(Option::is_some);
            match versioning {
                config::Versioning::Field if !mapped => {
                    return Err(self.err(
                        span,
                        format!(
                            "versioning = \"field\" but this {} record maps no record_version",
                            spec.record_type
                        ),
                    ))
                }
                config::Versioning::PushOrder if mapped => {
                    return Err(self.err(
                        span,
                        format!(
                            "versioning = \"push_order\" but this {} record maps record_version \
                             (remove it, or use versioning = \"field\")",
                            spec.record_type
                        ),
                    ))
                }
                _ => {}
            }
            records.push(spec);
        }
        share_chains(&mut records);
        Ok(Mapping {
            id: cfg.id,
            version: cfg.version,
            region: cfg.region.into_inner(),
            description: cfg.description,
            format,
            paths: self.paths,
            records,
            tables,
            file: None,
            code_table_files,
            atomic_rows: cfg.atomic_rows,
        })
    }

    fn format(&self, f: FormatConfig, span: Range<usize>) -> Result<Format, MappingError> {
        let ascii = |c: char, what: &str| -> Result<u8, MappingError> {
            u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
                self.err(span.clone(), format!("{what} must be one ASCII character"))
            })
        };
        Ok(match f {
            FormatConfig::Csv {
                encoding,
                delimiter,
                quote,
                quoting,
                header,
                multiline_fields,
            } => Format::Csv {
                encoding,
                delimiter: ascii(delimiter, "delimiter")?,
                quote: ascii(quote, "quote")?,
                quoting,
                header,
                multiline_fields,
            },
            FormatConfig::FixedWidth {
                encoding,
                skip_lines,
                columns,
            } => {
                let mut out = BTreeMap::new();
                for (name, c) in columns {
                    if c.start == 0 || c.length == 0 {
                        return Err(self.err(
                            span.clone(),
                            format!(
                                "column '{name}': start is 1-based and length must be positive"
                            ),
                        ));
                    }
                    out.insert(name, c.start - 1..c.start - 1 + c.length);
                }
                Format::FixedWidth {
                    encoding,
                    skip_lines,
                    columns: out,
                }
            }
            FormatConfig::Json { layout } => Format::Json { layout },
            FormatConfig::Xml { encoding } => Format::Xml { encoding },
        })
    }

    fn code_table(
        &self,
        name: &str,
        t: CodeTableConfig,
        span: Range<usize>,
    ) -> Result<(CodeTable, Option<PathBuf>), MappingError> {
        let mut entries: HashMap<String, String> = t.entries.into_iter().collect();
        let mut read = None;
        if let Some(file) = &t.file {
            let path = self
                .base_dir
                .map(|d| d.join(file))
                .unwrap_or_else(|| PathBuf::from(file));
            read = Some(path.clone());
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_path(&path)
                .map_err(|e| {
                    self.err(
                        span.clone(),
                        format!("code table '{name}': cannot read {}: {e}", path.display()),
                    )
                })?;
            let header_error = |message: String| MappingError {
                file: Some(path.clone()),
                line: Some(1),
                message: format!("code table '{name}': {message}"),
            };
            let headers = rdr
                .headers()
                .map_err(|e| header_error(e.to_string()))?
                .clone();
            // Columns by header name, so a reordered or annotated export still maps right.
            let column = |setting: &str, wanted: Option<&str>| {
                let wanted = wanted.unwrap_or(setting);
                headers
                    .iter()
                    .position(|h| h.trim_start_matches('\u{feff}').trim() == wanted)
                    .ok_or_else(|| {
                        header_error(format!(
                            "no column named '{wanted}' in the header ({}); rename it, or set `{setting}_column`",
                            headers.iter().collect::<Vec<_>>().join(","),
                        ))
                    })
            };
            let local_at = column("local", t.local_column.as_deref())?;
            let national_at = column("national", t.national_column.as_deref())?;
            for (i, row) in rdr.records().enumerate() {
                let row = row.map_err(|e| MappingError {
                    file: Some(path.clone()),
                    line: Some(i + 2),
                    message: format!("code table '{name}': {e}"),
                })?;
                match (row.get(local_at), row.get(national_at)) {
                    (Some(local), Some(national)) => {
                        entries.insert(local.trim().to_string(), national.trim().to_string());
                    }
                    _ => {
                        return Err(MappingError {
                            file: Some(path.clone()),
                            line: Some(i + 2),
                            message: format!(
                                "code table '{name}': the row has no value in column {} or {}",
                                local_at + 1,
                                national_at + 1
                            ),
                        })
                    }
                }
            }
        }
        if entries.is_empty() {
            return Err(self.err(
                span,
                format!("code table '{name}' has no entries (give `entries` or `file`)"),
            ));
        }
        if let Some(target) = &t.target {
            let list = target.get_ref();
            for national_code in entries.values() {
                match national::in_code_list(list, national_code) {
                    None => {
                        return Err(self.err(
                            target.span(),
                            format!(
                                "code table '{name}': unknown national code list '{list}' (known: {})",
                                national::CODE_TABLE_TARGETS.join(", ")
                            ),
                        ))
                    }
                    Some(false) => {
                        return Err(self.err(
                            span,
                            format!("code table '{name}': '{national_code}' is not in the national {list} code list"),
                        ))
                    }
                    Some(true) => {}
                }
            }
        }
        Ok((
            CodeTable::new(name.to_string(), entries, t.on_unknown),
            read,
        ))
    }

    fn record(
        &mut self,
        r: RecordConfig,
        format: &Format,
        tables: &HashMap<String, usize>,
    ) -> Result<RecordSpec, MappingError> {
        let type_span = r.record_type.span();
        let record_type = RecordType::parse(r.record_type.get_ref()).ok_or_else(|| {
            self.err(
                type_span.clone(),
                format!(
                    "unknown record type '{}' (known: {})",
                    r.record_type.get_ref(),
                    RecordType::ALL.map(RecordType::as_str).join(", ")
                ),
            )
        })?;
        let defs = fields_of(record_type);

        let item = match (&r.item, format) {
            (Some(item), Format::Xml { .. }) => {
                let p = item.get_ref();
                let segs: Vec<String> = p
                    .strip_prefix('/')
                    .unwrap_or("")
                    .split('/')
                    .map(str::to_string)
                    .collect();
                if !p.starts_with('/') || segs.iter().any(String::is_empty) {
                    return Err(self.err(
                        item.span(),
                        format!("item path '{p}' must be absolute, like /Export/Persons/Person"),
                    ));
                }
                Some(segs)
            }
            (Some(item), _) => {
                return Err(self.err(item.span(), "`item` applies to XML mappings only"))
            }
            (None, Format::Xml { .. }) => {
                return Err(self.err(type_span, "XML records need an `item` element path"))
            }
            (None, _) => None,
        };
        let each = match &r.each {
            Some(each) => {
                if !matches!(format, Format::Json { .. } | Format::Xml { .. }) {
                    return Err(
                        self.err(each.span(), "`each` applies to JSON and XML mappings only")
                    );
                }
                let p = each.get_ref();
                self.check_path(p, format, each.span())?;
                Some(self.intern(p))
            }
            None => None,
        };
        let when = match &r.when {
            Some(w) => {
                let c = w.get_ref();
                let source = self.source(&c.field, format, w.span(), r.each.is_some())?;
                let test = match (&c.equals, &c.one_of, c.present) {
                    (Some(v), None, None) => CondTest::OneOf(vec![v.clone()]),
                    (None, Some(vs), None) => CondTest::OneOf(vs.clone()),
                    (None, None, Some(p)) => CondTest::Present(p),
                    _ => {
                        return Err(self.err(
                            w.span(),
                            "a condition needs exactly one of `equals`, `in`, `present`",
                        ))
                    }
                };
                Some(Condition { source, test })
            }
            None => None,
        };

        let mut fields: Vec<Option<Field>> = vec![None; defs.len()];
        for (name, f) in r.fields {
            let slot = defs
                .iter()
                .position(|d| d.name == name.get_ref())
                .ok_or_else(|| {
                    self.err(
                        name.span(),
                        format!(
                            "unknown field '{}' for record type {record_type} (known: {})",
                            name.get_ref(),
                            defs.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
                        ),
                    )
                })?;
            let span = f.span();
            let field = self.field(
                f.into_inner(),
                span.clone(),
                format,
                tables,
                r.each.is_some(),
            )?;
            // Slot 1 is `record_version` (see `target::ENVELOPE`).
            if slot != 1 && field.sources.contains(&SourceRef::IngestedAt) {
                return Err(self.err(
                    span,
                    "`$ingested_at` can only give record_version (the push's ingest time)",
                ));
            }
            fields[slot] = Some(field);
        }
        for (def, f) in defs.iter().zip(&fields) {
            let filled = f.as_ref().is_some_and(|f| {
                !f.sources.is_empty() || f.constant.is_some() || f.default.is_some()
            });
            if def.required && !filled && !is_defaulted(def) {
                return Err(self.err(
                    type_span.clone(),
                    format!("record type {record_type} needs field '{}'", def.name),
                ));
            }
        }
        Ok(RecordSpec {
            record_type,
            when,
            item,
            each,
            fields,
        })
    }

    fn field(
        &mut self,
        f: FieldConfig,
        span: Range<usize>,
        format: &Format,
        tables: &HashMap<String, usize>,
        nested: bool,
    ) -> Result<Field, MappingError> {
        let froms = match f.from {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        };
        if froms.is_empty() == f.value.is_none() {
            return Err(self.err(span, "a field needs exactly one of `from` or `value`"));
        }
        let mut sources = Vec::new();
        for s in &froms {
            sources.push(self.source(s, format, span.clone(), nested)?);
        }
        let mut steps = Vec::new();
        for t in f.transforms {
            let tspan = t.span();
            steps.push(match t.into_inner() {
                Transform::Trim => Step::Trim,
                Transform::FullwidthToHalfwidth => Step::Halfwidth,
                Transform::Upper => Step::Upper,
                Transform::Lower => Step::Lower,
                Transform::DigitsOnly => Step::DigitsOnly,
                Transform::Date(formats) => {
                    if formats.is_empty() {
                        return Err(self.err(tspan, "`date` needs at least one format"));
                    }
                    Step::Date(
                        formats
                            .into_iter()
                            .map(|p| {
                                if p == "excel" {
                                    DateFormat::ExcelSerial
                                } else {
                                    DateFormat::Pattern(DatePattern::new(p))
                                }
                            })
                            .collect(),
                    )
                }
                Transform::Month(formats) => {
                    if formats.is_empty() {
                        return Err(self.err(tspan, "`month` needs at least one format"));
                    }
                    Step::Month(formats)
                }
                Transform::CodeTable(name) => match tables.get(&name) {
                    Some(i) => Step::Table(*i),
                    None => return Err(self.err(tspan, format!("unknown code table '{name}'"))),
                },
                Transform::Split(sep) => {
                    if sep.is_empty() {
                        return Err(self.err(tspan, "`split` needs a non-empty separator"));
                    }
                    Step::Split(sep)
                }
                Transform::SexFromId => Step::SexFromId,
                Transform::BirthDateFromId => Step::BirthDateFromId,
            });
        }
        Ok(Field {
            sources,
            sep: f.sep.unwrap_or_else(|| "-".into()),
            constant: f.value,
            default: f.default,
            steps,
            prefix: f.prefix,
            shared: None,
        })
    }

    fn source(
        &mut self,
        s: &str,
        format: &Format,
        span: Range<usize>,
        nested: bool,
    ) -> Result<SourceRef, MappingError> {
        match s {
            "$row" => return Ok(SourceRef::Row),
            "$index" => return Ok(SourceRef::Index),
            "$ingested_at" => return Ok(SourceRef::IngestedAt),
            _ => {}
        }
        let (item, path) = match s.strip_prefix('^') {
            Some(p) if nested => (true, p),
            Some(_) => {
                return Err(self.err(
                    span,
                    format!("source '{s}': `^` reads the item from inside `each` only"),
                ))
            }
            None => (false, s),
        };
        self.check_path(path, format, span)?;
        Ok(SourceRef::Path {
            idx: self.intern(path),
            item,
        })
    }

    fn check_path(&self, p: &str, format: &Format, span: Range<usize>) -> Result<(), MappingError> {
        match format {
            Format::Csv { header: false, .. } if p.parse::<usize>().is_err() => Err(self.err(
                span,
                format!("source '{p}': a CSV without header takes 0-based column indexes"),
            )),
            Format::FixedWidth { columns, .. } if !columns.contains_key(p) => Err(self.err(
                span,
                format!("source '{p}' is not a declared fixed-width column"),
            )),
            Format::Json { .. } if !p.is_empty() && !p.starts_with('/') => Err(self.err(
                span,
                format!("source '{p}' is not a JSON Pointer (it must start with '/')"),
            )),
            Format::Xml { .. } if p.starts_with('/') || p.is_empty() => Err(self.err(
                span,
                format!("source '{p}' must be a relative element path like Name, Addr/City or @id"),
            )),
            _ => Ok(()),
        }
    }

    fn intern(&mut self, p: &str) -> usize {
        match self.paths.iter().position(|x| x == p) {
            Some(i) => i,
            None => {
                self.paths.push(p.to_string());
                self.paths.len() - 1
            }
        }
    }
}

/// Required fields that have a built-in default.
fn is_defaulted(def: &FieldDef) -> bool {
    def.name == "record_version"
}

#[cfg(test)]
mod tests;
