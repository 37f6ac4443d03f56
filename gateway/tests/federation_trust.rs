//! The signed trust list: verification at start and on reload, rollback and expiry refused, the
//! last good list kept.

use chrono::{Duration, Utc};
use pes_gateway::federation::trust::{
    draft_from_pki, sign_trust_list, verify_trust_list, Reloaded, TrustError, TrustStore,
};
use pes_gateway::signed_note::{KeyType, SigningKey};
use pes_testkit::Pki;

fn root() -> SigningKey {
    SigningKey::generate("pes-federation-root", KeyType::Ed25519).unwrap()
}

#[test]
fn signed_list_verifies_and_a_tampered_or_foreign_one_does_not() {
    let pki = Pki::new(&["110000", "440000"]);
    let root = root();
    let list = pki.trust_list(&["110000", "440000"], 7);
    let text = sign_trust_list(&list, &root).unwrap();
    assert_eq!(
        verify_trust_list(&text, root.verifier(), Utc::now()).unwrap(),
        list
    );

    let tampered = text.replace("\"version\": 7", "\"version\": 8");
    assert_ne!(tampered, text);
    assert!(matches!(
        verify_trust_list(&tampered, root.verifier(), Utc::now()),
        Err(TrustError::BadSignature(_))
    ));
    let other = SigningKey::generate("pes-federation-root", KeyType::Ed25519).unwrap();
    assert!(matches!(
        verify_trust_list(&text, other.verifier(), Utc::now()),
        Err(TrustError::BadSignature(_))
    ));
}

#[test]
fn lower_version_is_refused_and_the_last_good_list_stays_in_force() {
    let pki = Pki::new(&["110000", "440000"]);
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("federation.json");
    let v2 = pki.trust_list(&["110000", "440000"], 2);
    std::fs::write(&path, sign_trust_list(&v2, &root).unwrap()).unwrap();
    let store = TrustStore::open(&path, root.verifier().clone(), Utc::now()).unwrap();
    assert_eq!(store.current().version, 2);

    // Re-reading the same file is not an error.
    assert_eq!(store.reload(Utc::now()).unwrap(), Reloaded::Unchanged(2));

    // A rollback to version 1 is refused; version 2 stays.
    let v1 = pki.trust_list(&["110000"], 1);
    std::fs::write(&path, sign_trust_list(&v1, &root).unwrap()).unwrap();
    assert!(matches!(
        store.reload(Utc::now()),
        Err(TrustError::NotNewer {
            offered: 1,
            current: 2
        })
    ));
    assert_eq!(*store.current(), v2);

    // The same version with other content is refused too (a fork of version 2).
    let fork = pki.trust_list(&["110000"], 2);
    assert!(matches!(
        store.offer(&sign_trust_list(&fork, &root).unwrap(), Utc::now()),
        Err(TrustError::NotNewer { .. })
    ));

    // Version 3 is accepted.
    let v3 = pki.trust_list(&["110000"], 3);
    std::fs::write(&path, sign_trust_list(&v3, &root).unwrap()).unwrap();
    assert_eq!(
        store.reload(Utc::now()).unwrap(),
        Reloaded::Updated { from: 2, to: 3 }
    );
    assert_eq!(store.current().members.len(), 1);
}

#[test]
fn expired_list_is_refused_at_start_and_on_reload() {
    let pki = Pki::new(&["110000", "440000"]);
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("federation.json");
    let list = pki.trust_list(&["110000", "440000"], 1);
    std::fs::write(&path, sign_trust_list(&list, &root).unwrap()).unwrap();
    let later = Utc::now() + Duration::days(8);
    assert!(matches!(
        TrustStore::open(&path, root.verifier().clone(), later),
        Err(TrustError::Expired { version: 1, .. })
    ));
    let store = TrustStore::open(&path, root.verifier().clone(), Utc::now()).unwrap();
    let mut v2 = list.clone();
    v2.version = 2;
    v2.issued_at = Utc::now() - Duration::days(3);
    v2.expires_at = Utc::now() - Duration::days(1);
    assert!(matches!(
        store.offer(&sign_trust_list(&v2, &root).unwrap(), Utc::now()),
        Err(TrustError::Expired { version: 2, .. })
    ));
    assert_eq!(store.current().version, 1);
}

#[test]
fn draft_from_pki_pins_unrevoked_certificates_and_lists_signing_keys() {
    let pki = Pki::new(&["110000", "440000"]);
    pes_certs::revoke(
        pki.path(),
        &pes_certs::RevokeTarget::Region {
            region: "440000".into(),
            kind: Some(pes_certs::CertKind::Client),
        },
        time::Duration::days(1),
    )
    .unwrap();
    let index = pes_certs::load_index(pki.path()).unwrap();
    let members = vec![
        (
            "110000".to_string(),
            "Beijing".to_string(),
            "https://127.0.0.1:9001".to_string(),
        ),
        (
            "440000".to_string(),
            "Guangdong".to_string(),
            "https://127.0.0.1:9002".to_string(),
        ),
    ];
    let list = draft_from_pki(
        &index,
        &members,
        1,
        Utc::now(),
        Duration::days(30),
        &["vacancy".into()],
        &["statistics".into()],
    )
    .unwrap();
    assert_eq!(list.member("110000").unwrap().spki_pins.len(), 2);
    // The revoked client certificate is not pinned.
    assert_eq!(list.member("440000").unwrap().spki_pins.len(), 1);
    let kid = &index.signing_keys[1].kid;
    assert_eq!(list.key(kid).unwrap().0.region, "440000");
    assert_eq!(list.policy_for("440000").unwrap().k, 5);
}

#[test]
fn malformed_lists_are_refused() {
    let pki = Pki::new(&["110000", "440000"]);
    let mut list = pki.trust_list(&["110000", "440000"], 1);
    list.members[1].region = "110000".into();
    assert!(matches!(list.check(), Err(TrustError::Invalid(_))));
    let mut list = pki.trust_list(&["110000", "440000"], 1);
    list.members[0].signing_keys[0].public_key = "AAAA".into();
    assert!(matches!(list.check(), Err(TrustError::Invalid(_))));
    let mut list = pki.trust_list(&["110000", "440000"], 1);
    list.policies[0].caller = "650000".into();
    assert!(matches!(list.check(), Err(TrustError::Invalid(_))));
}

#[test]
fn accepted_version_survives_a_restart_and_an_older_file_is_refused() {
    let pki = Pki::new(&["110000", "440000"]);
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("federation.json");
    let state = dir.path().join("state/trust-list.accepted");
    let write = |v: u64, regions: &[&str]| {
        let list = pki.trust_list(regions, v);
        std::fs::write(&path, sign_trust_list(&list, &root).unwrap()).unwrap();
    };
    let open = || TrustStore::open_persistent(&path, root.verifier().clone(), Utc::now(), &state);

    write(2, &["110000", "440000"]);
    assert_eq!(open().unwrap().current().version, 2);
    // Same version and content on restart: fine.
    let store = open().unwrap();
    // A reload to version 4 is recorded too.
    write(4, &["110000", "440000"]);
    assert_eq!(
        store.reload(Utc::now()).unwrap(),
        Reloaded::Updated { from: 2, to: 4 }
    );
    drop(store);

    // Restarted with version 3 (older than the 4 accepted before): refused, naming both.
    write(3, &["110000", "440000"]);
    let err = open().unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::OlderThanAccepted {
                offered: 3,
                accepted: 4,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("version 3") && msg.contains("version 4"),
        "{msg}"
    );

    // Version 4 with other content (a fork) is refused as well.
    write(4, &["110000"]);
    assert!(matches!(
        open(),
        Err(TrustError::NotNewer {
            offered: 4,
            current: 4
        })
    ));
    // The plain store (no state) would have accepted it: the state is what refuses.
    assert!(TrustStore::open(&path, root.verifier().clone(), Utc::now()).is_ok());
    write(5, &["110000"]);
    assert_eq!(open().unwrap().current().version, 5);
}
