//! C2SP tlog-proof receipts (`audit::receipt`): parsing, and verification against the log key.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use pes_gateway::audit::checkpoint::Checkpoint;
use pes_gateway::audit::merkle::{self, Hash};
use pes_gateway::audit::receipt::{self, ReceiptError};
use proptest::prelude::*;

use crate::fixture::{self, log_key, text, witness_key};
use crate::mutate::{self, apply, mutated};
use crate::notes::{check_checkpoint, NOTE_DICT};

/// RFC 6962 Merkle tree hash of `leaves`.
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            merkle::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// Inclusion proof of leaf `index` among `leaves`.
pub fn proof(leaves: &[Hash], index: u64) -> Vec<Hash> {
    merkle::inclusion_proof(index, leaves.len() as u64, &mut |l, i| {
        let s = (i << l) as usize;
        Ok::<_, ()>(mth(&leaves[s..s + (1 << l)]))
    })
    .unwrap()
}

/// A signed, cosigned receipt for entry `index` of `entries`, carrying the entry.
pub fn make_receipt(entries: &[Vec<u8>], index: usize, ts: u64) -> String {
    let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let c = Checkpoint {
        origin: log_key().name().into(),
        size: leaves.len() as u64,
        root: mth(&leaves),
    };
    let mut cp = c.sign(log_key()).unwrap();
    cp.push_str(&witness_key().signature_line(&c.body(), ts));
    receipt::format(
        index as u64,
        &proof(&leaves, index as u64),
        &cp,
        Some(&entries[index]),
    )
}

/// (index, entry, checkpoint body) of every signed receipt seed: all that may ever verify.
fn issued() -> &'static BTreeSet<(u64, Vec<u8>, String)> {
    static I: OnceLock<BTreeSet<(u64, Vec<u8>, String)>> = OnceLock::new();
    I.get_or_init(|| {
        fixture::signed_seeds("receipt")
            .map(|s| {
                let (r, vc) =
                    receipt::verify_with_extra(&text(&s.bytes), log_key().verifier(), &[], 0)
                        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
                (r.index, r.extra.unwrap(), vc.note.body)
            })
            .collect()
    })
}

fn check_receipt(input: &str) {
    if let Ok(r) = receipt::parse(input) {
        let again = receipt::format(r.index, &r.proof, &r.checkpoint, r.extra.as_deref());
        assert_eq!(again, input, "accepted receipt text is not canonical");
        check_checkpoint(&r.checkpoint);
    }
    let witnesses = [witness_key().verifier().clone()];
    for min in [0, 1] {
        if let Ok((r, vc)) =
            receipt::verify_with_extra(input, log_key().verifier(), &witnesses, min)
        {
            let key = (r.index, r.extra.clone().unwrap(), vc.note.body.clone());
            assert!(
                issued().contains(&key),
                "forged receipt verified: {input:?}"
            );
            assert!(vc.cosignatures.len() >= min);
        }
    }
    // Verified against an entry given apart, only the entry issued at that index verifies.
    for (_, entry, _) in issued() {
        if let Ok((r, vc)) = receipt::verify(input, entry, log_key().verifier(), &[], 0) {
            let key = (r.index, entry.clone(), vc.note.body);
            assert!(issued().contains(&key), "receipt verified another entry");
        }
    }
}

#[test]
fn receipt_seeds_and_prefixes() {
    fixture::every_prefix("receipt", |b| check_receipt(&text(b)));
}

#[test]
fn receipt_seeds_verify() {
    assert!(!issued().is_empty());
}

fn entries() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 1..70)
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn receipt_mutated((seed, muts) in mutated(fixture::corpus("receipt").len(), NOTE_DICT.len())) {
        let seeds = fixture::corpus("receipt");
        check_receipt(&text(&apply(&seeds[seed].bytes, &muts, NOTE_DICT, seeds)));
    }

    /// A receipt for any entry of any log verifies, and only for that entry at that index:
    /// another index, entry, proof hash or proof length is refused.
    #[test]
    fn receipts_prove_exactly_their_entry(
        entries in entries(),
        at in any::<usize>(),
        other in any::<usize>(),
        ts in 0u64..=i64::MAX as u64,
        flip in (any::<usize>(), 0u8..8),
    ) {
        let index = at % entries.len();
        let text = make_receipt(&entries, index, ts);
        let w = [witness_key().verifier().clone()];
        let (r, vc) = receipt::verify_with_extra(&text, log_key().verifier(), &w, 1).unwrap();
        prop_assert_eq!(r.index as usize, index);
        prop_assert_eq!(vc.cosignatures.len(), 1);
        prop_assert_eq!(receipt::parse(&text), Ok(r.clone()));

        let j = other % entries.len();
        if entries[j] != entries[index] {
            prop_assert!(receipt::verify(&text, &entries[j], log_key().verifier(), &[], 0).is_err());
        }
        let reindexed = receipt::format(other as u64, &r.proof, &r.checkpoint, r.extra.as_deref());
        if other != index {
            prop_assert!(receipt::verify_with_extra(&reindexed, log_key().verifier(), &[], 0).is_err());
        }
        if !r.proof.is_empty() {
            let mut bad = r.proof.clone();
            let k = flip.0 % bad.len();
            bad[k][flip.0 % 32] ^= 1 << flip.1;
            let t = receipt::format(r.index, &bad, &r.checkpoint, r.extra.as_deref());
            let flipped = receipt::verify_with_extra(&t, log_key().verifier(), &[], 0);
            prop_assert!(matches!(flipped, Err(ReceiptError::Proof(_))), "{:?}", flipped);
            let short = receipt::format(r.index, &r.proof[1..], &r.checkpoint, r.extra.as_deref());
            prop_assert!(receipt::verify_with_extra(&short, log_key().verifier(), &[], 0).is_err());
        }
        let mut long = r.proof.clone();
        long.push([0; 32]);
        let t = receipt::format(r.index, &long, &r.checkpoint, r.extra.as_deref());
        prop_assert!(receipt::verify_with_extra(&t, log_key().verifier(), &[], 0).is_err());
        let two = receipt::verify_with_extra(&text, log_key().verifier(), &w, 2);
        prop_assert!(matches!(two, Err(ReceiptError::Cosignatures { have: 1, need: 2 })), "{:?}", two);
    }
}
