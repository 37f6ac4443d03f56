//! `pesgw synth`: placeholder, filled in below.

use std::process::ExitCode;

/// Arguments of `pesgw synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {}

/// Runs `pesgw synth`.
pub fn run(_args: SynthArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
