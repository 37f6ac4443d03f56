//! Fan-out over real mTLS gateways on 127.0.0.1: concurrent calls, per-region status, merged
//! totals, and a partial answer when regions are down or hang.

use std::time::Duration;

use pes_gateway::federation::fanout::{fan_out, merge_answers, FanOut, PeerSet};
use pes_gateway::federation::tls::CallTimeouts;
use pes_gateway::query::QueryAnswer;
use pes_testkit::peer::{start_signed, url, Behaviour};
use pes_testkit::{free_listener, Pki};

fn regional_answer(region: &str, cells: &[(&str, Option<i64>)], receipt: u64) -> serde_json::Value {
    let cells: Vec<_> = cells
        .iter()
        .map(|(occ, n)| {
            serde_json::json!({
                "group": {"occupation_major": occ},
                "count": n,
                "suppressed": n.is_none(),
            })
        })
        .collect();
    serde_json::json!({
        "dataset": "vacancy",
        "region": region,
        "answered_from": "rollup",
        "k": 5,
        "as_of": {"applied_offset": 0, "journal_offset": 0, "lag_batches": 0},
        "cells": cells,
        "receipt": {"log_origin": format!("pes.example/{region}"), "index": receipt, "leaf_hash": "ab".repeat(32)},
    })
}

#[actix_web::test]
async fn partial_answer_marks_down_and_hung_regions_and_sums_the_rest() {
    let pki = Pki::new(&["100000", "110000", "440000", "510000", "650000"]);
    let trust = pki.trust_list(&["100000", "110000", "440000", "510000", "650000"], 1);
    let bj = start_signed(
        &pki,
        "110000",
        trust.clone(),
        Behaviour::Answer(regional_answer(
            "110000",
            &[("2", Some(10)), ("4", None)],
            7,
        )),
    );
    let gd = start_signed(
        &pki,
        "440000",
        trust.clone(),
        Behaviour::Answer(regional_answer(
            "440000",
            &[("2", Some(32)), ("4", Some(9))],
            3,
        )),
    );
    let xj = start_signed(
        &pki,
        "650000",
        trust.clone(),
        Behaviour::Hang(Duration::from_secs(5)),
    );
    let down_port = free_listener().local_addr().unwrap().port(); // closed again at once

    let mut peers = PeerSet::from_trust(
        &trust,
        "100000",
        &pki.client_files("100000"),
        CallTimeouts::default(),
    )
    .unwrap();
    peers.set_url("110000", &url(bj.port, ""));
    peers.set_url("440000", &url(gd.port, ""));
    peers.set_url("510000", &url(down_port, ""));
    peers.set_url("650000", &url(xj.port, ""));
    assert_eq!(
        peers.regions(),
        vec!["110000", "440000", "510000", "650000"]
    );

    let regions: Vec<String> = ["110000", "440000", "510000", "650000", "320000"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let outcomes = fan_out(
        &peers,
        &pki.signing_key("100000"),
        &trust,
        FanOut {
            regions: &regions,
            path: "/v1/federation/query",
            request_id: "req-fan",
            body: br#"{"dataset":"vacancy","group_by":["occupation_major"]}"#,
            deadline: Duration::from_millis(400),
        },
    )
    .await;
    let statuses: Vec<(String, String)> = outcomes
        .iter()
        .map(|o| {
            let s = o.status();
            (s.region, s.status.to_string())
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("110000".into(), "ok".into()),
            ("440000".into(), "ok".into()),
            ("510000".into(), "unreachable".into()),
            ("650000".into(), "timeout".into()),
            ("320000".into(), "error".into()),
        ]
    );
    assert_eq!(
        outcomes[0].status().receipt,
        Some(pes_gateway::access::AuditReceipt {
            log_origin: "pes.example/110000".into(),
            index: 7,
            leaf_hash: "ab".repeat(32),
        })
    );

    let answers: Vec<QueryAnswer> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .map(|a| serde_json::from_slice(&a.body).unwrap())
        .collect();
    let merged = merge_answers(&answers);
    assert_eq!(merged[0].count, Some(42));
    assert!(!merged[0].includes_suppressed);
    assert_eq!(merged[1].count, Some(9));
    assert!(merged[1].includes_suppressed);
    for s in [bj, gd, xj] {
        s.handle.stop(false).await;
    }
}
