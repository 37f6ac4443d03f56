//! Synthetic provincial exports in any mapping's format, for demos, tests and benchmarks.
//!
//! The generator runs a mapping backwards: for each row it picks plausible national values (a
//! person with a valid ID number, an employer with a valid USCC, regional distributions of
//! occupations, education, ages and key groups), turns them into the raw values the mapping's
//! transforms expect (local codes through the code tables, dates in the mapping's first format,
//! lists joined on the split separator), and writes them in the mapping's format and encoding.
//! A configurable share of rows gets one planted defect of one of several kinds; the report
//! lists each with the row errors an adapter must raise for it.
//!
//! Deterministic for a seed (ChaCha8), and streaming: memory does not grow with the row count
//! (unless the expected records are kept, for tests).

mod item;
mod plan;
pub mod vacancy_text;
mod values;
mod write;

use std::collections::BTreeMap;
use std::io::Write;

use chrono::NaiveDate;
use pes_schemas::{Record, RecordType};
use serde::Serialize;

use crate::adapter::RowErrorCode;
use crate::mapping::Mapping;

pub use plan::{EXPECTED_INGESTED_AT, EXPECTED_LINKAGE_KEY, EXPECTED_RAW_SHA256};
pub use values::{key_group_shares, reference_day, window_day, window_start, WINDOW_MONTHS};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Rows (CSV and fixed-width lines, JSON or XML items) to write.
    pub rows: u64,
    /// Seed; the same seed gives the same bytes.
    pub seed: u64,
    /// Share of rows (0.0 to 1.0) that get one planted defect.
    pub defect_rate: f64,
    /// Keep every expected record in the report (for tests; costs memory).
    pub keep_expected: bool,
    /// The day the export is "as of": dates fall in the [`WINDOW_MONTHS`] months up to it,
    /// never after it. The default, [`reference_day`], keeps output independent of the clock;
    /// demos pass today.
    pub as_of: NaiveDate,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            rows: 1000,
            seed: 1,
            defect_rate: 0.0,
            keep_expected: false,
            as_of: reference_day(),
        }
    }
}

/// Kinds of planted defects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// An ID number with a wrong check character.
    BadIdCheck,
    /// A date that does not exist (31 February).
    BadDate,
    /// A local code missing from the mapping's code table.
    UnknownLocalCode,
    /// A required value left empty.
    MissingRequired,
    /// A division code that does not exist.
    BadDivision,
    /// A number that is not one.
    BadNumber,
}

impl DefectKind {
    /// All kinds.
    pub const ALL: [DefectKind; 6] = [
        DefectKind::BadIdCheck,
        DefectKind::BadDate,
        DefectKind::UnknownLocalCode,
        DefectKind::MissingRequired,
        DefectKind::BadDivision,
        DefectKind::BadNumber,
    ];

    /// The row error code an adapter raises for this defect.
    pub fn error_code(self) -> RowErrorCode {
        match self {
            DefectKind::BadIdCheck => RowErrorCode::BadIdNumber,
            DefectKind::BadDate => RowErrorCode::BadDate,
            DefectKind::UnknownLocalCode => RowErrorCode::UnknownLocalCode,
            DefectKind::MissingRequired => RowErrorCode::Missing,
            DefectKind::BadDivision => RowErrorCode::Invalid,
            DefectKind::BadNumber => RowErrorCode::BadNumber,
        }
    }
}

/// A row error an adapter must raise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ExpectedError {
    /// Location, as the adapter reports it.
    pub location: String,
    /// Error code.
    pub code: RowErrorCode,
}

/// One planted defect.
#[derive(Debug, Clone, Serialize)]
pub struct PlantedDefect {
    /// 1-based row (item) number.
    pub row: u64,
    /// What was planted.
    pub kind: DefectKind,
    /// The source (column, pointer, path) that was spoiled.
    pub source: String,
    /// The row errors it causes (one per record that reads the spoiled value).
    pub errors: Vec<ExpectedError>,
}

/// What was written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SynthReport {
    /// Rows (items) written.
    pub rows: u64,
    /// Valid records the export holds, by type.
    pub records: BTreeMap<RecordType, u64>,
    /// Planted defects, in row order.
    pub defects: Vec<PlantedDefect>,
    /// The valid records, in order, when asked for (see [`SynthOptions::keep_expected`]),
    /// built in the context of [`EXPECTED_RAW_SHA256`], [`EXPECTED_INGESTED_AT`] and
    /// [`EXPECTED_LINKAGE_KEY`] with the mapping id as source.
    #[serde(skip)]
    pub expected: Vec<Record>,
}

impl SynthReport {
    /// Total valid records.
    pub fn record_count(&self) -> u64 {
        self.records.values().sum()
    }

    /// Planted defects by kind.
    pub fn defects_by_kind(&self) -> BTreeMap<DefectKind, u64> {
        let mut m = BTreeMap::new();
        for d in &self.defects {
            *m.entry(d.kind).or_insert(0) += 1;
        }
        m
    }
}

/// Why no export could be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// Writing failed.
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    /// The mapping asks for something the generator cannot invert. Fault: the program (the
    /// generator should handle every shipped construct) or an unusual mapping.
    #[error("cannot generate for this mapping: {0}")]
    Unsupported(String),
}

/// Writes a synthetic export in `mapping`'s format to `out`, streaming.
pub fn write_export(
    mapping: &Mapping,
    opts: &SynthOptions,
    out: &mut dyn Write,
) -> Result<SynthReport, SynthError> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let report = plan::Planner::new(mapping, opts)?.run(&mut out)?;
    out.flush()?;
    Ok(report)
}
