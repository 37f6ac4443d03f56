//! `pesgw init --region 440000 --dir DIR`: writes a working config and fresh keys.
//!
//! A federation member takes the federation's shared linkage key with `--linkage-key-file`
//! (copied into `DIR/keys/linkage.key`). Without it `init` generates a key for this gateway
//! alone and marks it (`keys/linkage.key.fresh`); `pesgw serve` then warns loudly if the
//! gateway joins a federation while still holding that key, since its person keys would match
//! no other member's.

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
    /// The federation's shared linkage key (32 raw bytes, from `pesgw federation
    /// linkage-key`), copied into `keys/linkage.key`. Every member of a federation must hold
    /// the same key; without this option a fresh key is generated for this gateway alone.
    #[arg(long, value_name = "PATH")]
    linkage_key_file: Option<PathBuf>,
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
    let out = pes_gateway::keys::init_with_linkage(
        &args.dir,
        &args.region,
        &args.listen,
        args.linkage_key_file.as_deref(),
    )?;
    println!(
        "wrote {} (JWT issuer kid {})",
        out.config_path.display(),
        out.jwt_kid
    );
    match &args.linkage_key_file {
        Some(from) => println!("linkage key copied from {}", from.display()),
        None => println!(
            "linkage key generated for this gateway alone; a federation member needs the \
             federation's key (--linkage-key-file)"
        ),
    }
    println!(
        "start it with: pesgw serve --config {}",
        out.config_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
