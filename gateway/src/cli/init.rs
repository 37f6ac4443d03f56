//! `pesgw init --region 440000 --dir DIR`: writes a working config and fresh keys.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `pesgw init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// GB/T 2260 province code of the region.
    #[arg(long)]
    region: String,
    /// Directory to write `gateway.toml` and `keys/` into.
    #[arg(long)]
    dir: PathBuf,
    /// Listen address written into the config.
    #[arg(long, default_value = "127.0.0.1:8440")]
    listen: String,
}

/// Writes the config and keys.
pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    if !pes_gateway::config::is_province_code(&args.region) {
        anyhow::bail!(
            "--region `{}` is not a GB/T 2260 province code (six digits ending in 0000)",
            args.region
        );
    }
    if args.dir.join("gateway.toml").exists() {
        anyhow::bail!(
            "{} already exists; refusing to overwrite keys",
            args.dir.join("gateway.toml").display()
        );
    }
    let out = pes_gateway::keys::init(&args.dir, &args.region, &args.listen)?;
    println!(
        "wrote {} (JWT issuer kid {})",
        out.config_path.display(),
        out.jwt_kid
    );
    println!(
        "start it with: pesgw serve --config {}",
        out.config_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
