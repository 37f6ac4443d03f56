//! Misbehaving peers: a real national gateway (`pesgw serve`) asks a real regional gateway and
//! fake regional peers on 127.0.0.1 that hold real federation certificates (so mTLS succeeds and
//! requests verify) but answer garbage (signed or not), hang past the deadline, sign with another
//! member's key, or do not speak TLS at all; one is slow but within the deadline. The national
//! answer marks each bad region with its status, includes the others, and comes back although a
//! peer never answers.

use std::io::Write as _;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pes_gateway::auth::Role;
use pes_gateway::federation::httpsig::{RequestVerifier, SigningKey};
use pes_gateway::federation::inbound::{signed_response, unix_now, verify_inbound, InboundContext};
use pes_gateway::federation::tls;
use pes_gateway::federation::trust::TrustList;
use serde_json::{json, Value};

use pes_testkit::http::client;
use pes_testkit::{free_listener, free_port, pesgw, Pki, TestGateway};

use crate::harness::{federation, valid_batch, LOOKUP_BASIS, LOOKUP_PURPOSE};

/// What a fake peer does with a request it verified.
#[derive(Clone)]
enum Behaviour {
    /// A correct, signed answer holding `count` records, after `delay`.
    Honest { count: i64, delay: Duration },
    /// A signed 200 whose body is not an answer.
    SignedGarbage,
    /// An unsigned 200 with a body that is not an answer.
    UnsignedGarbage,
    /// Never answers (well past any deadline).
    Hang,
    /// An answer with a huge count, signed with another member's key.
    WrongKey(&'static str),
}

struct Fake {
    ctx: InboundContext,
    behaviour: Behaviour,
    other_key: Option<SigningKey>,
    region: String,
}

/// A valid-looking answer for the request's path (a query answer or a person answer).
fn answer_body(path: &str, region: &str, count: i64) -> Vec<u8> {
    let receipt =
        json!({ "log_origin": format!("pes.example/{region}"), "index": 0, "leaf_hash": "00" });
    let v = if path.ends_with("/person") {
        json!({ "region": region, "found": false, "receipt": receipt })
    } else {
        json!({
            "dataset": "person", "region": region, "answered_from": "rollup", "k": 5,
            "as_of": { "applied_offset": 0, "journal_offset": 0, "lag_batches": 0 },
            "cells": [{ "group": {}, "count": count, "suppressed": false }],
            "receipt": receipt,
        })
    };
    v.to_string().into_bytes()
}

async fn serve_fake(req: HttpRequest, body: web::Bytes, fake: web::Data<Fake>) -> HttpResponse {
    let now = unix_now();
    let checked = match verify_inbound(&req, &body, &fake.ctx, now) {
        Ok(c) => c,
        Err(refusal) => return refusal.to_response(),
    };
    let (answer, key) = match &fake.behaviour {
        Behaviour::Honest { count, delay } => {
            actix_web::rt::time::sleep(*delay).await;
            (answer_body(req.path(), &fake.region, *count), &fake.ctx.key)
        }
        Behaviour::SignedGarbage => (b"\x00\xffthis is not an answer {".to_vec(), &fake.ctx.key),
        Behaviour::UnsignedGarbage => {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body("{\"cells\": [garbage")
        }
        Behaviour::Hang => {
            actix_web::rt::time::sleep(Duration::from_secs(600)).await;
            (
                answer_body(req.path(), &fake.region, 999_999),
                &fake.ctx.key,
            )
        }
        Behaviour::WrongKey(_) => (
            answer_body(req.path(), &fake.region, 999_999),
            fake.other_key.as_ref().unwrap_or(&fake.ctx.key),
        ),
    };
    signed_response(
        key,
        &checked.signature,
        actix_web::http::StatusCode::OK,
        "application/json",
        answer,
        now,
    )
    .unwrap_or_else(|_| HttpResponse::InternalServerError().finish())
}

/// A fake peer's server, on its own actix system thread; stopped on drop.
struct FakePeer {
    system: actix_web::rt::System,
    _dir: tempfile::TempDir,
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.system.stop();
    }
}

fn start_fake(
    pki: &Pki,
    region: &str,
    trust: &TrustList,
    listener: TcpListener,
    behaviour: Behaviour,
) -> FakePeer {
    let (config, _verifier) = tls::server_config(&pki.server_files(region)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let other_key = match &behaviour {
        Behaviour::WrongKey(r) => Some(pki.signing_key(r)),
        _ => None,
    };
    let fake = web::Data::new(Fake {
        ctx: InboundContext {
            trust: pes_testkit::trust_store(dir.path(), trust),
            verifier: RequestVerifier::new(vec![format!("127.0.0.1:{port}")], 10_000),
            key: pki.signing_key(region),
        },
        behaviour,
        other_key,
        region: region.to_string(),
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(fake.clone())
                    .default_service(web::to(serve_fake))
            })
            .workers(1)
            .disable_signals()
            .on_connect(tls::on_connect)
            .listen_rustls_0_23(listener, config)
            .unwrap()
            .run();
            tx.send(actix_web::rt::System::current()).unwrap();
            let _ = server.await;
        });
    });
    FakePeer {
        system: rx.recv().unwrap(),
        _dir: dir,
    }
}

/// A listener that answers every connection with plain-text junk instead of a TLS handshake.
struct Junk {
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Junk {
    fn start(listener: TcpListener) -> Junk {
        let stop = Arc::new(AtomicBool::new(false));
        let port = listener.local_addr().unwrap().port();
        let s = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(mut c) = conn {
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\ngarbage");
                }
            }
        });
        Junk { stop, port }
    }
}

impl Drop for Junk {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

const NATIONAL: &str = "100000";
const REAL: &str = "440000";
const DEADLINE_MS: u64 = 1500;

/// Region → (fake behaviour, expected status); `None` = a real gateway or the junk listener.
fn cast() -> Vec<(&'static str, Option<Behaviour>, &'static str)> {
    vec![
        (NATIONAL, None, "ok"),
        ("110000", Some(Behaviour::SignedGarbage), "error"),
        ("120000", Some(Behaviour::UnsignedGarbage), "bad_signature"),
        ("310000", Some(Behaviour::Hang), "timeout"),
        ("320000", Some(Behaviour::WrongKey(REAL)), "bad_signature"),
        (
            "330000",
            Some(Behaviour::Honest {
                count: 7,
                delay: Duration::from_millis(200),
            }),
            "ok",
        ),
        (REAL, None, "ok"),
        ("510000", None, "unreachable"),
    ]
}

fn statuses(answer: &Value) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = answer["regions"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap_or("?").to_string(),
                r["status"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    s.sort();
    s
}

#[test]
fn bad_peers_are_marked_per_region_and_the_answer_comes_back_with_the_others() {
    let cast = cast();
    let regions: Vec<&str> = cast.iter().map(|c| c.0).collect();
    // Fakes and the junk listener hold their sockets from now on; real gateways get free ports.
    let mut sockets: Vec<Option<TcpListener>> = cast
        .iter()
        .map(|(r, b, _)| (b.is_some() || *r == "510000").then(free_listener))
        .collect();
    let fed_ports: Vec<u16> = sockets
        .iter()
        .map(|l| match l {
            Some(l) => l.local_addr().unwrap().port(),
            None => free_port(),
        })
        .collect();
    let files = federation(&regions, &fed_ports);
    let mut fakes = Vec::new();
    let mut junk = None;
    for (i, (region, behaviour, _)) in cast.iter().enumerate() {
        let Some(l) = sockets[i].take() else { continue };
        match behaviour {
            Some(b) => fakes.push(start_fake(&files.pki, region, &files.trust, l, b.clone())),
            None => junk = Some(Junk::start(l)),
        }
    }
    let _junk = junk;
    let member = |region: &str| -> TestGateway {
        files
            .member(pesgw!(), region)
            .k(1)
            .config(|c| {
                if let Some(f) = c.federation.as_mut() {
                    f.deadline_ms = DEADLINE_MS;
                }
            })
            .create()
    };
    let mut national = member(NATIONAL);
    let mut real = member(REAL);
    national.run();
    real.run();
    let (body, ids) = valid_batch(0..60, REAL);
    let p = real.try_push(body, true).unwrap();
    assert_eq!(p.status, 200, "{}", p.body);
    let real_persons = real.total("person");
    assert!(
        real_persons >= 5,
        "enough persons not to be suppressed ({})",
        ids.len()
    );

    let http = client(Duration::from_secs(120));
    let expected: Vec<(String, String)> = {
        let mut e: Vec<(String, String)> = cast
            .iter()
            .map(|(r, _, s)| (r.to_string(), s.to_string()))
            .collect();
        e.sort();
        e
    };

    // A federated aggregate through the national gateway.
    let started = Instant::now();
    let r = http
        .post(format!("{}/v1/query", national.base))
        .bearer_auth(national.token_as(Role::Analyst, "analyst-1", &[], &[]))
        .header("x-request-id", "bad-peers-query")
        .json(&json!({ "dataset": "person", "regions": ["all"], "purpose": "statistics" }))
        .send()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.status().as_u16(), 200);
    let answer: Value = r.json().unwrap();
    assert_eq!(statuses(&answer), expected, "{answer}");
    assert_eq!(answer["complete"], false);
    // The good regions' records, the slow one's 7, nothing from the bad ones.
    assert_eq!(answer["cells"][0]["count"], real_persons + 7, "{answer}");
    // A peer that never answers cost the deadline, not its 600 s.
    assert!(
        took < Duration::from_millis(DEADLINE_MS) + Duration::from_secs(30),
        "the answer took {took:?} with a {DEADLINE_MS} ms peer deadline"
    );
    for r in answer["regions"].as_array().unwrap() {
        if r["status"] != "ok" {
            assert!(r["detail"].is_string(), "a failed region says why: {r}");
        }
    }

    // A person lookup through the national gateway: the same per-region marks.
    let started = Instant::now();
    let r = http
        .post(format!("{}/v1/persons/lookup", national.base))
        .bearer_auth(national.token_as(Role::Caseworker, "cw-1", &[], &[LOOKUP_PURPOSE]))
        .json(&json!({
            "person_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "purpose": LOOKUP_PURPOSE, "legal_basis": LOOKUP_BASIS,
        }))
        .send()
        .unwrap();
    let took = started.elapsed();
    let status = r.status().as_u16();
    let lookup: Value = r.json().unwrap();
    assert_eq!(status, 200, "{lookup}");
    assert_eq!(statuses(&lookup), expected, "{lookup}");
    assert!(took < Duration::from_millis(DEADLINE_MS) + Duration::from_secs(30));

    // The national gateway audited the partial query with every region's status.
    let auditor = national.auditor();
    let log = http
        .get(format!("{}/v1/audit/entries", national.base))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let event = log
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v.get("event").cloned().unwrap_or(v)
        })
        .find(|e| e["request_id"] == "bad-peers-query" && e["action"] == "query_aggregate")
        .expect("the federated query is audited");
    assert_eq!(event["outcome"], "partial", "{event}");
    let mut audited: Vec<(String, String)> = event["peer_receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    audited.sort();
    assert_eq!(audited, expected);
    drop(fakes);
}
