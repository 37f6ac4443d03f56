//! The JSON adapter's NDJSON layout (the Zhejiang mapping with `layout = "ndjson"`).
#![no_main]
pes_fuzz::adapter_target!("zj_330000_json.toml", |t| t
    .replace("layout = \"array\"", "layout = \"ndjson\""));
