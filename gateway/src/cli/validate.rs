//! `pesgw validate`: placeholder replaced by the foundation work.

use std::process::ExitCode;

/// Arguments of `pesgw validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}

/// Runs `pesgw validate`.
pub fn run(_args: ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("pesgw validate is not built yet")
}
