//! `pesgw query`: runs an aggregate query against a gateway and prints a table (or `--json`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_json::Value;

/// The answer is complete: every region asked answered.
pub const EXIT_OK: u8 = 0;
/// The answer is partial: a region asked did not answer (it is named on stdout, or in the
/// `--json` answer's `regions`); the printed totals leave it out.
pub const EXIT_PARTIAL: u8 = 4;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  the answer is complete
  1  the query failed: the gateway refused it (its problem type and detail are printed),
     or could not be reached
  2  usage error: bad arguments
  4  the answer is partial: a region asked did not answer (named in the output); the totals
     leave it out

The token may be given in the PES_TOKEN environment variable instead of --token.";

/// Arguments of `pesgw query`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct QueryArgs {
    /// Gateway base URL.
    #[arg(long)]
    url: String,
    /// Bearer token (role analyst).
    #[arg(long, env = "PES_TOKEN", hide_env_values = true)]
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
    /// Regions to ask through the federation: a comma list of region codes, or `all` for every
    /// member of the trust list. Absent: this gateway's own region only.
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// Purpose stated to the other regions (their trust-list policies must allow it).
    #[arg(long)]
    purpose: Option<String>,
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
    let mut body = serde_json::json!({
        "dataset": a.dataset, "measures": a.measure, "group_by": a.group_by, "filters": filters,
        "date_from": a.from, "date_to": a.to,
    });
    let regions: Vec<&str> = a
        .regions
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .collect();
    if !regions.is_empty() {
        body["regions"] = regions.into();
    }
    if let Some(p) = &a.purpose {
        body["purpose"] = p.as_str().into();
    }
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
    } else if v.get("complete").is_some() {
        print!("{}", render_federated(&v, &a.group_by));
    } else {
        print!("{}", render_table(&v, &a.group_by));
    }
    // A scheduled job must not take partial totals for whole ones.
    Ok(ExitCode::from(if v["complete"] == false {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    }))
}

/// Renders a federated answer (`POST /v1/query` with `regions`): the merged cells, then which
/// regions answered and, for each missing one, why and since when.
pub fn render_federated(v: &Value, group_by: &[String]) -> String {
    let with_sum = v["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| !c["sum"].is_null());
    let mut header: Vec<String> = group_by.to_vec();
    header.push("count".into());
    if with_sum {
        header.push("sum".into());
    }
    let mut rows = vec![header];
    let mut lower_bounds = false;
    for c in v["cells"].as_array().into_iter().flatten() {
        let mut r: Vec<String> = group_by
            .iter()
            .map(|g| c["group"][g].as_str().unwrap_or("").to_string())
            .collect();
        let partial = c["includes_suppressed"].as_bool().unwrap_or(false);
        lower_bounds |= partial;
        let show = |x: &Value| match (x.as_i64(), partial) {
            (None, _) => "<k".to_string(),
            (Some(n), true) => format!("{n}*"),
            (Some(n), false) => n.to_string(),
        };
        r.push(show(&c["count"]));
        if with_sum {
            r.push(show(&c["sum"]));
        }
        rows.push(r);
    }
    let mut out = aligned(&rows);
    let regions = v["regions"].as_array().cloned().unwrap_or_default();
    let answered = regions.iter().filter(|r| r["status"] == "ok").count();
    out.push_str(&format!(
        "{} cells from {answered} of {} regions\n",
        rows.len() - 1,
        regions.len()
    ));
    if lower_bounds {
        out.push_str("* includes parts a region suppressed (< k): a lower bound\n");
    }
    for r in regions.iter().filter(|r| r["status"] != "ok") {
        let mut line = format!(
            "missing: {} {}",
            r["region"].as_str().unwrap_or("?"),
            r["status"].as_str().unwrap_or("?")
        );
        if let Some(since) = r["unreachable_since"].as_str() {
            line.push_str(&format!(" since {since}"));
        }
        if let Some(detail) = r["detail"].as_str().filter(|d| !d.is_empty()) {
            line.push_str(&format!(": {detail}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    if v["complete"] == false {
        out.push_str("PARTIAL: the totals leave out the missing regions\n");
    }
    out
}

/// Right-aligned columns, the first row a header underlined with dashes.
fn aligned(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
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
    out
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
    let mut out = aligned(&rows);
    out.push_str(&format!(
        "{} cells, answered from {}, k = {}, {} batches behind the journal\n",
        rows.len() - 1,
        v["answered_from"].as_str().unwrap_or("?"),
        v["k"],
        v["as_of"]["lag_batches"]
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_federated_answer_names_its_missing_regions_and_lower_bounds() {
        let v = serde_json::json!({
            "dataset": "vacancy",
            "complete": false,
            "regions": [
                {"region": "100000", "status": "ok", "latency_ms": 0.4},
                {"region": "110000", "status": "ok", "latency_ms": 2.0},
                {"region": "440000", "status": "unreachable", "latency_ms": 1.0,
                 "detail": "unreachable: connection refused",
                 "unreachable_since": "2026-12-03T10:42:05Z"},
                {"region": "510000", "status": "denied", "latency_ms": 1.0,
                 "detail": "policy_denied"},
            ],
            "cells": [
                {"group": {"occupation_major": "2"}, "count": 17,
                 "includes_suppressed": false, "regions": ["110000"]},
                {"group": {"occupation_major": "4"}, "count": 12,
                 "includes_suppressed": true, "regions": ["110000"]},
                {"group": {"occupation_major": "6"}, "count": null,
                 "includes_suppressed": true, "regions": ["110000"]},
            ],
        });
        let out = render_federated(&v, &["occupation_major".to_string()]);
        assert!(out.contains("\n               2     17\n"), "{out}");
        assert!(out.contains("    12*\n"), "{out}");
        assert!(out.contains("     <k\n"), "{out}");
        assert!(out.contains("3 cells from 2 of 4 regions\n"), "{out}");
        assert!(out.contains(
            "missing: 440000 unreachable since 2026-12-03T10:42:05Z: unreachable: connection refused\n"
        ));
        assert!(
            out.contains("missing: 510000 denied: policy_denied\n"),
            "{out}"
        );
        assert!(out.contains("PARTIAL"), "{out}");
    }
}
