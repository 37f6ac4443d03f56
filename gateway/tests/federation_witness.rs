//! Cross-witnessing between real gateways (sled store, journal, audit log, mTLS federation
//! listener on 127.0.0.1): a regional gateway's published checkpoint carries the national
//! witness's cosignature, which `pesgw audit verify --witness-key` accepts; a forged or
//! inconsistent checkpoint is refused by the witness, audited, and still refused after the
//! witness restarts.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use pes_gateway::audit::checkpoint::{verify_checkpoint, Checkpoint};
use pes_gateway::audit::event::{Action, Actor, AuditEvent, Outcome};
use pes_gateway::audit::witness::{AddCheckpoint, Witness};
use pes_gateway::config::FederationConfig;
use pes_gateway::config::GatewayConfig;
use pes_gateway::federation::cosign::{self, WITNESS_PATH};
use pes_gateway::federation::fanout::PeerSet;
use pes_gateway::federation::node::Federation;
use pes_gateway::federation::outbound::{exchange, PeerAnswer, PeerCall};
use pes_gateway::federation::tls::CallTimeouts;
use pes_gateway::federation::trust::{sign_trust_list, TrustList, WitnessKey};
use pes_gateway::node::Node;
use pes_gateway::signed_note::{KeyType, SigningKey, VerifierKey};
use pes_testkit::{free_port, Pki};

const NATIONAL: &str = "100000";
const REGIONAL: &str = "440000";
const WITNESS_NAME: &str = "pes.example/witness/100000";

struct Gw {
    cfg: GatewayConfig,
    log_key: SigningKey,
    _dir: tempfile::TempDir,
}

fn init(region: &str) -> Gw {
    let dir = tempfile::tempdir().unwrap();
    let out =
        pes_gateway::keys::init(dir.path(), region, &format!("127.0.0.1:{}", free_port())).unwrap();
    let cfg = GatewayConfig::load(&out.config_path).unwrap();
    let log_key =
        SigningKey::parse(&std::fs::read_to_string(&cfg.keys.signing_key).unwrap()).unwrap();
    Gw {
        cfg,
        log_key,
        _dir: dir,
    }
}

/// Posts an add-checkpoint body to the national witness as the regional member (mTLS client
/// certificate and request signature of 440000).
async fn submit_as_regional(
    pki: &Pki,
    trust: &TrustList,
    national_url: &str,
    body: String,
) -> PeerAnswer {
    let mut peers = PeerSet::from_trust(
        trust,
        REGIONAL,
        &pki.client_files(REGIONAL),
        CallTimeouts::default(),
    )
    .unwrap();
    peers.set_url(NATIONAL, national_url);
    let peer = peers.get(NATIONAL).unwrap();
    exchange(
        peer.client(),
        &pki.signing_key(REGIONAL),
        trust,
        PeerCall {
            region: NATIONAL,
            url: &format!("{}{WITNESS_PATH}", peer.url),
            request_id: "forgery-test",
            body: body.into_bytes(),
        },
        "text/plain; charset=utf-8",
        || chrono::Utc::now().timestamp(),
    )
    .await
    .unwrap()
}

fn checkpoint_text(key: &SigningKey, size: u64, root: [u8; 32]) -> String {
    Checkpoint {
        origin: key.name().to_owned(),
        size,
        root,
    }
    .sign(key)
    .unwrap()
}

#[actix_web::test]
async fn regional_checkpoints_carry_the_national_cosignature_and_forgeries_are_refused() {
    let regions = [NATIONAL, REGIONAL];
    let pki = Pki::new(&regions);
    let fed_ports: Vec<u16> = regions.iter().map(|_| free_port()).collect();
    let gws: Vec<Gw> = regions.iter().map(|r| init(r)).collect();
    let witness_key = SigningKey::generate(WITNESS_NAME, KeyType::Cosignature).unwrap();
    let witness_file = gws[0].cfg.keys.signing_key.with_file_name("witness.key");
    std::fs::write(&witness_file, witness_key.to_private_text()).unwrap();

    // The trust list names each member's log key and the national witness.
    let mut trust = pki.trust_list(&regions, 1);
    for ((m, p), gw) in trust.members.iter_mut().zip(&fed_ports).zip(&gws) {
        m.url = format!("https://127.0.0.1:{p}");
        m.log_key = Some(gw.log_key.verifier().to_string());
    }
    trust.witnesses = vec![WitnessKey {
        name: WITNESS_NAME.into(),
        vkey: witness_key.verifier().to_string(),
        member: Some(NATIONAL.into()),
    }];
    let root = SigningKey::generate("pes-federation-root", KeyType::Ed25519).unwrap();
    let trust_path = pki.path().join("federation.json");
    std::fs::write(&trust_path, sign_trust_list(&trust, &root).unwrap()).unwrap();

    let mut nodes = Vec::new();
    let mut feds = Vec::new();
    for ((region, fed_port), gw) in regions.iter().zip(&fed_ports).zip(&gws) {
        let node = web::Data::from(Arc::new(Node::open(gw.cfg.clone()).unwrap()));
        let fed = Federation::open(
            region,
            FederationConfig {
                listen: format!("127.0.0.1:{fed_port}"),
                pki_dir: pki.path().to_owned(),
                trust_list: trust_path.clone(),
                root_key: root.verifier().to_string(),
                deadline_ms: 2000,
                reload_secs: 3600,
                state_dir: Some(gw.cfg.data_dir.join("federation")),
                witness_key: (*region == NATIONAL).then(|| witness_file.clone()),
            },
        )
        .unwrap();
        actix_web::rt::spawn(fed.clone().serve(node.clone()));
        nodes.push(node);
        feds.push(fed);
    }
    assert!(feds[0].witness().is_some() && feds[1].witness().is_none());
    // Let both listeners bind before the regional log publishes.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;

    // The regional gateway logs something; its next checkpoint goes to the national witness.
    let regional = &nodes[1];
    for i in 0..3 {
        let ev = AuditEvent::new(
            REGIONAL,
            format!("req-{i}"),
            Actor {
                sub: "admin".into(),
                role: "admin".into(),
                region: Some(REGIONAL.into()),
                peer_member: None,
            },
            Action::Admin,
            Outcome::Ok,
        );
        regional.audit.append(&ev).await.unwrap();
    }
    regional.audit.checkpoint_now().await.unwrap();
    let log_vkey = gws[1].log_key.verifier().clone();
    let mut cosigned = None;
    for _ in 0..200 {
        let cp = regional.audit.checkpoint().unwrap();
        let v = verify_checkpoint(&cp.text, &log_vkey, &[witness_key.verifier().clone()]).unwrap();
        if v.cosignatures.len() == 1 {
            cosigned = Some(v);
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let cosigned = cosigned.expect("the regional checkpoint was never cosigned");
    let size = cosigned.checkpoint.size;
    assert!(size >= 3);
    let witness = feds[0].witness().unwrap();
    assert_eq!(witness.witnessed_size(log_vkey.name()), size);
    let national_url = format!("https://127.0.0.1:{}", fed_ports[0]);

    // Forged: the regional origin, signed by a key that is not its log key.
    let forger = SigningKey::generate(log_vkey.name(), KeyType::Ed25519).unwrap();
    let forged = AddCheckpoint {
        old: size,
        proof: vec![[1; 32]],
        checkpoint: checkpoint_text(&forger, size + 10, [2; 32]),
    };
    let a = submit_as_regional(&pki, &trust, &national_url, forged.to_body()).await;
    assert_eq!(a.status, 403, "{}", String::from_utf8_lossy(&a.body));
    assert!(String::from_utf8_lossy(&a.body).contains("witness-untrusted-signature"));

    // Inconsistent: signed by the real log key, the witnessed size with another root (a fork).
    let fork = AddCheckpoint {
        old: size,
        proof: vec![],
        checkpoint: checkpoint_text(&gws[1].log_key, size, [7; 32]),
    };
    let a = submit_as_regional(&pki, &trust, &national_url, fork.to_body()).await;
    assert_eq!(a.status, 409);
    assert_eq!(String::from_utf8_lossy(&a.body).trim(), size.to_string());

    // Inconsistent: a larger tree whose consistency proof does not verify.
    let grown = AddCheckpoint {
        old: size,
        proof: vec![[3; 32]; 3],
        checkpoint: checkpoint_text(&gws[1].log_key, size + 5, [8; 32]),
    };
    let a = submit_as_regional(&pki, &trust, &national_url, grown.to_body()).await;
    assert_eq!(a.status, 422, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(witness.witnessed_size(log_vkey.name()), size);

    // Each refusal is in the national audit log, with the calling member.
    let national = &nodes[0];
    national.audit.checkpoint_now().await.unwrap();
    let entries = national.audit.entries(0, national.audit.size()).unwrap();
    let refusals: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| serde_json::from_slice::<serde_json::Value>(e).unwrap())
        .filter(|e| e["action"] == "witness_cosign")
        .collect();
    let reasons: Vec<&str> = refusals
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        [
            "witness-untrusted-signature",
            "witness-root-conflict",
            "witness-bad-proof"
        ],
        "{refusals:?}"
    );
    assert!(refusals
        .iter()
        .all(|e| e["actor"]["peer_member"] == REGIONAL && e["outcome"] != "ok"));

    // The witness's view survives a restart: the fork is still refused.
    let restarted = Witness::open(
        SigningKey::parse(&std::fs::read_to_string(&witness_file).unwrap()).unwrap(),
        cosign::log_keys(&trust),
        &gws[0].cfg.data_dir.join("federation/witness"),
    )
    .unwrap();
    assert_eq!(restarted.witnessed_size(log_vkey.name()), size);
    assert!(restarted
        .add_checkpoint(&fork.to_body(), chrono::Utc::now().timestamp() as u64)
        .is_err());

    // The auditor's CLI accepts the published checkpoint with the witness key, and refuses it
    // when a cosignature by another witness is required.
    regional.audit.close();
    let audit_dir = gws[1].cfg.data_dir.join("audit");
    let verify = |wkey: &VerifierKey| {
        Command::new(env!("CARGO_BIN_EXE_pesgw"))
            .args(["audit", "verify", "--dir"])
            .arg(&audit_dir)
            .args(["--key", &log_vkey.to_string()])
            .args(["--witness-key", &wkey.to_string()])
            .args(["--min-cosignatures", "1"])
            .output()
            .unwrap()
    };
    let out = verify(witness_key.verifier());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 valid cosignatures"), "{stdout}");
    let other = SigningKey::generate(WITNESS_NAME, KeyType::Cosignature).unwrap();
    let out = verify(other.verifier());
    assert!(!out.status.success());
}
