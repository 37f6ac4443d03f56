//! Log output of the long-running commands (`pesgw serve`, and `pesgw demo` and the benches
//! for their own console): human text or one JSON object per line, chosen by the global
//! `--log-format` (or `PES_LOG_FORMAT`), filtered by `RUST_LOG`.
//!
//! Colour escapes are written only when stderr is a terminal (and `NO_COLOR` is unset): a
//! journald or file sink gets plain text. Access-log lines have the target `pes::access`, so
//! `RUST_LOG=info,pes::access=off` drops them and `RUST_LOG=pes::access=info` keeps only them.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (tracing-subscriber's JSON layer), for log pipelines.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Records the format chosen on the command line; called once, before the command runs.
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// Installs the global subscriber: the chosen format on stderr, `RUST_LOG` or `default_filter`.
/// A second call (a subscriber is already installed) changes nothing.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match FORMAT.get().copied().unwrap_or_default() {
        // Spans' fields (the request id) are on each event; the span list would repeat them.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
    };
}

/// Colour only for a person at a terminal.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
