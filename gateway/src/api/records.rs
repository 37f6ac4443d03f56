//! `GET /v1/records/{record_id}` (caseworkers) and `GET /v1/quarantine` (listings, masked).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::ingest::as_of;
use crate::api::{audit, authenticate, event, refuse, AuditReceipt, Detail, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::ingest::decode::{quarantine_id, QuarantinedRow, RowProblem};
use crate::problem::Problem;

/// Query parameters of a record read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordParams {
    /// Purpose of the read (must be one the token allows to reveal protected fields).
    #[serde(default)]
    pub purpose: Option<String>,
    /// Ask for the protected fields.
    #[serde(default)]
    pub reveal: bool,
}

/// The answer of `GET /v1/records/{record_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordAnswer {
    /// Freshness of the store.
    pub as_of: crate::query::AsOf,
    /// Receipt of the read's audit entry.
    pub audit_receipt: AuditReceipt,
    /// Whether the record has protected fields that were withheld (not asked for).
    pub protected_withheld: bool,
    /// The national record (DESIGN section 3), protected fields only when revealed.
    #[schema(value_type = Object)]
    pub record: pes_schemas::Record,
}

/// Reads one record. Protected fields come back only to a caseworker whose token allows the
/// stated purpose, and only when asked for with `reveal=true`.
#[utoipa::path(get, path = "/v1/records/{record_id}", tag = "persons",
    description = "Read one record (role `caseworker` or `admin`); protected fields only to a \
        caseworker whose token allows `purpose`, with `reveal=true`.",
    security(("bearer" = [])),
    params(
        ("record_id" = String, Path, description = "Record id, `<region>:<source>:<source_record_id>`"),
        RecordParams,
    ),
    responses(
        (status = 200, description = "The record", body = RecordAnswer),
        (status = 400, description = "Bad query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a caseworker or admin, or protected fields not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_record(
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<RecordParams>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(
        &node,
        &req,
        &[Role::Caseworker, Role::Admin],
        Action::PersonLookup,
    )
    .await?;
    let id = path.into_inner();
    let detail = Detail::new().purpose(&params.purpose);
    if params.reveal {
        let ok = auth.role() == Role::Caseworker
            && params
                .purpose
                .as_deref()
                .is_some_and(|p| auth.allows_purpose(p));
        if !ok {
            let p = Problem::forbidden(
                "protected fields need a caseworker token that allows the stated purpose",
            );
            return Err(refuse(&node, &req, Action::PersonLookup, Some(&auth), p, detail).await);
        }
    }
    let (record, protected) = match node.store.read_record(&id, &node.data_key, params.reveal) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let p = Problem::not_found("unknown-record", "no such record");
            return Err(refuse(&node, &req, Action::PersonLookup, Some(&auth), p, detail).await);
        }
        Err(e) => {
            tracing::error!(error = %e, "record read failed");
            return Err(Problem::internal());
        }
    };
    let receipt = audit(
        &node,
        event(&node, &req, Action::PersonLookup, Some(&auth), 200, detail),
    )
    .await?;
    Ok(HttpResponse::Ok().json(RecordAnswer {
        record,
        protected_withheld: !params.reveal && protected,
        audit_receipt: receipt,
        as_of: as_of(&node),
    }))
}

/// Query parameters of a quarantine listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineParams {
    /// Only rows of this source.
    #[serde(default)]
    pub source: Option<String>,
    /// Only rows of this batch (hex id).
    #[serde(default)]
    pub batch: Option<String>,
    /// Most rows to list (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One listed quarantined row (a failed source row, with all its problems); the raw row is
/// masked.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantineItem {
    /// Id for retry: `<batch id>-<row>`.
    pub id: String,
    /// Source.
    pub source: String,
    /// Batch id.
    pub batch_id: String,
    /// 0-based index of the source row in its batch (see `RowProblem.row`).
    pub row: u32,
    /// The row's first problem, as listed before rows held several (also first in `problems`).
    pub problem: RowProblem,
    /// Every problem of the row, in the order its records were built.
    pub problems: Vec<RowProblem>,
    /// The raw row with the cells that protected fields read (name, ID number, phone) masked:
    /// each letter, digit and CJK character replaced by `*`. Other cells are shown as they were
    /// pushed, so the row can be fixed. A row whose cells cannot be told apart is masked whole.
    pub raw_masked: String,
}

impl QuarantineItem {
    /// The listed form of a stored row whose raw row is already masked; `None` for a value with
    /// no problem. Values stored before rows were quarantined whole (one `problem`) list as rows
    /// of one problem.
    fn of(row: QuarantinedRow, raw_masked: String) -> Option<QuarantineItem> {
        let first = row.problems.first()?.clone();
        Some(QuarantineItem {
            id: quarantine_id(&row.batch_id, first.row),
            source: row.source,
            batch_id: row.batch_id,
            row: first.row,
            problem: first,
            problems: row.problems,
            raw_masked,
        })
    }
}

/// The answer of `GET /v1/quarantine`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuarantineList {
    /// Freshness of the store.
    pub as_of: crate::query::AsOf,
    /// The rows listed, masked (at most `limit`).
    pub items: Vec<QuarantineItem>,
    /// Quarantined rows matching the filters, listed or not.
    pub rows: u64,
    /// Problems of those rows (a row may have several).
    pub problems: u64,
}

/// Lists quarantined rows (admins: all; pushers: their sources).
#[utoipa::path(get, path = "/v1/quarantine", tag = "quarantine",
    description = "List quarantined rows, masked (role `admin`: all; `pusher`: its sources).",
    security(("bearer" = [])),
    params(QuarantineParams),
    responses(
        (status = 200, description = "Rows listed", body = QuarantineList),
        (status = 400, description = "Bad query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or pusher, or not this pusher's source", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_quarantine(
    req: HttpRequest,
    params: web::Query<QuarantineParams>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(
        &node,
        &req,
        &[Role::Admin, Role::Pusher],
        Action::QuarantineList,
    )
    .await?;
    if let Some(s) = &params.source {
        if auth.role() == Role::Pusher && !auth.may_push(s) {
            let p = Problem::forbidden("this token may not read that source's quarantine");
            return Err(refuse(
                &node,
                &req,
                Action::QuarantineList,
                Some(&auth),
                p,
                Detail::new().dataset(s),
            )
            .await);
        }
    }
    let limit = params.limit.unwrap_or(100).min(1000);
    let mut items = Vec::new();
    let (mut rows, mut problems) = (0u64, 0u64);
    for kv in node.store.quarantined() {
        let v = kv.map_err(|_| Problem::internal())?;
        let Ok(row) = serde_json::from_slice::<QuarantinedRow>(&v) else {
            continue;
        };
        if params.source.as_ref().is_some_and(|s| *s != row.source)
            || params.batch.as_ref().is_some_and(|b| *b != row.batch_id)
        {
            continue;
        }
        if auth.role() == Role::Pusher && !auth.may_push(&row.source) {
            continue;
        }
        if row.problems.is_empty() {
            continue;
        }
        rows += 1;
        problems += row.problems.len() as u64;
        // Past the limit the rows are only counted.
        if items.len() >= limit {
            continue;
        }
        let id = quarantine_id(&row.batch_id, row.row());
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &row.raw_sealed)
                .ok()
                .and_then(|s| node.data_key.open(id.as_bytes(), &s).ok())
                .map(|b| {
                    let raw = String::from_utf8_lossy(&b);
                    // The source's adapter knows which cells are protected; a source no longer
                    // registered gets the whole row masked.
                    match node.sources.get(&row.source) {
                        Some(source) => source.adapter().mask_row(&raw, row.header.as_deref()),
                        None => pes_adapters::mask_shape(&raw),
                    }
                })
                .unwrap_or_default();
        items.extend(QuarantineItem::of(row, raw));
    }
    let d = Detail::new()
        .dataset(&params.source)
        .count("listed", items.len() as u64);
    audit(
        &node,
        event(&node, &req, Action::QuarantineList, Some(&auth), 200, d),
    )
    .await?;
    Ok(HttpResponse::Ok().json(QuarantineList {
        items,
        rows,
        problems,
        as_of: as_of(&node),
    }))
}

/// Re-runs one quarantined row through its source's adapter (which may have been fixed since):
/// the row becomes a one-row batch of its own; when it yields records, the quarantine entry is
/// removed. The answer comes once the batch is applied.
#[utoipa::path(post, path = "/v1/quarantine/{id}/retry", tag = "quarantine",
    description = "Re-run one quarantined row through its source's adapter (role `admin`, or \
        `pusher` of its source); once it yields records its quarantine entry is removed.",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Quarantine id, `<batch id>-<row>`, from `GET /v1/quarantine`")),
    responses(
        (status = 200, description = "Retried; `resolved` when the row now yields records", body = RetryAnswer),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or pusher, or not this pusher's source", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such quarantined row, or its source is no longer registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The row cannot be retried on its own, or fails to decode again", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retry_quarantined(
    req: HttpRequest,
    path: web::Path<String>,
    node: State,
) -> Result<HttpResponse, Problem> {
    const ACTION: Action = Action::QuarantineResubmit;
    let auth = authenticate(&node, &req, &[Role::Admin, Role::Pusher], ACTION).await?;
    let id = path.into_inner();
    let detail = Detail::new();
    let not_found = || Problem::not_found("unknown-quarantine-row", "no such quarantined row");
    let parsed = id.rsplit_once('-').and_then(|(b, r)| {
        let mut batch = [0u8; 32];
        hex::decode_to_slice(b, &mut batch).ok()?;
        Some((batch, r.parse::<u32>().ok()?))
    });
    let Some((batch, row)) = parsed else {
        return Err(refuse(&node, &req, ACTION, Some(&auth), not_found(), detail).await);
    };
    let stored = match node.store.quarantined_row(&batch, row) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(refuse(&node, &req, ACTION, Some(&auth), not_found(), detail).await)
        }
        Err(e) => {
            tracing::error!(error = %e, "quarantine read failed");
            return Err(Problem::internal());
        }
    };
    let q: QuarantinedRow = serde_json::from_slice(&stored).map_err(|_| Problem::internal())?;
    let detail = Detail::new().dataset(&q.source).batch_id(&q.batch_id);
    if auth.role() == Role::Pusher && !auth.may_push(&q.source) {
        let p = Problem::forbidden("this token may not retry that source's rows");
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &q.raw_sealed)
        .ok()
        .and_then(|s| node.data_key.open(id.as_bytes(), &s).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(Problem::internal)?;
    let Some(source) = node.sources.get(&q.source) else {
        let p = Problem::not_found(
            "unknown-source",
            format!("source `{}` is no longer registered", q.source),
        );
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    };
    let Some(body) = source
        .adapter()
        .retry_body(&raw, q.header.as_deref(), q.location())
    else {
        let p = Problem::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "retry-unsupported",
            "Cannot retry",
            "this row cannot be placed in a body of its own; fix and push the export again",
        );
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    };
    let mut new_batch = [0u8; 32];
    new_batch.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());
    node.state
        .batches
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(new_batch)
        .or_insert(None);
    let (j, end) = match crate::api::ingest::decode_and_journal(
        &node,
        &q.source,
        web::Bytes::from(body),
        new_batch,
    )
    .await
    {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "retry could not be journaled");
            let p = Problem::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "retry-failed",
                "Retry failed",
                "the row could not be decoded again",
            );
            return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
        }
    };
    node.state
        .journal_end
        .fetch_max(end, std::sync::atomic::Ordering::AcqRel);
    node.state.wait_applied(end).await;
    let resolved = j.accepted > 0 && j.quarantined == 0;
    // Keep one quarantine entry per row: the original while it still fails, none once fixed.
    // The retry's own entries are dropped: one for the row (atomic rows), or one per failed
    // record (`atomic_rows = false`); their rows are those of its few problems. A retry body
    // equal to the original export (a one-row export) has the original's batch id, so its
    // failure was written over the original entry: that entry then stays.
    let mut stale: Vec<([u8; 32], u32)> = if resolved {
        vec![(batch, row)]
    } else {
        j.row_errors.iter().map(|p| (new_batch, p.row)).collect()
    };
    stale.dedup();
    for (drop_batch, drop_row) in stale {
        if !resolved && (drop_batch, drop_row) == (batch, row) {
            continue;
        }
        node.store
            .remove_quarantined(&drop_batch, drop_row)
            .map_err(|_| Problem::internal())?;
    }
    // The removal is not in the journal: flush it with the applied offset, or a restart would
    // replay the retry's entry and bring its quarantine row back.
    let store = node.store.clone();
    web::block(move || store.flush())
        .await
        .map_err(|_| Problem::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "store flush after a retry failed");
            Problem::internal()
        })?;
    let d = detail
        .count("accepted", j.accepted)
        .count("quarantined", j.quarantined);
    let receipt = audit(&node, event(&node, &req, ACTION, Some(&auth), 200, d)).await?;
    Ok(HttpResponse::Ok().json(RetryAnswer {
        id,
        resolved,
        retry_batch_id: hex::encode(new_batch),
        accepted: j.accepted,
        quarantined: j.quarantined,
        problems: j.problems,
        row_errors: j.row_errors,
        audit_receipt: receipt,
        as_of: as_of(&node),
    }))
}

/// The answer of `POST /v1/quarantine/{id}/retry`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetryAnswer {
    /// Records the retried row yielded.
    pub accepted: u64,
    /// Freshness of the store (the retry is applied).
    pub as_of: crate::query::AsOf,
    /// Receipt of the retry's audit entry.
    pub audit_receipt: AuditReceipt,
    /// The quarantine id retried.
    pub id: String,
    /// Rows quarantined again (0 or 1; with a mapping's `atomic_rows = false`, one per failed
    /// record).
    pub quarantined: u64,
    /// Problems of the row, when it still fails.
    pub problems: u64,
    /// Whether the row now yields records (its quarantine entry is removed).
    pub resolved: bool,
    /// Batch id (hex) of the one-row batch.
    pub retry_batch_id: String,
    /// The row's problems, when it still fails.
    pub row_errors: Vec<RowProblem>,
}

#[cfg(test)]
mod tests {
    use super::{QuarantineItem, QuarantinedRow};

    /// A value stored before rows were quarantined whole: one `problem`, no `problems`.
    const OLD_VALUE: &str = r#"{"source":"prov","batch_id":"ab12","problem":{"row":7,"location":"row:8","field":"job_seeker_registration.desired_occupations","code":"unknown_local_code","message":"local code not in code table"},"raw_sealed":"AAAA","header":"a,b"}"#;

    #[test]
    fn a_value_stored_with_one_problem_still_lists() {
        let row: QuarantinedRow = serde_json::from_str(OLD_VALUE).unwrap();
        assert_eq!((row.row(), row.location()), (7, "row:8"));
        let item = QuarantineItem::of(row, "*".into()).unwrap();
        assert_eq!(item.id, "ab12-7");
        assert_eq!(item.row, 7);
        assert_eq!(item.problems.len(), 1);
        assert_eq!(item.problems[0].code, "unknown_local_code");
        assert_eq!(item.problem.location, "row:8");
    }

    #[test]
    fn a_row_lists_with_all_its_problems_and_round_trips() {
        let mut row: QuarantinedRow = serde_json::from_str(OLD_VALUE).unwrap();
        let mut second = row.problems[0].clone();
        second.field = Some("person.protected.phone".into());
        second.code = "invalid_phone".into();
        row.problems.push(second);
        let stored = serde_json::to_value(&row).unwrap();
        assert!(stored.get("problem").is_none(), "{stored}");
        assert_eq!(stored["problems"].as_array().unwrap().len(), 2);
        let again: QuarantinedRow = serde_json::from_value(stored).unwrap();
        let item = QuarantineItem::of(again, String::new()).unwrap();
        assert_eq!(item.problems.len(), 2);
        assert_eq!(item.problems[1].code, "invalid_phone");
        assert_eq!(item.problem.code, "unknown_local_code");
    }
}
