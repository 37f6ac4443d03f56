//! RFC 9457 problem details: every error answer of the HTTP API.
//!
//! `type` is a stable URI `https://pes.example/problems/<slug>`; `title` is fixed per slug and
//! `detail` says what was wrong with this request, never internals (paths, sled or OS errors).
//! A few problems carry no `detail` (their title says it all); the member is then absent.
//!
//! This is the only problem type: the HTTP API, the audit routes, the federation listener and
//! the dashboard all answer with it, so every answer of one slug has the same members.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Base of every problem `type` URI.
pub const TYPE_BASE: &str = "https://pes.example/problems/";

/// Media type of a problem answer (RFC 9457).
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable type URI.
    #[serde(rename = "type")]
    pub type_: String,
    /// Fixed short title for the type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What was wrong with this request; absent when the title says it all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Request id, for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Seconds to wait before retrying (429 and 503).
    #[serde(skip)]
    pub retry_after: Option<u32>,
    /// Close the connection after answering: the request body may be partly unread.
    #[serde(skip)]
    pub close: bool,
    /// Extension members (RFC 9457 section 3.2) of this problem type, e.g. `row_errors`.
    /// Boxed: most problems have none, and `Problem` travels in every handler's `Result`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

impl Problem {
    /// A problem of `slug` with `status` and `detail`.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: format!("{TYPE_BASE}{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            request_id: None,
            retry_after: None,
            close: false,
            extensions: None,
        }
    }

    /// A problem of `slug` with `status` and no `detail` member.
    pub fn without_detail(status: StatusCode, slug: &str, title: &str) -> Problem {
        Problem {
            detail: None,
            ..Problem::new(status, slug, title, "")
        }
    }

    /// The JSON body of this problem, for answers built by hand (a signed federation answer
    /// must sign the exact bytes it sends).
    pub fn to_json(&self) -> Vec<u8> {
        // A problem is strings, numbers and a JSON map: serialising it cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Adds an extension member.
    pub fn with(mut self, name: &str, value: serde_json::Value) -> Problem {
        self.extensions
            .get_or_insert_with(Default::default)
            .insert(name.to_string(), value);
        self
    }

    /// The slug part of the type URI.
    pub fn slug(&self) -> &str {
        self.type_.strip_prefix(TYPE_BASE).unwrap_or(&self.type_)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }
    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }
    /// 404.
    pub fn not_found(slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, slug, "Not found", detail)
    }
    /// 400.
    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, slug, "Bad request", detail)
    }
    /// 500, with a generic detail: the cause goes to the log, not to the client.
    pub fn internal() -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the gateway failed; see its log",
        )
    }
    /// 503.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        let mut p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
            detail,
        );
        p.retry_after = Some(1);
        p
    }
    /// A federation request refused (by the peer checks, the signature, the caller's policy, or
    /// the query itself), answered on the federation listener.
    pub fn federation_refused(
        status: StatusCode,
        slug: &str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem::new(status, slug, "Federation request refused", detail)
    }
    /// A witness refused to cosign a checkpoint (audit routes and the federation listener).
    pub fn not_cosigned(status: StatusCode, slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(status, slug, "Checkpoint not cosigned", detail)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "{} {}: {}", self.status, self.slug(), d),
            None => write!(f, "{} {}: {}", self.status, self.slug(), self.title),
        }
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status_code());
        b.content_type(CONTENT_TYPE);
        if self.close {
            b.force_close();
        }
        if let Some(s) = self.retry_after {
            b.insert_header(("Retry-After", s.to_string()));
        }
        b.json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_members_in_order_and_no_detail_when_there_is_none() {
        // The bodies the federation listener and the dashboard wrote by hand before.
        let p = Problem::without_detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
        );
        assert_eq!(
            String::from_utf8(p.to_json()).unwrap(),
            r#"{"type":"https://pes.example/problems/unavailable","title":"Temporarily unavailable","status":503}"#
        );
        assert_eq!(p.retry_after, None);
        let p = Problem::not_found("not-found", "no such dashboard asset");
        assert_eq!(
            String::from_utf8(p.to_json()).unwrap(),
            r#"{"type":"https://pes.example/problems/not-found","title":"Not found","status":404,"detail":"no such dashboard asset"}"#
        );
    }

    #[test]
    fn answer_is_problem_json_with_retry_after_and_extensions() {
        let p = Problem::unavailable("the audit log is not available")
            .with("row_errors", serde_json::json!([]));
        let res = p.error_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("content-type"), Some(CONTENT_TYPE));
        assert_eq!(header("retry-after"), Some("1"));
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["row_errors"], serde_json::json!([]));
        assert_eq!(v["detail"], "the audit log is not available");
        assert_eq!(p.slug(), "unavailable");
    }

    #[test]
    fn federation_and_witness_refusals_keep_their_titles() {
        let p = Problem::federation_refused(StatusCode::FORBIDDEN, "policy_denied", "no");
        assert_eq!(p.title, "Federation request refused");
        assert_eq!(p.type_, "https://pes.example/problems/policy_denied");
        let p = Problem::not_cosigned(StatusCode::UNPROCESSABLE_ENTITY, "witness-bad-proof", "x");
        assert_eq!(p.title, "Checkpoint not cosigned");
        assert_eq!(p.status, 422);
    }
}
