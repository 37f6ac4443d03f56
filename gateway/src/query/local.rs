//! This region's answer to an aggregate query: planned, answered from a rollup cube when one
//! fits (in memory, at once) or by a scan of the store (on the blocking pool), then suppressed
//! at `k`. The one local answer that the HTTP API, the national fan-out and the federation
//! service all give.

use std::sync::{Arc, RwLock};

use super::plan::{Answer, Plan};
use super::rollup::Rollups;
use super::suppress::suppress;
use super::{AsOf, QueryAnswer, QueryError, QueryRequest};
use crate::store::RecordStore;

/// What the local answer reads.
pub struct Local<'a> {
    /// The record store (scans).
    pub store: &'a Arc<dyn RecordStore>,
    /// The in-memory rollups.
    pub rollups: &'a RwLock<Rollups>,
    /// This gateway's region.
    pub region: &'a str,
    /// Freshness of the store, reported with the answer.
    pub as_of: AsOf,
}

/// Answers `q` for this region, suppressing cells from fewer than `k` records.
pub async fn answer(local: Local<'_>, q: &QueryRequest, k: u64) -> Result<QueryAnswer, QueryError> {
    let plan = Plan::new(q, local.region)?;
    let answer = run(&local, plan).await?;
    let mut cells = answer.cells;
    suppress(&mut cells, k);
    Ok(QueryAnswer {
        dataset: q.dataset.clone(),
        region: local.region.to_string(),
        answered_from: if answer.from_rollup { "rollup" } else { "scan" }.into(),
        sum_measure: answer.sum_measure.map(str::to_string),
        k,
        as_of: local.as_of,
        cells,
    })
}

/// Runs a plan: from a rollup cube when one fits, else by a scan on the blocking pool. Cells
/// are not suppressed (a caller that combines cells suppresses after).
pub async fn run(local: &Local<'_>, plan: Plan) -> Result<Answer, QueryError> {
    let fast = {
        let r = local.rollups.read().unwrap_or_else(|p| p.into_inner());
        plan.from_rollup(&r, local.region)
    };
    match fast {
        Some(a) => Ok(a),
        None => {
            let store = Arc::clone(local.store);
            let region = local.region.to_string();
            tokio::task::spawn_blocking(move || plan.by_scan(&*store, &region))
                .await
                .map_err(|_| QueryError::ScanFailed)?
        }
    }
}
