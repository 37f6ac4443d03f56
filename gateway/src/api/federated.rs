//! Federation administration over the HTTP API: `POST /v1/admin/reload` (admin) re-reads the
//! trust list and the CRL.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::{audit, authenticate, event, refuse, Detail, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::federation::node::Federation;
use crate::federation::trust::Reloaded;
use crate::problem::Problem;

/// Audited as [`Action::Admin`], as every administrative request.
const ACTION: Action = Action::Admin;

/// Re-reads the trust list (a lower version or an expired list is refused and the last good one
/// stays in force) and the CRL. Admins only; audited.
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
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "trust_list_version": version,
                "changed": changed,
                "audit_receipt": receipt,
            })))
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
