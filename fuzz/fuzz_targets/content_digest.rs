//! RFC 9530 `Content-Digest` headers against the RFC's example body.
#![no_main]
use pes_gateway::federation::httpsig::check_content_digest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = check_content_digest(&String::from_utf8_lossy(data), b"{\"hello\": \"world\"}\n");
});
