//! Crash loop: regional gateways of a real federation are SIGKILLed at random moments and
//! restarted while pushes, federated queries (through the national gateway) and person lookups
//! run concurrently. Afterwards every acknowledged record is stored exactly once, the rollups equal
//! a recount of the store, every audit log verifies with `pesgw audit verify` (consistently with
//! what was verified before the crashes), and no gateway signed two roots for one tree size.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pes_gateway::audit::checkpoint::verify_checkpoint;
use pes_gateway::audit::{AuditLog, LogOptions};
use pes_gateway::auth::Role;
use pes_gateway::signed_note::VerifierKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use pes_testkit::http::{client, push_to};
use pes_testkit::{free_port, pesgw, TestGateway, SOURCE};

use crate::harness::{
    federation, replayed_store, run_pesgw, store_count, valid_batch, DATASETS, LOOKUP_BASIS,
    LOOKUP_PURPOSE,
};

const NATIONAL: &str = "100000";
const REGIONS: [&str; 4] = [NATIONAL, "110000", "440000", "510000"];
/// Per-region statuses a federated answer may give while regions crash. `denied` and
/// `bad_signature` would mean a restarted region refused or mis-signed: never expected.
const CRASH_STATUSES: [&str; 4] = ["ok", "timeout", "unreachable", "error"];

/// What one push ended as.
struct Batch {
    /// Index of the region's gateway.
    gw: usize,
    ids: Vec<String>,
    acked: bool,
}

/// Everything the concurrent clients saw.
#[derive(Default)]
struct Seen {
    batches: Vec<Batch>,
    errors: Vec<String>,
    /// (origin, size) → (root, checkpoint text).
    checkpoints: BTreeMap<(String, u64), ([u8; 32], String)>,
    fed_queries: BTreeMap<String, u64>,
    lookups: BTreeMap<String, u64>,
    retried_pushes: u64,
    /// Retries answered as duplicates (the first try was journaled before the kill).
    duplicates: u64,
}

/// What a client thread needs to reach one gateway.
#[derive(Clone)]
struct Target {
    region: String,
    base: String,
    pusher: String,
    auditor: String,
    vkey: VerifierKey,
}

fn seed() -> u64 {
    match std::env::var("PES_FAULTS_SEED") {
        Ok(s) => s.parse().expect("PES_FAULTS_SEED is a number"),
        Err(_) => rand::random(),
    }
}

/// Runs the crash loop with `kills` SIGKILLs and checks everything afterwards.
pub fn run(kills: usize) {
    let seed = seed();
    println!("crash loop: {kills} SIGKILLs, seed {seed} (PES_FAULTS_SEED={seed} repeats it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let fed_ports: Vec<u16> = REGIONS.iter().map(|_| free_port()).collect();
    let files = federation(&REGIONS, &fed_ports);
    let mut gws: Vec<TestGateway> = REGIONS
        .iter()
        .map(|r| files.member(pesgw!(), r).k(1).create())
        .collect();
    for g in &mut gws {
        g.run();
    }
    let targets: Vec<Target> = gws
        .iter()
        .map(|g| Target {
            region: g.region.clone(),
            base: g.base.clone(),
            pusher: g.pusher(),
            auditor: g.auditor(),
            vkey: VerifierKey::parse(&g.verifier_key()).unwrap(),
        })
        .collect();
    let state_dir = tempfile::tempdir().unwrap();
    let state_file = |i: usize| state_dir.path().join(format!("audit-{}.state", REGIONS[i]));

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let next_record = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for p in 0..2u64 {
        let (targets, seen, stop, next) = (
            targets.clone(),
            seen.clone(),
            stop.clone(),
            next_record.clone(),
        );
        let seed = seed ^ (p + 1);
        threads.push(std::thread::spawn(move || {
            pusher(&targets, &seen, &stop, &next, seed)
        }));
    }
    let national = &gws[0];
    let analyst = national.token_as(Role::Analyst, "analyst-1", &[], &[]);
    let caseworker = national.token_as(Role::Caseworker, "cw-1", &[], &[LOOKUP_PURPOSE]);
    let base = national.base.clone();
    threads.push({
        let (base, seen, stop) = (base.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || federated_queries(&base, &analyst, &seen, &stop))
    });
    threads.push({
        let (base, seen, stop) = (base.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || lookups(&base, &caseworker, &seen, &stop))
    });
    threads.push({
        let (targets, seen, stop) = (targets.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || collect_checkpoints(&targets, &seen, &stop))
    });

    // The killer: a random regional gateway, at a random moment, sometimes left down a while.
    let started = Instant::now();
    let mut survived = 0;
    let mut startup_kills = 0;
    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..1200)));
        let i = rng.gen_range(1..gws.len());
        gws[i].kill();
        if rng.gen_bool(0.3) {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..800)));
        }
        if rng.gen_bool(0.15) {
            // Killed again while starting (replaying its journal, opening its logs).
            gws[i].spawn();
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
            gws[i].kill();
            startup_kills += 1;
        }
        gws[i].run();
        survived += 1;
        if k % 4 == 3 {
            // The restarted log verifies, and is consistent with what was verified before.
            let (ok, out) = audit_verify_url(&gws[i], &state_file(i));
            assert!(ok, "audit verify of {} after a crash: {out}", gws[i].region);
        }
        let errors = seen.lock().unwrap().errors.clone();
        assert!(errors.is_empty(), "after {survived} kills: {errors:#?}");
    }
    stop.store(true, Ordering::Release);
    for t in threads {
        t.join().unwrap();
    }
    let crash_phase = started.elapsed();

    let mut seen = Arc::try_unwrap(seen)
        .ok()
        .expect("threads joined")
        .into_inner()
        .unwrap();
    assert!(seen.errors.is_empty(), "{:#?}", seen.errors);

    // After the last restart: one more applied batch per region (incremental rollups on top of
    // the ones rebuilt at start), then the live totals.
    let http = client(Duration::from_secs(60));
    for (i, g) in gws.iter().enumerate().skip(1) {
        let start = next_record.fetch_add(40, Ordering::AcqRel);
        let (body, ids) = valid_batch(start..start + 40, &g.region);
        let p = push_to(&http, &g.base, &g.pusher(), body, true).unwrap();
        assert_eq!(p.status, 200, "{}", p.body);
        seen.batches.push(Batch {
            gw: i,
            ids,
            acked: true,
        });
    }
    let mut live = vec![0i64; gws.len()];
    let mut live_persons = 0;
    for (i, g) in gws.iter().enumerate().skip(1) {
        g.wait_applied();
        live[i] = DATASETS.iter().map(|d| g.total(d)).sum();
        live_persons += g.total("person");
    }
    // With every region up, the national answer is complete and is the sum of the regions. (A
    // connection the national gateway pooled to a killed region fails once: ask a few times.)
    let mut nat = Value::Null;
    for _ in 0..20 {
        let (status, v) = post(
            &http,
            &format!("{}/v1/query", gws[0].base),
            &gws[0].token_as(Role::Analyst, "analyst-1", &[], &[]),
            &json!({ "dataset": "person", "regions": ["all"], "purpose": "statistics" }),
        );
        assert_eq!(status, 200, "{v}");
        nat = v;
        if nat["complete"] == true {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(nat["complete"], true, "{nat}");
    assert_eq!(nat["cells"][0]["count"], live_persons, "{nat}");

    for g in &mut gws {
        g.kill();
    }
    // Every acknowledged record is stored exactly once, nothing that was never pushed is, and
    // the live rollups equal a recount of the store (the journal replayed into it, as a restart
    // does).
    let mut acked_records = 0;
    let mut present_unacked = 0;
    for (i, g) in gws.iter().enumerate().skip(1) {
        let store = replayed_store(&g.data_dir());
        let count = store_count(&store);
        assert_eq!(
            count, live[i],
            "{}: rollups {} != recount {count}",
            g.region, live[i]
        );
        let mut hits = 0;
        for b in seen.batches.iter().filter(|b| b.gw == i) {
            for id in &b.ids {
                let present = store.get_record(id).unwrap().is_some();
                assert!(
                    present || !b.acked,
                    "{}: acknowledged record {id} is missing",
                    g.region
                );
                hits += i64::from(present);
                if b.acked {
                    acked_records += 1;
                } else if present {
                    present_unacked += 1;
                }
            }
        }
        assert_eq!(
            hits, count,
            "{}: the store holds records that were never pushed",
            g.region
        );
    }

    // Every audit log verifies (consistent with the state saved during the run), and every
    // checkpoint seen during the run is a prefix of the final log: never two roots for one size.
    for (i, g) in gws.iter().enumerate() {
        let dir = g.data_dir().join("audit");
        let state = state_file(i);
        let (ok, out) = run_pesgw(&[
            "audit",
            "verify",
            "--dir",
            dir.to_str().unwrap(),
            "--key",
            &g.verifier_key(),
            "--state",
            state.to_str().unwrap(),
        ]);
        assert!(ok, "audit verify --dir of {}: {out}", g.region);
        let log = AuditLog::open(&dir, g.signing_key(), LogOptions::default()).unwrap();
        let size = log.size();
        for ((origin, cp_size), (root, text)) in &seen.checkpoints {
            if origin != log.origin() {
                continue;
            }
            assert!(
                *cp_size <= size,
                "{}: signed size {cp_size} beyond the log ({size})",
                g.region
            );
            assert_eq!(
                &log.root_at(*cp_size).unwrap(),
                root,
                "{}: the log diverges from a checkpoint signed during the run:\n{text}",
                g.region
            );
        }
        log.close();
    }

    let acked_batches = seen.batches.iter().filter(|b| b.acked).count();
    println!(
        "crash loop: survived {} SIGKILLs ({survived} of running gateways, {startup_kills} \
         during start-up) in {crash_phase:.1?}; {acked_batches} of {} pushes acknowledged ({} \
         retried after a crash, {} of those journaled before the kill and found as duplicates), \
         {acked_records} acknowledged records all present once, {present_unacked} records of \
         unacknowledged pushes present; {} checkpoints seen, no fork; federated queries by region \
         status {:?}; person lookups by region status {:?}",
        survived + startup_kills,
        seen.batches.len(),
        seen.retried_pushes,
        seen.duplicates,
        seen.checkpoints.len(),
        seen.fed_queries,
        seen.lookups,
    );
    assert_eq!(survived, kills);
    assert!(acked_batches > 0 && !seen.checkpoints.is_empty());
    assert!(seen.fed_queries.values().sum::<u64>() > 0);
}

fn audit_verify_url(g: &TestGateway, state: &Path) -> (bool, String) {
    let token = g.auditor();
    run_pesgw(&[
        "audit",
        "verify",
        "--url",
        &g.base,
        "--key",
        &g.verifier_key(),
        "--state",
        state.to_str().unwrap(),
        "--token",
        &token,
    ])
}

fn post(http: &reqwest::blocking::Client, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = http.post(url).bearer_auth(token).json(body).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// Pushes batches of new records to random regions until stopped; a push that fails because its
/// gateway was killed is retried with the same body (a retried batch that was journaled before
/// the kill comes back as a duplicate) until acknowledged or a deadline passes.
fn pusher(targets: &[Target], seen: &Mutex<Seen>, stop: &AtomicBool, next: &AtomicU64, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let http = client(Duration::from_secs(30));
    while !stop.load(Ordering::Acquire) {
        let gw = rng.gen_range(1..targets.len());
        let t = &targets[gw];
        let n = rng.gen_range(3..40);
        let start = next.fetch_add(n, Ordering::AcqRel);
        let (body, ids) = valid_batch(start..start + n, &t.region);
        if ids.is_empty() {
            continue;
        }
        let wait = rng.gen_bool(0.2);
        let until = Instant::now() + Duration::from_secs(30);
        let mut acked = false;
        let mut tries = 0;
        while Instant::now() < until {
            tries += 1;
            match push_to(&http, &t.base, &t.pusher, body.clone(), wait) {
                Ok(p) if p.status == 200 => {
                    let dup = p.body["duplicate"] == true;
                    // Journaled before a kill, its answer lost: the retry finds it.
                    seen.lock().unwrap().duplicates += u64::from(dup);
                    if p.body["quarantined"] != 0 || (!dup && p.body["accepted"] != ids.len()) {
                        seen.lock().unwrap().errors.push(format!(
                            "push to {}: unexpected answer {}",
                            t.region, p.body
                        ));
                    }
                    acked = true;
                    break;
                }
                // Refused for now (a restart under way): retry the same body.
                Ok(p) if matches!(p.status, 429 | 503) && p.retry_after.is_some() => {}
                Ok(p) => {
                    seen.lock()
                        .unwrap()
                        .errors
                        .push(format!("push to {}: {} {}", t.region, p.status, p.body));
                    break;
                }
                // Connection refused or reset: the gateway was killed.
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut s = seen.lock().unwrap();
        s.retried_pushes += u64::from(tries > 1);
        s.batches.push(Batch { gw, ids, acked });
    }
}

/// Federated aggregate queries through the national gateway (never killed): always answered,
/// every region listed with a status.
fn federated_queries(base: &str, token: &str, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let http = client(Duration::from_secs(60));
    let q = json!({ "dataset": "person", "regions": ["all"], "purpose": "statistics" });
    while !stop.load(Ordering::Acquire) {
        let outcome = http
            .post(format!("{base}/v1/query"))
            .bearer_auth(token)
            .json(&q)
            .send()
            .map_err(|e| e.to_string())
            .and_then(|r| {
                let s = r.status().as_u16();
                let v: Value = r.json().unwrap_or(Value::Null);
                if s == 200 {
                    Ok(v)
                } else {
                    Err(format!("{s} {v}"))
                }
            });
        record_regions(seen, "federated query", outcome, |s| &mut s.fed_queries);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Person lookups through the national gateway by person_key.
fn lookups(base: &str, token: &str, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let http = client(Duration::from_secs(60));
    let pk = match pes_gateway::native_sample::record(0, "440000", SOURCE, 1).body {
        pes_schemas::RecordBody::Person(p) => p.person_key,
        _ => unreachable!("record 0 of the sample is a person"),
    };
    let q = json!({ "person_key": pk, "purpose": LOOKUP_PURPOSE, "legal_basis": LOOKUP_BASIS });
    while !stop.load(Ordering::Acquire) {
        let outcome = http
            .post(format!("{base}/v1/persons/lookup"))
            .bearer_auth(token)
            .json(&q)
            .send()
            .map_err(|e| e.to_string())
            .and_then(|r| {
                let s = r.status().as_u16();
                let v: Value = r.json().unwrap_or(Value::Null);
                if s == 200 {
                    Ok(v)
                } else {
                    Err(format!("{s} {v}"))
                }
            });
        record_regions(seen, "person lookup", outcome, |s| &mut s.lookups);
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn record_regions(
    seen: &Mutex<Seen>,
    what: &str,
    outcome: Result<Value, String>,
    tally: impl Fn(&mut Seen) -> &mut BTreeMap<String, u64>,
) {
    let mut s = seen.lock().unwrap();
    let v = match outcome {
        Ok(v) => v,
        Err(e) => {
            s.errors
                .push(format!("{what} through the national gateway: {e}"));
            return;
        }
    };
    let regions = v["regions"].as_array().cloned().unwrap_or_default();
    let mut listed: Vec<String> = regions
        .iter()
        .map(|r| r["region"].as_str().unwrap_or("?").to_string())
        .collect();
    listed.sort();
    if listed != REGIONS {
        s.errors
            .push(format!("{what}: regions {listed:?}, expected {REGIONS:?}"));
    }
    for r in &regions {
        let status = r["status"].as_str().unwrap_or("?").to_string();
        if !CRASH_STATUSES.contains(&status.as_str()) {
            s.errors.push(format!("{what}: region status {r}"));
        }
        *tally(&mut s).entry(status).or_default() += 1;
    }
}

/// Polls every gateway's signed checkpoint; each must verify, and one size must never come with
/// two roots.
fn collect_checkpoints(targets: &[Target], seen: &Mutex<Seen>, stop: &AtomicBool) {
    let http = client(Duration::from_secs(5));
    while !stop.load(Ordering::Acquire) {
        for t in targets {
            let Ok(r) = http
                .get(format!("{}/v1/audit/checkpoint", t.base))
                .bearer_auth(&t.auditor)
                .send()
            else {
                continue; // down for now
            };
            if r.status().as_u16() != 200 {
                continue;
            }
            let Ok(text) = r.text() else { continue };
            let mut s = seen.lock().unwrap();
            match verify_checkpoint(&text, &t.vkey, &[]) {
                Err(e) => s.errors.push(format!(
                    "{}: checkpoint does not verify: {e}\n{text}",
                    t.region
                )),
                Ok(v) => {
                    let cp = v.checkpoint;
                    let key = (cp.origin.clone(), cp.size);
                    match s.checkpoints.get(&key) {
                        Some((root, first)) if *root != cp.root => {
                            let e = format!(
                                "{}: two roots signed for size {}:\n{first}\n{text}",
                                t.region, cp.size
                            );
                            s.errors.push(e);
                        }
                        Some(_) => {}
                        None => {
                            s.checkpoints.insert(key, (cp.root, text));
                        }
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(60));
    }
}
