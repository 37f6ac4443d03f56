//! Key material of a gateway: generation (`pesgw init`), loading, and the AES-256-GCM data key.
//!
//! - Ed25519 signing key: signed-note private key text (its name is the audit log origin).
//! - JWT issuer key: PKCS#8 v2 DER file (ring).
//! - AES-256 data key: 32 raw bytes; seals protected fields and quarantined rows with the record
//!   (or row) id as additional authenticated data.
//! - JWKS: the public JWT keys accepted by this gateway, pinned by `kid`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use crate::config::{AuditSettings, GatewayConfig, KeyFiles, Limits, SourceConfig, StoreTuning};

/// A key problem (operator's fault: missing or malformed key file), or a sealed value that does
/// not open (tampered data or the wrong key).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file holds something that is not a key of the expected kind.
    #[error("key file {path}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
    /// A sealed value failed authentication (tampered, or sealed under another id or key).
    #[error("sealed data failed authentication")]
    Unseal,
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a secret: readable by the gateway's user only (0600).
fn write(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    write_with_mode(path, bytes, 0o600)
}

/// Writes public material (the JWKS that token verifiers and peers fetch): world-readable (0644).
fn write_public(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    write_with_mode(path, bytes, 0o644)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    std::fs::write(path, bytes).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perm = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(path, perm).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// Generates a new Ed25519 key pair as PKCS#8 v2 DER.
pub fn generate_ed25519() -> Result<Vec<u8>, KeyError> {
    let rng = SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?;
    Ok(doc.as_ref().to_vec())
}

/// Loads an Ed25519 key pair from a PKCS#8 DER file.
pub fn load_ed25519(path: &Path) -> Result<Ed25519KeyPair, KeyError> {
    let der = read(path)?;
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| KeyError::Malformed {
        path: path.to_path_buf(),
        problem: format!("not an Ed25519 PKCS#8 key: {e}"),
    })
}

/// The `kid` of an Ed25519 public key: base64url of the first 8 bytes of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..8])
}

/// A JSON Web Key Set of Ed25519 (OKP) keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One Ed25519 public key in JWK form (RFC 8037).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// Key id.
    pub kid: String,
    /// base64url public key.
    pub x: String,
    /// `EdDSA`.
    #[serde(default)]
    pub alg: Option<String>,
    /// `sig`.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The JWK of an Ed25519 public key.
    pub fn ed25519(public_key: &[u8]) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            kid: key_id(public_key),
            x: URL_SAFE_NO_PAD.encode(public_key),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }
}

impl Jwks {
    /// Reads a JWKS file.
    pub fn load(path: &Path) -> Result<Jwks, KeyError> {
        let bytes = read(path)?;
        serde_json::from_slice(&bytes).map_err(|e| KeyError::Malformed {
            path: path.to_path_buf(),
            problem: format!("not a JWKS: {e}"),
        })
    }
}

/// The AES-256-GCM key that seals protected fields and quarantined rows at rest.
pub struct DataKey {
    key: LessSafeKey,
    /// Random per-process nonce prefix; with the counter it keeps nonces unique without a
    /// system call per record.
    prefix: [u8; 4],
    counter: AtomicU64,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// Builds the key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<DataKey, KeyError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KeyError::Malformed {
            path: PathBuf::from("(data key)"),
            problem: "an AES-256 key is 32 bytes".into(),
        })?;
        let mut prefix = [0u8; 4];
        SystemRandom::new()
            .fill(&mut prefix)
            .map_err(|_| KeyError::Random)?;
        Ok(DataKey {
            key: LessSafeKey::new(unbound),
            prefix,
            counter: AtomicU64::new(0),
        })
    }

    /// Loads the key from a file of 32 raw bytes.
    pub fn load(path: &Path) -> Result<DataKey, KeyError> {
        let bytes = read(path)?;
        if bytes.len() != 32 {
            return Err(KeyError::Malformed {
                path: path.to_path_buf(),
                problem: "an AES-256 key is 32 bytes".into(),
            });
        }
        DataKey::from_bytes(&bytes)
    }

    /// Seals `plaintext` bound to `aad`, appending `nonce || ciphertext || tag` to `out`.
    pub fn seal_into(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), KeyError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..4].copy_from_slice(&self.prefix);
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let mut body = out.split_off(start);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| KeyError::Unseal)?;
        out.extend_from_slice(&body);
        Ok(())
    }

    /// Seals `plaintext` bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut out = Vec::with_capacity(plaintext.len() + NONCE_LEN + 16);
        self.seal_into(aad, plaintext, &mut out)?;
        Ok(out)
    }

    /// Opens a value sealed by [`DataKey::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(KeyError::Unseal);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Unseal)?;
        let mut buf = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| KeyError::Unseal)?;
        let len = plain.len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// What `pesgw init` wrote.
#[derive(Debug)]
pub struct InitOutcome {
    /// The config file.
    pub config_path: PathBuf,
    /// `kid` of the JWT issuer key.
    pub jwt_kid: String,
}

/// Writes a working `gateway.toml` and fresh keys into `dir` for `region`, the linkage key
/// included (see [`init_with_linkage`]).
pub fn init(dir: &Path, region: &str, listen: &str) -> Result<InitOutcome, KeyError> {
    init_with_linkage(dir, region, listen, None)
}

/// Length of a linkage key in bytes.
pub const LINKAGE_KEY_LEN: usize = 32;

/// Reads a federation linkage key file and checks it is [`LINKAGE_KEY_LEN`] raw bytes.
pub fn read_linkage_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    let bytes = read(path)?;
    if bytes.len() != LINKAGE_KEY_LEN {
        return Err(KeyError::Malformed {
            path: path.to_path_buf(),
            problem: format!(
                "a linkage key is {LINKAGE_KEY_LEN} raw bytes, this file has {}",
                bytes.len()
            ),
        });
    }
    Ok(bytes)
}

/// Writes a new random linkage key to `path` (mode 0600); refuses to replace an existing file,
/// since every person key of a federation depends on it.
pub fn write_new_linkage_key(path: &Path) -> Result<(), KeyError> {
    let mut key = [0u8; LINKAGE_KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| KeyError::Random)?;
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    std::io::Write::write_all(&mut f, &key).map_err(io)?;
    f.sync_all().map_err(io)
}

/// The marker `pesgw init` writes beside a linkage key it generated itself:
/// `<linkage key file>.fresh`, holding the key's SHA-256. While the key file still has that
/// digest, the gateway holds a key of its own rather than the federation's shared one.
pub fn fresh_linkage_marker(linkage_key: &Path) -> PathBuf {
    let mut name = linkage_key.as_os_str().to_owned();
    name.push(".fresh");
    PathBuf::from(name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// Whether the linkage key at `linkage_key` is still the one `pesgw init` generated for this
/// gateway alone (its marker names the key's current digest). A key supplied with
/// `init --linkage-key-file`, or copied over the generated one later, is not fresh.
pub fn linkage_key_is_fresh(linkage_key: &Path) -> bool {
    let Ok(marker) = std::fs::read_to_string(fresh_linkage_marker(linkage_key)) else {
        return false;
    };
    let Ok(key) = std::fs::read(linkage_key) else {
        return false;
    };
    let digest = sha256_hex(&key);
    marker
        .lines()
        .filter_map(|l| l.strip_prefix("sha256 "))
        .any(|d| d.trim() == digest)
}

/// Writes a working `gateway.toml` and fresh keys into `dir` for `region`. The linkage key is
/// copied from `linkage` (the federation's shared key) when given; otherwise a fresh one is
/// generated and marked as such ([`fresh_linkage_marker`]), so `pesgw serve` can warn when a
/// federation member still holds it.
pub fn init_with_linkage(
    dir: &Path,
    region: &str,
    listen: &str,
    linkage: Option<&Path>,
) -> Result<InitOutcome, KeyError> {
    // Read the shared key before writing anything, so a wrong path leaves no half-made dir.
    let shared = linkage.map(read_linkage_key).transpose()?;
    let io = |source| KeyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir.join("keys")).map_err(io)?;
    // The gateway's Ed25519 signing key, in signed-note form: its name is the audit log origin.
    // `SigningKey::parse` splits on '+', which standard base64 may contain: draw again until the
    // text form reads back (a '+'-free encoding happens in a few tries).
    let signing_text = (0..256)
        .find_map(|_| {
            let k = crate::signed_note::SigningKey::generate(
                &format!("pes.example/{region}"),
                crate::signed_note::KeyType::Ed25519,
            )
            .ok()?;
            let text = k.to_private_text();
            crate::signed_note::SigningKey::parse(&text)
                .ok()
                .map(|_| text)
        })
        .ok_or(KeyError::Random)?;
    write(&dir.join("keys/signing.key"), signing_text.as_bytes())?;
    let mut data_key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut data_key)
        .map_err(|_| KeyError::Random)?;
    write(&dir.join("keys/data.key"), &data_key)?;
    let linkage_path = dir.join("keys/linkage.key");
    let marker = fresh_linkage_marker(&linkage_path);
    match shared {
        Some(key) => {
            write(&linkage_path, &key)?;
            // A marker left by an earlier init of this directory no longer applies.
            let _ = std::fs::remove_file(&marker);
        }
        None => {
            let mut key = [0u8; LINKAGE_KEY_LEN];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| KeyError::Random)?;
            write(&linkage_path, &key)?;
            let text = format!(
                "# Written by `pesgw init`: keys/linkage.key was generated for this gateway alone.\n\
                 # Every gateway of a federation must hold the federation's shared linkage key\n\
                 # (`pesgw init --linkage-key-file`, or copy it over keys/linkage.key); while the\n\
                 # key still has this digest, `pesgw serve` with [federation] warns at start.\n\
                 sha256 {}\n",
                sha256_hex(&key)
            );
            std::fs::write(&marker, text).map_err(|source| KeyError::Io {
                path: marker.clone(),
                source,
            })?;
        }
    }
    let jwt = generate_ed25519()?;
    write(&dir.join("keys/jwt-issuer.pk8"), &jwt)?;
    let pair = Ed25519KeyPair::from_pkcs8(&jwt).map_err(|_| KeyError::Random)?;
    let jwk = Jwk::ed25519(pair.public_key().as_ref());
    let jwt_kid = jwk.kid.clone();
    let jwks = Jwks { keys: vec![jwk] };
    let jwks_json = serde_json::to_vec_pretty(&jwks).map_err(|e| KeyError::Malformed {
        path: dir.join("keys/jwks.json"),
        problem: e.to_string(),
    })?;
    write_public(&dir.join("keys/jwks.json"), &jwks_json)?;
    let mut sources = std::collections::BTreeMap::new();
    sources.insert(
        "native".to_string(),
        SourceConfig {
            mapping: "native".into(),
            pushers: vec![],
        },
    );
    let cfg = GatewayConfig {
        region: region.to_string(),
        listen: listen.to_string(),
        data_dir: PathBuf::from("data"),
        keys: KeyFiles {
            signing_key: PathBuf::from("keys/signing.key"),
            data_key: PathBuf::from("keys/data.key"),
            jwt_issuer_key: PathBuf::from("keys/jwt-issuer.pk8"),
            jwks: PathBuf::from("keys/jwks.json"),
            linkage_key: PathBuf::from("keys/linkage.key"),
        },
        sources,
        limits: Limits::default(),
        store: StoreTuning::default(),
        k: 5,
        audit: AuditSettings::default(),
        lifecycle: Default::default(),
        federation: None,
        ui: Default::default(),
        search: Default::default(),
    };
    let config_path = dir.join("gateway.toml");
    let text = cfg.to_toml().map_err(|e| KeyError::Malformed {
        path: config_path.clone(),
        problem: e.to_string(),
    })?;
    std::fs::write(&config_path, text).map_err(|source| KeyError::Io {
        path: config_path.clone(),
        source,
    })?;
    Ok(InitOutcome {
        config_path,
        jwt_kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_only_with_the_same_aad() {
        let key = DataKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = key.seal(b"440000:gd-hr:1", b"secret").unwrap();
        assert_eq!(key.open(b"440000:gd-hr:1", &sealed).unwrap(), b"secret");
        assert!(key.open(b"440000:gd-hr:2", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(key.open(b"440000:gd-hr:1", &tampered).is_err());
    }

    #[test]
    fn nonces_differ_between_seals() {
        let key = DataKey::from_bytes(&[7u8; 32]).unwrap();
        let a = key.seal(b"a", b"x").unwrap();
        let b = key.seal(b"a", b"x").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn init_writes_a_config_that_loads() {
        let dir = tempfile::tempdir().unwrap();
        let out = init(dir.path(), "440000", "127.0.0.1:0").unwrap();
        let cfg = GatewayConfig::load(&out.config_path).unwrap();
        assert_eq!(cfg.region, "440000");
        let jwks = Jwks::load(&cfg.keys.jwks).unwrap();
        assert_eq!(jwks.keys[0].kid, out.jwt_kid);
        let text = std::fs::read_to_string(&cfg.keys.signing_key).unwrap();
        crate::signed_note::SigningKey::parse(&text).unwrap();
        DataKey::load(&cfg.keys.data_key).unwrap();
    }

    /// Secrets are the gateway user's alone; the JWKS is public and readable by all.
    #[cfg(unix)]
    #[test]
    fn init_writes_secrets_private_and_the_jwks_public() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), "440000", "127.0.0.1:0").unwrap();
        let mode = |f: &str| {
            std::fs::metadata(dir.path().join("keys").join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        for secret in ["signing.key", "data.key", "linkage.key", "jwt-issuer.pk8"] {
            assert_eq!(mode(secret), 0o600, "{secret}");
        }
        assert_eq!(mode("jwks.json"), 0o644);
    }

    #[test]
    fn a_generated_linkage_key_is_fresh_until_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let out = init(dir.path(), "440000", "127.0.0.1:0").unwrap();
        let cfg = GatewayConfig::load(&out.config_path).unwrap();
        assert!(linkage_key_is_fresh(&cfg.keys.linkage_key));
        // The operator copies the federation's key over it: no longer fresh.
        std::fs::write(&cfg.keys.linkage_key, [9u8; LINKAGE_KEY_LEN]).unwrap();
        assert!(!linkage_key_is_fresh(&cfg.keys.linkage_key));
    }

    #[test]
    fn a_shared_linkage_key_is_copied_and_not_fresh() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("linkage.key");
        write_new_linkage_key(&shared).unwrap();
        // Never replaced: a second generation into the same file is refused.
        assert!(write_new_linkage_key(&shared).is_err());
        let a = init_with_linkage(
            &tmp.path().join("a"),
            "440000",
            "127.0.0.1:0",
            Some(&shared),
        )
        .unwrap();
        let cfg = GatewayConfig::load(&a.config_path).unwrap();
        assert_eq!(
            std::fs::read(&cfg.keys.linkage_key).unwrap(),
            std::fs::read(&shared).unwrap()
        );
        assert!(!linkage_key_is_fresh(&cfg.keys.linkage_key));
        assert!(!fresh_linkage_marker(&cfg.keys.linkage_key).exists());
        // A file that is not a 32-byte key is refused before anything is written.
        let bad = tmp.path().join("bad.key");
        std::fs::write(&bad, b"short").unwrap();
        let err = init_with_linkage(&tmp.path().join("b"), "440000", "127.0.0.1:0", Some(&bad))
            .unwrap_err();
        assert!(err.to_string().contains("32 raw bytes"), "{err}");
        assert!(!tmp.path().join("b").exists());
    }
}
