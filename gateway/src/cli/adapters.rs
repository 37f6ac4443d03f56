//! `pesgw adapters check MAPPING SAMPLE`: what a mapping makes of a sample export.
//!
//! Prints the normalised records (protected fields masked) and the row errors, as a table or as
//! JSON. A mapping that cannot be used fails with the line of the TOML file at fault.
//! Exit status: 0 clean, 2 row errors, 1 a fault (bad mapping, malformed file).

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pes_adapters::check::CheckReport;
use pes_adapters::national::PersonKeyer;
use pes_adapters::{build_adapter, DecodeContext, Decoded, Mapping};

/// Development linkage key used when none is given (never for real data).
const DEV_LINKAGE_KEY: &str = "pes-dev-linkage-key";

/// Arguments of `pesgw adapters`.
#[derive(Debug, clap::Args)]
pub struct AdaptersArgs {
    #[command(subcommand)]
    command: AdaptersCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AdaptersCommand {
    /// Decode a sample export with a mapping and show the records and row errors.
    Check(CheckArgs),
}

/// Arguments of `pesgw adapters check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Mapping file (TOML).
    mapping: PathBuf,
    /// Sample export to decode.
    sample: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Source id stamped on the records (default: the mapping id).
    #[arg(long)]
    source: Option<String>,
    /// Federation linkage key for person keys (default: a development key).
    #[arg(long, env = "PES_LINKAGE_KEY", hide_env_values = true)]
    linkage_key: Option<String>,
    /// Ingest time stamped on the records (default: now).
    #[arg(long)]
    ingested_at: Option<String>,
    /// Stream without keeping records: print counts and the first row errors only (for large
    /// exports).
    #[arg(long, conflicts_with = "json")]
    summary: bool,
}

/// Runs `pesgw adapters`.
pub fn run(args: AdaptersArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AdaptersCommand::Check(a) => check(a),
    }
}

/// Lower-case hex SHA-256 of a file, streamed.
pub fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let mut f =
        BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish().as_ref()))
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let mapping =
        Mapping::from_path(&a.mapping).map_err(|e| anyhow::anyhow!("mapping rejected: {e}"))?;
    let adapter = build_adapter(&mapping);
    let raw_sha256 = file_sha256(&a.sample)?;
    let ingested_at = a
        .ingested_at
        .unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let keyer = PersonKeyer::new(
        a.linkage_key
            .as_deref()
            .unwrap_or(DEV_LINKAGE_KEY)
            .as_bytes(),
    );
    let source = a.source.unwrap_or_else(|| mapping.id.clone());
    let ctx = DecodeContext {
        region: &mapping.region,
        source: &source,
        raw_sha256: &raw_sha256,
        ingested_at: &ingested_at,
        keyer: &keyer,
    };
    let mut input =
        File::open(&a.sample).with_context(|| format!("opening {}", a.sample.display()))?;
    if a.summary {
        return summary(adapter.as_ref(), &mut input, &ctx);
    }
    let report = CheckReport::run(adapter.as_ref(), &mut input, &ctx).masked();

    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_tables(&mut out, &report)?;
    }
    Ok(if report.fault.is_some() {
        ExitCode::FAILURE
    } else if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Row errors printed by `--summary`.
const SUMMARY_ERRORS: usize = 20;

fn summary(
    adapter: &dyn pes_adapters::Adapter,
    input: &mut dyn Read,
    ctx: &DecodeContext<'_>,
) -> anyhow::Result<ExitCode> {
    let mut by_type: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let mut errors = 0u64;
    let mut out = std::io::stdout().lock();
    let started = std::time::Instant::now();
    let result = adapter.decode(input, ctx, &mut |d| {
        match d {
            Decoded::Record(r) => *by_type.entry(r.record_type().as_str()).or_insert(0) += 1,
            Decoded::RowError(e) => {
                errors += 1;
                if errors as usize <= SUMMARY_ERRORS {
                    let _ = writeln!(out, "{e}");
                }
            }
            Decoded::FailedRow(f) => {
                for e in &f.problems {
                    errors += 1;
                    if errors as usize <= SUMMARY_ERRORS {
                        let _ = writeln!(out, "{e}");
                    }
                }
            }
        }
        Ok(())
    });
    let secs = started.elapsed().as_secs_f64();
    let records: u64 = by_type.values().sum();
    writeln!(
        out,
        "records {records} {by_type:?}; row errors {errors}; {secs:.2} s"
    )?;
    match result {
        Ok(s) => {
            writeln!(
                out,
                "rows {} ({:.0} rows/s)",
                s.rows,
                s.rows as f64 / secs.max(1e-9)
            )?;
            Ok(if errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Err(e) => {
            writeln!(out, "FAULT: {e}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_tables(out: &mut dyn Write, r: &CheckReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "adapter {} {}: {} rows ({} failed), {} records, {} row errors",
        r.adapter_id,
        r.adapter_version,
        r.summary.rows,
        r.summary.failed_rows,
        r.summary.records,
        r.summary.row_errors
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<34} {:<24} {:<36} FIELDS",
        "LOCATION", "TYPE", "RECORD_ID"
    )?;
    for rec in &r.records {
        let mut body = serde_json::to_value(&rec.body)?;
        if let Some(obj) = body.as_object_mut() {
            obj.remove("record_type");
        }
        writeln!(
            out,
            "{:<34} {:<24} {:<36} {}",
            rec.provenance.location,
            rec.record_type().as_str(),
            rec.record_id,
            body
        )?;
    }
    if !r.errors.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<34} {:>5} {:<20} {:<36} {:<22} MESSAGE",
            "LOCATION", "LINE", "CODE", "FIELD", "VALUE"
        )?;
        for e in &r.errors {
            let code = match &e.detail_code {
                Some(d) => format!("{}/{d}", e.code.as_str()),
                None => e.code.as_str().to_string(),
            };
            writeln!(
                out,
                "{:<34} {:>5} {:<20} {:<36} {:<22} {}",
                e.location,
                e.line.map(|l| l.to_string()).unwrap_or_default(),
                code,
                e.field.as_deref().unwrap_or("-"),
                e.raw_value.as_deref().unwrap_or("-"),
                e.message
            )?;
        }
    }
    if let Some(f) = &r.fault {
        writeln!(out)?;
        writeln!(out, "FAULT: {f}")?;
        writeln!(out, "(every row before the fault is listed above)")?;
    }
    Ok(())
}
