//! Command-line interface of `pesgw`. One file per subcommand; this file only dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod adapters;
mod audit;
mod bench;
mod bench_federation;
mod bench_load;
mod bench_matching;
mod bench_store;
mod certs;
mod config;
mod demo;
mod federation;
mod init;
mod logging;
mod memory;
mod push;
mod query;
mod record;
mod serve;
mod synth;
mod token;
mod validate;

/// PES Federation Gateway: regional gateway, federation node and operator tools.
#[derive(Debug, Parser)]
#[command(name = "pesgw", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: `text` (colour only on a terminal) or `json` (one object per
    /// line). `RUST_LOG` filters; access-log lines have the target `pes::access`.
    #[arg(
        long,
        global = true,
        env = "PES_LOG_FORMAT",
        value_enum,
        default_value_t = logging::LogFormat::Text
    )]
    log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check ID numbers, USCCs, division or occupation codes, one result line per value.
    Validate(validate::ValidateArgs),
    /// Audit log tools: verify a log or a receipt, generate log and witness keys.
    Audit(audit::AuditArgs),
    /// Work with provincial adapters (declarative mappings).
    Adapters(adapters::AdaptersArgs),
    /// Write a synthetic provincial export in a mapping's format.
    Synth(synth::SynthArgs),
    /// Run a regional gateway.
    Serve(serve::ServeArgs),
    /// Write a working gateway.toml and fresh keys.
    Init(init::InitArgs),
    /// Issue bearer tokens.
    Token(token::TokenArgs),
    /// Push export files to a gateway.
    Push(push::PushArgs),
    /// Run an aggregate query against a gateway.
    Query(query::QueryArgs),
    /// Read one record (caseworkers; protected fields only with --reveal).
    Record(record::RecordArgs),
    /// Benchmarks, each printed beside its floor.
    Bench(bench::BenchArgs),
    /// Development PKI: federation CA, gateway certificates, revocation, CRL.
    Certs(certs::CertsArgs),
    /// Federation trust list (draft from a PKI, sign with the root key, verify) and the shared
    /// linkage key.
    Federation(federation::FederationArgs),
    /// Start a national and N provincial gateways on loopback with synthetic data, and print
    /// the dashboard URL and tokens.
    Demo(demo::DemoArgs),
    /// Configuration tools: print the reference of every `gateway.toml` key.
    Config(config::ConfigArgs),
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Long-running commands (they hold listeners or child processes) keep Rust's ignored
    // SIGPIPE; every other command prints and then ends, so a closed pipe ends it quietly.
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::Demo(_) | Command::Bench(_)
    ) {
        exit_quietly_on_closed_pipe();
    }
    logging::set_format(cli.log_format);
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Adapters(args) => adapters::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Init(args) => init::run(args),
        Command::Token(args) => token::run(args),
        Command::Push(args) => push::run(args),
        Command::Query(args) => query::run(args),
        Command::Record(args) => record::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Certs(args) => certs::run(args),
        Command::Federation(args) => federation::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Config(args) => config::run(args),
    }
}

/// Restores the default action of SIGPIPE, which Rust sets to "ignore": `pesgw record … | head`
/// then ends like `cat … | head` does when `head` stops reading, instead of `println!`
/// panicking on EPIPE.
fn exit_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: `signal` with SIG_DFL installs no handler code (nothing runs in signal context);
    // it only restores the kernel's default disposition for the whole process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
