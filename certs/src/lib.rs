//! # pes-certs: the development PKI of the PES federation
//!
//! Gateways talk to each other over mutual TLS, and each one is identified by the
//! `URI:pes://region/<code>` subject alternative name of its certificate (never by its CN).
//! This crate creates everything a development or test federation needs in one directory:
//!
//! ```text
//! DIR/ca.pem  ca.key            federation CA (ECDSA P-256, key mode 0600)
//! DIR/crl.pem                   CRL signed by the CA (number increases on every revocation)
//! DIR/index.json                every certificate issued: serial, region, kind, SPKI pin, revoked?
//! DIR/<code>/server.pem .key    TLS server certificate (EKU serverAuth)
//! DIR/<code>/client.pem .key    TLS client certificate (EKU clientAuth)
//! DIR/<code>/signing.key .pub   Ed25519 key for RFC 9421 request signatures (PKCS#8 v2 / raw)
//! ```
//!
//! Every certificate carries `URI:pes://region/<code>`, `DNS:localhost` and `IP:127.0.0.1`, so a
//! gateway can be reached by name or by address on loopback. A production federation replaces this
//! with an HSM-held CA and an OCSP/CRL service; the file layout is the contract the gateway reads.
//!
//! Use [`init`] to create a PKI, [`issue_gateway`] to add a gateway later, and [`revoke`] to
//! revoke certificates and re-sign the CRL.

#![forbid(unsafe_code)]

mod files;
mod index;
mod pki;

// Public interface.
pub use index::{CertKind, IssuedCert, PkiIndex, SigningKeyEntry};
pub use pki::{
    init, issue_gateway, load_index, region_uri, resign_crl, revoke, spki_pin, CertsError,
    GatewayPaths, InitOptions, RevokeTarget,
};
