//! A failed `fdatasync` (injected with the journal's test-only `PESGW_FAULT_FSYNC=fail-after:N`):
//! the batch whose fsync failed is never acknowledged, the journal does not retry the fsync into a
//! success (fsyncgate) but refuses every later push with 503 `journal-failed` until restart, and
//! `/readyz` says not ready. After a restart without the fault, everything acknowledged is there
//! and ingest goes on.

use pes_gateway::ingest::journal::FAULT_FSYNC_ENV;

use pes_testkit::{pesgw, TestGateway};

use crate::harness::{valid_batch, DATASETS};

fn records(g: &TestGateway) -> i64 {
    DATASETS.iter().map(|d| g.total(d)).sum()
}

#[test]
fn a_failed_fsync_stops_acknowledgements_until_restart_and_loses_nothing_acknowledged() {
    let mut g = TestGateway::builder(pesgw!()).k(1).create();
    g.env.push((FAULT_FSYNC_ENV.into(), "fail-after:3".into()));
    g.run();
    let (status, ready) = g.readyz();
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["journal_fault_injection"], true);
    assert!(
        g.log_tail(50).contains("JOURNAL FAULT INJECTION IS ON"),
        "fault injection must be logged loudly:\n{}",
        g.log_tail(50)
    );

    // Sequential pushes are one group commit each: three fsyncs succeed.
    let batches: Vec<(Vec<u8>, Vec<String>)> = (0..5u64)
        .map(|b| valid_batch(b * 50..b * 50 + 50, "440000"))
        .collect();
    let mut acked = 0i64;
    for (body, ids) in &batches[..3] {
        let p = g.try_push(body.clone(), false).unwrap();
        assert_eq!(p.status, 200, "{}", p.body);
        acked += ids.len() as i64;
    }
    // The fourth fsync fails: that batch is refused, and so is every later one, the same body
    // again included (never retried into a success).
    for (body, _) in [&batches[3], &batches[4], &batches[3]] {
        let p = g.try_push(body.clone(), false).unwrap();
        assert_eq!(p.status, 503, "{}", p.body);
        assert_eq!(p.content_type, "application/problem+json");
        assert_eq!(
            p.body["type"], "https://pes.example/problems/journal-failed",
            "{}",
            p.body
        );
        assert!(p.retry_after.is_some(), "503 without Retry-After");
    }
    let (status, ready) = g.readyz();
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["journal"], "failed");
    assert_eq!(ready["status"], "not_ready");
    let metrics = g
        .http()
        .get(format!("{}/metrics", g.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("pes_journal_failed 1"), "{metrics}");
    // Queries are still answered, from what was acknowledged.
    g.wait_applied();
    assert_eq!(records(&g), acked);

    // Restart without the fault: the acknowledged batches are all there (the refused one may be
    // too, if its frame reached the file; it was never acknowledged), and pushes work again.
    g.kill();
    g.env.clear();
    g.run();
    let (status, ready) = g.readyz();
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["journal"], "ok");
    assert_eq!(ready["journal_fault_injection"], false);
    g.wait_applied();
    let after = records(&g);
    let fourth = batches[3].1.len() as i64;
    assert!(
        after == acked || after == acked + fourth,
        "after restart {after}, acknowledged {acked}"
    );
    for (body, _) in &batches[3..] {
        let p = g.try_push(body.clone(), false).unwrap();
        assert_eq!(p.status, 200, "{}", p.body);
    }
    g.wait_applied();
    let all: i64 = batches.iter().map(|b| b.1.len() as i64).sum();
    assert_eq!(records(&g), all);
    g.kill();
}
