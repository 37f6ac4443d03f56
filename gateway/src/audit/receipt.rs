//! Receipts: C2SP `tlog-proof` (<https://c2sp.org/tlog-proof>), an offline-verifiable proof
//! that an entry is in the log, with the signed (and possibly cosigned) checkpoint it is
//! proven against.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <n>
//! <base64 hash>...           inclusion proof, leaf's sibling first
//!
//! <checkpoint note>
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::checkpoint::{verify_checkpoint, CheckpointError, VerifiedCheckpoint};
use super::merkle::{self, Hash, ProofError};
use crate::signed_note::VerifierKey;

const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A parsed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// Entry index.
    pub index: u64,
    /// Inclusion proof.
    pub proof: Vec<Hash>,
    /// The checkpoint note text, verbatim.
    pub checkpoint: String,
}

/// Why a receipt is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Not a tlog-proof.
    #[error("malformed receipt: {0}")]
    Malformed(&'static str),
    /// The checkpoint inside failed.
    #[error("receipt checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("receipt inclusion proof: {0}")]
    Proof(#[from] ProofError),
    /// Fewer witness cosignatures than required.
    #[error("receipt has {have} valid cosignatures, {need} required")]
    Cosignatures {
        /// Valid cosignatures found.
        have: usize,
        /// Required.
        need: usize,
    },
}

/// Formats a receipt.
pub fn format(index: u64, proof: &[Hash], checkpoint: &str, extra: Option<&[u8]>) -> String {
    let mut s = String::with_capacity(256 + proof.len() * 45 + checkpoint.len());
    s.push_str(HEADER);
    s.push('\n');
    if let Some(extra) = extra {
        s.push_str(&format!("extra {}\n", B64.encode(extra)));
    }
    s.push_str(&format!("index {index}\n"));
    for h in proof {
        s.push_str(&B64.encode(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(checkpoint);
    s
}

/// Parses a receipt (the checkpoint is not verified here).
pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
    let (head, checkpoint) = text.split_once("\n\n").ok_or(ReceiptError::Malformed(
        "no blank line before the checkpoint",
    ))?;
    let mut lines = head.split('\n');
    if lines.next() != Some(HEADER) {
        return Err(ReceiptError::Malformed(
            "first line is not c2sp.org/tlog-proof@v1",
        ));
    }
    let mut line = lines
        .next()
        .ok_or(ReceiptError::Malformed("no index line"))?;
    let mut extra = None;
    if let Some(b64) = line.strip_prefix("extra ") {
        extra = Some(
            B64.decode(b64)
                .map_err(|_| ReceiptError::Malformed("extra is not base64"))?,
        );
        line = lines
            .next()
            .ok_or(ReceiptError::Malformed("no index line"))?;
    }
    let idx = line
        .strip_prefix("index ")
        .ok_or(ReceiptError::Malformed("no index line"))?;
    if idx.is_empty()
        || !idx.bytes().all(|b| b.is_ascii_digit())
        || (idx.len() > 1 && idx.starts_with('0'))
    {
        return Err(ReceiptError::Malformed(
            "index is not a decimal without leading zeros",
        ));
    }
    let index = idx
        .parse()
        .map_err(|_| ReceiptError::Malformed("index out of range"))?;
    let mut proof = Vec::new();
    for l in lines {
        if proof.len() >= 64 {
            return Err(ReceiptError::Malformed("proof longer than 64 hashes"));
        }
        let h: Hash =
            B64.decode(l)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or(ReceiptError::Malformed(
                    "proof line is not a base64 SHA-256 hash",
                ))?;
        proof.push(h);
    }
    Ok(Receipt {
        extra,
        index,
        proof,
        checkpoint: checkpoint.to_owned(),
    })
}

/// Verifies a receipt for `entry` (the canonical event bytes): the log's signature on the
/// checkpoint, at least `min_cosignatures` valid cosignatures by `witness_keys`, and the
/// inclusion proof from the entry's leaf hash to the checkpoint root.
pub fn verify(
    text: &str,
    entry: &[u8],
    log_key: &VerifierKey,
    witness_keys: &[VerifierKey],
    min_cosignatures: usize,
) -> Result<(Receipt, VerifiedCheckpoint), ReceiptError> {
    let r = parse(text)?;
    let vc = verify_checkpoint(&r.checkpoint, log_key, witness_keys)?;
    if vc.cosignatures.len() < min_cosignatures {
        return Err(ReceiptError::Cosignatures {
            have: vc.cosignatures.len(),
            need: min_cosignatures,
        });
    }
    merkle::verify_inclusion(
        r.index,
        vc.checkpoint.size,
        &merkle::leaf_hash(entry),
        &r.proof,
        &vc.checkpoint.root,
    )?;
    Ok((r, vc))
}

/// Verifies a self-contained receipt, whose `extra` line carries the entry's canonical bytes.
/// Returns the entry with the receipt.
pub fn verify_with_extra(
    text: &str,
    log_key: &VerifierKey,
    witness_keys: &[VerifierKey],
    min_cosignatures: usize,
) -> Result<(Receipt, VerifiedCheckpoint), ReceiptError> {
    let r = parse(text)?;
    let entry = r.extra.clone().ok_or(ReceiptError::Malformed(
        "receipt carries no entry in its extra line",
    ))?;
    verify(text, &entry, log_key, witness_keys, min_cosignatures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_text_round_trips() {
        let cp = "log\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} log AAAAAAA=\n";
        for extra in [None, Some(&b"ctx"[..])] {
            let text = format(1, &[[1; 32]], cp, extra);
            let r = parse(&text).unwrap();
            assert_eq!(
                r,
                Receipt {
                    extra: extra.map(<[u8]>::to_vec),
                    index: 1,
                    proof: vec![[1; 32]],
                    checkpoint: cp.into()
                }
            );
        }
    }

    #[test]
    fn malformed_receipts_are_refused() {
        for bad in [
            "c2sp.org/tlog-proof@v2\nindex 0\n\nx",
            "c2sp.org/tlog-proof@v1\nindex 01\n\nx",
            "c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\nx",
            "c2sp.org/tlog-proof@v1\n\nx",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
