//! "Jobs with no takers" (issue #16, item 3): the other direction of matching, as aggregate
//! counts that never name a person.
//!
//! - `GET /v1/reports/takers?occupation=…&division=…&regions=…`: for an occupation (or a
//!   vacancy's occupation) and a division, how many active job seekers in each region want work
//!   in that occupation group there.
//! - `GET /v1/reports/no-takers?regions=…`: open vacancies by region and occupation group for
//!   which no region that answered has a single active seeker of that group.
//!
//! Both are two federated aggregate queries (each audited as `query_aggregate` at home and at
//! every region asked, and k-suppressed at each source), joined here. A seeker *matches* when
//! the first occupation of their registration is in the same occupation group (中类 `X-XX` by
//! default, 大类 with `level=major`) and, for `takers`, their desired division is in the asked
//! prefecture (or province). A suppressed cell means 1 to k-1 seekers: it counts as takers.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::query::{actor_of, no_member_problem};
use crate::api::{authenticate, refuse, Detail, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::federation::fanout::{Answered, MergedCell, RegionStatus};
use crate::federation::node::{FederatedQueryAnswer, Federation};
use crate::problem::Problem;
use crate::query::{QueryError, QueryRequest};

/// Level of the occupation group seekers are matched on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchLevel {
    /// 中类 (`X-XX`), the default.
    #[default]
    Minor,
    /// 大类 (`X`).
    Major,
}

impl MatchLevel {
    fn dim(self) -> &'static str {
        match self {
            MatchLevel::Minor => "occupation_minor",
            MatchLevel::Major => "occupation_major",
        }
    }

    /// The group of `code` at this level (`6-22-01-01` → `6-22` or `6`), if it has one.
    pub fn group_of(self, code: &str) -> Option<String> {
        let occ = pes_schemas::codes::occupation(code)?;
        let want = match self {
            MatchLevel::Minor => 4,
            MatchLevel::Major => 1,
        };
        (occ.code.len() >= want).then(|| occ.code[..want].to_string())
    }
}

/// Query string of `GET /v1/reports/no-takers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoTakersParams {
    /// Regions to ask, comma-separated, or `all`.
    pub regions: String,
    /// Occupation group level to match on: `minor` (中类, default) or `major` (大类).
    #[serde(default)]
    pub level: Option<MatchLevel>,
    /// Purpose stated to the other regions (default `statistics`).
    #[serde(default)]
    pub purpose: Option<String>,
}

/// Query string of `GET /v1/reports/takers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TakersParams {
    /// An occupation code or group of the 2022 classification (`6-22-01-01`, `6-22`).
    pub occupation: String,
    /// A GB/T 2260 province or prefecture code (a county counts as its prefecture); absent:
    /// anywhere.
    #[serde(default)]
    pub division: Option<String>,
    /// Regions to ask, comma-separated, or `all`.
    pub regions: String,
    /// Occupation group level to match on: `minor` (中类, default) or `major` (大类).
    #[serde(default)]
    pub level: Option<MatchLevel>,
    /// Purpose stated to the other regions (default `statistics`).
    #[serde(default)]
    pub purpose: Option<String>,
}

/// One region's active seekers matching the asked cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TakersRow {
    /// Region.
    pub region: String,
    /// Active registrations that match; absent when the region suppressed it (1 to k-1).
    pub active_seekers: Option<i64>,
    /// Whether the region withheld the count as a small cell.
    pub suppressed: bool,
}

/// The answer of `GET /v1/reports/takers`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Takers {
    /// The occupation group matched on.
    pub occupation_group: String,
    /// Level of that group.
    pub level: MatchLevel,
    /// The prefecture or province matched on, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    /// One row per region that answered (zero when it has none).
    pub rows: Vec<TakersRow>,
    /// Suppression threshold of this gateway (each region applies its own policy's).
    pub k: u64,
    /// Every region asked, with status, latency and receipt.
    pub regions: Vec<RegionStatus>,
    /// Whether every region asked answered.
    pub complete: bool,
}

/// One row of the no-takers report: open vacancies of a region in an occupation group that no
/// answering region has an active seeker for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoTakersRow {
    /// Region of the vacancies.
    pub region: String,
    /// Occupation group.
    pub occupation_group: String,
    /// Open vacancies (records); absent when the region suppressed the cell.
    pub vacancies: Option<i64>,
    /// Openings in them; absent when suppressed.
    pub openings: Option<i64>,
}

/// The answer of `GET /v1/reports/no-takers`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoTakers {
    /// Level of the occupation groups.
    pub level: MatchLevel,
    /// The cells with open vacancies and no active seeker anywhere that answered, by region
    /// and group.
    pub rows: Vec<NoTakersRow>,
    /// Occupation groups with open vacancies somewhere, for scale.
    pub groups_with_vacancies: usize,
    /// Suppression threshold of this gateway.
    pub k: u64,
    /// Every region asked, with status, latency and receipt (of either query; a region that
    /// failed either is shown failed).
    pub regions: Vec<RegionStatus>,
    /// Whether every region asked answered both queries. When not, a row may have takers in a
    /// region that did not answer.
    pub complete: bool,
}

fn regions_of(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

fn problem_of(e: &QueryError) -> Problem {
    match e {
        QueryError::Store(_) | QueryError::ScanFailed => {
            tracing::error!(error = %e, "report query failed");
            Problem::internal()
        }
        _ => Problem::bad_request("bad-query", e.to_string()),
    }
}

/// The statuses of two fan-outs over the same regions: a region is as bad as its worse answer.
pub(crate) fn merged_statuses(a: Vec<RegionStatus>, b: Vec<RegionStatus>) -> Vec<RegionStatus> {
    let mut out = a;
    for s in b {
        match out.iter_mut().find(|p| p.region == s.region) {
            Some(prev) if prev.status == Answered::Ok && s.status != Answered::Ok => *prev = s,
            Some(_) => {}
            None => out.push(s),
        }
    }
    out
}

/// Joins vacancy cells (region × group, count and openings) with seeker cells (region × group)
/// into the no-takers rows: groups with open vacancies where no answering region has a seeker
/// cell (a suppressed one counts as seekers).
pub fn join_no_takers(
    vacancies: &[MergedCell],
    seekers: &[MergedCell],
    dim: &str,
) -> Vec<NoTakersRow> {
    let has_seekers: std::collections::BTreeSet<&str> = seekers
        .iter()
        .filter(|c| c.includes_suppressed || c.count.unwrap_or(0) > 0)
        .filter_map(|c| c.group.get(dim).map(String::as_str))
        .collect();
    let mut rows: Vec<NoTakersRow> = vacancies
        .iter()
        .filter(|c| c.includes_suppressed || c.count.unwrap_or(0) > 0)
        .filter_map(|c| {
            let group = c.group.get(dim)?;
            // Records without an occupation have no group to match on.
            if group == "none" || has_seekers.contains(group.as_str()) {
                return None;
            }
            Some(NoTakersRow {
                region: c.group.get("province").cloned().unwrap_or_default(),
                occupation_group: group.clone(),
                vacancies: (!c.includes_suppressed).then_some(c.count).flatten(),
                openings: (!c.includes_suppressed).then_some(c.sum).flatten(),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.openings.unwrap_or(0), &a.region, &a.occupation_group).cmp(&(
            a.openings.unwrap_or(0),
            &b.region,
            &b.occupation_group,
        ))
    });
    rows
}

/// Authenticates an analyst or admin and finds the federation and the asked regions.
async fn prepare<'a>(
    node: &State,
    req: &HttpRequest,
    fed: Option<&'a Federation>,
    regions: &str,
    purpose: &str,
) -> Result<(crate::auth::Authenticated, &'a Federation, Vec<String>), Problem> {
    let action = Action::QueryAggregate;
    let auth = authenticate(node, req, &[Role::Analyst, Role::Admin], action).await?;
    let detail = || Detail::new().purpose(purpose);
    let Some(fed) = fed else {
        let p = Problem::bad_request(
            "federation-not-configured",
            "this gateway has no [federation] section; the report asks regions",
        );
        return Err(refuse(node, req, action, Some(&auth), p, detail()).await);
    };
    let regions = regions_of(regions);
    if regions.is_empty() {
        let p = Problem::bad_request("no-regions", "regions: name the regions to ask, or `all`");
        return Err(refuse(node, req, action, Some(&auth), p, detail()).await);
    }
    if let Err(e) = fed.check_regions(&regions) {
        return Err(refuse(
            node,
            req,
            action,
            Some(&auth),
            no_member_problem(&e),
            detail(),
        )
        .await);
    }
    Ok((auth, fed, regions))
}

async fn ask(
    node: &State,
    req: &HttpRequest,
    fed: &Federation,
    auth: &crate::auth::Authenticated,
    q: QueryRequest,
) -> Result<FederatedQueryAnswer, Problem> {
    let rid = crate::api::request_id(req);
    match fed.aggregate(node, &q, &rid, &actor_of(auth)).await {
        Ok(a) => Ok(a),
        Err(e) => {
            let detail = Detail::new().dataset(&q.dataset).purpose(&q.purpose);
            let action = Action::QueryAggregate;
            Err(refuse(node, req, action, Some(auth), problem_of(&e), detail).await)
        }
    }
}

/// Open vacancies that no reachable region has an active seeker for.
#[utoipa::path(get, path = "/v1/reports/no-takers", tag = "query",
    description = "Open vacancies, by region and occupation group, for which no region that \
        answered has a single active job seeker of that group (role `analyst` or `admin`). Two \
        federated aggregate queries, each k-suppressed at its source and audited as \
        `query_aggregate`; a suppressed seeker cell counts as takers. `complete: false` when a \
        region did not answer (it may have takers).",
    security(("bearer" = [])),
    params(NoTakersParams),
    responses(
        (status = 200, description = "The report", body = NoTakers),
        (status = 400, description = "Bad query string, no regions, or no member region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an analyst or admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn no_takers(
    req: HttpRequest,
    node: State,
    params: web::Query<NoTakersParams>,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let purpose = params
        .purpose
        .clone()
        .unwrap_or_else(|| "statistics".into());
    let fed = fed.as_ref().map(|f| f.get_ref());
    let (auth, fed, regions) = prepare(&node, &req, fed, &params.regions, &purpose).await?;
    let level = params.level.unwrap_or_default();
    let mk = |dataset: &str, status: &str, measures: &[&str]| QueryRequest {
        dataset: dataset.into(),
        measures: measures.iter().map(|m| m.to_string()).collect(),
        group_by: vec!["province".into(), level.dim().into()],
        filters: BTreeMap::from([("status".to_string(), vec![status.to_string()])]),
        regions: regions.clone(),
        purpose: Some(purpose.clone()),
        ..Default::default()
    };
    let vac = ask(
        &node,
        &req,
        fed,
        &auth,
        mk("vacancy", "open", &["count", "sum"]),
    )
    .await?;
    let seek = ask(
        &node,
        &req,
        fed,
        &auth,
        mk("job_seeker_registration", "active", &["count"]),
    )
    .await?;
    let rows = join_no_takers(&vac.cells, &seek.cells, level.dim());
    let groups_with_vacancies = vac
        .cells
        .iter()
        .filter_map(|c| c.group.get(level.dim()))
        .filter(|g| *g != "none")
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let regions = merged_statuses(vac.regions, seek.regions);
    let complete = regions.iter().all(|s| s.status == Answered::Ok);
    Ok(HttpResponse::Ok().json(NoTakers {
        level,
        rows,
        groups_with_vacancies,
        k: node.config.k,
        regions,
        complete,
    }))
}

/// How many active seekers in each region match an occupation and division.
#[utoipa::path(get, path = "/v1/reports/takers", tag = "query",
    description = "For an occupation (code or group) and optionally a province or prefecture: \
        how many active job seekers in each region want work in that occupation group there \
        (role `analyst` or `admin`). One federated aggregate query, k-suppressed at each source \
        and audited as `query_aggregate`; no person is named.",
    security(("bearer" = [])),
    params(TakersParams),
    responses(
        (status = 200, description = "Counts per region", body = Takers),
        (status = 400, description = "Unknown occupation or division, no regions, or no member region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an analyst or admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn takers(
    req: HttpRequest,
    node: State,
    params: web::Query<TakersParams>,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let purpose = params
        .purpose
        .clone()
        .unwrap_or_else(|| "statistics".into());
    let fed = fed.as_ref().map(|f| f.get_ref());
    let (auth, fed, regions) = prepare(&node, &req, fed, &params.regions, &purpose).await?;
    let level = params.level.unwrap_or_default();
    let refuse_bad = |slug: &'static str, detail: String| {
        let p = Problem::bad_request(slug, detail);
        let d = Detail::new().purpose(&purpose);
        refuse(&node, &req, Action::QueryAggregate, Some(&auth), p, d)
    };
    let Some(group) = level.group_of(params.occupation.trim()) else {
        let detail = format!(
            "occupation: not a code or group of the 2022 classification at the {} level",
            level.dim()
        );
        return Err(refuse_bad("bad-occupation", detail).await);
    };
    let mut filters = BTreeMap::from([
        ("status".to_string(), vec!["active".to_string()]),
        (level.dim().to_string(), vec![group.clone()]),
    ]);
    let division = match params
        .division
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(d) => match pes_schemas::codes::current_division(d) {
            Some(div) if div.level == pes_schemas::codes::DivisionLevel::Province => {
                filters.insert("province".into(), vec![div.code.to_string()]);
                Some(div.code.to_string())
            }
            Some(div) => {
                // A county counts as its prefecture (the level registrations are counted at).
                let pref = match div.level {
                    pes_schemas::codes::DivisionLevel::County => div.parent.unwrap_or(div.code),
                    _ => div.code,
                };
                filters.insert("prefecture".into(), vec![pref.to_string()]);
                Some(pref.to_string())
            }
            None => {
                let detail = "division: not a current GB/T 2260 division".to_string();
                return Err(refuse_bad("bad-division", detail).await);
            }
        },
    };
    let q = QueryRequest {
        dataset: "job_seeker_registration".into(),
        measures: vec!["count".into()],
        group_by: vec!["province".into()],
        filters,
        regions,
        purpose: Some(purpose.clone()),
        ..Default::default()
    };
    let answer = ask(&node, &req, fed, &auth, q).await?;
    let by: BTreeMap<&str, &MergedCell> = answer
        .cells
        .iter()
        .filter_map(|c| Some((c.group.get("province")?.as_str(), c)))
        .collect();
    let rows = answer
        .regions
        .iter()
        .filter(|s| s.status == Answered::Ok)
        .map(|s| match by.get(s.region.as_str()) {
            Some(c) if c.includes_suppressed => TakersRow {
                region: s.region.clone(),
                active_seekers: None,
                suppressed: true,
            },
            Some(c) => TakersRow {
                region: s.region.clone(),
                active_seekers: Some(c.count.unwrap_or(0)),
                suppressed: false,
            },
            None => TakersRow {
                region: s.region.clone(),
                active_seekers: Some(0),
                suppressed: false,
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(Takers {
        occupation_group: group,
        level,
        division,
        rows,
        k: node.config.k,
        complete: answer.complete,
        regions: answer.regions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(region: &str, group: &str, count: Option<i64>, sum: Option<i64>) -> MergedCell {
        MergedCell {
            group: BTreeMap::from([
                ("province".to_string(), region.to_string()),
                ("occupation_minor".to_string(), group.to_string()),
            ]),
            count,
            sum,
            includes_suppressed: count.is_none(),
            regions: vec![region.to_string()],
        }
    }

    #[test]
    fn a_group_with_seekers_anywhere_has_takers_and_a_suppressed_cell_counts_as_seekers() {
        let vac = [
            cell("440000", "6-22", Some(9), Some(30)),
            cell("510000", "6-22", Some(6), Some(12)),
            cell("440000", "4-02", Some(8), Some(8)),
            cell("440000", "2-02", None, None),
            cell("510000", "3-01", Some(5), Some(50)),
            cell("510000", "none", Some(7), Some(7)),
        ];
        let seek = [
            // Seekers of 4-02 only in another region: still takers.
            cell("510000", "4-02", Some(12), None),
            // 3-01: a suppressed cell (1 to k-1 seekers) is takers.
            cell("440000", "3-01", None, None),
            // A zero-count cell is no seeker.
            cell("440000", "6-22", Some(0), None),
        ];
        let rows = join_no_takers(&vac, &seek, "occupation_minor");
        let got: Vec<(&str, &str, Option<i64>, Option<i64>)> = rows
            .iter()
            .map(|r| {
                (
                    r.region.as_str(),
                    r.occupation_group.as_str(),
                    r.vacancies,
                    r.openings,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("440000", "6-22", Some(9), Some(30)),
                ("510000", "6-22", Some(6), Some(12)),
                // Suppressed vacancies still exist; they sort last (openings unknown).
                ("440000", "2-02", None, None),
            ]
        );
    }

    #[test]
    fn an_occupation_matches_on_its_group() {
        assert_eq!(
            MatchLevel::Minor.group_of("6-22-01-01").as_deref(),
            Some("6-22")
        );
        assert_eq!(
            MatchLevel::Major.group_of("6-22-01-01").as_deref(),
            Some("6")
        );
        assert_eq!(MatchLevel::Minor.group_of("6-22").as_deref(), Some("6-22"));
        assert_eq!(MatchLevel::Minor.group_of("6").as_deref(), None);
        assert_eq!(MatchLevel::Minor.group_of("9-99-99-99"), None);
    }
}
