//! RFC 9421 `Signature-Input` member values: what parses serialises back to itself.
#![no_main]
use pes_gateway::federation::httpsig::SignatureParams;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = SignatureParams::parse(&text) {
        assert_eq!(SignatureParams::parse(&p.serialize()), Ok(p));
    }
});
