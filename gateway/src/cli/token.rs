//! `pesgw token issue`: issues a bearer token signed with the gateway's JWT issuer key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use pes_gateway::auth::{claims_for, issue, Role};
use pes_gateway::config::GatewayConfig;
use ring::signature::KeyPair;

/// Arguments of `pesgw token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token.
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
struct IssueArgs {
    /// Role: pusher, analyst, caseworker, auditor or admin.
    #[arg(long)]
    role: String,
    /// Region the token is for; defaults to the config's region.
    #[arg(long)]
    region: Option<String>,
    /// Source a pusher may push to (repeatable).
    #[arg(long)]
    source: Vec<String>,
    /// Purpose a caseworker may state (repeatable).
    #[arg(long)]
    purpose: Vec<String>,
    /// Subject; defaults to `<role>@<region>`.
    #[arg(long)]
    sub: Option<String>,
    /// Lifetime: `90s`, `30m`, `1h`, `7d`.
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// Config whose `keys.jwt_issuer_key` signs the token. Its relative paths are taken from
    /// its own directory, so this works from any working directory.
    #[arg(long, default_value = "gateway.toml")]
    config: PathBuf,
}

/// Parses `90s`, `30m`, `1h`, `7d` into seconds.
pub fn parse_ttl(s: &str) -> anyhow::Result<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("--ttl `{s}`: expected a number and s, m, h or d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => anyhow::bail!("--ttl `{s}`: unit must be s, m, h or d"),
    };
    Ok(n * mult)
}

/// Issues and prints a token.
pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let TokenCommand::Issue(a) = args.command;
    let role = Role::parse(&a.role).with_context(|| {
        format!(
            "--role `{}`: expected pusher, analyst, caseworker, auditor or admin",
            a.role
        )
    })?;
    let cfg = GatewayConfig::load(&a.config)
        .with_context(|| format!("--config {}", a.config.display()))?;
    let der = std::fs::read(&cfg.keys.jwt_issuer_key)
        .with_context(|| format!("reading {}", cfg.keys.jwt_issuer_key.display()))?;
    let pair = pes_gateway::keys::load_ed25519(&cfg.keys.jwt_issuer_key)?;
    let kid = pes_gateway::keys::key_id(pair.public_key().as_ref());
    let region = a.region.unwrap_or_else(|| cfg.region.clone());
    let sub = a
        .sub
        .unwrap_or_else(|| format!("{}@{}", role.as_str(), region));
    let claims = claims_for(&sub, role, &region, a.source, a.purpose, parse_ttl(&a.ttl)?);
    println!("{}", issue(&der, &kid, &claims)?);
    Ok(ExitCode::SUCCESS)
}
