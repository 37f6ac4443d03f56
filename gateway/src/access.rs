//! Access auditing of HTTP requests, shared by the API and the federation side: who asked
//! (the bearer token, verified here), what was done, and how it ended, written to the audit log
//! before the answer leaves. Refusals are audited too; those of callers without valid
//! credentials are aggregated per client and interval ([`crate::audit::aggregate`]).
//!
//! It sits above the node (it reads the node's log, verifier and region) and below the handlers
//! of [`crate::api`] and [`crate::federation`], so neither of those imports the other for it.

use std::collections::BTreeMap;

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

/// What an audited request touched, written into its audit event: identifiers, digests and
/// counts only, never a protected value. Each field has one place in the event, so a misspelled
/// field is a compile error rather than a detail silently left out of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Detail {
    /// Dataset or source id (the event's `dataset`).
    pub dataset: Option<String>,
    /// Declared purpose (code).
    pub purpose: Option<String>,
    /// Ingest batch id (hex).
    pub batch_id: Option<String>,
    /// Hex SHA-256 of the raw pushed bytes (the event's `raw_hash`).
    pub raw_sha256: Option<String>,
    /// Hex SHA-256 of the canonical query or request target (the event's `query_digest`).
    pub query_sha256: Option<String>,
    /// Pseudonymous person key (never an ID number).
    pub person_key: Option<String>,
    /// Problem slug of a refusal (the event's `reason`); [`refuse`] sets it.
    pub problem: Option<String>,
    /// Counts: rows accepted, cells returned, ...
    pub counts: BTreeMap<String, u64>,
    /// The caller's credentials were refused: a 401 or 403 is then audited as
    /// [`Action::AccessDenied`] instead of the action asked for.
    pub auth_refused: bool,
}

/// A value for a text field of [`Detail`]: a string, or an optional one (absent stays absent).
pub trait DetailText {
    /// The text, if any.
    fn into_text(self) -> Option<String>;
}

impl DetailText for String {
    fn into_text(self) -> Option<String> {
        Some(self)
    }
}
impl DetailText for &String {
    fn into_text(self) -> Option<String> {
        Some(self.clone())
    }
}
impl DetailText for &str {
    fn into_text(self) -> Option<String> {
        Some(self.to_string())
    }
}
impl<T: DetailText> DetailText for Option<T> {
    fn into_text(self) -> Option<String> {
        self.and_then(DetailText::into_text)
    }
}
impl DetailText for &Option<String> {
    fn into_text(self) -> Option<String> {
        self.clone()
    }
}

impl Detail {
    /// An empty detail.
    pub fn new() -> Detail {
        Detail::default()
    }
    /// Sets the dataset or source id.
    pub fn dataset(mut self, v: impl DetailText) -> Detail {
        self.dataset = v.into_text();
        self
    }
    /// Sets the declared purpose.
    pub fn purpose(mut self, v: impl DetailText) -> Detail {
        self.purpose = v.into_text();
        self
    }
    /// Sets the ingest batch id.
    pub fn batch_id(mut self, v: impl DetailText) -> Detail {
        self.batch_id = v.into_text();
        self
    }
    /// Sets the hex SHA-256 of the raw pushed bytes.
    pub fn raw_sha256(mut self, v: impl DetailText) -> Detail {
        self.raw_sha256 = v.into_text();
        self
    }
    /// Sets the hex SHA-256 of the query or request target.
    pub fn query_sha256(mut self, v: impl DetailText) -> Detail {
        self.query_sha256 = v.into_text();
        self
    }
    /// Sets the person key looked up or sought.
    pub fn person_key(mut self, v: impl DetailText) -> Detail {
        self.person_key = v.into_text();
        self
    }
    /// Sets the problem slug of a refusal.
    pub fn problem(mut self, v: impl DetailText) -> Detail {
        self.problem = v.into_text();
        self
    }
    /// Sets the count `name` (a later value for the same name replaces the earlier one).
    pub fn count(mut self, name: &str, n: u64) -> Detail {
        self.counts.insert(name.to_string(), n);
        self
    }
    /// Marks the refusal as one of the caller's credentials (see [`Detail::auth_refused`]).
    pub fn auth_refused(mut self) -> Detail {
        self.auth_refused = true;
        self
    }
}

/// Builds the audit event of a request: `action` (or [`Action::AccessDenied`] for a refusal of
/// the caller's credentials, see [`Detail::auth_refused`]), the actor, the outcome from
/// `status`, and `detail`.
pub fn event(
    node: &Node,
    req: &HttpRequest,
    action: Action,
    actor: Option<&Authenticated>,
    status: u16,
    detail: Detail,
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
    let mut e = AuditEvent::new(
        node.config.region.clone(),
        request_id(req),
        actor,
        detail.action_for(action, status),
        outcome_of(status),
    );
    detail.write_into(&mut e);
    e
}

/// The outcome of a request answered with `status`.
fn outcome_of(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Ok,
        401 | 403 => Outcome::Denied,
        400..=499 => Outcome::Invalid,
        _ => Outcome::Error,
    }
}

impl Detail {
    /// The action audited for a request that asked for `action` and was answered `status`.
    fn action_for(&self, action: Action, status: u16) -> Action {
        if matches!(status, 401 | 403) && self.auth_refused {
            Action::AccessDenied
        } else {
            action
        }
    }

    /// Writes every field into its place in `e` (the counts replace `e`'s).
    fn write_into(self, e: &mut AuditEvent) {
        let Detail {
            dataset,
            purpose,
            batch_id,
            raw_sha256,
            query_sha256,
            person_key,
            problem,
            counts,
            auth_refused: _,
        } = self;
        e.dataset = dataset;
        e.purpose = purpose;
        e.batch_id = batch_id;
        e.raw_hash = raw_sha256;
        e.query_digest = query_sha256;
        e.person_key = person_key;
        e.reason = problem;
        e.counts = counts;
    }
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
    action: Action,
    actor: Option<&Authenticated>,
    mut p: Problem,
    detail: Detail,
) -> Problem {
    p.request_id = Some(request_id(req));
    let d = detail.problem(p.slug());
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
    action: Action,
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
            let detail = Detail::new().auth_refused();
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
    action: Action,
    reason: &'static str,
    mut p: Problem,
    detail: Detail,
) -> Problem {
    debug_assert_eq!(p.slug(), reason);
    p.request_id = Some(request_id(req));
    let d = detail.problem(reason);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event_with(detail: Detail, action: Action, status: u16) -> AuditEvent {
        let actor = Actor {
            sub: "pusher-1".into(),
            role: "pusher".into(),
            region: Some("440000".into()),
            peer_member: None,
        };
        let mut e = AuditEvent::new(
            "440000",
            "req-1",
            actor,
            detail.action_for(action, status),
            outcome_of(status),
        );
        e.time = "2026-01-01T00:00:00.000Z".into();
        detail.write_into(&mut e);
        e
    }

    #[test]
    fn a_push_writes_the_entry_the_json_detail_wrote() {
        let h = "ab".repeat(32);
        let d = Detail::new()
            .dataset("hr_jobseekers")
            .batch_id(&h)
            .raw_sha256(&h)
            .count("accepted", 10)
            .count("quarantined", 2)
            .count("journal_offset", 4096);
        let e = event_with(d, Action::IngestPush, 200);
        // The canonical bytes of this entry before the detail was typed.
        let want = format!(
            r#"{{"action":"ingest_push","actor":{{"region":"440000","role":"pusher","sub":"pusher-1"}},"batch_id":"{h}","counts":{{"accepted":10,"journal_offset":4096,"quarantined":2}},"dataset":"hr_jobseekers","gateway":"440000","outcome":"ok","raw_hash":"{h}","request_id":"req-1","time":"2026-01-01T00:00:00.000Z"}}"#
        );
        assert_eq!(
            String::from_utf8(e.to_canonical_json().unwrap()).unwrap(),
            want
        );
    }

    #[test]
    fn every_field_lands_in_its_place() {
        let d = Detail::new()
            .dataset("vacancy")
            .purpose("statistics")
            .batch_id("b")
            .raw_sha256("r")
            .query_sha256("q")
            .person_key("pk")
            .problem("bad-query")
            .count("cells", 3);
        let e = event_with(d, Action::QueryAggregate, 400);
        assert_eq!(e.dataset.as_deref(), Some("vacancy"));
        assert_eq!(e.purpose.as_deref(), Some("statistics"));
        assert_eq!(e.batch_id.as_deref(), Some("b"));
        assert_eq!(e.raw_hash.as_deref(), Some("r"));
        assert_eq!(e.query_digest.as_deref(), Some("q"));
        assert_eq!(e.person_key.as_deref(), Some("pk"));
        assert_eq!(e.reason.as_deref(), Some("bad-query"));
        assert_eq!(e.counts, BTreeMap::from([("cells".to_string(), 3)]));
        assert_eq!(e.action, Action::QueryAggregate);
        assert_eq!(e.outcome, Outcome::Invalid);
    }

    #[test]
    fn absent_optional_text_stays_absent() {
        let none: Option<String> = None;
        let d = Detail::new().purpose(&none).person_key(None::<&str>);
        assert_eq!(d, Detail::new());
        let d = Detail::new().purpose(Some(String::new()));
        assert_eq!(d.purpose.as_deref(), Some(""));
    }

    #[test]
    fn only_refused_credentials_are_audited_as_access_denied() {
        let refused = Detail::new().auth_refused();
        assert_eq!(
            refused.action_for(Action::IngestPush, 401),
            Action::AccessDenied
        );
        assert_eq!(
            refused.action_for(Action::AuditRead, 403),
            Action::AccessDenied
        );
        // A refusal by the handler (a purpose the token lacks) keeps the action asked for.
        assert_eq!(
            Detail::new().action_for(Action::PersonLookup, 403),
            Action::PersonLookup
        );
        assert_eq!(
            refused.action_for(Action::AuditRead, 404),
            Action::AuditRead
        );
        assert_eq!(outcome_of(401), Outcome::Denied);
        assert_eq!(outcome_of(415), Outcome::Invalid);
        assert_eq!(outcome_of(503), Outcome::Error);
    }
}
