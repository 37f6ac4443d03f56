//! `pesgw push --source S --url URL --token T FILE...`: pushes exports to a gateway.
//!
//! Line-based files (NDJSON, CSV, fixed-width) are split into batches of `--batch-rows` rows (a
//! CSV header is repeated in every batch). A batch that fails on the network or with 429/503 is
//! sent again with the same body and the same `Idempotency-Key` (one per batch of this run), so
//! the gateway counts it once and, if the first attempt was acknowledged but its answer lost,
//! answers the retry with the original answer: its records are counted, not reported as a
//! duplicate. Pushing the same file in a later run uses new keys, and the gateway reports its
//! batches as duplicates (same batch id) that change nothing.
//!
//! Made to run unattended (cron, systemd timers): every failed batch is reported on stderr with
//! the gateway's problem `type` and `detail`, whether or not stderr is a terminal and whatever
//! `--quiet` says; `--json` prints one summary object on stdout; the exit code tells a refused
//! batch (1) from a usage error (2) and from a gateway that cannot be reached or refuses the
//! token or source (3), see [`EXIT_CODES`].
//!
//! With `--snapshot` the files are the source's complete current content: a snapshot is opened
//! first, every batch is pushed in it, and it is committed after the last one, which retires
//! the source's records none of them carried. A failed batch aborts the snapshot (nothing is
//! retired); a commit that would retire too much waits for an admin (exit code 4).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

/// Every batch was taken (some rows may have been quarantined: see the summary).
pub const EXIT_OK: u8 = 0;
/// At least one batch was refused or could not be made durable; its problem is on stderr.
pub const EXIT_FAILED_BATCHES: u8 = 1;
/// Usage or local error: bad arguments, an unreadable file, a malformed URL. Nothing more sent.
pub const EXIT_USAGE: u8 = 2;
/// The gateway could not be reached, or refused the token (401/403) or the source (404): no
/// later batch could succeed, so the push stopped there.
pub const EXIT_UNREACHABLE_OR_REFUSED: u8 = 3;
/// `--snapshot`: every batch was taken, but the commit waits for an admin's confirmation (it
/// would retire more than the gateway's guard allows, or rows were quarantined).
pub const EXIT_SNAPSHOT_WAITS: u8 = 4;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every batch was taken (rows may have been quarantined: see the summary)
  1  at least one batch was refused or not made durable (each problem is printed on stderr)
  2  usage or local error: bad arguments, an unreadable file, a malformed URL
  3  the gateway could not be reached, or refused the token (401/403) or the source (404);
     the push stopped at that batch
  4  --snapshot: every batch was taken, but the commit waits for an admin's confirmation
     (it would retire more than the gateway allows); nothing was retired yet

Every failed batch is printed on stderr with the gateway's problem type and detail, also with
--quiet and when stderr is not a terminal. The token may be given in the PES_TOKEN environment
variable instead of --token.";

/// Arguments of `pesgw push`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct PushArgs {
    /// Registered source id.
    #[arg(long)]
    source: String,
    /// Gateway base URL, e.g. `http://127.0.0.1:8440`.
    #[arg(long)]
    url: String,
    /// Bearer token (role pusher).
    #[arg(long, env = "PES_TOKEN", hide_env_values = true)]
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
    /// No progress bar (failed batches are still printed on stderr).
    #[arg(long)]
    quiet: bool,
    /// Print one JSON summary object on stdout instead of the summary line (implies --quiet).
    #[arg(long)]
    json: bool,
    /// The files are the source's complete current content: push them in a snapshot and
    /// commit it, which retires the source's records they do not carry.
    #[arg(long)]
    snapshot: bool,
    /// With --snapshot: the record types the files are complete for (comma-separated, e.g.
    /// `vacancy`); records of other types are never retired. Default: every type.
    #[arg(long, value_delimiter = ',', requires = "snapshot")]
    snapshot_types: Vec<String>,
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

/// Rows of a batch of a line-based file: its non-blank lines, less the repeated header.
pub fn rows_in(batch: &[u8], header: bool) -> u64 {
    let lines = batch
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count() as u64;
    if header {
        lines.saturating_sub(1)
    } else {
        lines
    }
}

/// The `--json` summary of a run.
#[derive(Debug, Default, Serialize)]
struct Summary {
    source: String,
    url: String,
    batches: BatchCounts,
    rows: RowCounts,
    retries: u64,
    seconds: f64,
    exit_code: u8,
    failures: Vec<Failure>,
    /// The snapshot (`--snapshot`): as the gateway last described it.
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<Value>,
}

#[derive(Debug, Default, Serialize)]
struct BatchCounts {
    /// Batches sent (taken or failed).
    sent: u64,
    /// Batches the gateway took (duplicates included).
    accepted: u64,
    /// Taken batches the gateway had seen before (they changed nothing).
    duplicate: u64,
    /// Batches refused or not made durable.
    failed: u64,
    /// Batches never sent because the push stopped early (exit code 3 or 2).
    not_sent: u64,
}

#[derive(Debug, Default, Serialize)]
struct RowCounts {
    /// Rows of line-based files in the batches sent (whole-document files are not counted).
    sent: u64,
    /// Valid records the gateway journaled.
    accepted: u64,
    /// Rows the gateway quarantined.
    quarantined: u64,
}

/// One failed batch.
#[derive(Debug, Serialize)]
struct Failure {
    file: String,
    /// 1-based index of the batch within its file.
    batch: usize,
    /// Rows of the batch (line-based files only).
    rows: Option<u64>,
    /// HTTP status of the last answer; `null` when the gateway never answered.
    status: Option<u16>,
    /// Problem type URI; `null` without a problem+json answer.
    #[serde(rename = "type")]
    type_: Option<String>,
    detail: String,
    request_id: Option<String>,
    attempts: u32,
    /// The problem's `row_errors` extension (first rows that failed), when present.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    row_errors: Vec<Value>,
    /// Whether no later batch could succeed (unreachable, token or source refused).
    #[serde(skip)]
    stops: bool,
}

impl Failure {
    /// The stderr lines of this failure.
    fn lines(&self) -> Vec<String> {
        let rows = self
            .rows
            .map(|r| format!(" ({r} rows)"))
            .unwrap_or_default();
        let what = match (self.status, &self.type_) {
            (Some(s), Some(t)) => format!("{s} {t}"),
            (Some(s), None) => format!("HTTP {s}"),
            (None, _) => format!("no answer after {} attempts", self.attempts),
        };
        let rid = self
            .request_id
            .as_deref()
            .map(|r| format!(" (request id {r})"))
            .unwrap_or_default();
        let mut out = vec![format!(
            "batch {} of {}{rows} failed: {what}: {}{rid}",
            self.batch, self.file, self.detail
        )];
        for e in self.row_errors.iter().take(5) {
            out.push(format!("  {}", row_error_line(e)));
        }
        if self.row_errors.len() > 5 {
            out.push(format!(
                "  … {} more row errors in the answer",
                self.row_errors.len() - 5
            ));
        }
        out
    }
}

fn row_error_line(e: &Value) -> String {
    let field = e["field"]
        .as_str()
        .map(|f| format!(" field {f}"))
        .unwrap_or_default();
    format!(
        "{}{field}: {} ({})",
        e["location"].as_str().unwrap_or("?"),
        e["message"].as_str().unwrap_or(""),
        e["code"].as_str().unwrap_or("")
    )
}

/// Why a batch was not taken, as [`send`] saw it.
struct NotTaken {
    status: Option<u16>,
    problem: Value,
    network: Option<String>,
    attempts: u32,
}

/// A local error: printed, and the run ends with [`EXIT_USAGE`].
fn usage(msg: String) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// Pushes the files and prints a summary.
pub fn run(a: PushArgs) -> anyhow::Result<ExitCode> {
    let base = match reqwest::Url::parse(&a.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => a.url.trim_end_matches('/').to_string(),
        Ok(u) => {
            return Ok(usage(format!(
                "--url: scheme `{}` is not http or https",
                u.scheme()
            )))
        }
        Err(e) => return Ok(usage(format!("--url `{}`: {e}", a.url))),
    };
    // Every file must be readable before the first batch goes out.
    for file in &a.files {
        if let Err(e) = std::fs::File::open(file) {
            return Ok(usage(format!("reading {}: {e}", file.display())));
        }
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut s = Summary {
        source: a.source.clone(),
        url: a.url.clone(),
        ..Summary::default()
    };
    let snapshots = format!("{base}/v1/sources/{}/snapshots", a.source);
    let snapshot_id = if a.snapshot {
        let body = serde_json::json!({ "record_types": a.snapshot_types });
        match call(&client, &snapshots, &a.token, Some(body)) {
            Ok((201, v)) => v["id"].as_str().map(str::to_string),
            Ok((status, v)) => {
                eprintln!(
                    "the snapshot could not be opened: {status} {}: {}",
                    v["type"].as_str().unwrap_or(""),
                    v["detail"].as_str().unwrap_or("")
                );
                return Ok(ExitCode::from(if matches!(status, 401 | 403 | 404) {
                    EXIT_UNREACHABLE_OR_REFUSED
                } else {
                    EXIT_FAILED_BATCHES
                }));
            }
            Err(e) => {
                eprintln!("the snapshot could not be opened: {e}");
                return Ok(ExitCode::from(EXIT_UNREACHABLE_OR_REFUSED));
            }
        }
    } else {
        None
    };
    let mut params = Vec::new();
    if a.wait {
        params.push("wait=applied".to_string());
    }
    if let Some(id) = &snapshot_id {
        params.push(format!("snapshot={id}"));
    }
    let url = format!(
        "{base}/v1/ingest/{}{}{}",
        a.source,
        if params.is_empty() { "" } else { "?" },
        params.join("&")
    );
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let mut n = 0u64;
    let mut stopped: Option<u8> = None;
    for file in &a.files {
        let name = file.display().to_string();
        let body = if stopped.is_none() {
            match std::fs::read(file) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("error: reading {name}: {e}");
                    stopped = Some(EXIT_USAGE);
                    None
                }
            }
        } else {
            None
        };
        let Some(body) = body else {
            // A file never read counts as one batch not sent: its size in batches is unknown.
            s.batches.not_sent += 1;
            continue;
        };
        let ct = a
            .content_type
            .clone()
            .unwrap_or_else(|| infer_content_type(file).to_string());
        let lines = line_based(&ct);
        let header = ct == "text/csv";
        let batches = if lines {
            split_batches(&body, a.batch_rows, header)
        } else {
            vec![body]
        };
        let rows: Vec<Option<u64>> = batches
            .iter()
            .map(|b| lines.then(|| rows_in(b, header)))
            .collect();
        let pb = progress(&a, &name, &batches, &rows);
        for (i, (batch, batch_rows)) in batches.into_iter().zip(rows).enumerate() {
            if stopped.is_some() {
                s.batches.not_sent += 1;
                continue;
            }
            let len = batch.len() as u64;
            n += 1;
            let key = format!("pesgw-push-{run_id}-{n}");
            s.batches.sent += 1;
            s.rows.sent += batch_rows.unwrap_or(0);
            match send(&client, &url, &a, &ct, batch, &key, &mut s.retries) {
                Ok(v) => {
                    s.batches.accepted += 1;
                    s.rows.accepted += v["accepted"].as_u64().unwrap_or(0);
                    s.rows.quarantined += v["quarantined"].as_u64().unwrap_or(0);
                    if v["duplicate"].as_bool().unwrap_or(false) {
                        s.batches.duplicate += 1;
                    }
                    let errors = v["row_errors"].as_array().cloned().unwrap_or_default();
                    if !errors.is_empty() {
                        pb.suspend(|| {
                            eprintln!(
                                "batch {} of {name}: {} rows quarantined; the first:",
                                i + 1,
                                v["quarantined"].as_u64().unwrap_or(errors.len() as u64)
                            );
                            for e in errors.iter().take(5) {
                                eprintln!("  {}", row_error_line(e));
                            }
                        });
                    }
                }
                Err(nt) => {
                    let f = failure(&name, i + 1, batch_rows, nt);
                    pb.suspend(|| {
                        for l in f.lines() {
                            eprintln!("{l}");
                        }
                    });
                    s.batches.failed += 1;
                    if f.stops {
                        stopped = Some(EXIT_UNREACHABLE_OR_REFUSED);
                    }
                    s.failures.push(f);
                }
            }
            match batch_rows {
                Some(r) => pb.inc(r),
                None => pb.inc(len),
            }
        }
        pb.finish_and_clear();
    }
    if stopped == Some(EXIT_UNREACHABLE_OR_REFUSED) && s.batches.not_sent > 0 {
        eprintln!(
            "stopped: {} later batches not sent (every one would fail the same way)",
            s.batches.not_sent
        );
    }
    let mut snapshot_waits = false;
    if let Some(id) = &snapshot_id {
        // Whole or not at all: a snapshot with a failed batch is not complete.
        let clean = stopped.is_none() && s.batches.failed == 0;
        let action = if clean { "commit" } else { "abort" };
        match call(
            &client,
            &format!("{snapshots}/{id}/{action}"),
            &a.token,
            None,
        ) {
            Ok((status, v)) => {
                match (action, status) {
                    ("commit", 200) => {}
                    ("commit", 202) => {
                        snapshot_waits = true;
                        eprintln!(
                            "snapshot {id} waits for an admin's confirmation: {}",
                            v["guard"]["message"].as_str().unwrap_or("")
                        );
                    }
                    ("abort", 200) => eprintln!(
                        "snapshot {id} aborted because a batch failed: nothing was retired"
                    ),
                    _ => {
                        eprintln!(
                            "snapshot {id}: {action} answered {status} {}: {}",
                            v["type"].as_str().unwrap_or(""),
                            v["detail"].as_str().unwrap_or("")
                        );
                        s.batches.failed += 1;
                    }
                }
                s.snapshot = Some(v);
            }
            Err(e) => {
                eprintln!("snapshot {id}: {action} failed: {e}");
                s.batches.failed += 1;
            }
        }
    }
    s.seconds = started.elapsed().as_secs_f64();
    s.exit_code = match stopped {
        Some(code) => code,
        None if s.batches.failed > 0 => EXIT_FAILED_BATCHES,
        None if snapshot_waits => EXIT_SNAPSHOT_WAITS,
        None => EXIT_OK,
    };
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "pushed {} batches ({} rows) in {:.2}s: {} accepted, {} quarantined, {} duplicate batches, {} failed batches, {} retries",
            s.batches.accepted,
            s.rows.sent,
            s.seconds,
            s.rows.accepted,
            s.rows.quarantined,
            s.batches.duplicate,
            s.batches.failed,
            s.retries
        );
        if let Some(v) = &s.snapshot {
            println!(
                "snapshot {}: {}, {} records retired",
                v["id"].as_str().unwrap_or("?"),
                v["state"].as_str().unwrap_or("?"),
                v["retired"].as_u64().unwrap_or(0)
            );
        }
    }
    Ok(ExitCode::from(s.exit_code))
}

/// A JSON POST to the lifecycle API: status and JSON answer.
fn call(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let mut req = client.post(url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.json().unwrap_or(Value::Null)))
}

/// The progress bar of one file: rows for line-based files, bytes otherwise; hidden with
/// `--quiet`/`--json` (and by indicatif when stderr is not a terminal).
fn progress(a: &PushArgs, name: &str, batches: &[Vec<u8>], rows: &[Option<u64>]) -> ProgressBar {
    if a.quiet || a.json {
        return ProgressBar::hidden();
    }
    let by_rows = rows.iter().all(Option::is_some);
    let (len, template) = if by_rows {
        (
            rows.iter().flatten().sum(),
            "{msg} [{bar:30}] {human_pos}/{human_len} rows ({per_sec})",
        )
    } else {
        (
            batches.iter().map(|b| b.len() as u64).sum(),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
    };
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(name.to_string());
    pb
}

/// The report of a batch that was not taken.
fn failure(file: &str, batch: usize, rows: Option<u64>, nt: NotTaken) -> Failure {
    let text = |k: &str| nt.problem[k].as_str().map(str::to_string);
    let detail = match (&nt.network, text("detail")) {
        (Some(e), _) => format!("could not reach the gateway: {e}"),
        (None, Some(d)) => d,
        (None, None) => "the answer was not a problem+json document".to_string(),
    };
    Failure {
        file: file.to_string(),
        batch,
        rows,
        status: nt.status,
        type_: text("type"),
        detail,
        request_id: text("request_id"),
        attempts: nt.attempts,
        row_errors: nt.problem["row_errors"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        // No answer, a refused token (401/403) or an unknown source or route (404): every later
        // batch would fail the same way.
        stops: nt.network.is_some() || matches!(nt.status, Some(401 | 403 | 404)),
    }
}

fn send(
    client: &reqwest::blocking::Client,
    url: &str,
    a: &PushArgs,
    ct: &str,
    body: Vec<u8>,
    key: &str,
    retries: &mut u64,
) -> Result<Value, NotTaken> {
    let mut last = NotTaken {
        status: None,
        problem: Value::Null,
        network: Some("no attempt made".into()),
        attempts: 0,
    };
    for attempt in 0..a.attempts.max(1) {
        if attempt > 0 {
            *retries += 1;
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
            Err(e) => {
                last = NotTaken {
                    status: None,
                    problem: Value::Null,
                    // The full chain: reqwest's own message hides the cause (refused, DNS, …).
                    network: Some(format!("{:#}", anyhow::Error::new(e))),
                    attempts: attempt + 1,
                }
            }
            Ok(r) => {
                let status = r.status();
                let v: Value = r.json().unwrap_or(Value::Null);
                if status.is_success() {
                    return Ok(v);
                }
                last = NotTaken {
                    status: Some(status.as_u16()),
                    problem: v,
                    network: None,
                    attempts: attempt + 1,
                };
                // 409: the first attempt with this key is still being answered.
                if matches!(status.as_u16(), 409 | 429) || status.is_server_error() {
                    continue;
                }
                return Err(last);
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

    #[test]
    fn rows_are_counted_without_header_or_blank_lines() {
        assert_eq!(rows_in(b"h1,h2\na,1\nb,2\n", true), 2);
        assert_eq!(rows_in(b"{}\n\n{}\n{}", false), 3);
        assert_eq!(rows_in(b"h1,h2\n", true), 0);
        assert_eq!(rows_in(b"", false), 0);
    }

    #[test]
    fn a_refused_token_or_unreachable_gateway_stops_the_push_and_others_do_not() {
        let nt = |status: Option<u16>, network: Option<&str>| NotTaken {
            status,
            problem: serde_json::json!({
                "type": "https://pes.example/problems/x", "detail": "d", "request_id": "r",
                "row_errors": [{"location": "line:3", "code": "c", "message": "m"}],
            }),
            network: network.map(str::to_string),
            attempts: 1,
        };
        for s in [401, 403, 404] {
            assert!(failure("f", 1, None, nt(Some(s), None)).stops, "{s}");
        }
        for s in [400, 413, 415, 422, 503] {
            assert!(!failure("f", 1, None, nt(Some(s), None)).stops, "{s}");
        }
        let f = failure("f", 2, Some(7), nt(None, Some("connection refused")));
        assert!(f.stops);
        assert!(f
            .detail
            .contains("could not reach the gateway: connection refused"));
        let f = failure("f.csv", 2, Some(7), nt(Some(422), None));
        let lines = f.lines();
        assert_eq!(
            lines[0],
            "batch 2 of f.csv (7 rows) failed: 422 https://pes.example/problems/x: d (request id r)"
        );
        assert_eq!(lines[1], "  line:3: m (c)");
    }
}
