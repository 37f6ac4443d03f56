//! `pesgw synth --mapping M --records N --seed S`: a realistic export in a mapping's format.
//!
//! Streams to `--out` (or stdout); the summary of what was written (records by type, planted
//! defects by kind) goes to stderr, and the full defect list to `--defects-out` as JSON.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pes_adapters::synth::{self, SynthOptions};
use pes_adapters::Mapping;

/// Arguments of `pesgw synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Mapping file (TOML) whose format to write.
    #[arg(long)]
    mapping: PathBuf,
    /// Rows to write (CSV or fixed-width lines, JSON or XML items; nested JSON items yield more
    /// records than rows).
    #[arg(long, default_value_t = 1000)]
    records: u64,
    /// Seed; the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of rows with one planted defect (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    defects: f64,
    /// Output file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the planted defects (row, kind, expected row errors) here as JSON.
    #[arg(long)]
    defects_out: Option<PathBuf>,
    /// The day the export is "as of" (YYYY-MM-DD): dates fall in the 24 months up to it.
    /// Default: today (UTC); give a day for the same bytes on every day.
    #[arg(long)]
    as_of: Option<chrono::NaiveDate>,
}

/// Runs `pesgw synth`.
pub fn run(a: SynthArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.defects),
        "--defects must be between 0 and 1"
    );
    let mapping =
        Mapping::from_path(&a.mapping).map_err(|e| anyhow::anyhow!("mapping rejected: {e}"))?;
    let opts = SynthOptions {
        rows: a.records,
        seed: a.seed,
        defect_rate: a.defects,
        keep_expected: false,
        as_of: a.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive()),
    };
    let report = match &a.out {
        Some(path) => {
            let mut f =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let r = synth::write_export(&mapping, &opts, &mut f)?;
            f.sync_all()?;
            r
        }
        None => synth::write_export(&mapping, &opts, &mut std::io::stdout().lock())?,
    };
    if let Some(path) = &a.defects_out {
        let mut f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(&mut f, &report.defects)?;
        writeln!(f)?;
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "{}: {} rows, {} valid records {:?}",
        mapping.id,
        report.rows,
        report.record_count(),
        report.records
    )?;
    writeln!(
        err,
        "planted defects: {} {:?}",
        report.defects.len(),
        report.defects_by_kind()
    )?;
    Ok(ExitCode::SUCCESS)
}
