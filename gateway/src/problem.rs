//! RFC 9457 problem details: every error answer of the HTTP API.
//!
//! `type` is a stable URI `https://pes.example/problems/<slug>`; `title` is fixed per slug and
//! `detail` says what was wrong with this request, never internals (paths, sled or OS errors).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Base of every problem `type` URI.
pub const TYPE_BASE: &str = "https://pes.example/problems/";

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
    /// What was wrong with this request.
    pub detail: String,
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
            detail: detail.into(),
            request_id: None,
            retry_after: None,
            close: false,
            extensions: None,
        }
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
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.slug(), self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status_code());
        b.content_type("application/problem+json");
        if self.close {
            b.force_close();
        }
        if let Some(s) = self.retry_after {
            b.insert_header(("Retry-After", s.to_string()));
        }
        b.json(self)
    }
}
