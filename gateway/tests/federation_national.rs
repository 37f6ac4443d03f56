//! A national gateway and three regional gateways, each a real gateway (sled store, journal,
//! audit log) with its own HTTP API and its own mTLS federation listener on 127.0.0.1: the
//! national aggregate equals the sum of the regional truths, and a region that is down gives a
//! partial answer that says so.

mod fed;

use std::sync::Arc;

use actix_web::web;
use fed::{free_listener, Pki};
use pes_gateway::audit::event::Actor;
use pes_gateway::auth::{claims_for, issue, Role};
use pes_gateway::config::FederationConfig;
use pes_gateway::config::{GatewayConfig, SourceConfig};
use pes_gateway::federation::fanout::PeerSet;
use pes_gateway::federation::node::Federation;
use pes_gateway::federation::tls::CallTimeouts;
use pes_gateway::federation::trust::sign_trust_list;
use pes_gateway::node::Node;
use pes_gateway::query::QueryRequest;
use pes_gateway::signed_note;
use ring::signature::KeyPair as _;

const SOURCE: &str = "native-test";

struct Gw {
    region: String,
    node: web::Data<Node>,
    fed: Arc<Federation>,
    api: String,
    token: String,
    _dir: tempfile::TempDir,
}

fn port() -> u16 {
    free_listener().local_addr().unwrap().port()
}

fn analyst() -> Actor {
    Actor {
        sub: "analyst-1".into(),
        role: "analyst".into(),
        region: Some("100000".into()),
        peer_member: None,
    }
}

fn person_query(regions: &[&str]) -> QueryRequest {
    QueryRequest {
        dataset: "person".into(),
        measures: vec!["count".into()],
        regions: regions.iter().map(|r| r.to_string()).collect(),
        purpose: Some("statistics".into()),
        ..Default::default()
    }
}

#[actix_web::test]
async fn national_total_is_the_sum_of_regional_truths_and_a_down_region_is_marked() {
    let regions = ["100000", "110000", "440000", "510000"];
    let pki = Pki::new(&regions);
    let fed_ports: Vec<u16> = regions.iter().map(|_| port()).collect();
    let mut trust = pki.trust_list(&regions, 1);
    for (m, p) in trust.members.iter_mut().zip(&fed_ports) {
        m.url = format!("https://127.0.0.1:{p}");
    }
    let root =
        signed_note::SigningKey::generate("pes-federation-root", signed_note::KeyType::Ed25519)
            .unwrap();
    let trust_path = pki.path().join("federation.json");
    std::fs::write(&trust_path, sign_trust_list(&trust, &root).unwrap()).unwrap();

    let mut gws = Vec::new();
    for (region, fed_port) in regions.iter().zip(&fed_ports) {
        let dir = tempfile::tempdir().unwrap();
        let api_port = port();
        let out =
            pes_gateway::keys::init(dir.path(), region, &format!("127.0.0.1:{api_port}")).unwrap();
        let mut cfg = GatewayConfig::load(&out.config_path).unwrap();
        cfg.sources.insert(
            SOURCE.into(),
            SourceConfig {
                mapping: "native".into(),
                pushers: vec![],
            },
        );
        std::fs::write(&out.config_path, cfg.to_toml().unwrap()).unwrap();
        let cfg = GatewayConfig::load(&out.config_path).unwrap();
        let der = std::fs::read(&cfg.keys.jwt_issuer_key).unwrap();
        let kid = pes_gateway::keys::key_id(
            pes_gateway::keys::load_ed25519(&cfg.keys.jwt_issuer_key)
                .unwrap()
                .public_key()
                .as_ref(),
        );
        let token = issue(
            &der,
            &kid,
            &claims_for(
                "pusher",
                Role::Pusher,
                region,
                vec![SOURCE.into()],
                vec![],
                600,
            ),
        )
        .unwrap();
        let node = Arc::new(Node::open(cfg).unwrap());
        actix_web::rt::spawn(pes_gateway::api::serve(node.clone()));
        let node = web::Data::from(node);
        let fed = Federation::open(
            region,
            FederationConfig {
                listen: format!("127.0.0.1:{fed_port}"),
                pki_dir: pki.path().to_owned(),
                trust_list: trust_path.clone(),
                root_key: root.verifier().to_string(),
                deadline_ms: 2000,
                reload_secs: 3600,
                state_dir: None,
                witness_key: None,
            },
        )
        .unwrap();
        actix_web::rt::spawn(fed.clone().serve(node.clone()));
        gws.push(Gw {
            region: region.to_string(),
            node,
            fed,
            api: format!("http://127.0.0.1:{api_port}"),
            token,
            _dir: dir,
        });
    }

    // Each regional gateway ingests its own records through its real push API.
    let http = reqwest::Client::new();
    for (i, gw) in gws.iter().enumerate().skip(1) {
        let n = 200 + 100 * i as u64;
        let body = pes_gateway::native_sample::ndjson(0..n, &gw.region, SOURCE, 1);
        let mut ok = false;
        for _ in 0..200 {
            match http
                .post(format!("{}/v1/ingest/{SOURCE}?wait=applied", gw.api))
                .bearer_auth(&gw.token)
                .header("content-type", "application/x-ndjson")
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) => {
                    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
                    ok = true;
                    break;
                }
                // The API listener may not be bound yet.
                Err(_) => actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        assert!(ok, "push to {} never connected", gw.region);
    }

    // Regional truths, each from its own store.
    let mut truth = 0;
    for gw in &gws[1..] {
        let local = gw
            .fed
            .aggregate(&gw.node, &person_query(&[&gw.region]), "truth", &analyst())
            .await
            .unwrap();
        assert_eq!(local.regions.len(), 1);
        let count = local.cells[0].count.unwrap();
        assert!(count > 0);
        truth += count;
    }

    let national = &gws[0];
    let answer = national
        .fed
        .aggregate(
            &national.node,
            &person_query(&["all"]),
            "req-nat",
            &analyst(),
        )
        .await
        .unwrap();
    assert!(answer.complete, "{:?}", answer.regions);
    let statuses: Vec<_> = answer
        .regions
        .iter()
        .map(|r| (r.region.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("100000", "ok"),
            ("110000", "ok"),
            ("440000", "ok"),
            ("510000", "ok")
        ]
    );
    assert_eq!(answer.cells.len(), 1);
    assert_eq!(answer.cells[0].count, Some(truth));
    // Every remote region returned the receipt of its own audit entry.
    assert!(answer.regions[1..].iter().all(|r| r.receipt.is_some()));

    // 510000 goes down: the answer is partial and says which region is missing.
    let mut peers = PeerSet::from_trust(
        &trust,
        "100000",
        &pki.client_files("100000"),
        CallTimeouts::default(),
    )
    .unwrap();
    peers.set_url("510000", &format!("https://127.0.0.1:{}", port()));
    national.fed.set_peers(peers);
    let partial = national
        .fed
        .aggregate(
            &national.node,
            &person_query(&["all"]),
            "req-nat-2",
            &analyst(),
        )
        .await
        .unwrap();
    assert!(!partial.complete);
    assert_eq!(partial.regions[3].region, "510000");
    assert_eq!(
        partial.regions[3].status,
        pes_gateway::federation::fanout::Answered::Unreachable
    );
    let without_510000 = truth
        - gws[3]
            .fed
            .aggregate(&gws[3].node, &person_query(&["510000"]), "t", &analyst())
            .await
            .unwrap()
            .cells[0]
            .count
            .unwrap();
    assert_eq!(partial.cells[0].count, Some(without_510000));
    // The national gateway audited the partial outcome with every region's status.
    let size = national.node.audit.size();
    let entries = national.node.audit.entries(size - 1, size).unwrap();
    let last: serde_json::Value = serde_json::from_slice(&entries[0]).unwrap();
    assert_eq!(last["action"], "query_aggregate");
    assert_eq!(last["outcome"], "partial");
    assert_eq!(last["peer_receipts"][3]["region"], "510000");
    assert_eq!(last["peer_receipts"][3]["status"], "unreachable");
    // The regions that answered gave receipts of their own logs.
    assert!(last["peer_receipts"][1]["index"].is_u64());
}
