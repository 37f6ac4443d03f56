//! The federation trust list (`federation.json`): who the members are, how to reach them, which
//! keys and certificates are theirs, what each caller may ask, and the witness keys.
//!
//! The list is issued by the national authority and signed with its root key as a C2SP
//! signed-note. A gateway verifies it at start and on every reload, refuses a list whose
//! version is not higher than the one it holds or which has expired, and keeps serving with the
//! last good list when a reload is refused.

use std::collections::BTreeSet;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Format tag of the trust list body.
pub const TRUST_LIST_FORMAT: &str = "pes-federation-v1";

/// The trust list body (the text of the signed note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustList {
    /// Always [`TRUST_LIST_FORMAT`].
    pub format: String,
    /// Monotonic version: a gateway never accepts a version lower than or equal to its current one.
    pub version: u64,
    /// When the national authority issued this version.
    pub issued_at: DateTime<Utc>,
    /// After this instant the list is refused.
    pub expires_at: DateTime<Utc>,
    /// Member gateways.
    pub members: Vec<Member>,
    /// What each caller may ask of the others.
    pub policies: Vec<CallerPolicy>,
    /// Keys of the witnesses that cosign checkpoints (C2SP vkey strings).
    pub witnesses: Vec<WitnessKey>,
}

/// One member gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// GB/T 2260 code of the region the gateway serves; its certificates carry
    /// `URI:pes://region/<region>`.
    pub region: String,
    /// Human-readable name.
    pub name: String,
    /// Base URL for federation calls (`https://...`).
    pub url: String,
    /// `sha256/<base64>` pins of the SubjectPublicKeyInfo of its TLS certificates (server and client).
    pub spki_pins: Vec<String>,
    /// Its Ed25519 request/response signing keys.
    pub signing_keys: Vec<MemberKey>,
    /// Verifier key of its audit log (C2SP vkey `<origin>+<hex key id>+<base64 key>`): witnesses
    /// cosign its checkpoints only if this key signed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<String>,
}

/// A member's signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberKey {
    /// Key id used as the RFC 9421 `keyid` parameter; unique across the federation.
    pub kid: String,
    /// Raw 32-byte Ed25519 public key, standard base64.
    pub public_key: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
}

impl MemberKey {
    /// The raw public key bytes (validated to be 32 bytes when the list was checked).
    pub fn public_key_bytes(&self) -> Result<Vec<u8>, TrustError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.public_key)
            .map_err(|_| {
                TrustError::Invalid(format!("key {}: public key is not base64", self.kid))
            })?;
        if bytes.len() != 32 {
            return Err(TrustError::Invalid(format!(
                "key {}: Ed25519 public key must be 32 bytes",
                self.kid
            )));
        }
        Ok(bytes)
    }

    /// Whether the key may be used at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// What one calling member may ask of the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerPolicy {
    /// Region code of the calling member.
    pub caller: String,
    /// Datasets it may query (record types, e.g. `vacancy`).
    pub datasets: Vec<String>,
    /// Purposes it may state.
    pub purposes: Vec<String>,
    /// Protected fields (`name`, `id_number`, `phone`) it may receive in person lookups.
    #[serde(default)]
    pub protected_fields: Vec<String>,
    /// Small-cell threshold: cells from fewer records are suppressed at the source.
    #[serde(default = "default_k")]
    pub k: u32,
}

fn default_k() -> u32 {
    5
}

impl CallerPolicy {
    /// What the policy grants, as the query side checks it.
    pub fn grants(&self) -> crate::query::person::Grants {
        crate::query::person::Grants {
            datasets: self.datasets.clone(),
            purposes: self.purposes.clone(),
            protected_fields: self.protected_fields.clone(),
        }
    }
}

/// A witness that cosigns checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessKey {
    /// Witness name (as in its cosignature lines).
    pub name: String,
    /// C2SP verifier key string `<name>+<hex key id>+<base64 key>`.
    pub vkey: String,
    /// Region of the member gateway that runs this witness; members submit their checkpoints
    /// to it over the federation channel (mTLS + signatures). `None`: an outside witness whose
    /// cosignatures are only checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

/// Trust list errors. `Invalid`, `Expired`, `NotNewer` and `BadSignature` are the issuer's or
/// operator's to fix; the gateway keeps its last good list when they occur on reload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The body is not a well-formed trust list.
    #[error("trust list is invalid: {0}")]
    Invalid(String),
    /// The list's `expires_at` has passed.
    #[error("trust list version {version} expired at {expires_at}")]
    Expired {
        /// Version of the refused list.
        version: u64,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// The list is not newer than the one in force (rollback or replay).
    #[error("trust list version {offered} is not newer than version {current} in force")]
    NotNewer {
        /// Version offered.
        offered: u64,
        /// Version in force.
        current: u64,
    },
    /// At start: the file holds an older version than the last one this gateway accepted
    /// (recorded in its state file), i.e. a rollback across a restart.
    #[error(
        "trust list version {offered} in {path} is older than version {accepted} this gateway \
         accepted before (recorded in {state}); install version {accepted} or newer"
    )]
    OlderThanAccepted {
        /// Version in the file.
        offered: u64,
        /// Last version accepted.
        accepted: u64,
        /// The trust list file.
        path: std::path::PathBuf,
        /// The state file holding the accepted version.
        state: std::path::PathBuf,
    },
    /// The state file recording the accepted version could not be read or written.
    #[error("trust list state {path}: {detail}")]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The signed-note signature by the national root key is missing or wrong.
    #[error("trust list signature does not verify: {0}")]
    BadSignature(String),
    /// Reading the file failed.
    #[error("reading trust list {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl TrustList {
    /// Parses and checks a trust list body (not its signature).
    pub fn from_json(text: &str) -> Result<Self, TrustError> {
        let list: TrustList =
            serde_json::from_str(text).map_err(|e| TrustError::Invalid(e.to_string()))?;
        list.check()?;
        Ok(list)
    }

    /// Structural checks: format tag, region codes, unique regions and key ids, key sizes,
    /// pin format, policies naming members.
    pub fn check(&self) -> Result<(), TrustError> {
        if self.format != TRUST_LIST_FORMAT {
            return Err(TrustError::Invalid(format!(
                "format is not {TRUST_LIST_FORMAT}"
            )));
        }
        if self.expires_at <= self.issued_at {
            return Err(TrustError::Invalid(
                "expires_at is not after issued_at".into(),
            ));
        }
        let mut regions = BTreeSet::new();
        let mut kids = BTreeSet::new();
        for m in &self.members {
            if !is_region_code(&m.region) {
                return Err(TrustError::Invalid(format!(
                    "bad region code {:?}",
                    m.region
                )));
            }
            if !regions.insert(m.region.as_str()) {
                return Err(TrustError::Invalid(format!(
                    "region {} listed twice",
                    m.region
                )));
            }
            if !m.url.starts_with("https://") {
                return Err(TrustError::Invalid(format!(
                    "member {} url is not https",
                    m.region
                )));
            }
            for pin in &m.spki_pins {
                let ok = pin
                    .strip_prefix("sha256/")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .is_some_and(|d| d.len() == 32);
                if !ok {
                    return Err(TrustError::Invalid(format!(
                        "member {} pin {pin:?}",
                        m.region
                    )));
                }
            }
            if let Some(k) = &m.log_key {
                crate::signed_note::VerifierKey::parse(k).map_err(|e| {
                    TrustError::Invalid(format!("member {} log_key: {e}", m.region))
                })?;
            }
            for k in &m.signing_keys {
                k.public_key_bytes()?;
                if !kids.insert(k.kid.as_str()) {
                    return Err(TrustError::Invalid(format!("kid {} listed twice", k.kid)));
                }
            }
        }
        for w in &self.witnesses {
            let key = crate::signed_note::VerifierKey::parse(&w.vkey)
                .map_err(|e| TrustError::Invalid(format!("witness {}: {e}", w.name)))?;
            if key.name() != w.name || key.kind() != crate::signed_note::KeyType::Cosignature {
                return Err(TrustError::Invalid(format!(
                    "witness {}: vkey must be a cosignature key named {}",
                    w.name, w.name
                )));
            }
            if let Some(r) = &w.member {
                if !regions.contains(r.as_str()) {
                    return Err(TrustError::Invalid(format!(
                        "witness {} is run by non-member {r}",
                        w.name
                    )));
                }
            }
        }
        for p in &self.policies {
            if !regions.contains(p.caller.as_str()) {
                return Err(TrustError::Invalid(format!(
                    "policy for non-member {}",
                    p.caller
                )));
            }
            if p.k == 0 {
                return Err(TrustError::Invalid(format!(
                    "policy for {}: k must be >= 1",
                    p.caller
                )));
            }
        }
        Ok(())
    }

    /// The member serving `region`.
    pub fn member(&self, region: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.region == region)
    }

    /// The member owning key `kid`, and the key.
    pub fn key(&self, kid: &str) -> Option<(&Member, &MemberKey)> {
        self.members
            .iter()
            .find_map(|m| m.signing_keys.iter().find(|k| k.kid == kid).map(|k| (m, k)))
    }

    /// The policy for calls made by `caller`.
    pub fn policy_for(&self, caller: &str) -> Option<&CallerPolicy> {
        self.policies.iter().find(|p| p.caller == caller)
    }

    /// Whether the list is still valid at `now`.
    pub fn check_not_expired(&self, now: DateTime<Utc>) -> Result<(), TrustError> {
        if now >= self.expires_at {
            return Err(TrustError::Expired {
                version: self.version,
                expires_at: self.expires_at,
            });
        }
        Ok(())
    }
}

/// Six ASCII digits (GB/T 2260).
pub(crate) fn is_region_code(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Signs a trust list with the national root key: the note body is the pretty-printed JSON.
pub fn sign_trust_list(
    list: &TrustList,
    root: &crate::signed_note::SigningKey,
) -> Result<String, TrustError> {
    list.check()?;
    let mut body =
        serde_json::to_string_pretty(list).map_err(|e| TrustError::Invalid(e.to_string()))?;
    body.push('\n');
    root.sign(&body)
        .map_err(|e| TrustError::Invalid(format!("cannot sign: {e}")))
}

/// Verifies a signed trust list against the root verifier key and checks it is well formed and
/// not expired at `now`. Does not compare versions (see [`TrustStore`]).
pub fn verify_trust_list(
    text: &str,
    root: &crate::signed_note::VerifierKey,
    now: DateTime<Utc>,
) -> Result<TrustList, TrustError> {
    let note = crate::signed_note::Note::parse(text)
        .map_err(|e| TrustError::BadSignature(e.to_string()))?;
    note.verify(std::slice::from_ref(root))
        .map_err(|e| TrustError::BadSignature(e.to_string()))?;
    let list = TrustList::from_json(&note.body)?;
    list.check_not_expired(now)?;
    Ok(list)
}

/// The trust list in force, verified at start and on every reload. A refused reload leaves the
/// last good list in force.
#[derive(Debug)]
pub struct TrustStore {
    root: crate::signed_note::VerifierKey,
    path: std::path::PathBuf,
    /// Where the last accepted version is recorded (survives restarts), if anywhere.
    state: Option<std::path::PathBuf>,
    current: std::sync::RwLock<std::sync::Arc<TrustList>>,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// A newer version is now in force.
    Updated {
        /// Version replaced.
        from: u64,
        /// Version now in force.
        to: u64,
    },
    /// The file holds the list already in force.
    Unchanged(u64),
}

impl TrustStore {
    /// Reads and verifies `path` at start. Fails if the list does not verify or has expired.
    pub fn open(
        path: &std::path::Path,
        root: crate::signed_note::VerifierKey,
        now: DateTime<Utc>,
    ) -> Result<Self, TrustError> {
        let list = verify_trust_list(&read(path)?, &root, now)?;
        tracing::info!(
            version = list.version,
            members = list.members.len(),
            "trust list loaded"
        );
        Ok(TrustStore {
            root,
            path: path.to_owned(),
            state: None,
            current: std::sync::RwLock::new(std::sync::Arc::new(list)),
        })
    }

    /// Like [`TrustStore::open`], and also remembers the highest version ever accepted in
    /// `state` (a small file in the gateway's data directory), so that a gateway restarted with
    /// an older `federation.json` refuses it ([`TrustError::OlderThanAccepted`]) instead of
    /// silently rolling back. The same version with other content is refused too.
    pub fn open_persistent(
        path: &std::path::Path,
        root: crate::signed_note::VerifierKey,
        now: DateTime<Utc>,
        state: &std::path::Path,
    ) -> Result<Self, TrustError> {
        let mut store = Self::open(path, root, now)?;
        let list = store.current();
        let digest = list_digest(&list)?;
        match read_accepted(state)? {
            Some((accepted, _)) if list.version < accepted => {
                return Err(TrustError::OlderThanAccepted {
                    offered: list.version,
                    accepted,
                    path: path.to_owned(),
                    state: state.to_owned(),
                });
            }
            Some((accepted, d)) if list.version == accepted && d != digest => {
                return Err(TrustError::NotNewer {
                    offered: list.version,
                    current: accepted,
                });
            }
            Some((accepted, _)) if list.version == accepted => {}
            _ => write_accepted(state, list.version, &digest)?,
        }
        store.state = Some(state.to_owned());
        Ok(store)
    }

    /// The list in force.
    pub fn current(&self) -> std::sync::Arc<TrustList> {
        match self.current.read() {
            Ok(g) => std::sync::Arc::clone(&g),
            // A writer panicked mid-swap; the Arc inside is still a complete list.
            Err(poisoned) => std::sync::Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the file. Refuses (keeping the current list) a list that does not verify, has
    /// expired, or has a lower version, or the same version with different content.
    pub fn reload(&self, now: DateTime<Utc>) -> Result<Reloaded, TrustError> {
        let result = read(&self.path).and_then(|text| self.offer(&text, now));
        if let Err(e) = &result {
            tracing::warn!(error = %e, "trust list reload refused; keeping the last good list");
        }
        result
    }

    /// Offers a signed list (as text) to the store, with the same rules as [`TrustStore::reload`].
    pub fn offer(&self, text: &str, now: DateTime<Utc>) -> Result<Reloaded, TrustError> {
        let list = verify_trust_list(text, &self.root, now)?;
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let current = guard.version;
        if list.version == current && list == **guard {
            return Ok(Reloaded::Unchanged(current));
        }
        if list.version <= current {
            return Err(TrustError::NotNewer {
                offered: list.version,
                current,
            });
        }
        let to = list.version;
        if let Some(state) = &self.state {
            // Recorded before it takes effect: a crash in between re-reads the same file.
            write_accepted(state, to, &list_digest(&list)?)?;
        }
        *guard = std::sync::Arc::new(list);
        tracing::info!(from = current, to, "trust list updated");
        Ok(Reloaded::Updated { from: current, to })
    }
}

const ACCEPTED_MAGIC: &str = "pes-trust-accepted/v1";

/// SHA-256 (hex) of the list's canonical JSON, to tell two lists of one version apart.
fn list_digest(list: &TrustList) -> Result<String, TrustError> {
    let bytes = serde_json::to_vec(list).map_err(|e| TrustError::Invalid(e.to_string()))?;
    Ok(hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &bytes,
    )))
}

/// Reads `(version, digest)` from the state file; `None` if there is none yet.
fn read_accepted(state: &std::path::Path) -> Result<Option<(u64, String)>, TrustError> {
    let text = match std::fs::read_to_string(state) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(TrustError::State {
                path: state.to_owned(),
                detail: e.to_string(),
            })
        }
    };
    let corrupt = || TrustError::State {
        path: state.to_owned(),
        detail: "unreadable (expected the magic line, `version N` and `sha256 HEX`)".into(),
    };
    let mut lines = text.lines();
    if lines.next() != Some(ACCEPTED_MAGIC) {
        return Err(corrupt());
    }
    let version = lines
        .next()
        .and_then(|l| l.strip_prefix("version "))
        .and_then(|v| v.parse().ok())
        .ok_or_else(corrupt)?;
    let digest = lines
        .next()
        .and_then(|l| l.strip_prefix("sha256 "))
        .ok_or_else(corrupt)?
        .to_owned();
    Ok(Some((version, digest)))
}

fn write_accepted(state: &std::path::Path, version: u64, digest: &str) -> Result<(), TrustError> {
    let err = |detail: String| TrustError::State {
        path: state.to_owned(),
        detail,
    };
    let dir = state
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = state
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err("no file name".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    let text = format!("{ACCEPTED_MAGIC}\nversion {version}\nsha256 {digest}\n");
    crate::audit::publish::write_atomic(dir, name, text.as_bytes()).map_err(|e| err(e.to_string()))
}

fn read(path: &std::path::Path) -> Result<String, TrustError> {
    std::fs::read_to_string(path).map_err(|source| TrustError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A draft trust list from a development PKI's `index.json`: each member gets the pins of its
/// unrevoked certificates and its signing key (valid from `now` for `validity`), and a default
/// policy (the datasets and purposes given, no protected fields, k = 5).
pub fn draft_from_pki(
    index: &pes_certs::PkiIndex,
    members: &[(String, String, String)],
    version: u64,
    now: DateTime<Utc>,
    validity: chrono::Duration,
    datasets: &[String],
    purposes: &[String],
) -> Result<TrustList, TrustError> {
    let mut out = Vec::new();
    for (region, name, url) in members {
        let spki_pins: Vec<String> = index
            .for_region(region)
            .filter(|c| c.revoked_at.is_none())
            .map(|c| c.spki_pin.clone())
            .collect();
        if spki_pins.is_empty() {
            return Err(TrustError::Invalid(format!(
                "no certificate for region {region} in the PKI"
            )));
        }
        let signing_keys = index
            .signing_keys
            .iter()
            .filter(|k| &k.region == region)
            .map(|k| MemberKey {
                kid: k.kid.clone(),
                public_key: k.public_key.clone(),
                not_before: now - chrono::Duration::minutes(5),
                not_after: now + validity,
            })
            .collect();
        out.push(Member {
            region: region.clone(),
            name: name.clone(),
            url: url.clone(),
            spki_pins,
            signing_keys,
            log_key: None,
        });
    }
    let policies = out
        .iter()
        .map(|m| CallerPolicy {
            caller: m.region.clone(),
            datasets: datasets.to_vec(),
            purposes: purposes.to_vec(),
            protected_fields: Vec::new(),
            k: default_k(),
        })
        .collect();
    let list = TrustList {
        format: TRUST_LIST_FORMAT.into(),
        version,
        issued_at: now,
        expires_at: now + validity,
        members: out,
        policies,
        witnesses: Vec::new(),
    };
    list.check()?;
    Ok(list)
}
