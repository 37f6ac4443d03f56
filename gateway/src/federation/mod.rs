//! Federation: how regional gateways trust and call each other.
//!
//! - [`trust`]: the signed trust list (members, pins, keys, policies, witnesses).
//! - [`httpsig`]: RFC 9421 request and response signatures, profile `pes-fed-v1`.
//! - [`tls`]: mutual TLS (rustls, ring, TLS 1.3), peer identity from the SAN, [`tls::VerifiedPeer`].

pub mod httpsig;
pub mod tls;
pub mod trust;
