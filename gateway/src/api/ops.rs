//! Operational endpoints: health, readiness (apply lag), metrics, OpenAPI, and the 404 answer.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

use crate::api::ingest::as_of;
use crate::api::State;
use crate::ingest::journal::JournalStatus;
use crate::problem::Problem;

/// Answer of `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// Answer of `GET /readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// The applier stopped on an error (not ready until restart).
    pub applier_failed: bool,
    /// Acknowledged batches not yet applied.
    pub apply_lag_batches: u64,
    /// Bound on the lag (`limits.max_apply_lag_batches`).
    pub apply_lag_bound_batches: u64,
    /// Acknowledged bytes not yet applied.
    pub apply_lag_bytes: u64,
    /// Freshness of the store.
    pub as_of: crate::query::AsOf,
    /// Journal entries set aside by the applier.
    pub dead_letters: u64,
    /// `ok`, `no_space` or `failed`.
    #[schema(example = "ok")]
    pub journal: String,
    /// Whether a test fsync fault is injected.
    pub journal_fault_injection: bool,
    /// `ready`, `degraded` or `not_ready`.
    #[schema(example = "ready")]
    pub status: String,
    /// A store write is failing and being retried.
    pub store_stalled: bool,
    /// Journal bytes applied to the store but not yet to the vacancy search index (searches
    /// answer from the index as it is).
    pub search_index_lag_bytes: u64,
    /// Journal offset the vacancy search index has committed.
    pub search_indexed_offset: u64,
    /// The vacancy search index failed to update (searches may miss recent changes).
    pub search_index_failed: bool,
}

/// Readiness: the journal takes appends, the applier runs and its lag is within bound. A journal
/// whose fsync failed stays not ready until restart; a full journal disk is reported
/// (`journal: no_space`, status `degraded`) but leaves the gateway ready for queries.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "Ready (status `ready` or `degraded`)", body = Readiness),
              (status = 503, description = "Not ready", body = Readiness)))]
pub async fn readyz(node: State) -> HttpResponse {
    let s = &node.state;
    let failed = s.failed.load(Ordering::Acquire) != 0;
    let stalled = s.stalled.load(Ordering::Acquire) != 0;
    let journal = node.journal.status();
    let lag = s.lag_batches();
    let bound = node.config.limits.max_apply_lag_batches;
    // Pushes wait once the lag reaches its bound, so a lag at the bound is normal under load;
    // twice the bound means the applier is not keeping up at all.
    // A failed journal takes no pushes until restart: not ready.
    let ready = !failed && journal != JournalStatus::Failed && lag <= bound * 2;
    let dead_letters = node.metrics.dead_letters.get().max(0) as u64;
    let search_failed = node.search_progress.failed.load(Ordering::Acquire) != 0;
    // Degraded: still serving, but an operator must look (entries set aside, a store write
    // failing and being retried, or the journal's disk full: pushes refused until space returns).
    let status = match (
        ready,
        dead_letters > 0 || stalled || journal == JournalStatus::NoSpace || search_failed,
    ) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    let body = Readiness {
        status: status.into(),
        journal: journal.as_str().into(),
        journal_fault_injection: node.journal.fault_injection(),
        dead_letters,
        store_stalled: stalled,
        applier_failed: failed,
        apply_lag_batches: lag,
        apply_lag_bytes: s.lag_bytes(),
        apply_lag_bound_batches: bound,
        as_of: as_of(&node),
        search_index_lag_bytes: node.search_lag_bytes(),
        search_indexed_offset: node.search_progress.indexed.load(Ordering::Acquire),
        search_index_failed: search_failed,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics(node: State) -> HttpResponse {
    node.metrics
        .apply_lag_batches
        .set(node.state.lag_batches() as i64);
    node.metrics
        .apply_lag_bytes
        .set(node.state.lag_bytes() as i64);
    node.metrics
        .search_index_lag_bytes
        .set(node.search_lag_bytes() as i64);
    node.metrics
        .search_index_vacancies
        .set(node.vacancies.len() as i64);
    let journal = node.journal.status();
    node.metrics
        .journal_failed
        .set(i64::from(journal == JournalStatus::Failed));
    node.metrics
        .journal_no_space
        .set(i64::from(journal == JournalStatus::NoSpace));
    let budget = node.config.limits.ingest_memory_bytes;
    node.metrics
        .ingest_memory_reserved
        .set(budget.saturating_sub(node.ingest_budget.available_bytes()) as i64);
    let ops = &node.metrics.ops;
    ops.sample_audit(
        node.audit.size(),
        &node.config.data_dir.join("audit").join("entries.log"),
    );
    if let Some(f) = &node.config.federation {
        ops.sample_federation(
            &f.pki_dir,
            &node.config.region,
            chrono::Utc::now().timestamp(),
        );
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(node.metrics.render())
}

/// The OpenAPI document of the regional gateway's HTTP API (the audit routes are merged in by
/// [`document`]). Every route of [`crate::api::ROUTES`] is listed in `paths`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "PES regional gateway",
        description = "Ingest, local and federated queries, person lookup, records, quarantine, \
            administration and the audit log of one regional gateway. Errors are RFC 9457 \
            `application/problem+json`. Every `/v1` route takes an EdDSA JWT bearer token whose \
            role the route names; `/healthz`, `/readyz`, `/metrics` and `/openapi.json` take none."
    ),
    paths(
        crate::api::ingest::ingest,
        crate::api::query::aggregate,
        crate::api::query::supply_demand,
        crate::api::takers::no_takers,
        crate::api::takers::takers,
        crate::api::vacancies::search,
        crate::api::divisions::list,
        crate::api::occupations::list,
        crate::api::persons::lookup,
        crate::api::erasure::erase,
        crate::api::records::get_record,
        crate::api::records::list_quarantine,
        crate::api::records::retry_quarantined,
        crate::api::lifecycle::open_snapshot,
        crate::api::lifecycle::get_snapshot,
        crate::api::lifecycle::commit_snapshot,
        crate::api::lifecycle::confirm_snapshot,
        crate::api::lifecycle::abort_snapshot,
        crate::api::lifecycle::retire_records,
        crate::api::lifecycle::run_retention,
        crate::api::federated::reload,
        crate::api::federation_members::list,
        crate::api::dead_letters::list,
        crate::api::dead_letters::retry,
        healthz,
        readyz,
        metrics,
        openapi,
    ),
    components(schemas(
        crate::problem::Problem,
        crate::query::Cell,
        crate::store::facts::Dim,
        crate::federation::fanout::MergedCell,
        crate::matching::VacancyHit,
        crate::matching::EmploymentKind,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "ingest", description = "Pushes of source exports"),
        (name = "query", description = "Aggregate queries and reports"),
        (name = "persons", description = "Person lookup and record reads (caseworkers)"),
        (name = "quarantine", description = "Rows that failed validation"),
        (name = "lifecycle", description = "Snapshots of a source and retirement of its records"),
        (name = "admin", description = "Administration: trust list, dead letters, federation members"),
        (name = "ops", description = "Health, readiness, metrics and this document (no token)"),
    )
)]
pub struct ApiDoc;

/// Name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

/// Registers the `bearer` security scheme (EdDSA JWT issued by `pesgw token`).
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "EdDSA JWT of this region (`pesgw token`); the role each route needs \
                         is in its description",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document: the API and the audit routes.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::audit::api::AuditApiDoc::openapi());
    doc
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi() -> HttpResponse {
    // Built once: the document is the same for the life of the process.
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    let body = DOC.get_or_init(|| serde_json::to_vec(&document()).unwrap_or_default());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone())
}

/// Any unknown path.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, Problem> {
    let mut p = Problem::not_found("not-found", "no such endpoint");
    p.request_id = Some(crate::api::request_id(&req));
    Err(p)
}
