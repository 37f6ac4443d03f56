//! Middleware of the HTTP API: answers that actix builds itself, made into problems.
//!
//! - [`method_not_allowed`]: a known path asked with another method gets 405 with `Allow` and a
//!   problem body (actix's own 405 has an empty body).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::ResponseError as _;

use crate::api::request_id;
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
