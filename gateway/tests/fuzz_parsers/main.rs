//! Fuzz targets of every gateway parser of outside input, one proptest each (see
//! `docs/fuzzing.md`): RFC 9421 `Signature-Input`, `Signature` and `Content-Digest`, signed
//! notes and their keys, checkpoints, tlog-proof receipts, the offline log verifier, JWT
//! headers, the trust list, the native NDJSON decoder and the peer certificate's identity.
//!
//! Each target runs its committed seeds (`tests/fuzz/corpus/<target>/`), every prefix of each
//! seed, mutated seeds and inputs generated from a grammar. Beyond "never panics, fails with the
//! typed error", the properties are the parser's contract: what is accepted serialises back to
//! itself, and nothing that verifies carries content other than what the key holder signed.
//!
//! Signed seeds (`signed-*`) are made with the fixed keys of [`fixture`], so they verify here
//! forever; `cargo test -p pes-gateway --test fuzz_parsers -- --ignored regenerate` rewrites
//! them after a format change.

#[path = "../../../tests/fuzz/mutate.rs"]
mod mutate;

mod fixture;

mod audit_log;
mod auth;
mod httpsig;
mod ingest;
mod notes;
mod peer;
mod receipts;
mod regenerate;
mod trust;
