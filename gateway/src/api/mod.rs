//! The HTTP surface of a regional gateway (actix-web 4).
//!
//! - [`ingest`]: `POST /v1/ingest/{source}`.
//! - [`query`]: `POST /v1/query`, `GET /v1/reports/supply-demand`.
//! - [`takers`]: `GET /v1/reports/takers`, `GET /v1/reports/no-takers` (seekers for jobs).
//! - [`divisions`]: `GET /v1/divisions` (GB/T 2260 names for the dashboard).
//! - [`occupations`]: `GET /v1/occupations` (names of occupation codes for the dashboard).
//! - [`records`]: `GET /v1/records/{record_id}`, `GET /v1/quarantine`.
//! - [`vacancies`]: `POST /v1/vacancies/search`.
//! - [`persons`]: `POST /v1/persons/lookup`; [`erasure`]: `POST /v1/persons/erase`.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
//! - [`federation_members`]: `GET /v1/federation/members`.
//! - [`lifecycle`]: snapshots of a source, retirement by source record id, retention.
//! - `crate::access_log`: one `pes::access` log line per request, and the request and query
//!   metrics (also on the federation's mTLS listener).
//! - [`middleware`]: what runs around every handler: content-coded bodies refused (415), 405 as
//!   a problem, every request to `/v1/audit/*` audited.
//!
//! Every handler authenticates through [`authenticate`], which audits refusals, and every answer
//! that is an error is a [`Problem`].

pub mod dead_letters;
pub mod divisions;
pub mod erasure;
pub mod federated;
pub mod federation_members;
pub mod ingest;
pub mod lifecycle;
pub mod middleware;
pub mod occupations;
pub mod ops;
pub mod persons;
pub mod query;
pub mod records;
pub mod takers;
pub mod vacancies;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage, HttpServer};

pub use crate::access::{
    audit, audit_anonymous, authenticate, event, refuse, refuse_anonymous, request_id,
    AuditReceipt, Detail, RequestId, REQUEST_ID, UNAUTHORIZED,
};
use crate::auth::{Role, Verifier};
use crate::node::Node;
use crate::problem::Problem;

/// Shared state of the handlers.
pub type State = web::Data<Node>;

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
    // The route pattern, not the raw path: paths carry record and quarantine ids.
    let route = req.match_pattern();
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = route.as_deref().unwrap_or("-"));
    let mut res = tracing::Instrument::instrument(next.call(req), span).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    Ok(res)
}

/// Declares the route table once: [`ROUTES`] (what `/openapi.json` must document, checked by
/// `tests/openapi.rs`) and [`configure`] (what the server serves) come from the same list, so a
/// route cannot be served without being listed.
macro_rules! routes {
    ($($method:ident $path:expr => $handler:path),* $(,)?) => {
        /// Every route of the regional API outside `/v1/audit` (see
        /// [`crate::audit::api::configure`]) and the dashboard, as (method, path pattern).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// Registers every route of the regional gateway.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(cfg.service(web::resource($path).route(web::$method().to($handler)));)*
            cfg.default_service(web::to(ops::not_found));
        }
    };
}

routes! {
    post "/v1/ingest/{source}" => ingest::ingest,
    post "/v1/query" => query::aggregate,
    get "/v1/reports/supply-demand" => query::supply_demand,
    get "/v1/reports/no-takers" => takers::no_takers,
    get "/v1/reports/takers" => takers::takers,
    get "/v1/divisions" => divisions::list,
    get "/v1/occupations" => occupations::list,
    post "/v1/vacancies/search" => vacancies::search,
    post "/v1/persons/lookup" => persons::lookup,
    post "/v1/persons/erase" => erasure::erase,
    get "/v1/records/{record_id}" => records::get_record,
    get "/v1/quarantine" => records::list_quarantine,
    post "/v1/quarantine/{id}/retry" => records::retry_quarantined,
    post "/v1/sources/{source}/snapshots" => lifecycle::open_snapshot,
    get "/v1/sources/{source}/snapshots/{id}" => lifecycle::get_snapshot,
    post "/v1/sources/{source}/snapshots/{id}/commit" => lifecycle::commit_snapshot,
    post "/v1/sources/{source}/snapshots/{id}/confirm" => lifecycle::confirm_snapshot,
    post "/v1/sources/{source}/snapshots/{id}/abort" => lifecycle::abort_snapshot,
    post "/v1/sources/{source}/retire" => lifecycle::retire_records,
    post "/v1/admin/retention" => lifecycle::run_retention,
    post "/v1/admin/reload" => federated::reload,
    get federation_members::PATH => federation_members::list,
    get "/v1/admin/dead-letters" => dead_letters::list,
    post "/v1/admin/dead-letters/{offset}/retry" => dead_letters::retry,
    get "/healthz" => ops::healthz,
    get "/readyz" => ops::readyz,
    get "/metrics" => ops::metrics,
    get "/openapi.json" => ops::openapi,
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
            Ok(a) => {
                // For the access log's subject.
                req.extensions_mut().insert(a);
                Ok(())
            }
            Err(e) if e.is_forbidden() => Err(Problem::forbidden(e.to_string())),
            Err(e) => Err(Problem::unauthorized(e.to_string())),
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
    let demo_tokens = match &node.config.ui.demo_tokens {
        Some(path) => Some(web::Data::new(crate::web::DemoTokens::load(path)?)),
        None => None,
    };
    let stopped = start(node.clone(), addr, None, move |cfg| {
        if let Some(f) = &fed {
            cfg.app_data(web::Data::from(f.clone()));
        }
        if let Some(t) = &demo_tokens {
            cfg.app_data(t.clone());
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
    tokio::spawn(lifecycle::retention_timer(node.clone()));
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
            .wrap(from_fn(crate::access_log::access_log))
            .wrap(from_fn(request_ids))
            .configure(crate::web::configure)
            .configure(configure)
    });
    if let Some(n) = workers {
        server = server.workers(n).disable_signals();
    }
    Ok(server.bind(addr)?.run())
}
