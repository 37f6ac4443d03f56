//! Adapters: turn provincial exports (CSV, fixed-width, JSON, XML) into unified national records.
//!
//! Filled in by the adapters issue; see `../shared/DESIGN.md` section 4.
