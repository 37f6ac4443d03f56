//! Federation: how regional gateways trust and call each other.
//!
//! - [`trust`]: the signed trust list (members, pins, keys, policies, witnesses).
//! - [`cosign`]: cross-witnessing: the witness route on the mTLS listener, checkpoint submission.
//! - [`fanout`]: concurrent per-peer calls with deadlines, per-region status, merged cells.
//! - [`httpsig`]: RFC 9421 request and response signatures, profile `pes-fed-v1`.
//! - [`inbound`]: serving calls: peer + signature checks ([`inbound::verify_inbound`]), signed answers.
//! - [`lookup`]: a person lookup's answer: this region's part, each region's, the audited whole.
//! - [`members`]: what is known of each member (last answer, outage, latency, checkpoint, as-of).
//! - [`node`]: the assembled federation side of a gateway (listener, reloads, federated aggregate).
//! - [`outbound`]: calling a peer and verifying its signed answer ([`outbound::call_peer`]).
//! - [`service`]: `POST /v1/federation/query` of a regional gateway (policy, suppression, audit).
//! - [`tls`]: mutual TLS (rustls, ring, TLS 1.3), peer identity from the SAN, [`tls::VerifiedPeer`].

pub mod cosign;
pub mod fanout;
pub mod httpsig;
pub mod inbound;
pub mod lookup;
pub mod members;
pub mod node;
pub mod outbound;
pub mod service;
pub mod tls;
pub mod trust;
