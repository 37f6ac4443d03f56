//! The crash and fault suite (hostile-load issue; `docs/faults.md`): real `pesgw serve`
//! processes on 127.0.0.1, SIGKILLed, given a full disk, failing fsyncs, torn journals and
//! misbehaving peers, and the journal library for the byte-by-byte cases.
//!
//! - Short form, what CI runs: `cargo test -p pes-gateway --test faults` (a crash loop of 10
//!   SIGKILLs and every other case in full).
//! - Long form: `cargo test -p pes-gateway --test faults -- --ignored --nocapture` (a crash loop
//!   of 60 SIGKILLs). `PES_FAULTS_SEED=<n>` repeats a run's random choices (each run prints its
//!   seed).
//!
//! | Module | Case |
//! |---|---|
//! | [`crash_loop`] | random SIGKILLs of regional gateways under pushes, federated queries and lookups |
//! | [`disk_full`] | the journal's disk fills during ingest (tmpfs, or injected ENOSPC when not root) |
//! | [`fsync`] | injected `fdatasync` failure: acknowledgements stop until restart |
//! | [`torn_tail`] | the last journal entry torn at every byte, or with any byte flipped |
//! | [`bad_peers`] | peers that answer garbage, hang, sign with the wrong key or do not speak TLS |

mod bad_peers;
mod crash_loop;
mod disk_full;
mod fsync;
mod harness;
mod torn_tail;

/// Short form (CI): 10 SIGKILLs.
#[test]
fn crash_loop_sigkills_lose_no_acknowledged_record_and_fork_no_log() {
    crash_loop::run(10);
}

/// Long form: 60 SIGKILLs.
#[test]
#[ignore = "long form of the crash loop (60 SIGKILLs, minutes): run with -- --ignored"]
fn crash_loop_long_sixty_sigkills() {
    crash_loop::run(60);
}
