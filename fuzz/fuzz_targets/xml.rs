//! The `xml` adapter format over `adapters/mappings/bj_110000_xml.toml`.
#![no_main]
pes_fuzz::adapter_target!("bj_110000_xml.toml", |t| t);
