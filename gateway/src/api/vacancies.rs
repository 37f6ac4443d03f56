//! `POST /v1/vacancies/search`: vacancy search, in this region or across regions.
//!
//! Who may search: roles `analyst`, `caseworker` and `admin`; and anyone without a token when
//! `search.public` is set (a public job board; each anonymous search is audited, actor
//! `anonymous`). Vacancies are public data and the answer
//! names no person.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::query::{actor_of, need_federation, no_member_problem};
use crate::api::{audit, authenticate, event, refuse, Detail, State};
use crate::audit::event::Actor;
use crate::audit::Action;
use crate::auth::{Authenticated, Role};
use crate::federation::fanout::{Answered, RegionStatus};
use crate::federation::members::data_as_of;
use crate::federation::node::{Federation, VacancySearchAnswer};
use crate::matching::{Checked, IndexError, SearchQuery};
use crate::problem::Problem;

const ACTION: Action = Action::VacancySearch;

/// Roles that may search with a token.
pub const SEARCH_ROLES: &[Role] = &[Role::Analyst, Role::Caseworker, Role::Admin];

fn index_problem(e: &IndexError) -> Problem {
    tracing::error!(error = %e, "vacancy search failed");
    Problem::internal()
}

/// Who is searching: a token holder, or no one (public search).
async fn admit(node: &State, req: &HttpRequest) -> Result<Option<Authenticated>, Problem> {
    let has_token = req.headers().contains_key("authorization");
    if node.config.search.public && !has_token {
        return Ok(None);
    }
    authenticate(node, req, SEARCH_ROLES, ACTION)
        .await
        .map(Some)
}

/// Searches open vacancies.
#[utoipa::path(post, path = "/v1/vacancies/search", tag = "query",
    description = "Vacancy search (roles `analyst`, `caseworker`, `admin`; anyone when \
        `search.public` is set). Only open vacancies still valid today; `text` is cut into \
        words by jieba (every word must occur in the title or description, ranked by BM25); \
        an occupation group matches its occupations and a province or prefecture its \
        counties. Without `regions`: this region's index; with `regions`: fanned out through \
        the federation (only the criteria travel) and merged in rank order, with per-region \
        status. Pass `next_cursor` back as `cursor` for the next page.",
    security(("bearer" = [])),
    request_body(content = SearchQuery, example = json!({
        "text": "厨师 包吃住",
        "occupation": "4-03",
        "division": "440100",
        "wage_min": 5000,
        "employment_type": ["full_time", "gig"],
        "regions": ["all"],
        "limit": 20
    })),
    responses(
        (status = 200, description = "One page of hits", body = VacancySearchAnswer),
        (status = 400, description = "Malformed JSON, an unknown occupation or division, a bad wage range, limit or cursor, or no member region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one (public search off)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A role that may not search", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    req: HttpRequest,
    body: web::Json<SearchQuery>,
    node: State,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let auth = admit(&node, &req).await?;
    let q = body.into_inner();
    let digest = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        &serde_json::to_vec(&q).unwrap_or_default(),
    ));
    let detail = || Detail::new().dataset("vacancy").query_sha256(&digest);
    let checked = match q.check() {
        Ok(c) => c,
        Err(e) => {
            let p = Problem::bad_request(e.slug(), e.to_string());
            return Err(refuse(&node, &req, ACTION, auth.as_ref(), p, detail()).await);
        }
    };
    if !q.regions.is_empty() {
        let fed = fed.as_ref().map(|f| f.get_ref());
        return federated(&req, &node, fed, auth.as_ref(), &checked, detail()).await;
    }
    let started = std::time::Instant::now();
    let hits = match crate::matching::search_blocking(node.vacancies.clone(), checked.clone()).await
    {
        Ok(h) => h,
        Err(e) => {
            let p = index_problem(&e);
            return Err(refuse(&node, &req, ACTION, auth.as_ref(), p, detail()).await);
        }
    };
    let (hits, next_cursor) = crate::matching::query::merge_pages(vec![hits], checked.limit);
    let d = detail().count("hits", hits.len() as u64);
    let receipt = audit(&node, event(&node, &req, ACTION, auth.as_ref(), 200, d)).await?;
    let status = RegionStatus {
        region: node.config.region.clone(),
        status: Answered::Ok,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        receipt: Some(receipt.clone()),
        detail: None,
        unreachable_since: None,
        as_of: data_as_of(&node.config.data_dir, node.state.as_of().applied_offset),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("x-audit-index", receipt.index.to_string()))
        .json(VacancySearchAnswer {
            hits,
            next_cursor,
            complete: true,
            regions: vec![status],
            receipt: Some(receipt),
        }))
}

/// The search across regions; the federation side audits it with every region's receipt.
async fn federated(
    req: &HttpRequest,
    node: &State,
    fed: Option<&Federation>,
    auth: Option<&Authenticated>,
    q: &Checked,
    detail: Detail,
) -> Result<HttpResponse, Problem> {
    let fed = match (fed, auth) {
        (Some(f), _) => f,
        (None, Some(a)) => need_federation(node, req, ACTION, a, None).await?,
        (None, None) => {
            let p = Problem::bad_request(
                "federation-not-configured",
                "this gateway has no [federation] section: ask without `regions`",
            );
            return Err(refuse(node, req, ACTION, None, p, detail).await);
        }
    };
    if let Err(e) = fed.check_regions(&q.query.regions) {
        return Err(refuse(node, req, ACTION, auth, no_member_problem(&e), detail).await);
    }
    let actor = match auth {
        Some(a) => actor_of(a),
        None => Actor {
            sub: "anonymous".into(),
            role: "none".into(),
            region: None,
            peer_member: None,
        },
    };
    match fed
        .search_vacancies(node, q, &crate::api::request_id(req), &actor)
        .await
    {
        Ok(answer) => Ok(HttpResponse::Ok().json(answer)),
        Err(e) => Err(refuse(node, req, ACTION, auth, index_problem(&e), detail).await),
    }
}
