//! # PES Federation Gateway
//!
//! One gateway runs per region (province). Provincial systems push exports to it; adapters
//! normalise them into the unified national schema (`pes-schemas`); the gateway stores them,
//! answers local and federated queries, and writes every access to a transparency log.
//!
//! The data path of a push (DESIGN section 4):
//!
//! ```text
//! POST /v1/ingest/{source} ─► auth ─► sources (adapter decode) ─► ingest::decode (envelope,
//!   seal protected fields, quarantine) ─► ingest::journal (CRC32C frames, fdatasync group
//!   commit) ─► 2xx ─► ingest::apply (sled batch + applied offset) ─► query::rollup
//! ```
//!
//! Module map:
//! - [`config`], [`keys`], [`auth`]: configuration, key material, bearer tokens and roles.
//! - [`ingest`]: `journal`, `batch`, `decode`, `apply`.
//! - [`store`]: sled layout, record values and their facts.
//! - [`query`]: `plan`, `rollup`, `suppress`.
//! - [`api`]: the actix-web HTTP surface; [`problem`]: RFC 9457 errors; [`metrics`].
//! - [`node`]: opens all of the above as one running gateway.
//! - [`audit`]: the transparency log (canonical events, RFC 6962 tree, checkpoints, proofs,
//!   witnessing, offline verifier); [`signed_note`]: C2SP signed notes with Ed25519.
//! - [`federation`]: trust list, mTLS, RFC 9421 signatures between gateways.
//! - [`web`]: the dashboard (embedded HTML/CSS/JS, strict CSP) served at `/` and `/ui/`.
//!
//! The `pesgw` binary's command-line interface lives in `src/cli/` and is not part of this library.

pub mod access;
pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod federation;
pub mod ingest;
pub mod keys;
pub mod metrics;
pub mod native_sample;
pub mod node;
pub mod problem;
pub mod query;
pub mod signed_note;
pub mod sources;
pub mod store;
pub mod web;
