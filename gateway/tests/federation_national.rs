//! A national gateway and three regional gateways, each a real gateway (sled store, journal,
//! audit log) with its own HTTP API and its own mTLS federation listener on 127.0.0.1: the
//! national aggregate equals the sum of the regional truths, and a region that is down gives a
//! partial answer that says so.

use pes_gateway::audit::event::Actor;
use pes_gateway::auth::Role;
use pes_gateway::federation::fanout::PeerSet;
use pes_gateway::federation::tls::CallTimeouts;
use pes_gateway::query::QueryRequest;
use pes_testkit::{free_port, TestFederation, SOURCE};

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
    let federation = TestFederation::new(&regions, 1);
    // In this process: the test calls into each node's federation side.
    let gws: Vec<_> = regions
        .iter()
        .map(|r| federation.in_process_member(r))
        .collect();

    // Each regional gateway ingests its own records through its real push API.
    let http = reqwest::Client::new();
    for (i, gw) in gws.iter().enumerate().skip(1) {
        let n = 200 + 100 * i as u64;
        let body = pes_gateway::native_sample::ndjson(0..n, &gw.region, SOURCE, 1);
        let mut ok = false;
        for _ in 0..200 {
            match http
                .post(format!("{}/v1/ingest/{SOURCE}?wait=applied", gw.base))
                .bearer_auth(gw.token_as(Role::Pusher, "pusher", &[SOURCE], &[]))
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
        &federation.trust,
        "100000",
        &federation.pki.client_files("100000"),
        CallTimeouts::default(),
    )
    .unwrap();
    peers.set_url("510000", &format!("https://127.0.0.1:{}", free_port()));
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
