//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, plus the
//! C2SP `tlog-cosignature` v1 signature type.
//!
//! A note is a UTF-8 text body ending in a newline, a blank line, and one or more signature
//! lines `— <name> base64(keyid[4] || signature)`. The key id binds the key name and type:
//! `SHA-256(name || 0x0A || type || public key)[:4]`, with type `0x01` for plain Ed25519 notes
//! and `0x04` for Ed25519 cosignatures (whose signature is `timestamp[8] || sig[64]` over
//! `"cosignature/v1\ntime <t>\n" || body`). Verifiers match signatures on name **and** key id
//! and ignore signatures from unknown keys.
//!
//! Used by the audit log (checkpoints, cosignatures) and by federation (the signed trust list).

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::digest::{digest, SHA256};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};

/// The em dash (U+2014) that starts every signature line.
pub const SIG_PREFIX: &str = "\u{2014} ";

/// Upper bound on signature lines accepted in one note, against resource exhaustion.
pub const MAX_SIGNATURES: usize = 100;

/// Signature algorithm byte of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `0x01`: Ed25519 over the note body.
    Ed25519,
    /// `0x04`: C2SP tlog-cosignature v1 (timestamped Ed25519).
    Cosignature,
}

impl KeyType {
    fn byte(self) -> u8 {
        match self {
            KeyType::Ed25519 => 0x01,
            KeyType::Cosignature => 0x04,
        }
    }
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(KeyType::Ed25519),
            0x04 => Some(KeyType::Cosignature),
            _ => None,
        }
    }
}

/// Errors from parsing or verifying notes and keys. Notes and keys come from outside, so
/// every variant is the sender's fault unless stated otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note text is not a well-formed signed note.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A key string is not a valid verifier or signing key.
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    /// A known key's signature line did not verify.
    #[error("invalid signature by {0}")]
    InvalidSignature(String),
    /// No signature by any of the given keys was found.
    #[error("note has no verifiable signature from a trusted key")]
    NoTrustedSignature,
    /// Key generation failed (the platform's fault).
    #[error("key generation failed")]
    KeyGen,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// Key id: `SHA-256(name || 0x0A || type || public key)[:4]`.
pub fn key_id(name: &str, kind: KeyType, public: &[u8]) -> [u8; 4] {
    let mut buf = Vec::with_capacity(name.len() + 2 + public.len());
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'\n');
    buf.push(kind.byte());
    buf.extend_from_slice(public);
    let d = digest(&SHA256, &buf);
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

/// A public key that verifies notes, in text form `name+hexkeyid+base64(type||pubkey)`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    kind: KeyType,
    public: [u8; 32],
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.kind.byte());
        raw.extend_from_slice(&self.public);
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(raw)
        )
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        Self::parse(s)
    }
}

impl VerifierKey {
    /// Builds a key from its parts.
    pub fn new(name: &str, kind: KeyType, public: [u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey("key name is empty or has spaces or '+'"));
        }
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, kind, &public),
            kind,
            public,
        })
    }

    /// Parses `name+hexkeyid+base64(type||pubkey)`; the key id must match the key.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        let mut parts = text.rsplitn(3, '+');
        let (Some(b64), Some(hexid), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected name+keyid+key"));
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        let (&kind, public) = raw.split_first().ok_or(NoteError::BadKey("empty key"))?;
        let kind = KeyType::from_byte(kind).ok_or(NoteError::BadKey("unsupported key type"))?;
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 key is not 32 bytes"))?;
        let key = Self::new(name, kind, public)?;
        if hexid.len() != 8 || hex::decode(hexid).ok().as_deref() != Some(&key.id[..]) {
            return Err(NoteError::BadKey("key id does not match name and key"));
        }
        Ok(key)
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Key id (4 bytes).
    pub fn id(&self) -> [u8; 4] {
        self.id
    }
    /// Signature type.
    pub fn kind(&self) -> KeyType {
        self.kind
    }
    /// Raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// Verifies one signature (the bytes after the key id) over `body`. For cosignature keys
    /// returns the signed timestamp.
    fn verify_sig(&self, body: &str, sig: &[u8]) -> Option<Option<u64>> {
        let pk = UnparsedPublicKey::new(&ED25519, &self.public);
        match self.kind {
            KeyType::Ed25519 => {
                (sig.len() == 64 && pk.verify(body.as_bytes(), sig).is_ok()).then_some(None)
            }
            KeyType::Cosignature => {
                if sig.len() != 72 {
                    return None;
                }
                let ts = u64::from_be_bytes(sig[..8].try_into().ok()?);
                if ts > i64::MAX as u64 {
                    return None;
                }
                let msg = cosignature_message(body, ts);
                pk.verify(msg.as_bytes(), &sig[8..])
                    .is_ok()
                    .then_some(Some(ts))
            }
        }
    }
}

fn cosignature_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// A private Ed25519 key with its name, able to sign notes (type 0x01) or cosign (type 0x04).
pub struct SigningKey {
    name: String,
    kind: KeyType,
    seed: [u8; 32],
    pair: Ed25519KeyPair,
    verifier: VerifierKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.verifier)
    }
}

impl SigningKey {
    /// A key from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, kind: KeyType, seed: [u8; 32]) -> Result<Self, NoteError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| NoteError::BadKey("invalid Ed25519 seed"))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 key is not 32 bytes"))?;
        let verifier = VerifierKey::new(name, kind, public)?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            seed,
            pair,
            verifier,
        })
    }

    /// A fresh random key.
    pub fn generate(name: &str, kind: KeyType) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
            .map_err(|_| NoteError::KeyGen)?;
        Self::from_seed(name, kind, seed)
    }

    /// Parses the private key text form `PRIVATE+KEY+name+hexkeyid+base64(type||seed)`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("expected PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.rsplitn(3, '+');
        let (Some(b64), Some(hexid), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected PRIVATE+KEY+name+keyid+key"));
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        let (&kind, seed) = raw.split_first().ok_or(NoteError::BadKey("empty key"))?;
        let kind = KeyType::from_byte(kind).ok_or(NoteError::BadKey("unsupported key type"))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::BadKey("Ed25519 seed is not 32 bytes"))?;
        let key = Self::from_seed(name, kind, seed)?;
        if hex::decode(hexid).ok().as_deref() != Some(&key.verifier.id[..]) {
            return Err(NoteError::BadKey("key id does not match name and key"));
        }
        Ok(key)
    }

    /// The private key text form. Secret: write it only to files with restricted permissions.
    pub fn to_private_text(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.kind.byte());
        raw.extend_from_slice(&self.seed);
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.verifier.id),
            B64.encode(raw)
        )
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Signs `body` and returns one signature line (with trailing newline). For cosignature
    /// keys `timestamp` (POSIX seconds) is signed too; plain keys ignore it.
    pub fn signature_line(&self, body: &str, timestamp: u64) -> String {
        let mut raw = Vec::with_capacity(4 + 72);
        raw.extend_from_slice(&self.verifier.id);
        match self.kind {
            KeyType::Ed25519 => raw.extend_from_slice(self.pair.sign(body.as_bytes()).as_ref()),
            KeyType::Cosignature => {
                raw.extend_from_slice(&timestamp.to_be_bytes());
                let msg = cosignature_message(body, timestamp);
                raw.extend_from_slice(self.pair.sign(msg.as_bytes()).as_ref());
            }
        }
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }

    /// Signs `body` into a complete note: body, blank line, one signature line.
    pub fn sign(&self, body: &str) -> Result<String, NoteError> {
        check_body(body)?;
        Ok(format!("{body}\n{}", self.signature_line(body, 0)))
    }
}

fn check_body(body: &str) -> Result<(), NoteError> {
    if body.is_empty() || !body.ends_with('\n') {
        return Err(NoteError::Malformed(
            "body must be non-empty and end with a newline",
        ));
    }
    if body.starts_with('\n') || body.contains("\n\n") {
        return Err(NoteError::Malformed("body must not contain blank lines"));
    }
    if body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("body contains control characters"));
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name on the line.
    pub name: String,
    /// Key id (first 4 decoded bytes).
    pub id: [u8; 4],
    /// Signature bytes after the key id.
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in the note, with trailing newline.
    pub fn to_line(&self) -> String {
        let mut raw = self.id.to_vec();
        raw.extend_from_slice(&self.sig);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }

    /// Parses one signature line (with or without its trailing newline).
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_suffix('\n')
            .unwrap_or(line)
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::Malformed(
                "signature line must start with U+2014 and a space",
            ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line has no key name"))?;
        if !valid_name(name) {
            return Err(NoteError::Malformed("bad key name in signature line"));
        }
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        let mut id = [0u8; 4];
        id.copy_from_slice(&raw[..4]);
        Ok(Self {
            name: name.to_owned(),
            id,
            sig: raw[4..].to_vec(),
        })
    }
}

/// A parsed signed note. Signatures are not checked until [`Note::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending with a newline.
    pub body: String,
    /// All signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// A signature that verified against a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The key that made it.
    pub key: VerifierKey,
    /// For cosignatures, the signed timestamp.
    pub timestamp: Option<u64>,
}

impl Note {
    /// Parses note text: body, blank line, signature lines each ending in a newline.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let split = text.find("\n\n").ok_or(NoteError::Malformed(
            "no blank line between body and signatures",
        ))?;
        let body = &text[..split + 1];
        check_body(body)?;
        let sigs_text = &text[split + 2..];
        if sigs_text.is_empty() || !sigs_text.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature block must end with a newline",
            ));
        }
        let mut signatures = Vec::new();
        for line in sigs_text.split_terminator('\n') {
            if signatures.len() >= MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Self {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n", self.body);
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
        }
        s
    }

    /// Checks every signature made by one of `keys` (matched on name and key id; others are
    /// ignored). Fails if any such signature is invalid or if none is present.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut ok = Vec::new();
        for sig in &self.signatures {
            let Some(key) = keys.iter().find(|k| k.name == sig.name && k.id == sig.id) else {
                continue;
            };
            match key.verify_sig(&self.body, &sig.sig) {
                Some(timestamp) => {
                    if !ok.iter().any(|v: &VerifiedSignature| v.key == *key) {
                        ok.push(VerifiedSignature {
                            key: key.clone(),
                            timestamp,
                        });
                    }
                }
                None => return Err(NoteError::InvalidSignature(key.name.clone())),
            }
        }
        if ok.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, kind: KeyType, b: u8) -> SigningKey {
        SigningKey::from_seed(name, kind, [b; 32]).unwrap()
    }

    #[test]
    fn key_id_is_sha256_of_name_newline_type_and_key() {
        let k = key("example.com/log", KeyType::Ed25519, 7);
        let mut m = b"example.com/log\n\x01".to_vec();
        m.extend_from_slice(k.verifier().public_key());
        assert_eq!(k.verifier().id(), digest(&SHA256, &m).as_ref()[..4]);
    }

    #[test]
    fn verifier_and_private_keys_round_trip_through_text() {
        for kind in [KeyType::Ed25519, KeyType::Cosignature] {
            let k = key("pes.example/440000", kind, 3);
            let text = k.verifier().to_string();
            assert!(text.starts_with("pes.example/440000+"));
            assert_eq!(VerifierKey::parse(&text).unwrap(), *k.verifier());
            let back = SigningKey::parse(&k.to_private_text()).unwrap();
            assert_eq!(back.verifier(), k.verifier());
        }
    }

    #[test]
    fn verifier_key_with_wrong_id_or_type_is_refused() {
        let k = key("log", KeyType::Ed25519, 1);
        let text = k.verifier().to_string();
        let (name_id, b64) = text.rsplit_once('+').unwrap();
        let wrong_id = format!("log+00000000+{b64}");
        assert!(VerifierKey::parse(&wrong_id).is_err());
        let mut raw = B64.decode(b64).unwrap();
        raw[0] = 0x02;
        assert!(VerifierKey::parse(&format!("{name_id}+{}", B64.encode(raw))).is_err());
    }

    #[test]
    fn signed_note_verifies_and_uses_em_dash() {
        let k = key("log", KeyType::Ed25519, 1);
        let text = k.sign("hello\nworld\n").unwrap();
        assert!(text.contains("\n\n\u{2014} log "));
        let note = Note::parse(&text).unwrap();
        assert_eq!(note.to_text(), text);
        let v = note.verify(&[k.verifier().clone()]).unwrap();
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn tampered_body_or_signature_fails() {
        let k = key("log", KeyType::Ed25519, 1);
        let text = k.sign("hello\n").unwrap();
        let bad = text.replacen("hello", "hellp", 1);
        assert_eq!(
            Note::parse(&bad).unwrap().verify(&[k.verifier().clone()]),
            Err(NoteError::InvalidSignature("log".into()))
        );
        let hyphen = text.replace('\u{2014}', "-");
        assert!(Note::parse(&hyphen).is_err());
    }

    #[test]
    fn keys_match_on_name_and_id_and_unknown_signatures_are_ignored() {
        let log = key("log", KeyType::Ed25519, 1);
        let other = key("other", KeyType::Ed25519, 2);
        let same_name_other_key = key("log", KeyType::Ed25519, 9);
        let mut text = log.sign("b\n").unwrap();
        text.push_str(&other.signature_line("b\n", 0));
        let note = Note::parse(&text).unwrap();
        assert_eq!(note.verify(&[log.verifier().clone()]).unwrap().len(), 1);
        assert_eq!(
            note.verify(&[same_name_other_key.verifier().clone()]),
            Err(NoteError::NoTrustedSignature)
        );
    }

    #[test]
    fn cosignature_signs_header_timestamp_and_body() {
        let w = key("witness.example/w1", KeyType::Cosignature, 5);
        let log = key("log", KeyType::Ed25519, 1);
        let mut text = log.sign("log\n5\nAAAA\n").unwrap();
        text.push_str(&w.signature_line("log\n5\nAAAA\n", 1_679_315_147));
        let note = Note::parse(&text).unwrap();
        let v = note.verify(&[w.verifier().clone()]).unwrap();
        assert_eq!(v[0].timestamp, Some(1_679_315_147));
        // The raw signature is over the cosignature/v1 message, not the bare body.
        let raw = &note.signatures[1].sig;
        assert_eq!(raw.len(), 72);
        let pk = UnparsedPublicKey::new(&ED25519, w.verifier().public_key());
        assert!(pk
            .verify(
                b"cosignature/v1\ntime 1679315147\nlog\n5\nAAAA\n",
                &raw[8..]
            )
            .is_ok());
    }

    #[test]
    fn malformed_notes_are_refused() {
        for bad in [
            "",
            "body\n",
            "body\n\n",
            "body\n\nnot a sig\n",
            "\n\n\u{2014} a AAAAAAA=\n",
        ] {
            assert!(Note::parse(bad).is_err(), "{bad:?}");
        }
    }
}
