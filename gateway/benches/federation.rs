//! Federation transport bench: the same 8-peer fan-out over mTLS with RFC 9421 signatures and
//! over plain HTTP without them, p50/p99 of each and the overhead; plus the CPU cost of signing
//! and verifying one request. Peers answer a fixed aggregate (the query engine is measured by
//! the ingest/query benches). Run: `cargo bench -p pes-gateway --bench federation`.

use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use pes_gateway::federation::fanout::{fan_out, FanOut, PeerSet};
use pes_gateway::federation::httpsig::{Headers, ReceivedRequest, RequestToSign, RequestVerifier};
use pes_gateway::federation::tls::{CallTimeouts, PeerCertificate, VerifiedPeer};
use pes_testkit::peer::{start_signed, url, Behaviour};
use pes_testkit::{free_listener, Pki};

const PEERS: usize = 8;
const ROUNDS: usize = 2000;

fn answer() -> serde_json::Value {
    let cells: Vec<_> = (0..8)
        .map(|i| serde_json::json!({"group": {"occupation_major": i.to_string()}, "count": 1000 + i, "suppressed": false}))
        .collect();
    serde_json::json!({"dataset": "vacancy", "region": "x", "answered_from": "rollup", "k": 5,
        "as_of": {"applied_offset": 0, "journal_offset": 0, "lag_batches": 0}, "cells": cells,
        "receipt": {"index": 1, "leaf_hash": "00"}})
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    actix_web::rt::System::new().block_on(run());
}

async fn run() {
    let regions: Vec<String> = (0..=PEERS).map(|i| format!("{}0000", 11 + i)).collect();
    let refs: Vec<&str> = regions.iter().map(String::as_str).collect();
    let pki = Pki::new(&refs);
    let trust = pki.trust_list(&refs, 1);
    let caller = &regions[0];
    let peers_regions: Vec<String> = regions[1..].to_vec();

    // Signed mTLS peers.
    let mut peers = PeerSet::from_trust(
        &trust,
        caller,
        &pki.client_files(caller),
        CallTimeouts::default(),
    )
    .unwrap();
    let mut handles = Vec::new();
    for r in &peers_regions {
        let s = start_signed(&pki, r, trust.clone(), Behaviour::Answer(answer()));
        peers.set_url(r, &url(s.port, ""));
        handles.push(s.handle);
    }
    // Plain HTTP peers answering the same body.
    let body = answer().to_string();
    let mut plain_urls = Vec::new();
    for _ in &peers_regions {
        let l = free_listener();
        plain_urls.push(format!(
            "http://{}/v1/federation/query",
            l.local_addr().unwrap()
        ));
        let b = body.clone();
        let srv = HttpServer::new(move || {
            let b = b.clone();
            App::new().route(
                "/v1/federation/query",
                web::post().to(move || {
                    let b = b.clone();
                    async move { HttpResponse::Ok().content_type("application/json").body(b) }
                }),
            )
        })
        .workers(1)
        .listen(l)
        .unwrap()
        .run();
        handles.push(srv.handle());
        actix_web::rt::spawn(srv);
    }
    let key = pki.signing_key(caller);
    let query = br#"{"dataset":"vacancy","group_by":["occupation_major"],"purpose":"statistics"}"#;
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();

    let mut secure = Vec::with_capacity(ROUNDS);
    let mut open = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS + 100 {
        let t = Instant::now();
        let out = fan_out(
            &peers,
            &key,
            &trust,
            FanOut {
                regions: &peers_regions,
                path: "/v1/federation/query",
                request_id: "bench",
                body: query,
                deadline: Duration::from_secs(2),
            },
        )
        .await;
        let d = t.elapsed();
        assert!(out.iter().all(|o| o.result.is_ok()));
        let t = Instant::now();
        let calls = plain_urls.iter().map(|u| {
            let c = plain.clone();
            async move {
                c.post(u)
                    .body(&query[..])
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
            }
        });
        futures_util::future::join_all(calls).await;
        let p = t.elapsed();
        if round >= 100 {
            secure.push(d);
            open.push(p);
        }
    }
    secure.sort();
    open.sort();
    let (s50, s99, p50, p99) = (
        percentile(&secure, 0.5),
        percentile(&secure, 0.99),
        percentile(&open, 0.5),
        percentile(&open, 0.99),
    );
    println!("fan-out to {PEERS} peers, {ROUNDS} rounds (after 100 warm-up), fixed 8-cell answers");
    println!("  mTLS + RFC 9421 signatures: p50 {s50:.3} ms  p99 {s99:.3} ms");
    println!("  plain HTTP, unsigned:       p50 {p50:.3} ms  p99 {p99:.3} ms");
    println!(
        "  security overhead: p50 {:+.1}%  p99 {:+.1}%",
        (s50 / p50 - 1.0) * 100.0,
        (s99 / p99 - 1.0) * 100.0
    );

    // CPU cost of one request signature + verification (Ed25519 sign, verify, base, digest).
    let verifier = RequestVerifier::new(vec![], 1_000_000);
    let leaf = pes_gateway::federation::tls::load_certs(&pki.paths(caller).client_cert).unwrap();
    let peer = VerifiedPeer::check(&PeerCertificate(leaf[0].clone()), &trust).unwrap();
    let n = 20_000;
    let t = Instant::now();
    for i in 0..n {
        let target = format!("https://127.0.0.1:1/v1/federation/query?i={i}");
        let s = key
            .sign_request(
                &RequestToSign {
                    method: "POST",
                    target_uri: &target,
                    content_type: Some("application/json"),
                    request_id: "b",
                    body: query,
                },
                chrono::Utc::now().timestamp(),
            )
            .unwrap();
        let mut h = Headers::new();
        h.push("content-type", "application/json");
        h.push("x-request-id", "b");
        h.push("content-digest", &s.content_digest);
        h.push("signature-input", &s.signature_input);
        h.push("signature", &s.signature);
        let req = ReceivedRequest {
            method: "POST",
            target_uri: target.clone(),
            headers: &h,
            body: query,
        };
        verifier
            .verify(&req, &peer, &trust, chrono::Utc::now().timestamp())
            .unwrap();
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("  sign + verify one request: {per:.1} us (ring Ed25519 floor: ~17 us sign + ~30 us verify per DESIGN)");
    for h in handles {
        h.stop(false).await;
    }
}
