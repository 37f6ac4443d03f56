//! # pes-schemas: the unified national schema v1
//!
//! - [`record`]: Rust types that mirror the published JSON Schemas in `schemas/v1/`.
//!
//! Code lists, validators and `person_key` are added by the foundation issue.

pub mod record;

pub use record::*;
