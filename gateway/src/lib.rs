//! # PES Federation Gateway
//!
//! One gateway runs per region (province). Provincial systems push exports to it; adapters
//! normalise them into the unified national schema (`pes-schemas`); the gateway stores them,
//! answers local and federated queries, and writes every access to a transparency log.
//!
//! The data path of a push (DESIGN section 4):
//!
//! ```text
//! POST /v1/ingest/{source} ─► access (token) ─► budget (memory) ─► sources (adapter decode)
//!   ─► ingest::decode (envelope, seal protected fields, quarantine up to a cap) ─► ingest::journal
//!   (CRC32C frames, fdatasync group commit) ─► 2xx ─► ingest::apply (store writes, applied
//!   offset last; an entry that cannot be applied is dead-lettered) ─► query::rollup
//! ```
//!
//! Layers, top to bottom; a module imports from its own layer or below, never from above, and
//! no imports form a circle:
//!
//! 1. `cli` (the `pesgw` binary, in `src/cli/`, not part of this library), and [`cluster`]:
//!    a federation deployed on loopback (per-gateway directories, PKI, signed trust list,
//!    `pesgw serve` child processes), which the demo, the benches and the tests start.
//! 2. [`api`] (the actix-web HTTP surface) and [`federation`] (trust list, mTLS, RFC 9421
//!    signatures, fan-out, the mTLS service), side by side; [`web`] (the dashboard).
//! 3. [`access`]: access auditing of requests (token, audit event, refusals), and
//!    `access_log`: one log line and the request metrics per request; both for both.
//! 4. [`node`]: opens everything below as one running gateway.
//! 5. [`lifecycle`] (snapshots, retirement, retention: journal entries that retire or purge
//!    records), above `sources` (source id to decoder, [`Sources`]), [`ingest`] (`budget`,
//!    `decode`, `journal`, `apply`) and [`query`] (`local`, `plan`, `rollup`, `suppress`,
//!    `grants`, `minimise`, `person`) and [`matching`] (vacancy search: the per-region tantivy
//!    index kept by a follower of the applier, the query, the rank order and cursor).
//! 6. [`store`]: the store boundary (`RecordStore`) and its sled backend, the journal entry
//!    format, record values and facts, dead letters.
//! 7. [`audit`] (the transparency log: canonical events, RFC 6962 tree, checkpoints, proofs,
//!    witnessing, offline verifier), [`keys`], [`auth`], [`config`], [`signed_note`]; and at
//!    the bottom [`problem`] (RFC 9457 errors) and `metrics` ([`Metrics`]).
//!
//! Then the `pes-adapters` and `pes-schemas` crates.
//!
//! The `pesgw` binary's command-line interface lives in `src/cli/` and is not part of this library.

pub mod access;
mod access_log;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod federation;
pub mod grassroots_sample;
pub mod ingest;
pub mod keys;
pub mod lifecycle;
pub mod matching;
mod metrics;
pub mod native_sample;
pub mod node;
pub mod problem;
pub mod query;
pub mod signed_note;
mod sources;
pub mod store;
pub mod web;

// The public interface: what the `pesgw` binary, the tests and the benches start a gateway
// with. The modules above stay public where a command or a test needs their types (the audit
// verifier, the federation's trust list, the store boundary); the request plumbing
// (`access_log`, `metrics`, `sources`) is private.
pub use api::{serve, serve_federated};
pub use cluster::{Plan, Site};
pub use config::GatewayConfig;
pub use metrics::Metrics;
pub use node::Node;
pub use problem::Problem;
pub use sources::{ReloadedSource, Source, Sources};
pub use store::{RecordStore, SledStore};
