//! Access auditing of HTTP requests, shared by the API and the federation side: who asked
//! (the bearer token, verified here), what was done, and how it ended, written to the audit log
//! before the answer leaves. Refusals are audited too; those of callers without valid
//! credentials are aggregated per client and interval ([`crate::audit::aggregate`]).
//!
//! It sits above the node (it reads the node's log, verifier and region) and below the handlers
//! of [`crate::api`] and [`crate::federation`], so neither of those imports the other for it.

use actix_web::{HttpMessage, HttpRequest};

use crate::audit::{Action, Actor, AuditEvent, Outcome};
use crate::auth::{Authenticated, Role, Verifier};
use crate::node::Node;
use crate::problem::Problem;

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

/// What the caller of an audited request keeps: where its audit entry sits in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
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
        Ok(a) => {
            // The access log names the subject of an authenticated request.
            req.extensions_mut().insert(a.clone());
            Ok(a)
        }
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
