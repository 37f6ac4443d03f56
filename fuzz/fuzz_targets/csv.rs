//! The `csv` adapter format over `adapters/mappings/gd_440000_csv.toml`.
#![no_main]
pes_fuzz::adapter_target!("gd_440000_csv.toml", |t| t);
