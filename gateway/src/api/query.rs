//! `POST /v1/query` and `GET /v1/reports/supply-demand`.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::ingest::as_of;
use crate::api::{audit, authenticate, event, refuse, Detail, State};
use crate::audit::event::Actor;
use crate::audit::Action;
use crate::auth::Role;
use crate::federation::fanout::{Answered, MergedCell, RegionStatus};
use crate::federation::node::{FederatedQueryAnswer, Federation, NoMemberRegion};
use crate::node::Node;
use crate::problem::Problem;
use crate::query::plan::Plan;
use crate::query::{self, AsOf, QueryAnswer, QueryError, QueryRequest};

fn query_problem(e: &QueryError) -> Problem {
    match e {
        QueryError::Store(_) | QueryError::ScanFailed => {
            tracing::error!(error = %e, "query scan failed");
            Problem::internal()
        }
        QueryError::UnknownDataset(_) => Problem::bad_request("unknown-dataset", e.to_string()),
        QueryError::BadDimension { .. } => Problem::bad_request("bad-dimension", e.to_string()),
        QueryError::BadMeasure(_) => Problem::bad_request("bad-measure", e.to_string()),
        QueryError::BadMonth(_) => Problem::bad_request("bad-month", e.to_string()),
    }
}

/// The answer of `POST /v1/query`: this region's answer, or the merged answer across the
/// regions asked (when the request names `regions`). Untagged: each serialises as it is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AggregateAnswer {
    /// This region's answer.
    Local(QueryAnswer),
    /// The merged answer of the regions asked.
    Federated(FederatedQueryAnswer),
}

/// Answers an aggregate query from this region's records.
#[utoipa::path(post, path = "/v1/query", tag = "query",
    description = "Aggregate query (role `analyst` or `admin`). Without `regions`: this \
        region's records, cells from fewer than `k` records suppressed. With `regions`: fanned \
        out through the federation and merged, each region suppressing at the source.",
    security(("bearer" = [])),
    request_body(content = QueryRequest, example = json!({
        "dataset": "job_seeker_registration",
        "measures": ["count"],
        "group_by": ["occupation_major"],
        "filters": {"status": ["active"]},
        "purpose": "statistics"
    })),
    responses(
        (status = 200, description = "The answer; `x-audit-index` names its audit entry (local answers)", body = AggregateAnswer,
            headers(("x-audit-index" = String, description = "Index of the audit entry (local answers)"))),
        (status = 400, description = "Malformed JSON, unknown dataset, dimension, measure or month, or no member region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an analyst or admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn aggregate(
    req: HttpRequest,
    body: web::Json<QueryRequest>,
    node: State,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(
        &node,
        &req,
        &[Role::Analyst, Role::Admin],
        Action::QueryAggregate,
    )
    .await?;
    let q = body.into_inner();
    if !q.regions.is_empty() {
        return federated_aggregate(&req, &node, fed.as_ref().map(|f| f.get_ref()), &auth, &q)
            .await;
    }
    let digest = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &serde_json::to_vec(&q).unwrap_or_default(),
    ));
    let detail = Detail::new()
        .dataset(&q.dataset)
        .query_sha256(digest)
        .purpose(&q.purpose);
    let out = match query::local::answer(node.local(), &q, node.config.k).await {
        Ok(a) => a,
        Err(e) => {
            let p = query_problem(&e);
            return Err(refuse(&node, &req, Action::QueryAggregate, Some(&auth), p, detail).await);
        }
    };
    let d = detail.count("cells", out.cells.len() as u64);
    let receipt = audit(
        &node,
        event(&node, &req, Action::QueryAggregate, Some(&auth), 200, d),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("x-audit-index", receipt.index.to_string()))
        .json(AggregateAnswer::Local(out)))
}

/// The audit actor of an authenticated caller.
pub fn actor_of(auth: &crate::auth::Authenticated) -> Actor {
    Actor {
        sub: auth.sub().to_string(),
        role: auth.role().as_str().to_string(),
        region: Some(auth.region().to_string()),
        peer_member: None,
    }
}

/// A request named only regions outside the federation: 400, naming them.
pub fn no_member_problem(e: &NoMemberRegion) -> Problem {
    Problem::bad_request("no-member-region", e.to_string())
}

/// The federation side, or a problem (audited) when this gateway has none.
pub(crate) async fn need_federation<'a>(
    node: &Node,
    req: &HttpRequest,
    action: Action,
    auth: &crate::auth::Authenticated,
    fed: Option<&'a Federation>,
) -> Result<&'a Federation, Problem> {
    match fed {
        Some(f) => Ok(f),
        None => Err(refuse(
            node,
            req,
            action,
            Some(auth),
            Problem::bad_request(
                "federation-not-configured",
                "this gateway has no [federation] section: ask without `regions`",
            ),
            Detail::new(),
        )
        .await),
    }
}

/// `POST /v1/query` with `regions`: fanned out through the federation and merged. The
/// federation side audits the outcome with every region's receipt.
async fn federated_aggregate(
    req: &HttpRequest,
    node: &State,
    fed: Option<&Federation>,
    auth: &crate::auth::Authenticated,
    q: &QueryRequest,
) -> Result<HttpResponse, Problem> {
    let fed = need_federation(node, req, Action::QueryAggregate, auth, fed).await?;
    let detail = || Detail::new().dataset(&q.dataset).purpose(&q.purpose);
    if let Err(e) = fed.check_regions(&q.regions) {
        return Err(refuse(
            node,
            req,
            Action::QueryAggregate,
            Some(auth),
            no_member_problem(&e),
            detail(),
        )
        .await);
    }
    match fed
        .aggregate(node, q, &crate::api::request_id(req), &actor_of(auth))
        .await
    {
        Ok(answer) => Ok(HttpResponse::Ok().json(AggregateAnswer::Federated(answer))),
        Err(e) => {
            let p = query_problem(&e);
            Err(refuse(node, req, Action::QueryAggregate, Some(auth), p, detail()).await)
        }
    }
}

/// One row of the supply-and-demand report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupplyDemandRow {
    /// Region.
    pub region: String,
    /// Occupation major group.
    pub occupation_major: String,
    /// Openings in open vacancies (absent when suppressed).
    pub open_vacancies: Option<i64>,
    /// Active job-seeker registrations (absent when suppressed).
    pub active_seekers: Option<i64>,
    /// Vacancy-to-seeker ratio (求人倍率), absent when either side is suppressed or zero seekers.
    /// Two decimals from 1 up, three significant digits below 1 (394 / 102,601 is 0.00384).
    pub ratio: Option<f64>,
    /// Whether a part was suppressed.
    pub suppressed: bool,
}

/// The supply-and-demand report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupplyDemand {
    /// Rows by occupation major group.
    pub rows: Vec<SupplyDemandRow>,
    /// Suppression threshold.
    pub k: u64,
    /// Freshness.
    pub as_of: AsOf,
    /// Across regions: every region asked, with status, latency and receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<RegionStatus>>,
    /// Across regions: whether every region asked answered `ok` (when not, the rows leave the
    /// missing regions out and `regions` names them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
}

/// Query string of the supply-and-demand report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SupplyDemandParams {
    /// Regions to ask, comma-separated, or `all`; absent means this region only.
    #[serde(default)]
    pub regions: Option<String>,
    /// Purpose stated to the other regions (their policies must allow it).
    #[serde(default)]
    pub purpose: Option<String>,
}

/// The vacancy-to-seeker ratio `open / seekers` (none without seekers): two decimals from 1
/// up, as the labour-market reports print it, and three significant digits below 1, so that a
/// small ratio (394 / 102,601) reads 0.00384 instead of rounding to 0.
pub fn ratio_of(open: i64, seekers: i64) -> Option<f64> {
    if seekers <= 0 {
        return None;
    }
    let r = open as f64 / seekers as f64;
    if r <= 0.0 || !r.is_finite() {
        return Some(0.0);
    }
    // Decimals for three significant digits, never fewer than two.
    let decimals = (2 - r.log10().floor() as i32).clamp(2, 12);
    let scale = 10f64.powi(decimals);
    Some((r * scale).round() / scale)
}

/// Vacancy-to-seeker ratio by occupation major group.
#[utoipa::path(get, path = "/v1/reports/supply-demand", tag = "query",
    description = "Vacancy-to-seeker ratio (求人倍率) by occupation major group (role `analyst` or \
        `admin`); across regions with `regions`.",
    security(("bearer" = [])),
    params(SupplyDemandParams),
    responses(
        (status = 200, description = "The report", body = SupplyDemand),
        (status = 400, description = "Bad query string, or no member region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an analyst or admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn supply_demand(
    req: HttpRequest,
    node: State,
    params: web::Query<SupplyDemandParams>,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(
        &node,
        &req,
        &[Role::Analyst, Role::Admin],
        Action::ReportSupplyDemand,
    )
    .await?;
    let regions: Vec<String> = params
        .regions
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    if !regions.is_empty() {
        let fed = need_federation(
            &node,
            &req,
            Action::ReportSupplyDemand,
            &auth,
            fed.as_ref().map(|f| f.get_ref()),
        )
        .await?;
        let purpose = params
            .purpose
            .clone()
            .unwrap_or_else(|| "statistics".to_string());
        if let Err(e) = fed.check_regions(&regions) {
            let detail = Detail::new().purpose(&purpose);
            let p = no_member_problem(&e);
            let action = Action::ReportSupplyDemand;
            return Err(refuse(&node, &req, action, Some(&auth), p, detail).await);
        }
        return federated_supply_demand(&req, &node, fed, &auth, regions, purpose).await;
    }
    let mk = |dataset: &str, status: &str, measure: &str| QueryRequest {
        dataset: dataset.into(),
        measures: vec![measure.into()],
        group_by: vec!["occupation_major".into()],
        filters: BTreeMap::from([("status".to_string(), vec![status.to_string()])]),
        ..Default::default()
    };
    let region = node.config.region.clone();
    let side = |q: QueryRequest| -> Result<Plan, Problem> {
        Plan::new(&q, &region).map_err(|e| query_problem(&e))
    };
    let (pv, ps) = (
        side(mk("vacancy", "open", "sum"))?,
        side(mk("job_seeker_registration", "active", "count"))?,
    );
    let local = node.local();
    let v = query::local::run(&local, pv)
        .await
        .map_err(|e| query_problem(&e))?;
    let s = query::local::run(&local, ps)
        .await
        .map_err(|e| query_problem(&e))?;
    let k = node.config.k;
    let mut by_occ: BTreeMap<String, (Option<i64>, Option<i64>, i64, i64)> = BTreeMap::new();
    for c in v.cells {
        let occ = c.group.get("occupation_major").cloned().unwrap_or_default();
        let e = by_occ.entry(occ).or_default();
        e.0 = c.sum;
        e.2 = c.count.unwrap_or(0);
    }
    for c in s.cells {
        let occ = c.group.get("occupation_major").cloned().unwrap_or_default();
        let e = by_occ.entry(occ).or_default();
        e.1 = c.count;
        e.3 = c.count.unwrap_or(0);
    }
    let rows = by_occ
        .into_iter()
        .map(|(occ, (openings, seekers, n_vac, n_seek))| {
            // A side drawn from fewer than k records is withheld.
            let vac_ok = n_vac == 0 || n_vac as u64 >= k;
            let seek_ok = n_seek == 0 || n_seek as u64 >= k;
            let open_vacancies = if vac_ok {
                Some(openings.unwrap_or(0))
            } else {
                None
            };
            let active_seekers = if seek_ok {
                Some(seekers.unwrap_or(0))
            } else {
                None
            };
            let ratio = match (open_vacancies, active_seekers) {
                (Some(o), Some(s)) => ratio_of(o, s),
                _ => None,
            };
            SupplyDemandRow {
                region: region.clone(),
                occupation_major: occ,
                open_vacancies,
                active_seekers,
                ratio,
                suppressed: !(vac_ok && seek_ok),
            }
        })
        .collect();
    audit(
        &node,
        event(
            &node,
            &req,
            Action::ReportSupplyDemand,
            Some(&auth),
            200,
            Detail::new(),
        ),
    )
    .await?;
    Ok(HttpResponse::Ok().json(SupplyDemand {
        rows,
        k,
        as_of: as_of(&node),
        regions: None,
        complete: None,
    }))
}

/// The report across regions: two federated aggregates (open vacancies' openings, active
/// registrations) by province and occupation major group; each region suppressed at the source.
async fn federated_supply_demand(
    req: &HttpRequest,
    node: &State,
    fed: &Federation,
    auth: &crate::auth::Authenticated,
    regions: Vec<String>,
    purpose: String,
) -> Result<HttpResponse, Problem> {
    let mk = |dataset: &str, status: &str, measure: &str| QueryRequest {
        dataset: dataset.into(),
        measures: vec![measure.into()],
        group_by: vec!["province".into(), "occupation_major".into()],
        filters: BTreeMap::from([("status".to_string(), vec![status.to_string()])]),
        regions: regions.clone(),
        purpose: Some(purpose.clone()),
        ..Default::default()
    };
    let rid = crate::api::request_id(req);
    let actor = actor_of(auth);
    let stated = purpose.clone();
    let fail = |e: QueryError| async move {
        let detail = Detail::new().purpose(&stated);
        refuse(
            node,
            req,
            Action::ReportSupplyDemand,
            Some(auth),
            query_problem(&e),
            detail,
        )
        .await
    };
    let vac = match fed
        .aggregate(node, &mk("vacancy", "open", "sum"), &rid, &actor)
        .await
    {
        Ok(a) => a,
        Err(e) => return Err(fail(e).await),
    };
    let seek = match fed
        .aggregate(
            node,
            &mk("job_seeker_registration", "active", "count"),
            &rid,
            &actor,
        )
        .await
    {
        Ok(a) => a,
        Err(e) => return Err(fail(e).await),
    };
    // (region, occupation) -> (openings, seekers); None = suppressed at the source.
    type Sides = (Option<Option<i64>>, Option<Option<i64>>);
    let mut by: BTreeMap<(String, String), Sides> = BTreeMap::new();
    let key = |c: &MergedCell| {
        (
            c.group.get("province").cloned().unwrap_or_default(),
            c.group.get("occupation_major").cloned().unwrap_or_default(),
        )
    };
    for c in &vac.cells {
        let v = if c.includes_suppressed {
            None
        } else {
            Some(c.sum.unwrap_or(0))
        };
        by.entry(key(c)).or_default().0 = Some(v);
    }
    for c in &seek.cells {
        let v = if c.includes_suppressed { None } else { c.count };
        by.entry(key(c)).or_default().1 = Some(v);
    }
    let rows = by
        .into_iter()
        .map(|((region, occ), (vac, seek))| {
            // A side absent from a region's answer had no records there: zero.
            let open_vacancies = vac.unwrap_or(Some(0));
            let active_seekers = seek.unwrap_or(Some(0));
            let ratio = match (open_vacancies, active_seekers) {
                (Some(o), Some(s)) => ratio_of(o, s),
                _ => None,
            };
            SupplyDemandRow {
                region,
                occupation_major: occ,
                open_vacancies,
                active_seekers,
                ratio,
                suppressed: open_vacancies.is_none() || active_seekers.is_none(),
            }
        })
        .collect();
    let statuses = crate::api::takers::merged_statuses(vac.regions, seek.regions);
    let complete = statuses.iter().all(|s| s.status == Answered::Ok);
    Ok(HttpResponse::Ok().json(SupplyDemand {
        rows,
        k: node.config.k,
        as_of: as_of(node),
        regions: Some(statuses),
        complete: Some(complete),
    }))
}

#[cfg(test)]
mod ratio_tests {
    use super::ratio_of;

    #[test]
    fn small_ratios_keep_three_significant_digits_and_large_ones_two_decimals() {
        assert_eq!(ratio_of(394, 102_601), Some(0.00384));
        assert_eq!(ratio_of(1, 3), Some(0.333));
        assert_eq!(ratio_of(45, 100), Some(0.45));
        assert_eq!(ratio_of(3, 2_000_000), Some(0.0000015));
        assert_eq!(ratio_of(5, 4), Some(1.25));
        assert_eq!(ratio_of(12_346, 1_000), Some(12.35));
        assert_eq!(ratio_of(0, 10), Some(0.0));
        assert_eq!(ratio_of(10, 0), None);
    }
}
