//! C2SP tlog-proof receipts: an accepted receipt is canonical; verification never panics.
#![no_main]
use pes_gateway::audit::receipt;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = receipt::parse(&text) {
        let again = receipt::format(r.index, &r.proof, &r.checkpoint, r.extra.as_deref());
        assert_eq!(again, text);
    }
    let _ = receipt::verify_with_extra(
        &text,
        &pes_fuzz::keys::log(),
        &[pes_fuzz::keys::witness()],
        1,
    );
});
