//! The `json` adapter format over `adapters/mappings/zj_330000_json.toml`.
#![no_main]
pes_fuzz::adapter_target!("zj_330000_json.toml", |t| t);
