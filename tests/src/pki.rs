//! A development PKI in a temporary directory and trust lists made from it.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use pes_certs::{GatewayPaths, InitOptions};
use pes_gateway::federation::httpsig::SigningKey;
use pes_gateway::federation::tls::{ExpectedPeer, TlsFiles};
use pes_gateway::federation::trust::{
    sign_trust_list, CallerPolicy, Member, MemberKey, TrustList, TrustStore, TRUST_LIST_FORMAT,
};
use pes_gateway::signed_note;

/// Certificates and keys of some regions (`pes_certs::init`), removed on drop.
pub struct Pki {
    /// The PKI's directory.
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// A PKI with certificates for `regions`.
    pub fn new(regions: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
        pes_certs::init(dir.path(), &regions, &InitOptions::default()).unwrap();
        Pki { dir }
    }

    /// The PKI's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The files of `region`.
    pub fn paths(&self, region: &str) -> GatewayPaths {
        GatewayPaths::new(self.path(), region)
    }

    /// `region`'s server certificate and key, with the CA and CRL.
    pub fn server_files(&self, region: &str) -> TlsFiles {
        let p = self.paths(region);
        TlsFiles {
            ca: p.ca_cert,
            crl: p.crl,
            cert: p.server_cert,
            key: p.server_key,
        }
    }

    /// `region`'s client certificate and key, with the CA and CRL.
    pub fn client_files(&self, region: &str) -> TlsFiles {
        let p = self.paths(region);
        TlsFiles {
            ca: p.ca_cert,
            crl: p.crl,
            cert: p.client_cert,
            key: p.client_key,
        }
    }

    /// `region`'s request-signing key.
    pub fn signing_key(&self, region: &str) -> SigningKey {
        let p = self.paths(region);
        SigningKey::from_files(&p.signing_key, &p.signing_pub).unwrap()
    }

    /// A trust list naming `members` (which must exist in this PKI), version `version`.
    pub fn trust_list(&self, members: &[&str], version: u64) -> TrustList {
        let index = pes_certs::load_index(self.path()).unwrap();
        let now = Utc::now();
        let members = members
            .iter()
            .map(|r| Member {
                region: r.to_string(),
                name: format!("region {r}"),
                url: "https://127.0.0.1:1".into(),
                spki_pins: index.for_region(r).map(|c| c.spki_pin.clone()).collect(),
                signing_keys: index
                    .signing_keys
                    .iter()
                    .filter(|k| &k.region == r)
                    .map(|k| MemberKey {
                        kid: k.kid.clone(),
                        public_key: k.public_key.clone(),
                        not_before: now - Duration::days(1),
                        not_after: now + Duration::days(30),
                    })
                    .collect(),
                log_key: None,
            })
            .collect::<Vec<_>>();
        let policies = members
            .iter()
            .map(|m| CallerPolicy {
                caller: m.region.clone(),
                datasets: vec!["vacancy".into(), "person".into()],
                purposes: vec!["statistics".into()],
                protected_fields: vec![],
                k: 5,
            })
            .collect();
        let list = TrustList {
            format: TRUST_LIST_FORMAT.into(),
            version,
            issued_at: now - Duration::minutes(1),
            expires_at: now + Duration::days(7),
            members,
            policies,
            witnesses: vec![],
        };
        list.check().unwrap();
        list
    }

    /// Expectation of a client dialling `region`'s server.
    pub fn expect(&self, trust: &TrustList, region: &str) -> ExpectedPeer {
        ExpectedPeer {
            region: region.into(),
            spki_pins: trust.member(region).unwrap().spki_pins.clone(),
        }
    }
}

/// The test PKI's trust list with members at `fed_ports` on 127.0.0.1 and policies that allow
/// the report's datasets and statistics.
pub fn policy_trust(pki: &Pki, regions: &[&str], version: u64, fed_ports: &[u16]) -> TrustList {
    let mut trust = pki.trust_list(regions, version);
    for (m, p) in trust.members.iter_mut().zip(fed_ports) {
        m.url = format!("https://127.0.0.1:{p}");
    }
    for p in &mut trust.policies {
        p.datasets = vec![
            "vacancy".into(),
            "person".into(),
            "job_seeker_registration".into(),
        ];
        p.purposes = vec!["statistics".into()];
    }
    trust
}

/// A fresh federation root key.
pub fn root_key() -> signed_note::SigningKey {
    signed_note::SigningKey::generate("pes-federation-root", signed_note::KeyType::Ed25519).unwrap()
}

/// Writes `trust` signed by a fresh root into `dir` and opens a store on it.
pub fn trust_store(dir: &Path, trust: &TrustList) -> std::sync::Arc<TrustStore> {
    trust_store_with_root(dir, trust).0
}

/// [`trust_store`], also giving the root key, to sign later versions into
/// `dir/federation.json` (see [`publish_trust`]).
pub fn trust_store_with_root(
    dir: &Path,
    trust: &TrustList,
) -> (std::sync::Arc<TrustStore>, signed_note::SigningKey) {
    let root = root_key();
    let path = publish_trust(dir, trust, &root);
    let store =
        std::sync::Arc::new(TrustStore::open(&path, root.verifier().clone(), Utc::now()).unwrap());
    (store, root)
}

/// Signs `trust` with `root` into `dir/federation.json` (where [`trust_store`] reads it).
pub fn publish_trust(dir: &Path, trust: &TrustList, root: &signed_note::SigningKey) -> PathBuf {
    let path = dir.join("federation.json");
    std::fs::write(&path, sign_trust_list(trust, root).unwrap()).unwrap();
    path
}
