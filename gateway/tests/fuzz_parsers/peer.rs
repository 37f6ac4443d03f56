//! The identity read from a peer's leaf certificate (`federation::tls::PeerIdentity`): the
//! region from its `pes://region/` SAN and its SPKI pin. rustls has checked the chain before;
//! this parser still takes the DER as it came.

use pes_gateway::federation::tls::{PeerError, PeerIdentity};
use proptest::prelude::*;

use crate::fixture;
use crate::mutate::{self, apply, mutated};

const DER_DICT: &[&[u8]] = &[
    b"\x30\x82",
    b"\x30\x80",
    b"\x86\x13pes://region/440000",
    b"\x86\x00",
    b"\xff\xff\xff\xff",
    b"\x06\x03\x55\x1d\x11",
    b"\x00",
];

fn check_leaf(der: &[u8]) {
    match PeerIdentity::from_leaf(der) {
        Ok(id) => {
            assert!(id.region.len() == 6 && id.region.bytes().all(|b| b.is_ascii_digit()));
            assert!(id.spki_pin.starts_with("sha256/"));
            assert_eq!(PeerIdentity::from_leaf(der).unwrap(), id);
        }
        Err(PeerError::Unparseable | PeerError::NoRegionSan) => {}
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn peer_cert_seeds_and_prefixes() {
    let regions: Vec<String> = fixture::corpus("peer_cert")
        .iter()
        .filter_map(|s| PeerIdentity::from_leaf(&s.bytes).ok())
        .map(|id| id.region)
        .collect();
    assert!(regions.contains(&"440000".to_string()), "{regions:?}");
    fixture::every_prefix("peer_cert", check_leaf);
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn peer_cert_mutated((seed, muts) in mutated(fixture::corpus("peer_cert").len(), DER_DICT.len())) {
        let seeds = fixture::corpus("peer_cert");
        check_leaf(&apply(&seeds[seed].bytes, &muts, DER_DICT, seeds));
    }
}
