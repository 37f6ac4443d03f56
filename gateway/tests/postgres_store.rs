//! A gateway on the PostgreSQL store (`[store] engine = "postgres"`), end to end: pushes are
//! applied and counted back, a SIGKILLed gateway restarts on what the database holds (rollups
//! loaded, not rebuilt), a second gateway on the same schema is refused while the first runs,
//! and takes over once it is gone.
//!
//! Needs a database: `eval "$(tests/postgres/start.sh)"` sets `PES_TEST_PG_URL`. Without it
//! the test says loudly that it skipped, and fails when `CI` or `PES_REQUIRE_PG=1` is set.

use std::io::Write;

use pes_gateway::config::{GatewayConfig, StoreEngine};
use pes_gateway::native_sample::ndjson;
use pes_testkit::{pesgw, TestGateway, REGION, SOURCE};
use serde_json::json;

/// The database URL, or `None` (said loudly) when there is none and nothing requires one.
fn pg_url() -> Option<String> {
    if let Ok(url) = std::env::var("PES_TEST_PG_URL") {
        if !url.is_empty() {
            return Some(url);
        }
    }
    let required =
        std::env::var_os("CI").is_some() || std::env::var("PES_REQUIRE_PG").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "PES_TEST_PG_URL is not set, and CI (or PES_REQUIRE_PG=1) requires the PostgreSQL \
         store's tests: start a cluster with `eval \"$(tests/postgres/start.sh)\"`"
    );
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    let _ = std::io::stderr().write_all(
        b"\n*** SKIPPED: a gateway on the PostgreSQL store (PES_TEST_PG_URL is not set) ***\n",
    );
    None
}

fn on_postgres(url: String, schema: String) -> impl FnOnce(&mut GatewayConfig) {
    move |cfg| {
        cfg.k = 1;
        cfg.store.engine = StoreEngine::Postgres;
        cfg.store.url = Some(url);
        cfg.store.schema = schema;
    }
}

#[test]
fn a_gateway_on_postgres_restarts_on_its_database_and_has_one_writer() {
    let Some(url) = pg_url() else { return };
    let schema = format!("it_{}", uuid::Uuid::new_v4().simple());
    let mut g = TestGateway::builder(pesgw!())
        .config(on_postgres(url.clone(), schema.clone()))
        .start();
    let v = g.push(ndjson(0..300, REGION, SOURCE, 1), true);
    assert_eq!(
        (v["accepted"].as_u64(), v["applied"].as_bool()),
        (Some(300), Some(true))
    );
    let totals =
        |g: &TestGateway| ["person", "job_seeker_registration", "vacancy"].map(|d| g.total(d));
    let before = totals(&g);
    assert_eq!(before.iter().sum::<i64>(), 300);
    let by_prefecture = json!({ "dataset": "vacancy", "measures": ["count", "sum"],
        "group_by": ["prefecture"], "filters": { "status": ["open"] } });
    let cells = g.query(by_prefecture.clone())["cells"].clone();

    // Re-pushing the same batch changes nothing.
    let again = g.push(ndjson(0..300, REGION, SOURCE, 1), true);
    assert_eq!(totals(&g), before, "{again}");

    // A second gateway on the same schema is refused while the first holds the writer lock.
    let mut second = TestGateway::builder(pesgw!())
        .config(on_postgres(url.clone(), schema.clone()))
        .create();
    second.spawn();
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| second.wait_ready()));
    let log = second.log_text();
    assert!(refused.is_err(), "the second writer started:\n{log}");
    assert!(log.contains("writer lock"), "{log}");

    // Killed and restarted, the gateway answers from the database: same totals, same cells.
    g.kill();
    g.run();
    assert_eq!(totals(&g), before);
    let after = g.query(by_prefecture.clone());
    assert_eq!(after["answered_from"], "rollup");
    assert_eq!(after["cells"], cells);
    let more = g.push(ndjson(300..330, REGION, SOURCE, 1), true);
    assert_eq!(more["accepted"], 30);
    let grown = totals(&g);
    assert_eq!(grown.iter().sum::<i64>(), 330);

    // Once it is gone, another gateway on the same schema starts and sees the same records.
    g.kill();
    let mut other = TestGateway::builder(pesgw!())
        .config(on_postgres(url, schema))
        .create();
    other.run();
    assert_eq!(totals(&other), grown);
}
