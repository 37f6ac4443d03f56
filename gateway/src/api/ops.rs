//! Operational endpoints: health, readiness (apply lag), metrics, OpenAPI, and the 404 answer.

use std::sync::atomic::Ordering;

use actix_web::{HttpRequest, HttpResponse};
use utoipa::OpenApi;

use crate::api::ingest::as_of;
use crate::api::State;
use crate::ingest::journal::JournalStatus;
use crate::problem::Problem;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the journal takes appends, the applier runs and its lag is within bound. A journal
/// whose fsync failed stays not ready until restart; a full journal disk is reported
/// (`journal: no_space`, status `degraded`) but leaves the gateway ready for queries.
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
    // Degraded: still serving, but an operator must look (entries set aside, a store write
    // failing and being retried, or the journal's disk full: pushes refused until space returns).
    let status = match (
        ready,
        dead_letters > 0 || stalled || journal == JournalStatus::NoSpace,
    ) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    let body = serde_json::json!({
        "status": status,
        "journal": journal.as_str(),
        "journal_fault_injection": node.journal.fault_injection(),
        "dead_letters": dead_letters,
        "store_stalled": stalled,
        "applier_failed": failed,
        "apply_lag_batches": lag,
        "apply_lag_bytes": s.lag_bytes(),
        "apply_lag_bound_batches": bound,
        "as_of": as_of(&node),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition.
pub async fn metrics(node: State) -> HttpResponse {
    node.metrics
        .apply_lag_batches
        .set(node.state.lag_batches() as i64);
    node.metrics
        .apply_lag_bytes
        .set(node.state.lag_bytes() as i64);
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

/// The OpenAPI document of the regional gateway.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "PES regional gateway",
        description = "Ingest, local queries and records of one regional gateway"
    ),
    components(schemas(
        crate::problem::Problem,
        crate::api::ingest::IngestResponse,
        crate::query::QueryRequest,
        crate::query::QueryAnswer,
        crate::query::Cell,
        crate::query::AsOf,
        crate::api::query::SupplyDemand,
        crate::api::query::SupplyDemandRow,
        crate::api::records::QuarantineItem,
        crate::ingest::decode::RowProblem,
        crate::api::AuditReceipt,
        crate::store::facts::Dim,
        crate::api::persons::LookupRequest,
        crate::federation::lookup::PersonLookupAnswer,
        crate::federation::lookup::PersonRegion,
        crate::federation::fanout::RegionStatus,
        crate::query::person::PersonFields,
        crate::query::person::BenefitsFlags,
    ))
)]
pub struct ApiDoc;

/// Paths of the API, documented by hand beside the generated component schemas.
fn paths() -> serde_json::Value {
    let op = |summary: &str, ok: &str| serde_json::json!({ "summary": summary, "responses": { "200": { "description": ok }, "default": { "description": "problem+json", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } } } });
    serde_json::json!({
        "/v1/ingest/{source}": { "post": op("Push an export of a registered source (role pusher). ?wait=applied waits until applied.", "IngestResponse") },
        "/v1/query": { "post": op("Aggregate query (role analyst)", "QueryAnswer") },
        "/v1/reports/supply-demand": { "get": op("Vacancy-to-seeker ratio by occupation major group (role analyst)", "SupplyDemand") },
        "/v1/records/{record_id}": { "get": op("Read one record (role caseworker; ?purpose=&reveal=true for protected fields)", "record") },
        "/v1/persons/lookup": { "post": op("Look a person up across regions by id_number or person_key, with purpose and legal_basis (role caseworker); each region's fields minimised by its policy", "PersonLookupAnswer") },
        "/v1/quarantine": { "get": op("List quarantined rows, masked (?source=&batch=)", "QuarantineItem list") },
        "/healthz": { "get": op("Liveness", "ok") },
        "/readyz": { "get": op("Readiness and apply lag", "ready") },
        "/metrics": { "get": op("Prometheus metrics", "text") },
    })
}

/// `GET /openapi.json`.
pub async fn openapi() -> HttpResponse {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["paths"] = paths();
    HttpResponse::Ok().json(doc)
}

/// Any unknown path.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, Problem> {
    let mut p = Problem::not_found("not-found", "no such endpoint");
    p.request_id = Some(crate::api::request_id(&req));
    Err(p)
}
