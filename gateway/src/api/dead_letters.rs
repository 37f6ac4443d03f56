//! Dead letters over the HTTP API (admins): `GET /v1/admin/dead-letters` lists the journal
//! entries the applier set aside, `POST /v1/admin/dead-letters/{offset}/retry` applies one again.
//! Both are audited, and so is every entry set aside ([`audit_dead_letters`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::api::{audit, authenticate, event, refuse, AuditReceipt, Detail, State};
use crate::audit::{Action, Actor, AuditEvent, Outcome};
use crate::auth::Role;
use crate::ingest::apply::{retry_dead_letter, RetryError};
use crate::node::Node;
use crate::problem::Problem;
use crate::store::dead_letter::{payload_dir, DeadLetter};
use crate::store::BatchSummary;

/// The answer of `GET /v1/admin/dead-letters`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    /// Receipt of the listing's audit entry.
    pub audit_receipt: AuditReceipt,
    /// Every entry set aside.
    pub dead_letters: Vec<DeadLetter>,
}

/// The answer of `POST /v1/admin/dead-letters/{offset}/retry`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLetterRetried {
    /// Receipt of the retry's audit entry.
    pub audit_receipt: AuditReceipt,
    /// The batch as applied.
    pub batch: BatchSummary,
    /// The dead letter's id (journal offset just past its entry).
    pub end_offset: u64,
}

/// Lists every dead letter.
#[utoipa::path(get, path = "/v1/admin/dead-letters", tag = "admin", operation_id = "list_dead_letters",
    description = "Journal entries the applier set aside (role `admin`).",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every dead letter", body = DeadLetterList),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(req: HttpRequest, node: State) -> Result<HttpResponse, Problem> {
    const ACTION: Action = Action::Admin;
    let auth = authenticate(&node, &req, &[Role::Admin], ACTION).await?;
    let letters = node.store.dead_letters().map_err(|e| {
        tracing::error!(error = %e, "reading dead letters failed");
        Problem::internal()
    })?;
    let detail = Detail::new().count("dead_letters", letters.len() as u64);
    let receipt = audit(&node, event(&node, &req, ACTION, Some(&auth), 200, detail)).await?;
    Ok(HttpResponse::Ok().json(DeadLetterList {
        dead_letters: letters,
        audit_receipt: receipt,
    }))
}

/// Retries one dead letter.
#[utoipa::path(post, path = "/v1/admin/dead-letters/{offset}/retry", tag = "admin", operation_id = "retry_dead_letter",
    description = "Apply one dead letter again (role `admin`); on success it is removed.",
    security(("bearer" = [])),
    params(("offset" = u64, Path, description = "The dead letter's `end_offset`")),
    responses(
        (status = 200, description = "Applied", body = DeadLetterRetried),
        (status = 400, description = "The offset is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dead letter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "It still fails and stays set aside", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot be written, or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry(
    req: HttpRequest,
    path: web::Path<u64>,
    node: State,
) -> Result<HttpResponse, Problem> {
    const ACTION: Action = Action::Admin;
    let auth = authenticate(&node, &req, &[Role::Admin], ACTION).await?;
    let offset = path.into_inner();
    // A dead letter's id is a journal offset, so one past the journal's end names none. Refused
    // before the audit detail takes it: an offset beyond 2^53 has no canonical form in the
    // audit log, and auditing it would fail the request with a 503.
    if offset > node.state.journal_end.load(Ordering::Acquire) {
        let p = Problem::not_found(
            "unknown-dead-letter",
            RetryError::NotFound(offset).to_string(),
        );
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await);
    }
    let n = node.clone();
    let result = web::block(move || {
        let dir = payload_dir(&n.config.data_dir);
        retry_dead_letter(&*n.store, &n.state, &dir, offset)
    })
    .await
    .map_err(|_| Problem::internal())?;
    let detail = Detail::new().count("end_offset", offset);
    match result {
        Ok(summary) => {
            node.state.dead_letter_notify.notify_one();
            let d = detail
                .count("applied", summary.outcome.applied)
                .count("unchanged", summary.outcome.unchanged);
            let receipt = audit(&node, event(&node, &req, ACTION, Some(&auth), 200, d)).await?;
            Ok(HttpResponse::Ok().json(DeadLetterRetried {
                end_offset: offset,
                batch: summary,
                audit_receipt: receipt,
            }))
        }
        Err(e) => {
            let p = match &e {
                RetryError::NotFound(_) => Problem::not_found("unknown-dead-letter", e.to_string()),
                RetryError::StillFails(_) => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "dead-letter-still-fails",
                    "Dead letter still fails",
                    format!("{e}; it stays set aside"),
                ),
                RetryError::Store(err) => {
                    tracing::error!(error = %err, "dead-letter retry failed");
                    Problem::unavailable("the store cannot be written right now")
                }
            };
            Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await)
        }
    }
}

/// Writes one audit event for every dead letter not yet audited, whenever the applier sets one
/// aside (and on start, for those set aside during the journal replay). The applier runs on
/// its own thread without the audit log, so this task audits for it; the `audited` flag makes it
/// at least once across crashes.
pub async fn audit_dead_letters(node: Arc<Node>) {
    loop {
        let n = node.clone();
        let pending = web::block(move || n.store.dead_letters())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        node.metrics.dead_letters.set(pending.len() as i64);
        for letter in pending.into_iter().filter(|l| !l.audited) {
            if node
                .audit
                .append(&dead_letter_event(&node, &letter))
                .await
                .is_err()
            {
                break; // the audit log is failing: try again on the next wake-up
            }
            let n = node.clone();
            let marked = web::block(move || {
                // Re-read: an admin's retry may have changed it meanwhile.
                match n.store.get_dead_letter(letter.end_offset)? {
                    Some(mut l) => {
                        l.audited = true;
                        n.store.update_dead_letter(&l)
                    }
                    None => Ok(()),
                }
            })
            .await;
            if !matches!(marked, Ok(Ok(()))) {
                tracing::warn!("could not mark a dead letter audited; it may be audited again");
            }
        }
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            node.state.dead_letter_notify.notified(),
        )
        .await;
    }
}

fn dead_letter_event(node: &Node, letter: &DeadLetter) -> AuditEvent {
    let actor = Actor {
        sub: "applier".into(),
        role: "gateway".into(),
        region: Some(node.config.region.clone()),
        peer_member: None,
    };
    let mut e = AuditEvent::new(
        node.config.region.clone(),
        format!("dead-letter-{}", letter.end_offset),
        actor,
        Action::Admin,
        Outcome::Error,
    );
    e.reason = Some("dead-lettered".into());
    e.batch_id = letter.batch_id.clone();
    e.dataset = letter.source.clone();
    e.counts.insert("end_offset".into(), letter.end_offset);
    e.counts.insert("bytes".into(), letter.len);
    e.counts.insert(
        "dead_letters_since_start".into(),
        node.state.dead_lettered.load(Ordering::Acquire),
    );
    e
}
