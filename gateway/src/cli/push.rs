//! `pesgw push --source S --url URL --token T FILE...`: pushes exports to a gateway.
//!
//! Line-based files (NDJSON, CSV, fixed-width) are split into batches of `--batch-rows` rows (a
//! CSV header is repeated in every batch). A batch that fails on the network or with 429/503 is
//! sent again with the same body and the same `Idempotency-Key` (one per batch of this run), so
//! the gateway counts it once and, if the first attempt was acknowledged but its answer lost,
//! answers the retry with the original answer: its records are counted, not reported as a
//! duplicate. Pushing the same file in a later run uses new keys, and the gateway reports its
//! batches as duplicates (same batch id) that change nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// Arguments of `pesgw push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Registered source id.
    #[arg(long)]
    source: String,
    /// Gateway base URL, e.g. `http://127.0.0.1:8440`.
    #[arg(long)]
    url: String,
    /// Bearer token (role pusher).
    #[arg(long, env = "PES_TOKEN")]
    token: String,
    /// Media type; inferred from the file extension when absent.
    #[arg(long)]
    content_type: Option<String>,
    /// Rows per batch for line-based files.
    #[arg(long, default_value_t = 100_000)]
    batch_rows: usize,
    /// Wait until each batch is applied to the store before the next.
    #[arg(long)]
    wait: bool,
    /// Attempts per batch.
    #[arg(long, default_value_t = 5)]
    attempts: u32,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Files to push.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn infer_content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "ndjson" | "jsonl" => "application/x-ndjson",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        _ => "text/plain",
    }
}

fn line_based(ct: &str) -> bool {
    matches!(
        ct,
        "application/x-ndjson" | "application/jsonl" | "text/csv" | "text/plain"
    )
}

/// Splits a line-based body into batches of `rows` lines; `header` repeats the first line.
pub fn split_batches(body: &[u8], rows: usize, header: bool) -> Vec<Vec<u8>> {
    let mut lines = body.split_inclusive(|b| *b == b'\n');
    let head: Vec<u8> = if header {
        lines.next().map(<[u8]>::to_vec).unwrap_or_default()
    } else {
        vec![]
    };
    let mut out = Vec::new();
    let mut cur = head.clone();
    let mut n = 0;
    for l in lines {
        cur.extend_from_slice(l);
        n += 1;
        if n == rows.max(1) {
            out.push(std::mem::replace(&mut cur, head.clone()));
            n = 0;
        }
    }
    if n > 0 || out.is_empty() {
        out.push(cur);
    }
    out
}

#[derive(Default)]
struct Totals {
    batches: u64,
    accepted: u64,
    quarantined: u64,
    duplicates: u64,
    failed: u64,
    retries: u64,
}

/// Pushes the files and prints a summary.
pub fn run(a: PushArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let url = format!(
        "{}/v1/ingest/{}{}",
        a.url.trim_end_matches('/'),
        a.source,
        if a.wait { "?wait=applied" } else { "" }
    );
    let mut t = Totals::default();
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut n = 0u64;
    for file in &a.files {
        let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let ct = a
            .content_type
            .clone()
            .unwrap_or_else(|| infer_content_type(file).to_string());
        let batches = if line_based(&ct) {
            split_batches(&body, a.batch_rows, ct == "text/csv")
        } else {
            vec![body]
        };
        let pb = if a.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(batches.iter().map(|b| b.len() as u64).sum())
        };
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(file.display().to_string());
        for batch in batches {
            let len = batch.len() as u64;
            n += 1;
            let key = format!("pesgw-push-{run_id}-{n}");
            match send(&client, &url, &a, &ct, batch, &key, &mut t) {
                Ok(v) => {
                    t.batches += 1;
                    t.accepted += v["accepted"].as_u64().unwrap_or(0);
                    t.quarantined += v["quarantined"].as_u64().unwrap_or(0);
                    if v["duplicate"].as_bool().unwrap_or(false) {
                        t.duplicates += 1;
                    }
                    for e in v["row_errors"].as_array().into_iter().flatten().take(5) {
                        pb.println(format!(
                            "  quarantined {}: {} ({})",
                            e["location"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or(""),
                            e["code"].as_str().unwrap_or("")
                        ));
                    }
                }
                Err(e) => {
                    t.failed += 1;
                    pb.println(format!("  batch failed: {e:#}"));
                }
            }
            pb.inc(len);
        }
        pb.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "pushed {} batches in {:.2}s: {} accepted, {} quarantined, {} duplicate batches, {} failed batches, {} retries",
        t.batches, secs, t.accepted, t.quarantined, t.duplicates, t.failed, t.retries
    );
    Ok(if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn send(
    client: &reqwest::blocking::Client,
    url: &str,
    a: &PushArgs,
    ct: &str,
    body: Vec<u8>,
    key: &str,
    t: &mut Totals,
) -> anyhow::Result<Value> {
    let mut last = anyhow::anyhow!("no attempt made");
    for attempt in 0..a.attempts.max(1) {
        if attempt > 0 {
            t.retries += 1;
            std::thread::sleep(Duration::from_millis(200 << attempt.min(5)));
        }
        let res = client
            .post(url)
            .bearer_auth(&a.token)
            .header("content-type", ct)
            .header("idempotency-key", key)
            .body(body.clone())
            .send();
        match res {
            Err(e) => last = anyhow::anyhow!("network: {e}"),
            Ok(r) => {
                let status = r.status();
                let v: Value = r.json().unwrap_or(Value::Null);
                if status.is_success() {
                    return Ok(v);
                }
                let msg = format!(
                    "{} {}: {}",
                    status.as_u16(),
                    v["type"].as_str().unwrap_or(""),
                    v["detail"].as_str().unwrap_or("")
                );
                // 409: the first attempt with this key is still being answered.
                if matches!(status.as_u16(), 409 | 429) || status.is_server_error() {
                    last = anyhow::anyhow!(msg);
                    continue;
                }
                anyhow::bail!(msg);
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_batches_repeat_the_header_and_keep_every_row() {
        let body = b"h1,h2\na,1\nb,2\nc,3\n";
        let b = split_batches(body, 2, true);
        assert_eq!(
            b,
            vec![b"h1,h2\na,1\nb,2\n".to_vec(), b"h1,h2\nc,3\n".to_vec()]
        );
        let n = split_batches(b"x\ny\n", 5, false);
        assert_eq!(n, vec![b"x\ny\n".to_vec()]);
    }
}
