//! Lifecycle over HTTP: snapshots of a source (open, read, commit, confirm, abort), retirement
//! by source record id, and a retention run on demand; plus the timer that runs retention.
//! Every change is audited as `record_retire`, every refusal too. See `crate::lifecycle`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::{audit, authenticate, event, refuse, request_id, AuditReceipt, Detail, State};
use crate::audit::{Action, Actor, AuditEvent, Outcome};
use crate::auth::Authenticated;
use crate::auth::Role;
use crate::lifecycle::retention::{self, RetentionOutcome};
use crate::lifecycle::retire::{self, RetireRequest};
use crate::lifecycle::snapshot::{self, Snapshot, SnapshotState};
use crate::lifecycle::LifecycleError;
use crate::node::Node;
use crate::problem::Problem;

const ACTION: Action = Action::RecordRetire;

/// The problem a lifecycle failure answers with.
pub fn problem(e: &LifecycleError) -> Problem {
    match e {
        LifecycleError::UnknownSnapshot(_) => Problem::not_found("unknown-snapshot", e.to_string()),
        LifecycleError::WrongState { .. } => Problem::new(
            StatusCode::CONFLICT,
            "snapshot-state",
            "Snapshot is not in that state",
            e.to_string(),
        ),
        LifecycleError::Busy(_) => {
            let mut p = Problem::new(
                StatusCode::CONFLICT,
                "snapshot-busy",
                "Snapshot busy",
                e.to_string(),
            );
            p.retry_after = Some(1);
            p
        }
        LifecycleError::Invalid(_) => {
            Problem::bad_request("invalid-lifecycle-request", e.to_string())
        }
        LifecycleError::Journal(_) => {
            tracing::error!(error = %e, "lifecycle change could not be journaled");
            Problem::unavailable("the gateway cannot make the change durable right now")
        }
        LifecycleError::Store(_) | LifecycleError::NotApplied(_) => {
            tracing::error!(error = %e, "lifecycle change failed");
            Problem::unavailable(format!("the change could not be applied: {e}"))
        }
    }
}

/// The body of `POST /v1/sources/{source}/snapshots`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSnapshot {
    /// Record types the snapshot covers (default: all of the source's).
    #[serde(default)]
    pub record_types: Vec<String>,
}

/// A snapshot with the receipt of the request's audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotAnswer {
    /// The snapshot.
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// Receipt of this request's audit entry.
    pub audit_receipt: AuditReceipt,
}

/// The answer of `POST /v1/sources/{source}/retire`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetireAnswer {
    /// What was retired.
    #[serde(flatten)]
    pub outcome: retire::RetireOutcome,
    /// Receipt of this request's audit entry.
    pub audit_receipt: AuditReceipt,
}

/// The answer of `POST /v1/admin/retention`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetentionAnswer {
    /// What the run did.
    #[serde(flatten)]
    pub outcome: RetentionOutcome,
    /// Receipt of this request's audit entry.
    pub audit_receipt: AuditReceipt,
}

/// Checks that the caller may change `source`: an admin of this region, or a pusher whose token
/// names the source (and who is registered for it, when the source lists its pushers).
fn may_change(node: &Node, auth: &Authenticated, source: &str) -> Result<(), Problem> {
    let Some(src) = node.sources.get(source) else {
        return Err(Problem::not_found(
            "unknown-source",
            format!("no source `{source}` is registered"),
        ));
    };
    if auth.role() == Role::Admin {
        return Ok(());
    }
    if !auth.may_push(source)
        || (!src.pushers.is_empty() && !src.pushers.iter().any(|p| p == auth.sub()))
    {
        return Err(Problem::forbidden(format!(
            "this token may not push to source `{source}`, so it may not change its records"
        )));
    }
    Ok(())
}

/// Audits a request that ends with snapshot `s` (status `status`) and answers with it.
async fn answer_snapshot(
    node: &Node,
    req: &HttpRequest,
    auth: &Authenticated,
    action: Action,
    status: u16,
    s: Snapshot,
) -> Result<HttpResponse, Problem> {
    let receipt = audit(
        node,
        event(node, req, action, Some(auth), status, snapshot_detail(&s)),
    )
    .await?;
    let answer = SnapshotAnswer {
        snapshot: s,
        audit_receipt: receipt,
    };
    Ok(match status {
        201 => HttpResponse::Created().json(answer),
        202 => HttpResponse::Accepted().json(answer),
        _ => HttpResponse::Ok().json(answer),
    })
}

fn snapshot_detail(s: &Snapshot) -> Detail {
    let mut d = Detail::new()
        .dataset(&s.source)
        .batch_id(hex::encode(s.commit_id()))
        .count("batches", s.batches)
        .count("records", s.records);
    if let Some(n) = s.retired {
        d = d.count("retired", n);
    }
    if let Some(g) = &s.guard {
        d = d
            .count("would_retire", g.would_retire)
            .count("live", g.live);
    }
    d
}

/// Opens a snapshot of a source.
#[utoipa::path(post, path = "/v1/sources/{source}/snapshots", tag = "lifecycle", operation_id = "open_snapshot",
    description = "Open a snapshot of a source (role `pusher` of the source, or `admin`): push the source's complete \
        current content with `?snapshot=<id>`, then commit it; the commit retires the source's records that \
        no batch of the snapshot carried.",
    security(("bearer" = [])),
    params(("source" = String, Path, description = "Source id")),
    request_body(content = OpenSnapshot, description = "Optional: the record types the snapshot covers"),
    responses(
        (status = 201, description = "Opened", body = SnapshotAnswer),
        (status = 400, description = "Unknown record type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not push to this source", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn open_snapshot(
    req: HttpRequest,
    path: web::Path<String>,
    body: Option<web::Json<OpenSnapshot>>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Pusher, Role::Admin], ACTION).await?;
    let source = path.into_inner();
    let detail = Detail::new().dataset(&source);
    if let Err(p) = may_change(&node, &auth, &source) {
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    let types = body
        .map(|b| b.into_inner().record_types)
        .unwrap_or_default();
    let n = node.clone();
    let (src, by) = (source.clone(), auth.sub().to_string());
    let opened = web::block(move || {
        n.snapshots
            .open(&*n.store, &n.state.snapshot_seen, &src, &types, &by)
    })
    .await
    .map_err(|_| Problem::internal())?;
    let s = match opened {
        Ok(s) => s,
        Err(e) => return Err(refuse(&node, &req, ACTION, Some(&auth), problem(&e), detail).await),
    };
    answer_snapshot(&node, &req, &auth, ACTION, 201, s).await
}

/// Reads a snapshot.
#[utoipa::path(get, path = "/v1/sources/{source}/snapshots/{id}", tag = "lifecycle", operation_id = "get_snapshot",
    description = "A snapshot's state and counts (role `pusher` of the source, or `admin`).",
    security(("bearer" = [])),
    params(("source" = String, Path, description = "Source id"), ("id" = String, Path, description = "Snapshot id")),
    responses(
        (status = 200, description = "The snapshot", body = SnapshotAnswer),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not push to this source", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source or snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_snapshot(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Pusher, Role::Admin], Action::Admin).await?;
    let (source, id) = path.into_inner();
    let detail = Detail::new().dataset(&source);
    let found = may_change(&node, &auth, &source)
        .and_then(|()| node.snapshots.get(&source, &id).map_err(|e| problem(&e)));
    let s = match found {
        Ok(s) => s,
        Err(p) => return Err(refuse(&node, &req, Action::Admin, Some(&auth), p, detail).await),
    };
    answer_snapshot(&node, &req, &auth, Action::Admin, 200, s).await
}

/// Commits (or, as an admin, confirms) a snapshot.
async fn finish(
    req: HttpRequest,
    source: String,
    id: String,
    node: State,
    confirm: bool,
) -> Result<HttpResponse, Problem> {
    let roles: &[Role] = if confirm {
        &[Role::Admin]
    } else {
        &[Role::Pusher, Role::Admin]
    };
    let auth = authenticate(&node, &req, roles, ACTION).await?;
    let detail = Detail::new().dataset(&source);
    if let Err(p) = may_change(&node, &auth, &source) {
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    let confirmed_by = confirm.then(|| auth.sub().to_string());
    let planner = {
        let n = node.clone();
        move |s: Snapshot| async move {
            web::block(move || snapshot::plan(n.lifecycle(), &s))
                .await
                .map_err(|_| LifecycleError::NotApplied("the planning thread failed".into()))?
        }
    };
    let committed = node
        .snapshots
        .commit(
            node.lifecycle(),
            &source,
            &id,
            confirmed_by.as_deref(),
            node.config.lifecycle.snapshot_max_retire_share,
            planner,
        )
        .await;
    let s = match committed {
        Ok(s) => s,
        Err(e) => return Err(refuse(&node, &req, ACTION, Some(&auth), problem(&e), detail).await),
    };
    let status = if s.state == SnapshotState::AwaitingConfirmation {
        202
    } else {
        200
    };
    tracing::info!(request_id = %request_id(&req), snapshot = %s.id, state = s.state.as_str(), retired = s.retired.unwrap_or(0), "snapshot commit");
    node.metrics.records_retired.inc_by(s.retired.unwrap_or(0));
    answer_snapshot(&node, &req, &auth, ACTION, status, s).await
}

/// Commits a snapshot.
#[utoipa::path(post, path = "/v1/sources/{source}/snapshots/{id}/commit", tag = "lifecycle", operation_id = "commit_snapshot",
    description = "Commit a snapshot (role `pusher` of the source, or `admin`): once every batch pushed with it is \
        applied, the source's live records (in its record types) that none of them carried are retired, in one \
        journal entry. A commit that would retire more than `lifecycle.snapshot_max_retire_share` of them, or whose \
        batches quarantined rows, retires nothing and answers 202 `awaiting_confirmation` with the reason in `guard`.",
    security(("bearer" = [])),
    params(("source" = String, Path, description = "Source id"), ("id" = String, Path, description = "Snapshot id")),
    responses(
        (status = 200, description = "Committed", body = SnapshotAnswer),
        (status = 202, description = "Waiting for an admin's confirmation (see `guard`)", body = SnapshotAnswer),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not push to this source", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source or snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not open (committed, aborted, waiting), or being committed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The journal, the store or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn commit_snapshot(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let (source, id) = path.into_inner();
    finish(req, source, id, node, false).await
}

/// Confirms a waiting commit.
#[utoipa::path(post, path = "/v1/sources/{source}/snapshots/{id}/confirm", tag = "lifecycle", operation_id = "confirm_snapshot",
    description = "Confirm a snapshot commit that waits for it (role `admin`): what the snapshot lacks now is retired.",
    security(("bearer" = [])),
    params(("source" = String, Path, description = "Source id"), ("id" = String, Path, description = "Snapshot id")),
    responses(
        (status = 200, description = "Committed", body = SnapshotAnswer),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source or snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not waiting for confirmation, or being committed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The journal, the store or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm_snapshot(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let (source, id) = path.into_inner();
    finish(req, source, id, node, true).await
}

/// Aborts a snapshot.
#[utoipa::path(post, path = "/v1/sources/{source}/snapshots/{id}/abort", tag = "lifecycle", operation_id = "abort_snapshot",
    description = "Abort an open or waiting snapshot (role `pusher` of the source, or `admin`): nothing is retired. \
        Records its batches carried stay stored as pushed.",
    security(("bearer" = [])),
    params(("source" = String, Path, description = "Source id"), ("id" = String, Path, description = "Snapshot id")),
    responses(
        (status = 200, description = "Aborted", body = SnapshotAnswer),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not push to this source", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source or snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already committed or aborted, or being committed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn abort_snapshot(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Pusher, Role::Admin], ACTION).await?;
    let (source, id) = path.into_inner();
    let detail = Detail::new().dataset(&source);
    if let Err(p) = may_change(&node, &auth, &source) {
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    let n = node.clone();
    let aborted = web::block(move || {
        n.snapshots
            .abort(&*n.store, &n.state.snapshot_seen, &source, &id)
    })
    .await
    .map_err(|_| Problem::internal())?;
    let s = match aborted {
        Ok(s) => s,
        Err(e) => return Err(refuse(&node, &req, ACTION, Some(&auth), problem(&e), detail).await),
    };
    answer_snapshot(&node, &req, &auth, ACTION, 200, s).await
}

/// Retires records by source record id.
#[utoipa::path(post, path = "/v1/sources/{source}/retire", tag = "lifecycle", operation_id = "retire_records",
    description = "Retire records of a source by their source record ids (role `pusher` of the source, or `admin`): \
        a filled vacancy, a withdrawn registration. Retired records leave every answer and the rollups at once; \
        a later push of the record brings it back; retention deletes them for good later.",
    security(("bearer" = [])),
    params(("source" = String, Path, description = "Source id")),
    request_body(content = RetireRequest),
    responses(
        (status = 200, description = "Retired (`not_found` lists ids with no live record)", body = RetireAnswer),
        (status = 400, description = "No ids, too many, or an unknown record type", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not push to this source", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The journal, the store or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retire_records(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<RetireRequest>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Pusher, Role::Admin], ACTION).await?;
    let source = path.into_inner();
    let detail = Detail::new().dataset(&source);
    if let Err(p) = may_change(&node, &auth, &source) {
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    let body = body.into_inner();
    let asked = body.source_record_ids.len() as u64;
    let n = node.clone();
    let src = source.clone();
    let planned = web::block(move || retire::plan_by_ids(n.lifecycle(), &src, &body))
        .await
        .map_err(|_| Problem::internal())?;
    let rid = request_id(&req);
    let result = match planned {
        Ok((items, not_found)) => retire::retire_requested(node.lifecycle(), &source, &rid, &items)
            .await
            .map(|(retired, end)| retire::RetireOutcome {
                retired,
                not_found,
                journal_offset: end,
            }),
        Err(e) => Err(e),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => return Err(refuse(&node, &req, ACTION, Some(&auth), problem(&e), detail).await),
    };
    node.metrics.records_retired.inc_by(outcome.retired);
    let d = detail
        .count("asked", asked)
        .count("retired", outcome.retired)
        .count("not_found", outcome.not_found.len() as u64);
    let receipt = audit(&node, event(&node, &req, ACTION, Some(&auth), 200, d)).await?;
    Ok(HttpResponse::Ok().json(RetireAnswer {
        outcome,
        audit_receipt: receipt,
    }))
}

/// Runs retention now.
#[utoipa::path(post, path = "/v1/admin/retention", tag = "admin", operation_id = "run_retention",
    description = "Run retention now (role `admin`): records past `lifecycle.expire_after_months` are retired, and \
        records retired more than `lifecycle.purge_retired_after_days` ago are deleted for good.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the run did", body = RetentionAnswer),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin of this region", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The journal, the store or the audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn run_retention(req: HttpRequest, node: State) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Admin], ACTION).await?;
    let outcome = match retain(&node).await {
        Ok(o) => o,
        Err(e) => {
            let p = problem(&e);
            return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await);
        }
    };
    let d = Detail::new()
        .dataset("retention")
        .count("expired", outcome.expired)
        .count("purged", outcome.purged);
    let receipt = audit(&node, event(&node, &req, ACTION, Some(&auth), 200, d)).await?;
    Ok(HttpResponse::Ok().json(RetentionAnswer {
        outcome,
        audit_receipt: receipt,
    }))
}

/// One retention run: plan on the blocking pool, then journal and apply.
async fn retain(node: &Arc<Node>) -> Result<RetentionOutcome, LifecycleError> {
    let now = chrono::Utc::now();
    let n = node.clone();
    let plan =
        web::block(move || retention::plan(n.lifecycle(), &n.config.lifecycle, &n.data_key, now))
            .await
            .map_err(|_| LifecycleError::NotApplied("the retention thread failed".into()))??;
    let done = retention::apply(node.lifecycle(), &plan, now).await?;
    node.metrics.records_retired.inc_by(done.expired);
    node.metrics.records_purged.inc_by(done.purged);
    Ok(done)
}

/// Runs retention on start and then every `lifecycle.retention_interval_secs`, auditing each
/// run that changed something (as the gateway itself).
pub async fn retention_timer(node: Arc<Node>) {
    let every = Duration::from_secs(node.config.lifecycle.retention_interval_secs);
    loop {
        match retain(&node).await {
            Ok(o) if o == RetentionOutcome::default() => {}
            Ok(o) => {
                let mut e = AuditEvent::new(
                    node.config.region.clone(),
                    format!("retention-{}", chrono::Utc::now().timestamp_millis()),
                    Actor {
                        sub: "retention".into(),
                        role: "gateway".into(),
                        region: Some(node.config.region.clone()),
                        peer_member: None,
                    },
                    ACTION,
                    Outcome::Ok,
                );
                e.dataset = Some("retention".into());
                e.counts.insert("expired".into(), o.expired);
                e.counts.insert("purged".into(), o.purged);
                tracing::info!(expired = o.expired, purged = o.purged, "retention run");
                if node.audit.append(&e).await.is_err() {
                    tracing::error!("the retention run could not be audited");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention run failed; trying again later"),
        }
        tokio::time::sleep(every).await;
    }
}
