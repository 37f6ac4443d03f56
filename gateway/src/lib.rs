//! # PES Federation Gateway
//!
//! One gateway runs per region (province). Provincial systems push exports to it; adapters
//! normalise them into the unified national schema (`pes-schemas`); the gateway stores them,
//! answers local and federated queries, and writes every access to a transparency log.
//!
//! Module map (see `../shared/DESIGN.md` section 2):
//! - `audit`: the transparency log (canonical events, RFC 6962 tree, checkpoints, proofs,
//!   witnessing, offline verifier).
//! - `signed_note`: C2SP signed notes with Ed25519 (checkpoints, cosignatures, trust list).
//! - `web`: the dashboard (embedded HTML/CSS/JS, strict CSP) served at `/` and `/ui/`.
//! - (later) `ingest`, `store`, `federation`, `query`, `auth`, `api`.
//!
//! The `pesgw` binary's command-line interface lives in `src/cli/` and is not part of this library.

pub mod audit;
pub mod signed_note;
pub mod web;
