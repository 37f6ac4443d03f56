//! # pes-adapters: provincial exports in, national records out
//!
//! Provincial systems export what they have: GB18030 CSV with Chinese headers, fixed-width
//! mainframe files, nested JSON from a REST API, XML. An [`Adapter`] decodes one such export,
//! streaming, into validated national records ([`pes_schemas::Record`]) and row errors, handed
//! one at a time to a sink. Onboarding a province takes a mapping file, not a release:
//!
//! ```text
//!   TOML mapping ──Mapping::from_path──▶ Mapping ──build_adapter──▶ Box<dyn Adapter>
//!                                                                       │ decode(reader, ctx, sink)
//!   raw bytes ─▶ encoding (strict) ─▶ format (csv | fixed_width | json | xml) ─▶ rows/items
//!        ─▶ engine: sources ─▶ transforms ─▶ typed body ─▶ envelope ─▶ validate ─▶ sink
//! ```
//!
//! Systems that already export national records push NDJSON through the [`NativeAdapter`]
//! instead: no mapping, validated the same way, failures reported as the same [`RowError`]s.
//!
//! A row that failed is quarantined by the gateway with its raw text; once the data or the
//! mapping is fixed, [`Adapter::retry_body`] puts that one row back into a body of its own, in the
//! export's format and encoding (under the CSV header [`Adapter::retry_header`] kept, inside
//! its XML ancestors), so it can be pushed again. Format knowledge stays in this crate.
//!
//! - [`mapping`]: the TOML form, checked against the schema and code lists; every mistake names
//!   its line.
//! - `formats`: how each format finds rows and values (and re-frames one row for a retry);
//!   `engine`: how a row becomes a record.
//! - [`synth`]: a deterministic generator of realistic exports in any mapping's format, with
//!   planted defects, for demos, tests and benchmarks.
//!
//! Protected values (name, ID number, phone) never appear in errors or logs: row errors carry
//! them masked ([`mask`]), and keep the raw row only for quarantine.

#![forbid(unsafe_code)]

mod adapter;
pub mod check;
mod encoding;
mod engine;
mod formats;
mod mapped;
pub mod mapping;
mod mask;
pub mod national;
mod native;
mod registry;
mod row_mask;
pub mod synth;
mod target;
mod transform;

// Public interface.
pub use adapter::{
    envelope_problem, Adapter, AdapterError, DecodeContext, DecodeSummary, Decoded, FailedRow,
    RowError, RowErrorCode, SinkError,
};
pub use mapped::{build_adapter, MappedAdapter};
pub use mapping::{Mapping, MappingError};
pub use mask::{mask, mask_shape, masked};
pub use native::NativeAdapter;
pub use registry::Registry;
