//! Federation administration over the HTTP API: `POST /v1/admin/reload` (admin) re-reads the
//! trust list and the CRL.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::{audit, authenticate, event, refuse, AuditReceipt, Detail, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::federation::node::Federation;
use crate::federation::trust::Reloaded;
use crate::problem::Problem;

/// The answer of `POST /v1/admin/reload`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Reload {
    /// Receipt of the reload's audit entry.
    pub audit_receipt: AuditReceipt,
    /// Whether a newer trust list was taken.
    pub changed: bool,
    /// Version of the trust list in force.
    pub trust_list_version: u64,
}

/// Audited as [`Action::Admin`], as every administrative request.
const ACTION: Action = Action::Admin;

/// Re-reads the trust list (a lower version or an expired list is refused and the last good one
/// stays in force) and the CRL. Admins only; audited.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin",
    description = "Re-read the trust list and the CRL (role `admin`). A lower version or an \
        expired list is refused and the last good one stays in force.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The trust list in force", body = Reload),
        (status = 400, description = "This gateway has no `[federation]` section", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new trust list is refused; the last good one stays in force", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reload(
    req: HttpRequest,
    node: State,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Admin], ACTION).await?;
    let Some(fed) = fed else {
        let p = Problem::bad_request(
            "federation-not-configured",
            "this gateway has no [federation] section",
        );
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await);
    };
    match fed.reload() {
        Ok(r) => {
            let (changed, version) = match r {
                Reloaded::Updated { to, .. } => (true, to),
                Reloaded::Unchanged(v) => (false, v),
            };
            let detail = Detail::new().count("trust_list_version", version);
            let receipt =
                audit(&node, event(&node, &req, ACTION, Some(&auth), 200, detail)).await?;
            Ok(HttpResponse::Ok().json(Reload {
                trust_list_version: version,
                changed,
                audit_receipt: receipt,
            }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "trust list reload refused");
            let p = Problem::new(
                actix_web::http::StatusCode::CONFLICT,
                "trust-list-refused",
                "Trust list refused; the last good one stays in force",
                e.to_string(),
            );
            Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await)
        }
    }
}
