//! HTTP API of the audit log (actix-web 4), documented with utoipa.
//!
//! | route | for | answer |
//! |---|---|---|
//! | `GET /v1/audit/checkpoint` | auditors, peers | signed checkpoint note (`text/plain`) |
//! | `GET /v1/audit/key` | anyone | the log's verifier key |
//! | `GET /v1/audit/entries?from&to` | auditors | NDJSON, one canonical entry per line, byte-exact |
//! | `GET /v1/audit/entries?from&to&action=…` | auditors | JSON list of matching `{index, event}` |
//! | `GET /v1/audit/proof/inclusion?index&size` | auditors | JSON proof |
//! | `GET /v1/audit/proof/consistency?old&new` | auditors, peers | JSON proof |
//! | `GET /v1/audit/receipt?index` | auditors | C2SP tlog-proof |
//! | `POST /v1/audit/witness/add-checkpoint` | peers | C2SP tlog-witness |
//!
//! **Authorisation hook.** Handlers call [`AuditApi::access`] with the kind of access before
//! doing anything; the gateway's auth layer supplies that function (auditor role for entries,
//! proofs and receipts; auditors and trust-list peers for checkpoints; peers for the witness).
//! Until it does, [`AuditApi::new`] installs a hook that refuses everything.
//!
//! Errors are RFC 9457 `application/problem+json` with `type`
//! `https://pes.example/problems/<slug>`: the gateway's one [`Problem`] type.

use std::sync::Arc;

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::event::AuditEvent;
use super::witness::{Witness, WitnessError, SIZE_CONTENT_TYPE};
use super::{AuditError, AuditLog};
use crate::problem::Problem;

/// Most entries returned by one request.
pub const MAX_ENTRIES_PER_REQUEST: u64 = 10_000;
/// Largest add-checkpoint body accepted.
pub const MAX_WITNESS_BODY: usize = 16 * 1024;

/// What a request wants to do, for the authorisation hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the checkpoint or the log key (auditors and peer gateways).
    Checkpoint,
    /// Read entries (auditors).
    Entries,
    /// Read proofs or receipts (auditors; peers for consistency proofs).
    Proof,
    /// Submit a checkpoint for cosigning (peer gateways).
    Witness,
}

/// 500 `audit-failure`: the cause goes to the log, not to the client.
fn audit_failure() -> Problem {
    Problem::without_detail(
        StatusCode::INTERNAL_SERVER_ERROR,
        "audit-failure",
        "Audit log failure",
    )
}

impl From<AuditError> for Problem {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Busy { retry_after_secs } => {
                let mut p = Problem::without_detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit-busy",
                    "Audit log is busy",
                );
                p.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
                p
            }
            AuditError::OutOfRange(d) => Problem::new(
                StatusCode::BAD_REQUEST,
                "audit-out-of-range",
                "Outside the log",
                d,
            ),
            AuditError::NoSpace => {
                let mut p = Problem::without_detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit-no-space",
                    "Audit log disk full",
                );
                p.retry_after = Some(5);
                p
            }
            other => {
                tracing::error!(error = %other, "audit log failure");
                audit_failure()
            }
        }
    }
}

/// The authorisation hook: `Ok` lets the request through, `Err` is the refusal to send.
pub type AccessHook = Arc<dyn Fn(&HttpRequest, Access) -> Result<(), Problem> + Send + Sync>;

/// State of the audit routes, registered as `web::Data<AuditApi>`.
#[derive(Clone)]
pub struct AuditApi {
    /// The log.
    pub log: Arc<AuditLog>,
    /// This gateway's witness, if it witnesses peers.
    pub witness: Option<Arc<Witness>>,
    /// Authorisation hook.
    pub access: AccessHook,
}

impl AuditApi {
    /// Routes state with a hook that refuses every request until the auth layer replaces it.
    pub fn new(log: Arc<AuditLog>, witness: Option<Arc<Witness>>) -> Self {
        Self {
            log,
            witness,
            access: Arc::new(|_, _| {
                Err(Problem::without_detail(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "No authorisation configured for audit routes",
                ))
            }),
        }
    }

    /// Replaces the authorisation hook.
    pub fn with_access(mut self, access: AccessHook) -> Self {
        self.access = access;
        self
    }
}

/// Declares the audit routes once: [`ROUTES`] (what `/openapi.json` must document, checked by
/// the gateway's `tests/openapi.rs`) and [`configure`] come from the same list.
macro_rules! audit_routes {
    ($($method:ident $path:literal => $handler:ident),* $(,)?) => {
        /// Every audit route, as (method, path pattern).
        pub const ROUTES: &[(&str, &str)] =
            &[$((stringify!($method), concat!("/v1/audit", $path))),*];

        /// Registers the audit routes. The app must hold `web::Data<AuditApi>`.
        ///
        /// Each path is a resource holding its route (not `Scope::route`, which puts the method
        /// guard on the resource): another method on a known path then reaches the resource's
        /// 405 answer, with `Allow`, instead of falling through to the app's 404.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            cfg.service(
                web::scope("/v1/audit")
                    $(.service(web::resource($path).route(web::$method().to($handler))))*,
            );
        }
    };
}

audit_routes! {
    get "/checkpoint" => checkpoint,
    get "/key" => key,
    get "/entries" => entries,
    get "/proof/inclusion" => inclusion,
    get "/proof/consistency" => consistency,
    get "/receipt" => receipt,
    post "/witness/add-checkpoint" => add_checkpoint,
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(body)
}

/// The latest signed checkpoint (C2SP tlog-checkpoint note with cosignatures).
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "Signed checkpoint note", content_type = "text/plain", body = String),
              (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an auditor or admin of this region", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The audit log is busy or its disk is full", body = Problem, content_type = "application/problem+json")))]
pub async fn checkpoint(
    req: HttpRequest,
    api: web::Data<AuditApi>,
) -> Result<HttpResponse, Problem> {
    (api.access)(&req, Access::Checkpoint)?;
    let cp = api
        .log
        .checkpoint()
        .ok_or_else(|| Problem::from(AuditError::Closed))?;
    Ok(text(cp.text.clone()))
}

/// The log's verifier key, `origin+keyid+base64(0x01||pubkey)`.
#[utoipa::path(get, path = "/v1/audit/key", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "Verifier key", content_type = "text/plain", body = String),
              (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an auditor or admin of this region", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The audit log is busy or its disk is full", body = Problem, content_type = "application/problem+json")))]
pub async fn key(req: HttpRequest, api: web::Data<AuditApi>) -> Result<HttpResponse, Problem> {
    (api.access)(&req, Access::Checkpoint)?;
    Ok(text(format!("{}\n", api.log.verifier_key())))
}

/// Query of `GET /v1/audit/entries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// First index (default 0).
    pub from: Option<u64>,
    /// End index, exclusive (default: `from` + 10,000, capped at the log size).
    pub to: Option<u64>,
    /// Only events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Only events before this RFC 3339 time.
    pub until: Option<String>,
    /// Only events by this actor `sub`.
    pub actor: Option<String>,
    /// Only this action (e.g. `person_lookup`).
    pub action: Option<String>,
    /// Only events whose actor region is this code.
    pub region: Option<String>,
    /// Only this request id.
    pub request_id: Option<String>,
    /// Only events about this person_key ("who accessed my data").
    pub person_key: Option<String>,
}

impl EntriesQuery {
    fn has_filter(&self) -> bool {
        self.since.is_some()
            || self.until.is_some()
            || self.actor.is_some()
            || self.action.is_some()
            || self.region.is_some()
            || self.request_id.is_some()
            || self.person_key.is_some()
    }

    /// Whether `e` passes every filter given. Times compare as RFC 3339 UTC strings with the
    /// same precision, which the log always writes.
    pub fn matches(&self, e: &AuditEvent) -> bool {
        let eq = |f: &Option<String>, v: Option<&str>| f.as_deref().is_none_or(|f| Some(f) == v);
        self.since.as_deref().is_none_or(|s| e.time.as_str() >= s)
            && self.until.as_deref().is_none_or(|u| e.time.as_str() < u)
            && eq(&self.actor, Some(&e.actor.sub))
            && eq(&self.action, Some(e.action.as_str()))
            && eq(&self.region, e.actor.region.as_deref())
            && eq(&self.request_id, Some(&e.request_id))
            && eq(&self.person_key, e.person_key.as_deref())
    }
}

/// One filtered entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IndexedEvent {
    /// Index in the log.
    pub index: u64,
    /// The event.
    pub event: AuditEvent,
}

/// Filtered entries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FilteredEntries {
    /// Range scanned, `[from, to)`.
    pub from: u64,
    /// End of the range scanned (continue from here).
    pub to: u64,
    /// Matching events.
    pub entries: Vec<IndexedEvent>,
}

/// Entries by index. Without filters: NDJSON, each line the exact canonical bytes of one
/// entry (so clients can rehash them), with `X-First-Index`. With filters: JSON.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", security(("bearer" = [])), params(EntriesQuery),
    responses((status = 200, description = "Without filters: NDJSON, one canonical entry per line (`X-First-Index` names the first). With filters: the matching events",
                  content((String = "application/x-ndjson"), (FilteredEntries = "application/json")),
                  headers(("X-First-Index" = String, description = "Index of the first entry (NDJSON answers)"))),
              (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an auditor or admin of this region", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The audit log is busy or its disk is full", body = Problem, content_type = "application/problem+json"),
              (status = 400, description = "Range outside the log", body = Problem, content_type = "application/problem+json")))]
pub async fn entries(
    req: HttpRequest,
    api: web::Data<AuditApi>,
    q: web::Query<EntriesQuery>,
) -> Result<HttpResponse, Problem> {
    (api.access)(&req, Access::Entries)?;
    let size = api.log.size();
    let from = q.from.unwrap_or(0);
    let to =
        q.to.unwrap_or(from.saturating_add(MAX_ENTRIES_PER_REQUEST))
            .min(size);
    if from > to {
        return Err(
            AuditError::OutOfRange(format!("from {from} is beyond the log size {size}")).into(),
        );
    }
    if to - from > MAX_ENTRIES_PER_REQUEST {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "audit-range-too-large",
            "Range too large",
            format!("at most {MAX_ENTRIES_PER_REQUEST} entries per request"),
        ));
    }
    let log = api.log.clone();
    let rows = web::block(move || log.entries(from, to))
        .await
        .map_err(|_| audit_failure())??;
    if !q.has_filter() {
        let mut body = Vec::with_capacity(rows.iter().map(|r| r.len() + 1).sum());
        for r in rows {
            body.extend_from_slice(&r);
            body.push(b'\n');
        }
        return Ok(HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .insert_header(("X-First-Index", from.to_string()))
            .body(body));
    }
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let event = AuditEvent::from_json(r).map_err(|e| Problem::from(AuditError::Event(e)))?;
        if q.matches(&event) {
            out.push(IndexedEvent {
                index: from + i as u64,
                event,
            });
        }
    }
    Ok(HttpResponse::Ok().json(FilteredEntries {
        from,
        to,
        entries: out,
    }))
}

/// Query of the inclusion proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// Entry index.
    pub index: u64,
    /// Tree size (from a checkpoint).
    pub size: u64,
}

/// An inclusion proof.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProofBody {
    /// Entry index.
    pub index: u64,
    /// Tree size.
    pub size: u64,
    /// Base64 hashes, leaf's sibling first.
    pub proof: Vec<String>,
}

/// RFC 6962 inclusion proof for entry `index` in the tree of `size`.
#[utoipa::path(get, path = "/v1/audit/proof/inclusion", tag = "audit", security(("bearer" = [])), params(InclusionQuery),
    responses((status = 200, body = InclusionProofBody),
              (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an auditor or admin of this region", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The audit log is busy or its disk is full", body = Problem, content_type = "application/problem+json"),
              (status = 400, description = "Index or size outside the log", body = Problem, content_type = "application/problem+json")))]
pub async fn inclusion(
    req: HttpRequest,
    api: web::Data<AuditApi>,
    q: web::Query<InclusionQuery>,
) -> Result<HttpResponse, Problem> {
    (api.access)(&req, Access::Proof)?;
    let proof = api.log.inclusion_proof(q.index, q.size)?;
    Ok(HttpResponse::Ok().json(InclusionProofBody {
        index: q.index,
        size: q.size,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// Query of the consistency proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// Older tree size (> 0).
    pub old: u64,
    /// Newer tree size.
    pub new: u64,
}

/// A consistency proof.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProofBody {
    /// Older size.
    pub old: u64,
    /// Newer size.
    pub new: u64,
    /// Base64 hashes.
    pub proof: Vec<String>,
}

/// RFC 6962 consistency proof between sizes `old` and `new`.
#[utoipa::path(get, path = "/v1/audit/proof/consistency", tag = "audit", security(("bearer" = [])), params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProofBody),
              (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an auditor or admin of this region", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The audit log is busy or its disk is full", body = Problem, content_type = "application/problem+json"),
              (status = 400, description = "Sizes outside the log", body = Problem, content_type = "application/problem+json")))]
pub async fn consistency(
    req: HttpRequest,
    api: web::Data<AuditApi>,
    q: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, Problem> {
    (api.access)(&req, Access::Proof)?;
    let proof = api.log.consistency_proof(q.old, q.new)?;
    Ok(HttpResponse::Ok().json(ConsistencyProofBody {
        old: q.old,
        new: q.new,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    }))
}

/// Query of the receipt.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceiptQuery {
    /// Entry index.
    pub index: u64,
}

/// A C2SP tlog-proof receipt for one entry against the latest checkpoint.
#[utoipa::path(get, path = "/v1/audit/receipt", tag = "audit", security(("bearer" = [])), params(ReceiptQuery),
    responses((status = 200, description = "tlog-proof", content_type = "text/plain", body = String),
              (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an auditor or admin of this region", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The audit log is busy or its disk is full", body = Problem, content_type = "application/problem+json"),
              (status = 400, description = "Index outside the log", body = Problem, content_type = "application/problem+json")))]
pub async fn receipt(
    req: HttpRequest,
    api: web::Data<AuditApi>,
    q: web::Query<ReceiptQuery>,
) -> Result<HttpResponse, Problem> {
    (api.access)(&req, Access::Proof)?;
    Ok(text(api.log.receipt(q.index).await?))
}

/// C2SP tlog-witness `add-checkpoint`: cosigns a peer log's checkpoint if it is consistent
/// with the last one witnessed. 409 (`text/x.tlog.size`) on a size mismatch, 422 on a bad
/// proof, 403 for an untrusted signature, 404 for an unknown origin.
#[utoipa::path(post, path = "/v1/audit/witness/add-checkpoint", tag = "audit", security(("bearer" = [])),
    request_body(content = String, content_type = "text/plain", description = "old size, proof lines, blank line, checkpoint"),
    responses((status = 200, description = "Cosignature lines", content_type = "text/plain", body = String),
              (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "Not an auditor or admin of this region", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "The audit log is busy or its disk is full", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "Old size mismatch: body is the witnessed size", content_type = "text/x.tlog.size", body = String),
              (status = 400, description = "Body is not a well-formed request", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "This gateway does not witness, or the log is unknown", body = Problem, content_type = "application/problem+json"),
              (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "Consistency proof does not verify", body = Problem, content_type = "application/problem+json")))]
pub async fn add_checkpoint(
    req: HttpRequest,
    api: web::Data<AuditApi>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    (api.access)(&req, Access::Witness)?;
    let witness = api.witness.as_ref().ok_or_else(|| {
        Problem::without_detail(
            StatusCode::NOT_FOUND,
            "witness-disabled",
            "This gateway does not witness",
        )
    })?;
    if body.len() > MAX_WITNESS_BODY {
        return Err(Problem::without_detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Body too large",
        ));
    }
    let body = std::str::from_utf8(&body).map_err(|_| {
        Problem::without_detail(
            StatusCode::BAD_REQUEST,
            "witness-bad-request",
            "Body is not UTF-8",
        )
    })?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    match witness.add_checkpoint(body, now) {
        Ok(lines) => Ok(text(lines)),
        Err(WitnessError::Conflict(size)) | Err(WitnessError::RootConflict(size)) => {
            Ok(HttpResponse::Conflict()
                .insert_header((header::CONTENT_TYPE, SIZE_CONTENT_TYPE))
                .body(format!("{size}\n")))
        }
        Err(e) => {
            let slug = match e.status() {
                400 => "witness-bad-request",
                403 => "witness-untrusted-signature",
                404 => "witness-unknown-log",
                422 => "witness-bad-proof",
                _ => "witness-failure",
            };
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(Problem::not_cosigned(status, slug, e.to_string()))
        }
    }
}

/// OpenAPI description of the audit routes, to merge into the gateway's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(checkpoint, key, entries, inclusion, consistency, receipt, add_checkpoint),
    components(schemas(Problem, InclusionProofBody, ConsistencyProofBody, FilteredEntries, IndexedEvent,
        AuditEvent, super::event::Actor, super::event::Action, super::event::Outcome, super::event::PeerReceipt)),
    tags((name = "audit", description = "Audit transparency log: checkpoints, entries, proofs, receipts, witnessing"))
)]
pub struct AuditApiDoc;
