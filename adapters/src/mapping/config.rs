//! The TOML form of a mapping, as written by a province's integrator.
//!
//! Every struct here is a serde view of the file; [`super::compile`] checks it and turns it into
//! the engine's form. Spans are kept where a later check must name a line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole mapping file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Adapter id recorded in provenance, e.g. `gd-hrss-csv`.
    pub id: String,
    /// Adapter version recorded in provenance; bump it when the mapping changes meaning.
    pub version: String,
    /// GB/T 2260 province code of the exporting region, e.g. `440000`.
    pub region: Spanned<String>,
    /// Free text for operators.
    #[serde(default)]
    pub description: String,
    /// The export format and its options.
    pub format: Spanned<FormatConfig>,
    /// A source row (CSV or fixed-width line, JSON or XML item) is stored whole or not at all:
    /// when one of its records fails, none of them is stored and every problem of the row goes
    /// to quarantine with it (default `true`). `false` stores the row's good records and
    /// quarantines only the failed ones.
    #[serde(default = "atomic_rows_default")]
    pub atomic_rows: bool,
    /// How a record's version is found (see [`Versioning`]); `auto` by default.
    #[serde(default)]
    pub versioning: Versioning,
    /// Local-to-national code tables, by name.
    #[serde(default)]
    pub code_tables: BTreeMap<String, Spanned<CodeTableConfig>>,
    /// Which records each row (or item) yields.
    pub records: Vec<RecordConfig>,
}

/// Where a source's record versions come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// A record whose spec maps `record_version` takes it from the export; one that does not
    /// is ordered by push.
    #[default]
    Auto,
    /// Every record maps `record_version` (a column, an export date); the mapping is refused
    /// otherwise.
    Field,
    /// No record maps `record_version`: the later acknowledged push wins, by journal position.
    PushOrder,
}

fn atomic_rows_default() -> bool {
    true
}

/// Text encodings of exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum EncodingName {
    /// UTF-8; a leading byte-order mark is skipped.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// GB 18030 (a superset of GBK and GB 2312).
    #[serde(rename = "gb18030")]
    Gb18030,
    /// GBK, decoded as its GB 18030 superset.
    #[serde(rename = "gbk")]
    Gbk,
}

/// The export format (`type = "csv" | "fixed_width" | "json" | "xml"`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FormatConfig {
    /// Delimited text.
    Csv {
        /// Text encoding (default `utf-8`).
        #[serde(default)]
        encoding: EncodingName,
        /// Field delimiter, one ASCII character (default `,`).
        #[serde(default = "default_delimiter")]
        delimiter: char,
        /// Quote character, one ASCII character (default `"`).
        #[serde(default = "default_quote")]
        quote: char,
        /// Whether quoting is recognised at all (default true).
        #[serde(default = "default_true")]
        quoting: bool,
        /// Whether the first row names the columns (default true). Without a header, `from`
        /// gives 0-based column indexes.
        #[serde(default = "default_true")]
        header: bool,
        /// Whether a quoted field may span lines (default false: a field holding a line break
        /// means broken quoting, and decoding stops there).
        #[serde(default)]
        multiline_fields: bool,
    },
    /// Fixed-width lines, one row per line.
    FixedWidth {
        /// Text encoding; column positions are byte offsets in this encoding.
        #[serde(default)]
        encoding: EncodingName,
        /// Lines to skip at the start (a banner or header).
        #[serde(default)]
        skip_lines: usize,
        /// Columns by name.
        columns: BTreeMap<String, FixedColumn>,
    },
    /// JSON: a top-level array of items, or one item per line.
    Json {
        /// `array` or `ndjson`.
        layout: JsonLayout,
    },
    /// XML; each record names the element path of its items.
    Xml {
        /// Text encoding of the document (default `utf-8`).
        #[serde(default)]
        encoding: EncodingName,
    },
}

fn default_delimiter() -> char {
    ','
}
fn default_quote() -> char {
    '"'
}
fn default_true() -> bool {
    true
}

/// A fixed-width column.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedColumn {
    /// 1-based byte position of the column's first byte, as in the legacy layout book.
    pub start: usize,
    /// Length in bytes.
    pub length: usize,
}

/// Layout of a JSON export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonLayout {
    /// `[item, item, ...]`, streamed item by item.
    Array,
    /// One JSON item per line.
    Ndjson,
}

/// A local-to-national code table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeTableConfig {
    /// National code list the values belong to (`occupation`, `education`, `division`,
    /// `industry`, `sex`); omit for tables onto schema enumerations.
    #[serde(default)]
    pub target: Option<Spanned<String>>,
    /// Inline entries, local code to national code.
    #[serde(default)]
    pub entries: BTreeMap<String, String>,
    /// CSV file (relative to the mapping file) with a header row. Its columns are found by
    /// name, in any order, and other columns (a description, say) are ignored.
    #[serde(default)]
    pub file: Option<String>,
    /// Header of the file's column holding the local code (default `local`).
    #[serde(default)]
    pub local_column: Option<String>,
    /// Header of the file's column holding the national code (default `national`).
    #[serde(default)]
    pub national_column: Option<String>,
    /// What to do with a local code not in the table: `error` (default) or `pass` it through.
    #[serde(default)]
    pub on_unknown: OnUnknown,
}

/// Handling of local codes missing from a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnknown {
    /// A row error (`unknown_local_code`).
    #[default]
    Error,
    /// Keep the value as it is (validation may still refuse it).
    Pass,
}

/// One record a row or item yields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// National record type, e.g. `person`.
    #[serde(rename = "type")]
    pub record_type: Spanned<String>,
    /// Only rows for which this holds yield the record.
    #[serde(default)]
    pub when: Option<Spanned<ConditionConfig>>,
    /// XML only: absolute element path of the items, e.g. `/Export/Persons/Person`.
    #[serde(default)]
    pub item: Option<Spanned<String>>,
    /// JSON Pointer (JSON) or relative element path (XML) of a nested array; one record per
    /// element. Field sources are then relative to the element; prefix `^` to read the item.
    #[serde(default)]
    pub each: Option<Spanned<String>>,
    /// Target field name to how it is filled.
    pub fields: BTreeMap<Spanned<String>, Spanned<FieldConfig>>,
}

/// A condition on a raw source value (trimmed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Source of the value tested.
    pub field: String,
    /// Holds when the value equals this.
    #[serde(default)]
    pub equals: Option<String>,
    /// Holds when the value is one of these.
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<String>>,
    /// Holds when the value is present and not empty.
    #[serde(default)]
    pub present: Option<bool>,
}

/// How one target field is filled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// Source: a CSV column name (or 0-based index without a header), a fixed-width column
    /// name, a JSON Pointer, or a relative XML path (`Name`, `Addr/City`, `@id`). Specials:
    /// `$row` (1-based row or item number), `$index` (0-based index in `each`). Several sources
    /// are joined with `sep`.
    #[serde(default)]
    pub from: Option<OneOrMany>,
    /// Separator when joining several sources (default `-`).
    #[serde(default)]
    pub sep: Option<String>,
    /// A constant value (no source).
    #[serde(default)]
    pub value: Option<String>,
    /// Used when the source is absent or empty after transforms.
    #[serde(default)]
    pub default: Option<String>,
    /// Transforms applied in order.
    #[serde(default)]
    pub transforms: Vec<Spanned<Transform>>,
    /// Text put before a non-empty result (e.g. `R-` to tell a row's records apart).
    #[serde(default)]
    pub prefix: Option<String>,
}

/// One source or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One source.
    One(String),
    /// Several sources, joined.
    Many(Vec<String>),
}

/// A transform step. Written as a string (`"trim"`) or a one-key table (`{ date = [..] }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// Strip surrounding white space (including the ideographic space U+3000).
    Trim,
    /// Full-width ASCII forms (U+FF01..U+FF5E) and U+3000 to their half-width forms.
    FullwidthToHalfwidth,
    /// Upper-case ASCII letters.
    Upper,
    /// Lower-case ASCII letters (`NEW_ENTRANT` -> `new_entrant`).
    Lower,
    /// Remove every character that is not an ASCII digit (phone numbers).
    DigitsOnly,
    /// Parse a date trying each format in turn: chrono formats such as `%Y年%m月%d日`, or
    /// `excel` for Excel serial day numbers.
    Date(Vec<String>),
    /// Parse a month (`%Y%m`, `%Y-%m`, `%Y年%m月`) into `YYYY-MM`.
    Month(Vec<String>),
    /// Map through the named code table.
    CodeTable(String),
    /// Split into a list on this separator; empty parts are dropped.
    Split(String),
    /// Sex code (GB/T 2261.1) derived from the ID number in the value.
    SexFromId,
    /// Birth date derived from the ID number in the value.
    BirthDateFromId,
}
