//! C2SP `tlog-checkpoint` bodies: `<origin>\n<size>\n<base64 root>\n`, signed as a note.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::merkle::Hash;
use crate::signed_note::{Note, NoteError, SigningKey, VerifiedSignature, VerifierKey};

/// The unsigned content of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log origin (the log's signing key name).
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash of the tree of that size.
    pub root: Hash,
}

/// Why a checkpoint could not be read or trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body is not a tlog-checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The note or its signatures failed.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint names a different origin than the key it was checked with.
    #[error("checkpoint origin `{0}` is not the expected log")]
    WrongOrigin(String),
}

impl Checkpoint {
    /// The note body.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (extension lines are allowed and ignored).
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.split_terminator('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(CheckpointError::Malformed("no origin"))?;
        let size_s = lines.next().ok_or(CheckpointError::Malformed("no size"))?;
        if size_s.is_empty()
            || !size_s.bytes().all(|b| b.is_ascii_digit())
            || (size_s.len() > 1 && size_s.starts_with('0'))
        {
            return Err(CheckpointError::Malformed(
                "size is not a decimal without leading zeros",
            ));
        }
        let size = size_s
            .parse()
            .map_err(|_| CheckpointError::Malformed("size out of range"))?;
        let root_s = lines
            .next()
            .ok_or(CheckpointError::Malformed("no root hash"))?;
        let root: Hash = B64
            .decode(root_s)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "root is not a base64 SHA-256 hash",
            ))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Signs the checkpoint with the log key (whose name must be the origin).
    pub fn sign(&self, key: &SigningKey) -> Result<String, CheckpointError> {
        if key.name() != self.origin {
            return Err(CheckpointError::WrongOrigin(self.origin.clone()));
        }
        Ok(key.sign(&self.body())?)
    }
}

/// A checkpoint note whose log signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The checkpoint content.
    pub checkpoint: Checkpoint,
    /// The full note (log signature plus any cosignatures).
    pub note: Note,
    /// Witness cosignatures that verified against the witness keys given.
    pub cosignatures: Vec<VerifiedSignature>,
}

/// Parses a signed checkpoint and verifies the log's signature; the origin must equal the log
/// key's name. Cosignatures by `witness_keys` are verified too (invalid ones fail).
pub fn verify_checkpoint(
    text: &str,
    log_key: &VerifierKey,
    witness_keys: &[VerifierKey],
) -> Result<VerifiedCheckpoint, CheckpointError> {
    let note = Note::parse(text)?;
    let checkpoint = Checkpoint::parse_body(&note.body)?;
    if checkpoint.origin != log_key.name() {
        return Err(CheckpointError::WrongOrigin(checkpoint.origin));
    }
    note.verify(std::slice::from_ref(log_key))?;
    let cosignatures = if witness_keys.is_empty() {
        Vec::new()
    } else {
        match note.verify(witness_keys) {
            Ok(v) => v,
            Err(NoteError::NoTrustedSignature) => Vec::new(),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(VerifiedCheckpoint {
        checkpoint,
        note,
        cosignatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed_note::KeyType;

    #[test]
    fn body_round_trips_and_matches_the_c2sp_layout() {
        let c = Checkpoint {
            origin: "pes.example/440000".into(),
            size: 12,
            root: [7; 32],
        };
        let body = c.body();
        assert_eq!(
            body,
            format!("pes.example/440000\n12\n{}\n", B64.encode([7u8; 32]))
        );
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), c);
    }

    #[test]
    fn bad_bodies_are_refused() {
        let root = B64.encode([0u8; 32]);
        for bad in [
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            "o\n1\nAAAA\n".to_string(),
            "o\n1\n".to_string(),
        ] {
            assert!(Checkpoint::parse_body(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signed_checkpoint_verifies_only_with_the_origin_key() {
        let key = SigningKey::from_seed("log.example", KeyType::Ed25519, [1; 32]).unwrap();
        let other = SigningKey::from_seed("other.example", KeyType::Ed25519, [1; 32]).unwrap();
        let c = Checkpoint {
            origin: "log.example".into(),
            size: 3,
            root: [9; 32],
        };
        let text = c.sign(&key).unwrap();
        assert_eq!(
            verify_checkpoint(&text, key.verifier(), &[])
                .unwrap()
                .checkpoint,
            c
        );
        assert!(matches!(
            verify_checkpoint(&text, other.verifier(), &[]),
            Err(CheckpointError::WrongOrigin(_))
        ));
        assert!(c.sign(&other).is_err());
    }
}
