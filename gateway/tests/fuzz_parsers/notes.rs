//! C2SP signed notes and their keys (`signed_note`), and tlog checkpoints
//! (`audit::checkpoint`).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use pes_gateway::audit::checkpoint::{verify_checkpoint, Checkpoint};
use pes_gateway::signed_note::{
    key_id, KeyType, Note, NoteError, NoteSignature, SigningKey, VerifierKey,
};
use proptest::prelude::*;

use crate::fixture::{self, impostor_key, log_key, text, witness_key};
use crate::mutate::{self, apply, mutated};

pub const NOTE_DICT: &[&[u8]] = &[
    b"\xe2\x80\x94 ",
    b"\xe2\x80\x94 fuzz.example/log ",
    b"\xe2\x80\x94 fuzz.example/witness ",
    b"\n\n",
    b"+",
    b"PRIVATE+KEY+",
    b"fuzz.example/log+",
    b"=",
    b"==",
    b"AAAA",
    b"\n18446744073709551615\n",
    b"\n18446744073709551616\n",
    b"\n0\n",
    b"\n01\n",
];

/// The golden audit log fixture's checkpoints and key (`tests/fixtures/audit-golden`).
pub fn golden() -> &'static (VerifierKey, Vec<String>) {
    static G: OnceLock<(VerifierKey, Vec<String>)> = OnceLock::new();
    G.get_or_init(|| {
        use base64::Engine as _;
        let dir = std::path::Path::new(fixture::CRATE_DIR).join("tests/fixtures/audit-golden");
        let vkey = std::fs::read_to_string(dir.join("log.vkey")).unwrap();
        let notes = std::fs::read_to_string(dir.join("checkpoints.txt"))
            .unwrap()
            .lines()
            .map(|l| {
                let b64 = l.split_once(' ').unwrap().1;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                String::from_utf8(bytes).unwrap()
            })
            .collect();
        (VerifierKey::parse(&vkey).unwrap(), notes)
    })
}

/// Every note in the seeds of the note, checkpoint, receipt and trust-list corpora, and the
/// golden checkpoints: the only notes any key here ever signed.
fn signed_notes() -> &'static Vec<Note> {
    static N: OnceLock<Vec<Note>> = OnceLock::new();
    N.get_or_init(|| {
        let mut texts: Vec<String> = golden().1.clone();
        for target in ["signed_note", "checkpoint", "trust_list", "receipt"] {
            for s in fixture::corpus(target) {
                let t = text(&s.bytes);
                // A receipt's checkpoint follows its first blank line.
                if let Some((_, cp)) = t.split_once("\n\n").filter(|_| target == "receipt") {
                    texts.push(cp.to_owned());
                }
                texts.push(t);
            }
        }
        // One note per signature line, so a seed with too many lines still counts.
        texts
            .iter()
            .filter_map(|t| t.split_once("\n\n"))
            .flat_map(|(body, sigs)| sigs.lines().map(move |line| format!("{body}\n\n{line}\n")))
            .filter_map(|t| Note::parse(&t).ok())
            .collect()
    })
}

/// Signed bodies, with the cosignature timestamp for cosigning keys.
type Signed = BTreeSet<(String, Option<u64>)>;

/// The bodies `key` signed.
fn signed_by(key: &VerifierKey) -> Signed {
    signed_notes()
        .iter()
        .filter_map(|n| n.verify(std::slice::from_ref(key)).ok().map(|v| (n, v)))
        .flat_map(|(n, v)| v.into_iter().map(|s| (n.body.clone(), s.timestamp)))
        .collect()
}

/// Every key here: the log, the witness, the golden log, and an impostor with the log's name.
fn keys() -> Vec<VerifierKey> {
    vec![
        log_key().verifier().clone(),
        witness_key().verifier().clone(),
        golden().0.clone(),
        impostor_key().verifier().clone(),
    ]
}

/// The signed bodies per key, computed once.
fn signed_sets() -> &'static Vec<(VerifierKey, Signed)> {
    static S: OnceLock<Vec<(VerifierKey, Signed)>> = OnceLock::new();
    S.get_or_init(|| {
        keys()
            .into_iter()
            .map(|k| (k.clone(), signed_by(&k)))
            .collect()
    })
}

/// Note properties: what parses is canonical, and nothing verifies that a key did not sign
/// (the impostor, which has the log's name, verifies only its own notes).
pub fn check_note(input: &str) {
    let Ok(note) = Note::parse(input) else {
        return;
    };
    assert_eq!(note.to_text(), input, "accepted note text is not canonical");
    for sig in &note.signatures {
        assert_eq!(NoteSignature::parse_line(&sig.to_line()).as_ref(), Ok(sig));
    }
    for (key, signed) in signed_sets() {
        if let Ok(v) = note.verify(std::slice::from_ref(key)) {
            for s in v {
                assert!(
                    signed.contains(&(note.body.clone(), s.timestamp)),
                    "forged note verified by {key:?}: {input:?}"
                );
            }
        }
    }
}

/// Checkpoint properties: a parsed body serialises back to what it means, and a checkpoint
/// verifies only as one its log signed.
pub fn check_checkpoint(input: &str) {
    if let Ok(note) = Note::parse(input) {
        if let Ok(c) = Checkpoint::parse_body(&note.body) {
            assert_eq!(Checkpoint::parse_body(&c.body()), Ok(c.clone()));
            assert_eq!(c.body().matches('\n').count(), 3);
        }
    }
    let witnesses = [witness_key().verifier().clone()];
    for log in [log_key().verifier(), &golden().0, impostor_key().verifier()] {
        if let Ok(vc) = verify_checkpoint(input, log, &witnesses) {
            assert_eq!(vc.checkpoint.origin, log.name());
            let signed = &signed_sets().iter().find(|(k, _)| k == log).unwrap().1;
            assert!(
                signed.contains(&(vc.note.body.clone(), None)),
                "forged checkpoint verified: {input:?}"
            );
            assert_eq!(
                Checkpoint::parse_body(&vc.note.body),
                Ok(vc.checkpoint.clone())
            );
            let cosigned = &signed_sets()[1].1;
            for c in &vc.cosignatures {
                assert!(cosigned.contains(&(vc.note.body.clone(), c.timestamp)));
            }
        }
    }
}

fn check_key(input: &str) {
    if let Ok(k) = VerifierKey::parse(input) {
        assert_eq!(k.id(), key_id(k.name(), k.kind(), k.public_key()));
        assert_eq!(VerifierKey::parse(&k.to_string()).as_ref(), Ok(&k));
        assert!(!k.name().is_empty() && !k.name().contains(['+', ' ', '\n']));
    }
    if let Ok(k) = SigningKey::parse(input) {
        let back = SigningKey::parse(&k.to_private_text()).unwrap();
        assert_eq!(back.verifier(), k.verifier());
    }
}

#[test]
fn signed_note_seeds_and_prefixes() {
    fixture::every_prefix("signed_note", |b| check_note(&text(b)));
}

#[test]
fn note_key_seeds_and_prefixes() {
    fixture::every_prefix("note_key", |b| check_key(&text(b)));
}

#[test]
fn checkpoint_seeds_and_prefixes() {
    fixture::every_prefix("checkpoint", |b| check_checkpoint(&text(b)));
}

#[test]
fn signed_note_and_checkpoint_seeds_verify() {
    for s in fixture::signed_seeds("signed_note") {
        let n = Note::parse(&text(&s.bytes)).unwrap();
        n.verify(&keys())
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
    for s in fixture::signed_seeds("checkpoint") {
        verify_checkpoint(&text(&s.bytes), log_key().verifier(), &[])
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
    for g in &golden().1 {
        verify_checkpoint(g, &golden().0, &[]).unwrap();
    }
}

/// A note body: one to five lines of text without control characters.
fn body() -> impl Strategy<Value = String> {
    proptest::collection::vec("[^\\p{Cc}]{1,24}", 1..5).prop_map(|lines| {
        let mut b = lines.join("\n");
        b.push('\n');
        b
    })
}

fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        prop_oneof![
            3 => Just(log_key().name().to_owned()),
            1 => "[^\\s+\\p{Cc}]{1,12}",
        ],
        prop_oneof![any::<u64>(), 0u64..3, Just(u64::MAX)],
        any::<[u8; 32]>(),
    )
        .prop_map(|(origin, size, root)| Checkpoint { origin, size, root })
}

proptest! {
    #![proptest_config(mutate::config())]

    #[test]
    fn signed_note_mutated((seed, muts) in mutated(fixture::corpus("signed_note").len(), NOTE_DICT.len())) {
        let seeds = fixture::corpus("signed_note");
        check_note(&text(&apply(&seeds[seed].bytes, &muts, NOTE_DICT, seeds)));
    }

    #[test]
    fn note_key_mutated((seed, muts) in mutated(fixture::corpus("note_key").len(), NOTE_DICT.len())) {
        let seeds = fixture::corpus("note_key");
        check_key(&text(&apply(&seeds[seed].bytes, &muts, NOTE_DICT, seeds)));
    }

    #[test]
    fn checkpoint_mutated((seed, muts) in mutated(fixture::corpus("checkpoint").len(), NOTE_DICT.len())) {
        let seeds = fixture::corpus("checkpoint");
        check_checkpoint(&text(&apply(&seeds[seed].bytes, &muts, NOTE_DICT, seeds)));
    }

    /// Signing then parsing gives back the note; a cosignature carries its timestamp; any one
    /// changed byte is refused or leaves the signed body as it was.
    #[test]
    fn notes_round_trip_and_resist_one_byte_changes(body in body(), ts in any::<u64>(), at in any::<usize>(), xor in 1u8..) {
        let mut text = log_key().sign(&body).unwrap();
        text.push_str(&witness_key().signature_line(&body, ts));
        let note = Note::parse(&text).unwrap();
        prop_assert_eq!(note.to_text(), text.clone());
        let v = note.verify(&[witness_key().verifier().clone()]);
        if ts > i64::MAX as u64 {
            prop_assert_eq!(v, Err(NoteError::InvalidSignature(witness_key().name().into())));
        } else {
            prop_assert_eq!(v.unwrap()[0].timestamp, Some(ts));
        }
        let mut bytes = text.into_bytes();
        let i = at % bytes.len();
        bytes[i] ^= xor;
        if let Ok(n) = Note::parse(&String::from_utf8_lossy(&bytes)) {
            if n.verify(&[log_key().verifier().clone()]).is_ok() {
                prop_assert_eq!(n.body, body);
            }
        }
    }

    #[test]
    fn checkpoints_round_trip_and_resist_one_byte_changes(c in checkpoint(), ts in 0u64..=i64::MAX as u64, at in any::<usize>(), xor in 1u8..) {
        prop_assert_eq!(Checkpoint::parse_body(&c.body()), Ok(c.clone()));
        let Ok(mut text) = c.sign(log_key()) else {
            prop_assert_ne!(c.origin.as_str(), log_key().name());
            return Ok(());
        };
        text.push_str(&witness_key().signature_line(&c.body(), ts));
        let w = [witness_key().verifier().clone()];
        let vc = verify_checkpoint(&text, log_key().verifier(), &w).unwrap();
        prop_assert_eq!(&vc.checkpoint, &c);
        prop_assert_eq!(vc.cosignatures[0].timestamp, Some(ts));
        let mut bytes = text.into_bytes();
        let i = at % bytes.len();
        bytes[i] ^= xor;
        if let Ok(vc) = verify_checkpoint(&String::from_utf8_lossy(&bytes), log_key().verifier(), &w) {
            prop_assert_eq!(vc.checkpoint, c);
        }
    }

    #[test]
    fn verifier_keys_round_trip(name in "[^\\s+\\p{Cc}]{1,16}", cosign in any::<bool>(), seed in any::<[u8; 32]>()) {
        let kind = if cosign { KeyType::Cosignature } else { KeyType::Ed25519 };
        let k = SigningKey::from_seed(&name, kind, seed).unwrap();
        prop_assert_eq!(&VerifierKey::parse(&k.verifier().to_string()).unwrap(), k.verifier());
        let back = SigningKey::parse(&k.to_private_text()).unwrap();
        prop_assert_eq!(back.verifier(), k.verifier());
    }
}
