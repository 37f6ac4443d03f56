//! The audit HTTP API and witnessing: routes, problem+json errors, the authorisation hook,
//! tlog-witness status codes, and the client that collects cosignatures.

use std::sync::Arc;

use actix_web::{test as atest, web, App};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use pes_gateway::audit::api::{
    configure, Access, AuditApi, ConsistencyProofBody, InclusionProofBody,
};
use pes_gateway::audit::checkpoint::verify_checkpoint;
use pes_gateway::audit::merkle;
use pes_gateway::audit::witness::{self, AddCheckpoint, Witness, WitnessError, WitnessResponse};
use pes_gateway::audit::{Action, Actor, AuditEvent, AuditLog, LogOptions, Outcome};
use pes_gateway::signed_note::{KeyType, Note, SigningKey};

fn log_key(name: &str) -> SigningKey {
    SigningKey::from_seed(name, KeyType::Ed25519, [3; 32]).unwrap()
}

fn witness_key() -> SigningKey {
    SigningKey::from_seed("witness.pes.example/510000", KeyType::Cosignature, [4; 32]).unwrap()
}

fn event(i: u64, action: Action, person_key: Option<&str>) -> AuditEvent {
    let actor = Actor {
        sub: format!("user-{}", i % 3),
        role: "caseworker".into(),
        region: Some("440000".into()),
        peer_member: None,
    };
    let mut e = AuditEvent::new("440000", format!("req-{i}"), actor, action, Outcome::Ok);
    e.person_key = person_key.map(str::to_owned);
    e
}

async fn log_with(dir: &std::path::Path, n: u64) -> Arc<AuditLog> {
    let log = Arc::new(
        AuditLog::open(dir, log_key("pes.example/440000"), LogOptions::default()).unwrap(),
    );
    for i in 0..n {
        let (action, pk) = if i % 5 == 0 {
            (Action::PersonLookup, Some("pk-abc"))
        } else {
            (Action::QueryAggregate, None)
        };
        log.append(&event(i, action, pk)).await.unwrap();
    }
    log.checkpoint_now().await.unwrap();
    log
}

fn allow_all(api: AuditApi) -> web::Data<AuditApi> {
    web::Data::new(api.with_access(Arc::new(|_, _| Ok(()))))
}

#[actix_web::test]
async fn checkpoint_entries_and_proofs_are_served_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 20).await;
    let app = atest::init_service(
        App::new()
            .app_data(allow_all(AuditApi::new(log.clone(), None)))
            .configure(configure),
    )
    .await;

    let cp = atest::call_and_read_body(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/checkpoint")
            .to_request(),
    )
    .await;
    let vc = verify_checkpoint(std::str::from_utf8(&cp).unwrap(), log.verifier_key(), &[]).unwrap();
    assert_eq!(vc.checkpoint.size, 20);

    let resp = atest::call_service(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/entries?from=0&to=20")
            .to_request(),
    )
    .await;
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/x-ndjson"
    );
    let body = atest::read_body(resp).await;
    let lines: Vec<&[u8]> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 20);
    let mut cr = merkle::CompactRange::new();
    for l in &lines {
        cr.push(merkle::leaf_hash(l), |_| {});
    }
    assert_eq!(
        cr.root(),
        vc.checkpoint.root,
        "NDJSON lines are the exact entry bytes"
    );

    let p: InclusionProofBody = atest::call_and_read_body_json(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/proof/inclusion?index=7&size=20")
            .to_request(),
    )
    .await;
    let proof: Vec<merkle::Hash> = p
        .proof
        .iter()
        .map(|s| B64.decode(s).unwrap().try_into().unwrap())
        .collect();
    merkle::verify_inclusion(
        7,
        20,
        &merkle::leaf_hash(lines[7]),
        &proof,
        &vc.checkpoint.root,
    )
    .unwrap();

    let c: ConsistencyProofBody = atest::call_and_read_body_json(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/proof/consistency?old=6&new=20")
            .to_request(),
    )
    .await;
    let proof: Vec<merkle::Hash> = c
        .proof
        .iter()
        .map(|s| B64.decode(s).unwrap().try_into().unwrap())
        .collect();
    merkle::verify_consistency(6, 20, &proof, &log.root_at(6).unwrap(), &vc.checkpoint.root)
        .unwrap();

    let r = atest::call_and_read_body(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/receipt?index=3")
            .to_request(),
    )
    .await;
    pes_gateway::audit::receipt::verify_with_extra(
        std::str::from_utf8(&r).unwrap(),
        log.verifier_key(),
        &[],
        0,
    )
    .unwrap();
}

#[actix_web::test]
async fn entries_can_be_filtered_by_person_key_action_and_actor() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 20).await;
    let app = atest::init_service(
        App::new()
            .app_data(allow_all(AuditApi::new(log, None)))
            .configure(configure),
    )
    .await;
    let v: serde_json::Value = atest::call_and_read_body_json(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/entries?person_key=pk-abc")
            .to_request(),
    )
    .await;
    let idx: Vec<u64> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![0, 5, 10, 15]);
    let v: serde_json::Value = atest::call_and_read_body_json(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/entries?action=query_aggregate&actor=user-1")
            .to_request(),
    )
    .await;
    let idx: Vec<u64> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![1, 4, 7, 13, 16, 19]);
}

#[actix_web::test]
async fn errors_are_problem_json_and_the_default_hook_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 3).await;
    // Default hook: nothing is allowed until the auth layer installs one.
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(AuditApi::new(log.clone(), None)))
            .configure(configure),
    )
    .await;
    let resp = atest::call_service(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/checkpoint")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/problem+json"
    );

    // A hook that lets peers read checkpoints but not entries.
    let api = AuditApi::new(log, None).with_access(Arc::new(|_, access| match access {
        Access::Checkpoint => Ok(()),
        _ => Err(pes_gateway::problem::Problem::without_detail(
            actix_web::http::StatusCode::FORBIDDEN,
            "forbidden",
            "Auditor role required",
        )),
    }));
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(api))
            .configure(configure),
    )
    .await;
    assert_eq!(
        atest::call_service(
            &app,
            atest::TestRequest::get()
                .uri("/v1/audit/checkpoint")
                .to_request()
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        atest::call_service(
            &app,
            atest::TestRequest::get()
                .uri("/v1/audit/entries")
                .to_request()
        )
        .await
        .status(),
        403
    );

    let dir2 = tempfile::tempdir().unwrap();
    let log2 = log_with(dir2.path(), 3).await;
    let app = atest::init_service(
        App::new()
            .app_data(allow_all(AuditApi::new(log2, None)))
            .configure(configure),
    )
    .await;
    let resp = atest::call_service(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/proof/inclusion?index=5&size=3")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = atest::read_body_json(resp).await;
    assert_eq!(v["type"], "https://pes.example/problems/audit-out-of-range");
    let resp = atest::call_service(
        &app,
        atest::TestRequest::get()
            .uri("/v1/audit/proof/consistency?old=0&new=3")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 400);
}

#[actix_web::test]
async fn witness_endpoint_answers_409_with_size_and_422_on_a_bad_proof() {
    let ldir = tempfile::tempdir().unwrap();
    let log = log_with(ldir.path(), 10).await;
    let wdir = tempfile::tempdir().unwrap();
    let w = Arc::new(
        Witness::open(witness_key(), vec![log.verifier_key().clone()], wdir.path()).unwrap(),
    );
    let app = atest::init_service(
        App::new()
            .app_data(allow_all(AuditApi::new(log.clone(), Some(w.clone()))))
            .configure(configure),
    )
    .await;
    let post = |body: String| {
        atest::TestRequest::post()
            .uri("/v1/audit/witness/add-checkpoint")
            .set_payload(body)
            .to_request()
    };
    let cp10 = log.checkpoint().unwrap().text.clone();

    // First contact with a wrong old size: 409 tells the witnessed size (0).
    let resp = atest::call_service(
        &app,
        post(
            AddCheckpoint {
                old: 4,
                proof: vec![],
                checkpoint: cp10.clone(),
            }
            .to_body(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "text/x.tlog.size"
    );
    assert_eq!(atest::read_body(resp).await, "0\n");

    // old 0: cosigned; the line verifies with the witness key.
    let resp = atest::call_service(
        &app,
        post(
            AddCheckpoint {
                old: 0,
                proof: vec![],
                checkpoint: cp10.clone(),
            }
            .to_body(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let line = String::from_utf8(atest::read_body(resp).await.to_vec()).unwrap();
    let note = Note::parse(&format!("{cp10}{line}")).unwrap();
    assert_eq!(note.verify(&[w.verifier_key().clone()]).unwrap().len(), 1);

    for i in 10..15 {
        log.append(&event(i, Action::AuditRead, None))
            .await
            .unwrap();
    }
    let cp15 = log.checkpoint_now().await.unwrap().text.clone();
    // A proof with one flipped bit: 422, and the witness keeps size 10.
    let mut proof = log.consistency_proof(10, 15).unwrap();
    proof[0][0] ^= 1;
    let resp = atest::call_service(
        &app,
        post(
            AddCheckpoint {
                old: 10,
                proof,
                checkpoint: cp15.clone(),
            }
            .to_body(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(w.witnessed_size("pes.example/440000"), 10);
    // The right proof: 200.
    let proof = log.consistency_proof(10, 15).unwrap();
    let resp = atest::call_service(
        &app,
        post(
            AddCheckpoint {
                old: 10,
                proof,
                checkpoint: cp15,
            }
            .to_body(),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(w.witnessed_size("pes.example/440000"), 15);
}

#[test]
fn witness_refuses_unknown_logs_forged_signatures_and_forks_and_survives_restart() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ldir = tempfile::tempdir().unwrap();
    let log = rt.block_on(log_with(ldir.path(), 8));
    let wdir = tempfile::tempdir().unwrap();
    let w = Witness::open(witness_key(), vec![log.verifier_key().clone()], wdir.path()).unwrap();
    let cp = log.checkpoint().unwrap().text.clone();

    // Unknown origin: 404. Signed by another key under the same name: 403.
    let other = log_key("pes.example/999999");
    let foreign = pes_gateway::audit::Checkpoint {
        origin: "pes.example/999999".into(),
        size: 1,
        root: [0; 32],
    }
    .sign(&other)
    .unwrap();
    assert_eq!(
        w.add_checkpoint(
            &AddCheckpoint {
                old: 0,
                proof: vec![],
                checkpoint: foreign
            }
            .to_body(),
            1
        ),
        Err(WitnessError::UnknownOrigin)
    );
    let impostor = SigningKey::from_seed("pes.example/440000", KeyType::Ed25519, [9; 32]).unwrap();
    let forged = pes_gateway::audit::Checkpoint {
        origin: "pes.example/440000".into(),
        size: 8,
        root: [1; 32],
    }
    .sign(&impostor)
    .unwrap();
    assert_eq!(
        w.add_checkpoint(
            &AddCheckpoint {
                old: 0,
                proof: vec![],
                checkpoint: forged
            }
            .to_body(),
            1
        ),
        Err(WitnessError::Forbidden)
    );

    w.add_checkpoint(
        &AddCheckpoint {
            old: 0,
            proof: vec![],
            checkpoint: cp,
        }
        .to_body(),
        1,
    )
    .unwrap();
    drop(w);
    // After a restart the witness still holds size 8, and refuses a second root for it.
    let w = Witness::open(witness_key(), vec![log.verifier_key().clone()], wdir.path()).unwrap();
    assert_eq!(w.witnessed_size("pes.example/440000"), 8);
    let fork = pes_gateway::audit::Checkpoint {
        origin: "pes.example/440000".into(),
        size: 8,
        root: [2; 32],
    }
    .sign(&log_key("pes.example/440000"))
    .unwrap();
    assert_eq!(
        w.add_checkpoint(
            &AddCheckpoint {
                old: 8,
                proof: vec![],
                checkpoint: fork
            }
            .to_body(),
            2
        ),
        Err(WitnessError::RootConflict(8))
    );
    // Malformed body: 400.
    assert!(matches!(
        w.add_checkpoint("old 01\n\nx", 2),
        Err(WitnessError::BadRequest(_))
    ));
}

#[test]
fn witness_client_learns_the_size_from_409_and_attaches_cosignatures() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ldir = tempfile::tempdir().unwrap();
    let log = rt.block_on(log_with(ldir.path(), 6));
    let wdir = tempfile::tempdir().unwrap();
    let w = Arc::new(
        Witness::open(witness_key(), vec![log.verifier_key().clone()], wdir.path()).unwrap(),
    );
    let wkey = w.verifier_key().clone();
    let transport = |w: Arc<Witness>| {
        move |body: String| {
            let w = w.clone();
            async move {
                Ok::<_, String>(match w.add_checkpoint(&body, 1_700_000_000) {
                    Ok(lines) => WitnessResponse {
                        status: 200,
                        body: lines,
                    },
                    Err(WitnessError::Conflict(s)) | Err(WitnessError::RootConflict(s)) => {
                        WitnessResponse {
                            status: 409,
                            body: format!("{s}\n"),
                        }
                    }
                    Err(e) => WitnessResponse {
                        status: e.status(),
                        body: e.to_string(),
                    },
                })
            }
        }
    };
    let (size, added) = rt
        .block_on(witness::submit(&log, &wkey, 0, transport(w.clone())))
        .unwrap();
    assert_eq!((size, added), (6, 1));
    for i in 6..9 {
        rt.block_on(log.append(&event(i, Action::Admin, None)))
            .unwrap();
    }
    rt.block_on(log.checkpoint_now()).unwrap();
    // The client believes the witness has 0; the 409 teaches it 6; then it sends a proof 6 -> 9.
    let (size, added) = rt
        .block_on(witness::submit(&log, &wkey, 0, transport(w)))
        .unwrap();
    assert_eq!((size, added), (9, 1));
    let cp = log.checkpoint().unwrap();
    let vc = verify_checkpoint(&cp.text, log.verifier_key(), &[wkey]).unwrap();
    assert_eq!(vc.cosignatures.len(), 1);
    assert_eq!(vc.cosignatures[0].timestamp, Some(1_700_000_000));
}

#[test]
fn witness_client_loop_cosigns_each_new_checkpoint() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ldir = tempfile::tempdir().unwrap();
    let log = rt.block_on(log_with(ldir.path(), 4));
    let wdir = tempfile::tempdir().unwrap();
    let w = Arc::new(
        Witness::open(witness_key(), vec![log.verifier_key().clone()], wdir.path()).unwrap(),
    );
    let wkey = w.verifier_key().clone();
    let post = {
        let w = w.clone();
        move |body: String| {
            let w = w.clone();
            async move {
                Ok::<_, String>(match w.add_checkpoint(&body, 1_700_000_001) {
                    Ok(lines) => WitnessResponse {
                        status: 200,
                        body: lines,
                    },
                    Err(WitnessError::Conflict(s)) => WitnessResponse {
                        status: 409,
                        body: format!("{s}\n"),
                    },
                    Err(e) => WitnessResponse {
                        status: e.status(),
                        body: e.to_string(),
                    },
                })
            }
        }
    };
    rt.block_on(async {
        let task = tokio::spawn(witness::run_client(log.clone(), vec![(wkey.clone(), post)]));
        for round in 0..3u64 {
            for i in 0..5 {
                log.append(&event(100 + round * 5 + i, Action::Admin, None))
                    .await
                    .unwrap();
            }
            let size = log.checkpoint_now().await.unwrap().checkpoint.size;
            // Hang guard only: wait until the witness has cosigned this size.
            tokio::time::timeout(std::time::Duration::from_secs(30), async {
                loop {
                    let cp = log.checkpoint().unwrap();
                    if cp.checkpoint.size == size
                        && verify_checkpoint(
                            &cp.text,
                            log.verifier_key(),
                            std::slice::from_ref(&wkey),
                        )
                        .unwrap()
                        .cosignatures
                        .len()
                            == 1
                    {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            })
            .await
            .unwrap();
            assert_eq!(w.witnessed_size("pes.example/440000"), size);
        }
        task.abort();
    });
}

/// A runtime, a log with `entries` entries and a witness trusting it (with their directories).
struct WitnessedLog {
    rt: tokio::runtime::Runtime,
    log: Arc<AuditLog>,
    w: Arc<Witness>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn witnessed_log(entries: u64) -> WitnessedLog {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ldir = tempfile::tempdir().unwrap();
    let log = rt.block_on(log_with(ldir.path(), entries));
    let wdir = tempfile::tempdir().unwrap();
    let w = Arc::new(
        Witness::open(witness_key(), vec![log.verifier_key().clone()], wdir.path()).unwrap(),
    );
    WitnessedLog {
        rt,
        log,
        w,
        _dirs: (ldir, wdir),
    }
}

#[test]
fn witness_client_retries_a_failed_submission_without_a_new_checkpoint() {
    // `_dirs` first: bindings drop in reverse order, so the directories outlive the log.
    let WitnessedLog { _dirs, rt, log, w } = witnessed_log(4);
    let wkey = w.verifier_key().clone();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let post = {
        let (w, calls) = (w.clone(), calls.clone());
        move |body: String| {
            let (w, calls) = (w.clone(), calls.clone());
            async move {
                // The witness is down for the first call.
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return Err("connection refused".to_string());
                }
                w.add_checkpoint(&body, 1_700_000_001)
                    .map(|lines| WitnessResponse {
                        status: 200,
                        body: lines,
                    })
                    .map_err(|e| e.to_string())
            }
        }
    };
    rt.block_on(async {
        let size = log.checkpoint_now().await.unwrap().checkpoint.size;
        let task = tokio::spawn(witness::run_client(log.clone(), vec![(wkey.clone(), post)]));
        // No new entry and no new checkpoint: only the retry can get it cosigned.
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while w.witnessed_size("pes.example/440000") != size {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 2);
        assert_eq!(log.checkpoint().unwrap().checkpoint.size, size);
        task.abort();
    });
}

#[test]
fn every_audit_route_is_in_the_openapi_document() {
    use utoipa::OpenApi as _;
    let doc = serde_json::to_value(pes_gateway::audit::api::AuditApiDoc::openapi()).unwrap();
    for path in [
        "/v1/audit/checkpoint",
        "/v1/audit/key",
        "/v1/audit/entries",
        "/v1/audit/proof/inclusion",
        "/v1/audit/proof/consistency",
        "/v1/audit/receipt",
        "/v1/audit/witness/add-checkpoint",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    let params: Vec<&str> = doc["paths"]["/v1/audit/entries"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "from",
        "to",
        "since",
        "until",
        "actor",
        "action",
        "region",
        "request_id",
        "person_key",
    ] {
        assert!(params.contains(&p), "entries filter {p} undocumented");
    }
    assert!(doc["components"]["schemas"]["AuditEvent"].is_object());
}
