//! `pesgw record ID`: reads one record from a gateway (caseworkers). Protected fields are shown
//! only with `--reveal`, a purpose, and a token that allows that purpose.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_json::Value;

/// Arguments of `pesgw record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Record id, `<region>:<source>:<source_record_id>`.
    id: String,
    /// Gateway base URL.
    #[arg(long)]
    url: String,
    /// Bearer token (role caseworker).
    #[arg(long, env = "PES_TOKEN", hide_env_values = true)]
    token: String,
    /// Purpose of the read (recorded in the audit log; must be allowed by the token to reveal).
    #[arg(long)]
    purpose: Option<String>,
    /// Show the protected fields (name, ID number, phone).
    #[arg(long)]
    reveal: bool,
}

/// Reads and prints the record.
pub fn run(a: RecordArgs) -> anyhow::Result<ExitCode> {
    let mut url = reqwest::Url::parse(&a.url)
        .context("--url")?
        .join(&format!("v1/records/{}", a.id))
        .context("record id")?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(p) = &a.purpose {
            q.append_pair("purpose", p);
        }
        if a.reveal {
            q.append_pair("reveal", "true");
        }
    }
    let res = reqwest::blocking::Client::new()
        .get(url)
        .bearer_auth(&a.token)
        .send()
        .context("sending the request")?;
    let status = res.status();
    let v: Value = res.json().context("reading the answer")?;
    if !status.is_success() {
        anyhow::bail!(
            "{} {}: {}",
            status.as_u16(),
            v["type"].as_str().unwrap_or(""),
            v["detail"].as_str().unwrap_or("")
        );
    }
    println!("{}", serde_json::to_string_pretty(&v["record"])?);
    if v["protected_withheld"].as_bool().unwrap_or(false) {
        eprintln!("(protected fields withheld; use --reveal --purpose P with a caseworker token that allows P)");
    }
    Ok(ExitCode::SUCCESS)
}
