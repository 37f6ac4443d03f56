//! The HTTP surface of a regional gateway (actix-web 4).
//!
//! - [`ingest`]: `POST /v1/ingest/{source}`.
//! - [`query`]: `POST /v1/query`, `GET /v1/reports/supply-demand`.
//! - [`records`]: `GET /v1/records/{record_id}`, `GET /v1/quarantine`.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
//! - [`middleware`]: what runs around every handler: content-coded bodies refused (415), 405 as
//!   a problem, every request to `/v1/audit/*` audited.
//!
//! Every handler authenticates through [`authenticate`], which audits refusals, and every answer
//! that is an error is a [`Problem`].

pub mod dead_letters;
pub mod federated;
pub mod ingest;
pub mod middleware;
pub mod ops;
pub mod persons;
pub mod query;
pub mod records;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::audit::{Action, Actor, AuditEvent, Outcome};
use crate::auth::{Authenticated, Role, Verifier};
use crate::node::Node;
use crate::problem::Problem;

/// Shared state of the handlers.
pub type State = web::Data<Node>;

/// The request id of a request (from `X-Request-Id`, or generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Header that carries request ids across gateways.
pub const REQUEST_ID: &str = "x-request-id";

/// The request id set by the middleware.
pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

async fn request_ids(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let _enter = span.enter();
    let mut res = next.call(req).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    Ok(res)
}

/// Registers every route of the regional gateway.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/ingest/{source}").route(web::post().to(ingest::ingest)))
        .service(web::resource("/v1/query").route(web::post().to(query::aggregate)))
        .service(
            web::resource("/v1/reports/supply-demand").route(web::get().to(query::supply_demand)),
        )
        .service(web::resource("/v1/persons/lookup").route(web::post().to(persons::lookup)))
        .service(web::resource("/v1/records/{record_id}").route(web::get().to(records::get_record)))
        .service(web::resource("/v1/quarantine").route(web::get().to(records::list_quarantine)))
        .service(
            web::resource("/v1/quarantine/{id}/retry")
                .route(web::post().to(records::retry_quarantined)),
        )
        .service(web::resource("/v1/admin/reload").route(web::post().to(federated::reload)))
        .service(web::resource("/v1/admin/dead-letters").route(web::get().to(dead_letters::list)))
        .service(
            web::resource("/v1/admin/dead-letters/{offset}/retry")
                .route(web::post().to(dead_letters::retry)),
        )
        .service(web::resource("/healthz").route(web::get().to(ops::healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::readyz)))
        .service(web::resource("/metrics").route(web::get().to(ops::metrics)))
        .service(web::resource("/openapi.json").route(web::get().to(ops::openapi)))
        .default_service(web::to(ops::not_found));
}

/// JSON bodies that fail to parse become problems, not actix's plain-text errors.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(1 << 20)
        .error_handler(|err, _req| {
            Problem::bad_request(
                "malformed-json",
                format!(
                    "request body is not the expected JSON: {}",
                    short(&err.to_string())
                ),
            )
            .into()
        })
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Who may read the audit log over HTTP: auditors and admins of this region.
fn audit_access(node: Arc<Node>) -> crate::audit::api::AccessHook {
    Arc::new(move |req, _access| {
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match Verifier::bearer(header)
            .and_then(|t| node.verifier.verify(t, &[Role::Auditor, Role::Admin]))
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_forbidden() => Err(crate::audit::api::Problem::new(
                403,
                "forbidden",
                "Not allowed",
                Some(e.to_string()),
            )),
            Err(e) => Err(crate::audit::api::Problem::new(
                401,
                "unauthorized",
                "Authentication required",
                Some(e.to_string()),
            )),
        }
    })
}

/// Runs the HTTP server until it stops.
pub async fn serve(node: Arc<Node>) -> std::io::Result<()> {
    let addr = node.config.listen_addr().map_err(std::io::Error::other)?;
    let stopped = start(node.clone(), addr, None, |_| {})?.await;
    // Refusals counted in the last interval are written before the process ends.
    node.refusals.flush(&node.audit).await;
    stopped
}

/// Runs the HTTP server until it stops, with the federation side (fan-out queries, person
/// lookup, reload) when `fed` is set. The mTLS listener is started separately
/// ([`crate::federation::node::Federation::serve`]).
pub async fn serve_federated(
    node: Arc<Node>,
    fed: Option<Arc<crate::federation::node::Federation>>,
) -> std::io::Result<()> {
    let addr = node.config.listen_addr().map_err(std::io::Error::other)?;
    let stopped = start(node.clone(), addr, None, move |cfg| {
        if let Some(f) = &fed {
            cfg.app_data(web::Data::from(f.clone()));
        }
    })?
    .await;
    node.refusals.flush(&node.audit).await;
    stopped
}

/// Binds the gateway's HTTP server to `addr` and returns it running (await it, or stop it through
/// its handle). `extra` registers more app data or routes: the demo registers its sign-in tokens
/// for the dashboard this way. With `workers: None` the server has one worker per CPU and stops
/// on SIGINT/SIGTERM itself; with `Some(n)` it is embedded: `n` workers and no signal handling,
/// the caller stops it through its handle.
pub fn start<F>(
    node: Arc<Node>,
    addr: std::net::SocketAddr,
    workers: Option<usize>,
    extra: F,
) -> std::io::Result<actix_web::dev::Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    // Ends each interval of anonymous refusals (needs the runtime the server runs on).
    actix_web::rt::spawn(node.refusals.clone().run(node.audit.clone()));
    let audit_api = web::Data::new(
        crate::audit::api::AuditApi::new(node.audit.clone(), None)
            .with_access(audit_access(node.clone())),
    );
    tokio::spawn(dead_letters::audit_dead_letters(node.clone()));
    let data = web::Data::from(node);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(extra.clone())
            .app_data(audit_api.clone())
            .configure(crate::audit::api::configure)
            .app_data(json_config())
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                Problem::bad_request("bad-query-string", short(&err.to_string())).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|err, _| {
                Problem::bad_request("bad-path", short(&err.to_string())).into()
            }))
            // The last `wrap` runs first: request ids are set before anything else runs.
            .wrap(from_fn(middleware::audit_log_access))
            .wrap(from_fn(middleware::method_not_allowed))
            .wrap(from_fn(middleware::unsupported_content_encoding))
            .wrap(from_fn(request_ids))
            .configure(crate::web::configure)
            .configure(configure)
    });
    if let Some(n) = workers {
        server = server.workers(n).disable_signals();
    }
    Ok(server.bind(addr)?.run())
}

/// What the caller of an audited request keeps: where its audit entry sits in the log.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditReceipt {
    /// Origin (key name) of this gateway's audit log.
    pub log_origin: String,
    /// Index of the entry; `GET /v1/audit/receipt?index=` gives its tlog-proof once a
    /// checkpoint covers it.
    pub index: u64,
    /// RFC 6962 leaf hash of the entry (hex).
    pub leaf_hash: String,
}

fn action_of(name: &str) -> Action {
    match name {
        "ingest" => Action::IngestPush,
        "query" => Action::QueryAggregate,
        "report.supply_demand" => Action::ReportSupplyDemand,
        "record.read" | "person.lookup" => Action::PersonLookup,
        "quarantine.list" => Action::QuarantineList,
        "quarantine.retry" => Action::QuarantineResubmit,
        "audit.read" => Action::AuditRead,
        "audit.witness" => Action::WitnessCosign,
        _ => Action::Admin,
    }
}

/// Builds an audit event for a request. `detail` carries ids, hashes and counts only: string
/// fields `source`/`dataset`, `purpose`, `batch_id`, `raw_sha256`, `query_sha256`,
/// `person_key`, `problem`; every unsigned number becomes a count.
pub fn event(
    node: &Node,
    req: &HttpRequest,
    action: &str,
    actor: Option<&Authenticated>,
    status: u16,
    detail: serde_json::Value,
) -> AuditEvent {
    let actor = match actor {
        Some(a) => Actor {
            sub: a.sub().to_string(),
            role: a.role().as_str().to_string(),
            region: Some(a.region().to_string()),
            peer_member: None,
        },
        None => Actor {
            sub: "anonymous".into(),
            role: "none".into(),
            region: None,
            peer_member: None,
        },
    };
    let outcome = match status {
        200..=299 => Outcome::Ok,
        401 | 403 => Outcome::Denied,
        400..=499 => Outcome::Invalid,
        _ => Outcome::Error,
    };
    let action = if matches!(status, 401 | 403) && detail.get("auth").is_some() {
        Action::AccessDenied
    } else {
        action_of(action)
    };
    let mut e = AuditEvent::new(
        node.config.region.clone(),
        request_id(req),
        actor,
        action,
        outcome,
    );
    let text = |k: &str| detail.get(k).and_then(|v| v.as_str()).map(str::to_string);
    e.dataset = text("dataset").or_else(|| text("source"));
    e.purpose = text("purpose");
    e.batch_id = text("batch_id");
    e.raw_hash = text("raw_sha256");
    e.query_digest = text("query_sha256");
    e.person_key = text("person_key");
    e.reason = text("problem");
    if let Some(obj) = detail.as_object() {
        for (k, v) in obj {
            if let Some(n) = v.as_u64() {
                e.counts.insert(k.clone(), n);
            }
        }
    }
    e
}

/// Audits an event; a failing audit log fails the request (nothing goes unaudited).
pub async fn audit(node: &Node, ev: AuditEvent) -> Result<AuditReceipt, Problem> {
    match node.audit.append(&ev).await {
        Ok(r) => Ok(AuditReceipt {
            log_origin: node.audit.origin().to_string(),
            index: r.index,
            leaf_hash: hex::encode(r.leaf_hash),
        }),
        Err(e) => {
            tracing::error!(error = %e, "audit log append failed");
            Err(Problem::unavailable("the audit log is not available"))
        }
    }
}

/// Audits a refusal and returns the problem to answer with.
pub async fn refuse(
    node: &Node,
    req: &HttpRequest,
    action: &str,
    actor: Option<&Authenticated>,
    mut p: Problem,
    detail: serde_json::Value,
) -> Problem {
    p.request_id = Some(request_id(req));
    let mut d = detail;
    if let Some(obj) = d.as_object_mut() {
        obj.insert("problem".into(), p.slug().into());
    }
    let ev = event(node, req, action, actor, p.status, d);
    match audit(node, ev).await {
        Ok(_) => p,
        Err(e) => e,
    }
}

/// Verifies the bearer token for `allowed` roles; refusals (401/403) are audited.
pub async fn authenticate(
    node: &Node,
    req: &HttpRequest,
    allowed: &[Role],
    action: &str,
) -> Result<Authenticated, Problem> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let result = Verifier::bearer(header).and_then(|t| node.verifier.verify(t, allowed));
    match result {
        Ok(a) => Ok(a),
        Err(e) => {
            let p = if e.is_forbidden() {
                Problem::forbidden(e.to_string())
            } else {
                Problem::unauthorized(e.to_string())
            };
            // Refused before the body was read: do not reuse the connection.
            let mut p = p;
            p.close = true;
            let detail = serde_json::json!({ "auth": e.to_string() });
            if e.is_forbidden() {
                // A token of this gateway's issuer: its holder is known, one entry each.
                Err(refuse(node, req, action, None, p, detail).await)
            } else {
                Err(refuse_anonymous(node, req, action, UNAUTHORIZED, p, detail).await)
            }
        }
    }
}

/// Problem slug (and aggregation reason) of a request without valid credentials.
pub const UNAUTHORIZED: &str = "unauthorized";

/// Audits a refusal of a request that carried no valid credentials (no token, a malformed
/// one, a bad signature) and returns the problem to answer with. Such refusals cost their
/// sender nothing, so they go through [`Node::refusals`]: per client address and `reason` (the
/// problem's slug), the first of an interval is written now, later ones are counted into one
/// entry when the interval ends.
pub async fn refuse_anonymous(
    node: &Node,
    req: &HttpRequest,
    action: &str,
    reason: &'static str,
    mut p: Problem,
    detail: serde_json::Value,
) -> Problem {
    debug_assert_eq!(p.slug(), reason);
    p.request_id = Some(request_id(req));
    let mut d = detail;
    if let Some(obj) = d.as_object_mut() {
        obj.insert("problem".into(), reason.into());
    }
    let ev = event(node, req, action, None, p.status, d);
    match audit_anonymous(node, req, reason, ev).await {
        Ok(_) => p,
        Err(e) => e,
    }
}

/// Audits `ev`, an anonymous refusal of `req` for `reason`, through [`Node::refusals`]: the
/// receipt when it was written now, `None` when it was counted for the end of the interval.
pub async fn audit_anonymous(
    node: &Node,
    req: &HttpRequest,
    reason: &'static str,
    ev: AuditEvent,
) -> Result<Option<AuditReceipt>, Problem> {
    // The TCP peer, never a forwarded-for header: that one is the client's to choose.
    let client = req.peer_addr().map(|a| a.ip());
    match node.refusals.record(client, reason, ev) {
        None => Ok(None),
        Some(ev) => audit(node, ev).await.map(Some),
    }
}
