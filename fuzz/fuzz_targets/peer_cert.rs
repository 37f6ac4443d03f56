//! The identity read from a peer's leaf certificate (DER).
#![no_main]
use pes_gateway::federation::tls::PeerIdentity;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(id) = PeerIdentity::from_leaf(data) {
        assert!(id.region.len() == 6 && id.region.bytes().all(|b| b.is_ascii_digit()));
    }
});
