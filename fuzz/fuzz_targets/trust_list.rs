//! The federation trust list: an accepted body round-trips; a signed list is verified.
#![no_main]
use pes_gateway::federation::trust::{verify_trust_list, TrustList};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(list) = TrustList::from_json(&text) {
        let again = serde_json::to_string(&list).expect("serialisable");
        assert_eq!(TrustList::from_json(&again).ok(), Some(list));
    }
    let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("fixed clock");
    let _ = verify_trust_list(&text, &pes_fuzz::keys::root(), now);
});
