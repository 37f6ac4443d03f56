//! The federation authority of a loopback cluster: a development PKI (made once, remade when
//! the set of gateways changed), the national root key, an optional national witness key, and
//! the signed trust list. Each gateway receives copies of what an operator would receive:
//! its own certificates and keys, the CA, the CRL and the signed list.

use std::path::{Path, PathBuf};

use crate::federation::trust::{
    sign_trust_list, verify_trust_list, CallerPolicy, Member, MemberKey, TrustList, WitnessKey,
    TRUST_LIST_FORMAT,
};
use crate::signed_note::{KeyType, SigningKey};

use super::{copy, io, write_private, ClusterError, NATIONAL};

/// Where a gateway finds the signed trust list, relative to its directory.
pub const TRUST_LIST_FILE: &str = "pki/federation.json";

/// Purposes every member may state to the others: the dashboard's pages and the caseworker's
/// lookups.
pub const PURPOSES: [&str; 8] = [
    "statistics",
    "dashboard_overview",
    "dashboard_key_groups",
    "region_health",
    "case_management",
    "benefit_eligibility",
    "job_matching",
    "training_referral",
];

/// One member as the trust list names it.
pub(super) struct MemberSite {
    pub(super) region: String,
    pub(super) name: String,
    pub(super) url: String,
    /// The member's audit-log signing key (its verifier goes in the list when witnessing).
    pub(super) log_key_file: PathBuf,
}

pub(super) struct Authority {
    dir: PathBuf,
    index: pes_certs::PkiIndex,
    root_key: SigningKey,
    pub(super) witness_key: Option<SigningKey>,
}

impl Authority {
    /// Opens (or makes) the authority in `dir` for `regions`.
    pub(super) fn open(
        dir: &Path,
        regions: &[String],
        witness: bool,
    ) -> Result<Authority, ClusterError> {
        let index = match pes_certs::load_index(dir) {
            Ok(ix) if regions.iter().all(|r| ix.for_region(r).next().is_some()) => ix,
            _ => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(io(dir))?;
                }
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                pes_certs::init(dir, regions, &pes_certs::InitOptions::default())?
            }
        };
        let root_key = load_or_make(&dir.join("federation-root.key"), || {
            SigningKey::generate("pes-federation-root", KeyType::Ed25519)
        })?;
        let witness_key = if witness {
            Some(load_or_make(&dir.join("witness.key"), || {
                SigningKey::generate(
                    &format!("pes.example/witness/{NATIONAL}"),
                    KeyType::Cosignature,
                )
            })?)
        } else {
            None
        };
        Ok(Authority {
            dir: dir.to_path_buf(),
            index,
            root_key,
            witness_key,
        })
    }

    /// The root verifier key text a gateway's `[federation] root_key` holds.
    pub(super) fn root_verifier(&self) -> String {
        self.root_key.verifier().to_string()
    }

    /// Signs a trust list naming `members`, each with its mTLS listener, SPKI pins and request
    /// signing key, with a policy per caller (every dataset, [`PURPOSES`], no protected field,
    /// k = 5). Its version is higher than the last one signed here, so no gateway ever sees a
    /// lower version (gateways remember the last one they accepted).
    pub(super) fn sign_trust_list(&self, members: &[MemberSite]) -> Result<String, ClusterError> {
        let now = chrono::Utc::now();
        let mut listed = Vec::new();
        for m in members {
            let log_key = match self.witness_key {
                Some(_) => {
                    let path = &m.log_key_file;
                    let text = std::fs::read_to_string(path).map_err(io(path))?;
                    let key = SigningKey::parse(text.trim())
                        .map_err(|e| ClusterError::Signing(format!("{}: {e}", path.display())))?;
                    Some(key.verifier().to_string())
                }
                None => None,
            };
            listed.push(Member {
                region: m.region.clone(),
                name: m.name.clone(),
                url: m.url.clone(),
                spki_pins: self
                    .index
                    .for_region(&m.region)
                    .map(|c| c.spki_pin.clone())
                    .collect(),
                signing_keys: self
                    .index
                    .signing_keys
                    .iter()
                    .filter(|k| k.region == m.region)
                    .map(|k| MemberKey {
                        kid: k.kid.clone(),
                        public_key: k.public_key.clone(),
                        not_before: now - chrono::Duration::days(1),
                        not_after: now + chrono::Duration::days(365),
                    })
                    .collect(),
                log_key,
            });
        }
        let policies = members
            .iter()
            .map(|m| CallerPolicy {
                caller: m.region.clone(),
                datasets: pes_schemas::RecordType::ALL
                    .iter()
                    .map(|t| t.as_str().to_string())
                    .collect(),
                purposes: PURPOSES.iter().map(|p| p.to_string()).collect(),
                protected_fields: vec![],
                k: 5,
            })
            .collect();
        let path = self.dir.join("federation.json");
        let previous = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| verify_trust_list(&text, self.root_key.verifier(), now).ok())
            .map_or(0, |l| l.version);
        let list = TrustList {
            format: TRUST_LIST_FORMAT.into(),
            version: (now.timestamp().max(1) as u64).max(previous + 1),
            issued_at: now - chrono::Duration::minutes(1),
            expires_at: now + chrono::Duration::days(30),
            members: listed,
            policies,
            witnesses: self
                .witness_key
                .iter()
                .map(|k| WitnessKey {
                    name: k.verifier().name().to_string(),
                    vkey: k.verifier().to_string(),
                    member: Some(NATIONAL.to_string()),
                })
                .collect(),
        };
        let signed = sign_trust_list(&list, &self.root_key)
            .map_err(|e| ClusterError::Signing(format!("signing the trust list: {e}")))?;
        std::fs::write(&path, &signed).map_err(io(&path))?;
        Ok(signed)
    }

    /// Gives `region`'s gateway in `site` what an operator receives from the authority: its
    /// certificates and keys (in `site/pki/<region>/`), the CA certificate, the CRL and the
    /// signed trust list. The CA key and the other members' keys stay with the authority.
    pub(super) fn install(
        &self,
        region: &str,
        site: &Path,
        signed_trust_list: &str,
    ) -> Result<(), ClusterError> {
        let from = pes_certs::GatewayPaths::new(&self.dir, region);
        let to_dir = site.join("pki");
        let to = pes_certs::GatewayPaths::new(&to_dir, region);
        std::fs::create_dir_all(to_dir.join(region)).map_err(io(&to_dir))?;
        for (a, b) in [
            (&from.ca_cert, &to.ca_cert),
            (&from.crl, &to.crl),
            (&from.server_cert, &to.server_cert),
            (&from.client_cert, &to.client_cert),
            (&from.signing_pub, &to.signing_pub),
        ] {
            copy(a, b)?;
        }
        for (a, b) in [
            (&from.server_key, &to.server_key),
            (&from.client_key, &to.client_key),
            (&from.signing_key, &to.signing_key),
        ] {
            let bytes = std::fs::read(a).map_err(io(a))?;
            if std::fs::read(b).ok().as_deref() != Some(bytes.as_slice()) {
                write_private(b, &bytes)?;
            }
        }
        let list = site.join(TRUST_LIST_FILE);
        std::fs::write(&list, signed_trust_list).map_err(io(&list))
    }
}

fn load_or_make(
    path: &Path,
    make: impl FnOnce() -> Result<SigningKey, crate::signed_note::NoteError>,
) -> Result<SigningKey, ClusterError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return SigningKey::parse(text.trim())
            .map_err(|e| ClusterError::Signing(format!("{}: {e}", path.display())));
    }
    let key = make().map_err(|e| ClusterError::Signing(format!("making a key: {e}")))?;
    write_private(path, key.to_private_text())?;
    Ok(key)
}
