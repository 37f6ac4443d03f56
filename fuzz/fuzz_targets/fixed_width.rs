//! The `fixed_width` adapter format over `adapters/mappings/sc_510000_fixed.toml`.
#![no_main]
pes_fuzz::adapter_target!("sc_510000_fixed.toml", |t| t);
