//! `pesgw validate id|uscc|division|occupation [VALUE...] [--stdin]`: checks values with the
//! schema validators before an operator pushes a file.
//!
//! Prints one line per value, tab-separated: the value, `valid` or `invalid`, then the reason
//! (`code: explanation`) or, for a valid value, what was recognised. Exits 1 if any value is
//! invalid, 0 otherwise.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use pes_schemas::codes::{self, DivisionLevel, OccupationLevel};
use pes_schemas::id_number::IdNumber;
use pes_schemas::uscc::Uscc;

/// What kind of value to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// GB 11643 citizen ID number (18 characters, or the 15-digit legacy form).
    Id,
    /// GB 32100 unified social credit code.
    Uscc,
    /// GB/T 2260 division code (current codes; retired ones are valid only inside ID numbers).
    Division,
    /// 2022 occupational classification code `X-XX-XX-XX`.
    Occupation,
}

/// Arguments of `pesgw validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// What the values are.
    #[arg(value_enum)]
    kind: Kind,
    /// Values to check.
    values: Vec<String>,
    /// Also read values from standard input, one per line (line endings and a leading UTF-8
    /// byte-order mark are not part of a value; no other trimming is done).
    #[arg(long)]
    stdin: bool,
}

/// The verdict on one value: `Ok(detail)` or `Err(reason)`.
pub type Verdict = Result<String, String>;

/// Checks one value of the given kind.
pub fn check(kind: Kind, value: &str) -> Verdict {
    match kind {
        Kind::Id => IdNumber::parse(value)
            .map(|id| {
                format!(
                    "normalised={} birth_date={} sex={} division={}",
                    id.as_str(),
                    id.birth_date(),
                    id.sex_code(),
                    id.division()
                )
            })
            .map_err(|e| format!("{}: {e}", e.code())),
        Kind::Uscc => Uscc::parse(value)
            .map(|u| {
                format!(
                    "authority={} ({}) type={}{} division={}",
                    u.authority(),
                    u.authority_name(),
                    u.org_type(),
                    u.type_name().map(|t| format!(" ({t})")).unwrap_or_default(),
                    u.division()
                )
            })
            .map_err(|e| format!("{}: {e}", e.code())),
        Kind::Division => check_division(value),
        Kind::Occupation => check_occupation(value),
    }
}

fn check_division(value: &str) -> Verdict {
    let d = codes::validate_division(value).map_err(|e| format!("{}: {e}", e.code()))?;
    let level = match d.level {
        DivisionLevel::Province => "province",
        DivisionLevel::Prefecture => "prefecture",
        DivisionLevel::County => "county",
    };
    Ok(format!("{} ({level})", d.name))
}

/// An occupation or a group (`4-02-07`), as records accept them; the answer names the level.
fn check_occupation(value: &str) -> Verdict {
    let o = codes::validate_occupation_or_group(value).map_err(|e| format!("{}: {e}", e.code()))?;
    let level = match o.level {
        OccupationLevel::Major => "major group",
        OccupationLevel::Middle => "middle group",
        OccupationLevel::Minor => "minor group",
        OccupationLevel::Occupation => "occupation",
    };
    Ok(format!("{} ({level})", o.name))
}

/// Runs `pesgw validate`.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    if args.values.is_empty() && !args.stdin {
        anyhow::bail!("give values to check, or --stdin to read them one per line");
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut any_invalid = false;
    let mut emit = |value: &str, out: &mut BufWriter<io::StdoutLock>| -> io::Result<()> {
        match check(args.kind, value) {
            Ok(detail) => writeln!(out, "{value}\tvalid\t{detail}"),
            Err(reason) => {
                any_invalid = true;
                writeln!(out, "{value}\tinvalid\t{reason}")
            }
        }
    };
    for value in &args.values {
        emit(value, &mut out).context("writing to standard output")?;
    }
    if args.stdin {
        let stdin = io::stdin();
        let mut input = stdin.lock();
        let mut line = Vec::new();
        let mut first = true;
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .context("reading standard input")?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            // A byte-order mark at the start of a file saved by a Windows editor is not data.
            let bytes = match (first, line.strip_prefix(b"\xEF\xBB\xBF")) {
                (true, Some(rest)) => rest,
                _ => &line[..],
            };
            first = false;
            let value = String::from_utf8_lossy(bytes);
            emit(&value, &mut out).context("writing to standard output")?;
        }
    }
    out.flush().context("writing to standard output")?;
    Ok(if any_invalid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
