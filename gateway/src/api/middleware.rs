//! Middleware of the HTTP API: answers that actix builds itself, made into problems.
//!
//! - [`method_not_allowed`]: a known path asked with another method gets 405 with `Allow` and a
//!   problem body (actix's own 405 has an empty body).
//! - [`audit_log_access`]: every request to `/v1/audit/*`, read or refusal, is audited.
//! - [`unsupported_content_encoding`]: a content-coded request body is refused (415) before
//!   anything reads it.

use std::collections::HashMap;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError as _};

use crate::api::{audit, audit_anonymous, event, refuse, refuse_anonymous, request_id, Detail};
use crate::audit::Action;
use crate::auth::{Role, Verifier};
use crate::node::Node;
use crate::problem::Problem;

/// Whether a response already carries a problem body.
fn is_problem<B>(res: &ServiceResponse<B>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// Turns actix's bare 405 (a resource matched the path, none of its routes the method) into a
/// `method-not-allowed` problem, keeping the `Allow` header the resource computed.
pub async fn method_not_allowed(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let method = req.method().clone();
    let res = next.call(req).await?;
    if res.status() != StatusCode::METHOD_NOT_ALLOWED || is_problem(&res) {
        return Ok(res.map_into_left_body());
    }
    let allow: Option<HeaderValue> = res.headers().get(header::ALLOW).cloned();
    let allowed = allow
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut p = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{method} is not allowed on this path; allowed: {allowed}"),
    );
    p.request_id = Some(request_id(res.request()));
    let mut answer = p.error_response();
    if let Some(a) = allow {
        answer.headers_mut().insert(header::ALLOW, a);
    }
    Ok(res.into_response(answer).map_into_right_body())
}

/// Whether `path` is one of the audit log's routes (known or not).
fn is_audit_path(path: &str) -> bool {
    path.strip_prefix("/v1/audit")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Audits every request to `/v1/audit/*`, reads and refusals alike (docs/auditor-guide.md):
/// who read what (the digest of path and query, the person_key looked for) and how it ended.
///
/// The entry is appended once the answer is ready and before it leaves: a read the log cannot
/// record is answered 503 instead, and the answer shows the log as it was before its own entry
/// (the next read shows that entry), so a checkpoint and the proofs against it stay consistent.
/// The caller is identified from its token whatever the outcome (the route's authorisation
/// hook may not have run: a malformed query string is refused before it). Refusals of
/// requests without valid credentials are aggregated like every other anonymous refusal.
pub async fn audit_log_access(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let node = match req.app_data::<web::Data<Node>>() {
        Some(node) if is_audit_path(req.path()) => node.clone(),
        _ => return Ok(next.call(req).await?.map_into_left_body()),
    };
    let res = next.call(req).await?;
    let status = res.status();
    let slug = (!status.is_success()).then(|| problem_slug(&res));
    let outcome = audit_access(&node, res.request(), status, slug.as_deref()).await;
    match outcome {
        Ok(receipt) => {
            let mut res = res;
            if let Some(r) = receipt.filter(|_| status.is_success()) {
                if let Ok(v) = HeaderValue::from_str(&r.index.to_string()) {
                    res.headers_mut()
                        .insert(header::HeaderName::from_static("x-audit-index"), v);
                }
            }
            Ok(res.map_into_left_body())
        }
        Err(mut p) => {
            p.request_id = Some(request_id(res.request()));
            let answer = p.error_response();
            Ok(res.into_response(answer).map_into_right_body())
        }
    }
}

/// Writes the audit entry of one request to the audit routes; see [`audit_log_access`].
async fn audit_access(
    node: &Node,
    req: &HttpRequest,
    status: StatusCode,
    slug: Option<&str>,
) -> Result<Option<crate::api::AuditReceipt>, Problem> {
    let action = if req.path().starts_with("/v1/audit/witness/") {
        Action::WitnessCosign
    } else {
        Action::AuditRead
    };
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("");
    let mut detail = Detail::new()
        .query_sha256(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            target.as_bytes(),
        )))
        .person_key(sought_person_key(req))
        .problem(slug);
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let who = Verifier::bearer(header).and_then(|t| node.verifier.verify(t, &Role::ALL));
    if matches!(status.as_u16(), 401 | 403) {
        // Marks the entry as an access denial (see `event`).
        detail = detail.auth_refused();
    }
    let status = status.as_u16();
    match who {
        Ok(a) => audit(node, event(node, req, action, Some(&a), status, detail))
            .await
            .map(Some),
        // A token of this issuer for another region, or (should the routes ever allow it) an
        // anonymous read: one entry each.
        Err(e) if e.is_forbidden() || (200..300).contains(&status) => {
            audit(node, event(node, req, action, None, status, detail))
                .await
                .map(Some)
        }
        Err(_) => {
            let reason = known_reason(slug.unwrap_or(""));
            let ev = event(node, req, action, None, status, detail);
            audit_anonymous(node, req, reason, ev).await
        }
    }
}

/// The `person_key` an auditor looks for ("who accessed my data"), when well formed: anything
/// else might be an ID number typed in the wrong field, which never reaches the log.
fn sought_person_key(req: &HttpRequest) -> Option<String> {
    let q = web::Query::<HashMap<String, String>>::from_query(req.query_string()).ok()?;
    q.get("person_key")
        .filter(|pk| pes_schemas::person_key::is_well_formed(pk))
        .cloned()
}

/// The problem slug of an error answer: from the problem the handler returned, else from the
/// status (actix's own 405).
fn problem_slug<B>(res: &ServiceResponse<B>) -> String {
    let from_error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<Problem>().map(|p| p.slug().to_string()));
    from_error.unwrap_or_else(|| {
        match res.status() {
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            s if s.is_server_error() => "internal",
            _ => "refused",
        }
        .to_string()
    })
}

/// Aggregation reasons are a fixed set (the aggregator's memory bound relies on it): the
/// slugs an anonymous request to the audit routes can get, anything else as `refused`.
fn known_reason(slug: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        crate::api::UNAUTHORIZED,
        "forbidden",
        "not-found",
        "method-not-allowed",
        "bad-query-string",
        "audit-out-of-range",
        "audit-range-too-large",
        "witness-disabled",
    ];
    KNOWN.into_iter().find(|k| *k == slug).unwrap_or("refused")
}

/// Problem slug (and aggregation reason) of a content-coded request.
pub const UNSUPPORTED_CONTENT_ENCODING: &str = "unsupported-content-encoding";

/// The first content coding of `headers` other than `identity`, as sent (bounded), if any.
fn content_coding(headers: &header::HeaderMap) -> Option<String> {
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let Ok(text) = value.to_str() else {
            return Some("(not visible ASCII)".into());
        };
        let coding = text
            .split(',')
            .map(str::trim)
            .find(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"));
        if let Some(c) = coding {
            return Some(c.chars().take(32).collect());
        }
    }
    None
}

/// The audit action of a request, from its path (the handler has not run yet).
fn action_of_path(path: &str) -> Action {
    let routes: [(&str, Action); 9] = [
        ("/v1/ingest/", Action::IngestPush),
        ("/v1/query", Action::QueryAggregate),
        ("/v1/reports/supply-demand", Action::ReportSupplyDemand),
        ("/v1/persons/lookup", Action::PersonLookup),
        ("/v1/records/", Action::PersonLookup),
        ("/v1/quarantine/", Action::QuarantineResubmit),
        ("/v1/quarantine", Action::QuarantineList),
        ("/v1/audit/witness/", Action::WitnessCosign),
        ("/v1/audit", Action::AuditRead),
    ];
    routes
        .into_iter()
        .find(|(prefix, _)| path.starts_with(prefix))
        .map_or(Action::Admin, |(_, action)| action)
}

/// Refuses a request with a `Content-Encoding` other than `identity`: 415
/// `unsupported-content-encoding` with `Accept-Encoding: identity` (RFC 9110 section 15.5.16),
/// audited, before any handler or extractor runs.
///
/// The gateway takes no content-coded body. actix's `compress-gzip` feature would have the
/// JSON and bytes extractors inflate gzip and deflate bodies on the fly, while a push reads
/// its body raw (its batch id is the hash of the bytes sent) and answered `body-encoding`:
/// refusing here, before the body is read, gives one clear answer everywhere and no
/// decompression of untrusted input.
pub async fn unsupported_content_encoding(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let (Some(coding), Some(node)) = (
        content_coding(req.headers()),
        req.app_data::<web::Data<Node>>().cloned(),
    ) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let mut p = Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        UNSUPPORTED_CONTENT_ENCODING,
        "Unsupported content encoding",
        format!("Content-Encoding `{coding}` is not supported: send the body as it is (identity)"),
    );
    // The body is left unread: never reuse this connection.
    p.close = true;
    let action = action_of_path(req.path());
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let who = Verifier::bearer(header).and_then(|t| node.verifier.verify(t, &Role::ALL));
    let detail = Detail::new();
    let http = req.request();
    let p = match who {
        Ok(a) => refuse(&node, http, action, Some(&a), p, detail).await,
        Err(e) if e.is_forbidden() => refuse(&node, http, action, None, p, detail).await,
        Err(_) => {
            refuse_anonymous(&node, http, action, UNSUPPORTED_CONTENT_ENCODING, p, detail).await
        }
    };
    let mut answer = p.error_response();
    if p.status == StatusCode::UNSUPPORTED_MEDIA_TYPE.as_u16() {
        answer.headers_mut().insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    Ok(req.into_response(answer).map_into_right_body())
}
