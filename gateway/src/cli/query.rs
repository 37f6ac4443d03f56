//! `pesgw query`: runs an aggregate query against a gateway and prints a table (or `--json`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_json::Value;

/// Arguments of `pesgw query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Gateway base URL.
    #[arg(long)]
    url: String,
    /// Bearer token (role analyst).
    #[arg(long, env = "PES_TOKEN")]
    token: String,
    /// Record type, e.g. `vacancy`.
    #[arg(long)]
    dataset: String,
    /// Comma-separated dimensions to group by.
    #[arg(long, value_delimiter = ',')]
    group_by: Vec<String>,
    /// Filters `dim=code[,code...]` (repeatable).
    #[arg(long)]
    filter: Vec<String>,
    /// Measures: `count`, `sum`.
    #[arg(long, value_delimiter = ',', default_value = "count")]
    measure: Vec<String>,
    /// First month, `YYYY-MM`.
    #[arg(long)]
    from: Option<String>,
    /// Last month, `YYYY-MM`.
    #[arg(long)]
    to: Option<String>,
    /// Print the raw JSON answer.
    #[arg(long)]
    json: bool,
}

/// Runs the query.
pub fn run(a: QueryArgs) -> anyhow::Result<ExitCode> {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("--filter `{f}`: expected dim=code[,code]"))?;
        filters
            .entry(k.to_string())
            .or_default()
            .extend(v.split(',').map(str::to_string));
    }
    let body = serde_json::json!({
        "dataset": a.dataset, "measures": a.measure, "group_by": a.group_by, "filters": filters,
        "date_from": a.from, "date_to": a.to,
    });
    let res = reqwest::blocking::Client::new()
        .post(format!("{}/v1/query", a.url.trim_end_matches('/')))
        .bearer_auth(&a.token)
        .json(&body)
        .send()
        .context("sending the query")?;
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
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render_table(&v, &a.group_by));
    Ok(ExitCode::SUCCESS)
}

/// Renders an answer as an aligned text table.
pub fn render_table(v: &Value, group_by: &[String]) -> String {
    let sum_name = v["sum_measure"].as_str().map(str::to_string);
    let mut header: Vec<String> = group_by.to_vec();
    header.push("count".into());
    if let Some(s) = &sum_name {
        header.push(s.clone());
    }
    let mut rows = vec![header];
    for c in v["cells"].as_array().into_iter().flatten() {
        let mut r: Vec<String> = group_by
            .iter()
            .map(|g| c["group"][g].as_str().unwrap_or("").to_string())
            .collect();
        let show = |x: &Value| {
            if c["suppressed"].as_bool().unwrap_or(false) {
                "<k".to_string()
            } else {
                x.to_string()
            }
        };
        r.push(show(&c["count"]));
        if sum_name.is_some() {
            r.push(show(&c["sum"]));
        }
        rows.push(r);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}", w = *w))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(
                &widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "{} cells, answered from {}, k = {}, {} batches behind the journal\n",
        rows.len() - 1,
        v["answered_from"].as_str().unwrap_or("?"),
        v["k"],
        v["as_of"]["lag_batches"]
    ));
    out
}
