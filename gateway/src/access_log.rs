//! The access log: one line per request, with the target `pes::access` so it can be filtered
//! (`RUST_LOG=info,pes::access=off`) or routed on its own. Each line names the method, the
//! matched route pattern (`/v1/records/{record_id}`, never the raw path with its ids), the
//! status, the latency, the request id and, once a handler authenticated the caller, the token
//! subject. Bodies, query strings and protected fields are never logged.
//!
//! The same middleware counts every request and query by route for `/metrics`
//! ([`crate::metrics::OpsMetrics::observe_request`]), so local and fanned-out queries, answered
//! or refused, are all counted. It wraps both the API and the federation's mTLS listener (so
//! it sits below both, beside [`crate::access`]); there, requests carry no token and the caller's
//! `X-Request-Id` is logged as sent.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _};

use crate::access::{RequestId, REQUEST_ID};
use crate::auth::Authenticated;
use crate::metrics::UNMATCHED_ROUTE;
use crate::node::Node;

/// The `tracing` target of access-log lines.
pub const TARGET: &str = "pes::access";

/// Middleware: logs and counts each request once its answer is ready. Wrapped inside the
/// request-id middleware (the id is known) and outside the others (their answers are seen).
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    // The API's request-id middleware has run; the mTLS listener has none, so the header is it.
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .or_else(|| {
            req.headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(128).collect())
        })
        .unwrap_or_default();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_string());
    let node = req.app_data::<web::Data<Node>>().cloned();
    let result = next.call(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let (status, sub) = match &result {
        Ok(res) => (
            res.status().as_u16(),
            res.request()
                .extensions()
                .get::<Authenticated>()
                .map(|a| a.sub().to_string()),
        ),
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    tracing::info!(
        target: TARGET,
        method = %method,
        route = %route,
        status,
        latency_ms = (seconds * 1000.0 * 1000.0).round() / 1000.0,
        request_id = %request_id,
        sub = sub.as_deref().unwrap_or("-"),
        "request"
    );
    if let Some(node) = node {
        node.metrics.ops.observe_request(&route, status, seconds);
    }
    result
}
