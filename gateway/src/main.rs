//! `pesgw`: the PES federation gateway's command-line interface.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc's malloc: the ingest path allocates many small, short-lived objects
/// on several threads and sled's nodes churn; glibc kept ~650 MB resident after a 1M-record push
/// (jemalloc: under 200 MB once idle) and was slower. See docs/decisions.md.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: a background thread returns pages left unused for a
/// second to the OS, so resident memory follows live data rather than the last push.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: Option<&u8> =
    Some(&b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0]);

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
