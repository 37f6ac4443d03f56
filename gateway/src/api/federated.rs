//! Administration over the HTTP API: `POST /v1/admin/reload` (admin) re-reads the sources'
//! mappings, and the trust list and the CRL of a federation member.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::{audit, authenticate, event, refuse, AuditReceipt, Detail, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::federation::node::Federation;
use crate::federation::trust::Reloaded;
use crate::problem::Problem;
use crate::sources::ReloadedSource;

/// The answer of `POST /v1/admin/reload`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Reload {
    /// Receipt of the reload's audit entry.
    pub audit_receipt: AuditReceipt,
    /// Whether a newer trust list was taken (false without `[federation]`).
    pub changed: bool,
    /// Every source with the adapter version now in force and whether its mapping changed.
    pub sources: Vec<ReloadedSource>,
    /// Version of the trust list in force (absent without `[federation]`).
    pub trust_list_version: Option<u64>,
}

/// Audited as [`Action::Admin`], as every administrative request.
const ACTION: Action = Action::Admin;

/// Re-reads the sources' mappings and code tables (all or nothing: a refused mapping leaves
/// every mapping in force), then the trust list (a lower version or an expired list is refused
/// and the last good one stays in force) and the CRL. Admins only; audited.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin",
    description = "Re-read the sources' mappings and code tables, and the trust list and the CRL \
        (role `admin`). A refused mapping leaves every mapping in force; a lower version or an \
        expired trust list is refused and the last good one stays in force.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The mappings and the trust list in force", body = Reload),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A mapping or the new trust list is refused; what was in force stays", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn reload(
    req: HttpRequest,
    node: State,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Admin], ACTION).await?;
    // A refusal is a 409: what was in force stays, and the operator fixes the file.
    let refused = |slug: &'static str, title: &'static str, e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "{title}");
        Problem::new(
            actix_web::http::StatusCode::CONFLICT,
            slug,
            title,
            e.to_string(),
        )
    };
    let sources = match node.sources.reload(&node.config) {
        Ok(s) => s,
        Err(e) => {
            let p = refused(
                "mapping-refused",
                "Mapping refused; the mappings in force stay",
                &e,
            );
            return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await);
        }
    };
    let changed_sources = sources.iter().filter(|s| s.changed).count() as u64;
    let trust = match fed.map(|f| f.reload()).transpose() {
        Ok(t) => t,
        Err(e) => {
            let p = refused(
                "trust-list-refused",
                "Trust list refused; the last good one stays in force",
                &e,
            );
            return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await);
        }
    };
    let (changed, version) = match trust {
        Some(Reloaded::Updated { to, .. }) => (true, Some(to)),
        Some(Reloaded::Unchanged(v)) => (false, Some(v)),
        None => (false, None),
    };
    let mut detail = Detail::new().count("sources_changed", changed_sources);
    if let Some(v) = version {
        detail = detail.count("trust_list_version", v);
    }
    let receipt = audit(&node, event(&node, &req, ACTION, Some(&auth), 200, detail)).await?;
    Ok(HttpResponse::Ok().json(Reload {
        trust_list_version: version,
        changed,
        sources,
        audit_receipt: receipt,
    }))
}
