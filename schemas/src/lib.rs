//! # pes-schemas: the unified national schema v1
//!
//! Everything a gateway needs to agree with every other gateway about what a record is:
//!
//! - [`record`]: the Rust types of schema v1. Their serde form is exactly what the published JSON
//!   Schemas in `schemas/v1/` describe (a test checks real records against those files).
//! - [`codes`]: the national and gateway-owned code lists of `schemas/codes/`, embedded and
//!   parsed once into lookup maps.
//! - [`id_number`]: GB 11643 citizen ID numbers (MOD 11-2, 15-digit upgrade, birth date).
//! - [`uscc`]: GB 32100 unified social credit codes (mod-31 check character).
//! - [`person_key`]: the pseudonymous key, HMAC-SHA256 of the normalised ID number.
//! - [`validate`]: whole-record validation that names each faulty field by JSON pointer.
//!
//! ```
//! use pes_schemas::{id_number::IdNumber, uscc::Uscc, person_key::PersonKeyer};
//!
//! let id = IdNumber::parse("11010519491231002x").unwrap();
//! assert_eq!(id.as_str(), "11010519491231002X");
//! assert_eq!(id.sex_code(), "2");
//! assert!(Uscc::parse("91350100M000100Y43").is_ok());
//! let key = PersonKeyer::new(b"federation linkage key").key(&id);
//! assert_eq!(key.len(), 43);
//! ```

#![forbid(unsafe_code)]

pub mod codes;
pub mod id_number;
pub mod person_key;
pub mod record;
pub mod uscc;
pub mod validate;

pub use record::*;
