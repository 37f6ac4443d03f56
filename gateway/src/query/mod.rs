//! Local aggregate queries.
//!
//! - [`grants`]: what a caller may ask and receive (from its trust-list policy).
//! - [`local`]: this region's answer (plan, rollup or scan, suppression), for every caller.
//! - [`plan`]: parses a request and answers it from a rollup cube when one fits, by scanning the
//!   record type's key range otherwise.
//! - [`rollup`]: the in-memory counters adjusted at apply time.
//! - [`suppress`]: small-cell suppression with `k`.
//! - [`minimise`]: protected fields leave a region only when the caller's grants name them.
//! - [`person`]: a person's records in this region, found through the person index, minimised.

pub mod grants;
pub mod local;
pub mod minimise;
pub mod person;
pub mod plan;
pub mod rollup;
pub mod suppress;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /v1/query` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Record type to aggregate (`vacancy`, `job_seeker_registration`, ...).
    pub dataset: String,
    /// `count` and/or `sum` (the type's summable measure, e.g. vacancy openings).
    #[serde(default = "default_measures")]
    pub measures: Vec<String>,
    /// Dimensions to group by: province, prefecture, occupation_major, occupation_minor,
    /// education, sex, age_band, key_group, status, month, county, station_kind, outcome.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Dimension to accepted codes.
    #[serde(default)]
    pub filters: BTreeMap<String, Vec<String>>,
    /// First month included, `YYYY-MM`.
    #[serde(default)]
    pub date_from: Option<String>,
    /// Last month included, `YYYY-MM`.
    #[serde(default)]
    pub date_to: Option<String>,
    /// Regions to ask (federation); a local gateway answers for its own region only.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Purpose of the query, recorded in the audit log.
    #[serde(default)]
    pub purpose: Option<String>,
}

fn default_measures() -> Vec<String> {
    vec!["count".into()]
}

/// One answer cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cell {
    /// Dimension to code.
    pub group: BTreeMap<String, String>,
    /// Records in the cell; absent when suppressed.
    pub count: Option<i64>,
    /// Sum of the measure; absent when suppressed or not asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<i64>,
    /// Whether the cell came from fewer than `k` records and is withheld.
    pub suppressed: bool,
}

/// How current an answer is relative to the journal.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AsOf {
    /// Journal offset the store has applied.
    pub applied_offset: u64,
    /// Journal offset of the last acknowledged push.
    pub journal_offset: u64,
    /// Acknowledged batches not yet applied.
    pub lag_batches: u64,
}

/// `POST /v1/query` answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueryAnswer {
    /// Record type.
    pub dataset: String,
    /// Region answered for.
    pub region: String,
    /// `rollup` or `scan`.
    pub answered_from: String,
    /// Name of the summed measure, when `sum` was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_measure: Option<String>,
    /// Suppression threshold used.
    pub k: u64,
    /// Freshness.
    pub as_of: AsOf,
    /// Cells, sorted by group.
    pub cells: Vec<Cell>,
}

/// Why a query was refused (the caller's fault, 400) or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Unknown dataset.
    #[error("unknown dataset `{0}`")]
    UnknownDataset(String),
    /// Unknown dimension, or one that does not apply to the dataset.
    #[error("dimension `{dim}` does not apply to dataset `{dataset}`")]
    BadDimension {
        /// The dimension.
        dim: String,
        /// The dataset.
        dataset: String,
    },
    /// Unknown measure, or `sum` on a dataset without one.
    #[error("measure `{0}` is not available for this dataset")]
    BadMeasure(String),
    /// A month bound is not `YYYY-MM`.
    #[error("`{0}` is not a month like 2024-03")]
    BadMonth(String),
    /// The store failed during a scan.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The thread scanning the store stopped without an answer (a bug).
    #[error("the scan thread failed")]
    ScanFailed,
}
