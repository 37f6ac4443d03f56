//! The native NDJSON decoder: every non-blank line is a record or a quarantined row.
#![no_main]
use pes_gateway::ingest::decode::{decode_native, DecodeInput, EntrySink};
use pes_gateway::keys::DataKey;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_bytes(&[7; 32]).expect("32 bytes");
    let input = DecodeInput {
        region: "440000",
        source: "native-fuzz",
        batch_id: &[0; 32],
        ingested_at: "2026-01-01T00:00:00Z",
        today: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        key: &key,
        max_rows: 1000,
    };
    let mut sink = EntrySink::new(&input, data.len());
    if decode_native(data, &mut sink).is_ok() {
        let d = sink.finish();
        let lines = std::str::from_utf8(data).expect("decoded").lines();
        let rows = lines.filter(|l| !l.trim().is_empty()).count() as u64;
        assert_eq!(d.accepted + d.quarantined, rows);
    }
});
