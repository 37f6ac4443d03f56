//! `index.json`: the record of every certificate the development CA issued.

use serde::{Deserialize, Serialize};

/// Which role a certificate plays in the mTLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    /// TLS server certificate (extended key usage serverAuth).
    Server,
    /// TLS client certificate (extended key usage clientAuth).
    Client,
}

impl CertKind {
    /// File stem used under the gateway's directory (`server`, `client`).
    pub fn stem(self) -> &'static str {
        match self {
            CertKind::Server => "server",
            CertKind::Client => "client",
        }
    }
}

/// One certificate issued by the CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCert {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// GB/T 2260 region code of the gateway.
    pub region: String,
    /// Server or client certificate.
    pub kind: CertKind,
    /// `sha256/<base64>` of the SubjectPublicKeyInfo, as pinned in the trust list.
    pub spki_pin: String,
    /// RFC 3339 time of revocation, if revoked.
    pub revoked_at: Option<String>,
}

/// The whole index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PkiIndex {
    /// Number of the CRL last written (RFC 5280 cRLNumber).
    pub crl_number: u64,
    /// Certificates, in order of issue.
    pub certs: Vec<IssuedCert>,
    /// Ed25519 request-signing keys: region, kid and the raw public key (base64).
    #[serde(default)]
    pub signing_keys: Vec<SigningKeyEntry>,
}

/// A gateway's Ed25519 request-signing key, as listed for the trust list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyEntry {
    /// Region code of the owning gateway.
    pub region: String,
    /// Key id used in the `keyid` signature parameter.
    pub kid: String,
    /// Raw 32-byte Ed25519 public key, standard base64.
    pub public_key: String,
}

impl PkiIndex {
    /// Certificates of one region.
    pub fn for_region<'a>(&'a self, region: &'a str) -> impl Iterator<Item = &'a IssuedCert> + 'a {
        self.certs.iter().filter(move |c| c.region == region)
    }
}
