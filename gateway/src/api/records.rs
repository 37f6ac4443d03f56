//! `GET /v1/records/{record_id}` (caseworkers) and `GET /v1/quarantine` (listings, masked).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::ingest::as_of;
use crate::api::{audit, authenticate, event, refuse, State};
use crate::auth::Role;
use crate::ingest::decode::{quarantine_id, QuarantinedRow, RowProblem};
use crate::problem::Problem;

/// Query parameters of a record read.
#[derive(Debug, Deserialize)]
pub struct RecordParams {
    /// Purpose of the read (must be one the token allows to reveal protected fields).
    #[serde(default)]
    pub purpose: Option<String>,
    /// Ask for the protected fields.
    #[serde(default)]
    pub reveal: bool,
}

/// Reads one record. Protected fields come back only to a caseworker whose token allows the
/// stated purpose, and only when asked for with `reveal=true`.
pub async fn get_record(
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<RecordParams>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Caseworker, Role::Admin], "record.read").await?;
    let id = path.into_inner();
    let detail =
        serde_json::json!({ "record_id": id, "purpose": params.purpose, "reveal": params.reveal });
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
            return Err(refuse(&node, &req, "record.read", Some(&auth), p, detail).await);
        }
    }
    let (record, protected) = match node.store.read_record(&id, &node.data_key, params.reveal) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let p = Problem::not_found("unknown-record", "no such record");
            return Err(refuse(&node, &req, "record.read", Some(&auth), p, detail).await);
        }
        Err(e) => {
            tracing::error!(error = %e, "record read failed");
            return Err(Problem::internal());
        }
    };
    let mut d = detail;
    d["revealed"] = (params.reveal && protected).into();
    let receipt = audit(
        &node,
        event(&node, &req, "record.read", Some(&auth), 200, d),
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "record": record,
        "protected_withheld": !params.reveal && protected,
        "audit_receipt": receipt,
        "as_of": as_of(&node),
    })))
}

/// Query parameters of a quarantine listing.
#[derive(Debug, Deserialize)]
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

/// One listed quarantined row; the raw row is masked.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantineItem {
    /// Id for retry: `<batch id>-<row>`.
    pub id: String,
    /// Source.
    pub source: String,
    /// Batch id.
    pub batch_id: String,
    /// The problem.
    pub problem: RowProblem,
    /// The raw row with every letter, digit and CJK character replaced by `*`.
    pub raw_masked: String,
}

/// Masks a raw row: keeps its shape (delimiters, punctuation), hides its content.
pub fn mask(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_alphanumeric() { '*' } else { c })
        .collect()
}

/// Lists quarantined rows (admins: all; pushers: their sources).
pub async fn list_quarantine(
    req: HttpRequest,
    params: web::Query<QuarantineParams>,
    node: State,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Admin, Role::Pusher], "quarantine.list").await?;
    if let Some(s) = &params.source {
        if auth.role() == Role::Pusher && !auth.may_push(s) {
            let p = Problem::forbidden("this token may not read that source's quarantine");
            return Err(refuse(
                &node,
                &req,
                "quarantine.list",
                Some(&auth),
                p,
                serde_json::json!({ "source": s }),
            )
            .await);
        }
    }
    let limit = params.limit.unwrap_or(100).min(1000);
    let mut items = Vec::new();
    for kv in node.store.quarantined() {
        let (_, v) = kv.map_err(|_| Problem::internal())?;
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
        let id = quarantine_id(&row.batch_id, row.problem.row);
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &row.raw_sealed)
                .ok()
                .and_then(|s| node.data_key.open(id.as_bytes(), &s).ok())
                .map(|b| mask(&String::from_utf8_lossy(&b)))
                .unwrap_or_default();
        items.push(QuarantineItem {
            id,
            source: row.source,
            batch_id: row.batch_id,
            problem: row.problem,
            raw_masked: raw,
        });
        if items.len() >= limit {
            break;
        }
    }
    let d = serde_json::json!({ "source": params.source, "batch": params.batch, "listed": items.len() });
    audit(
        &node,
        event(&node, &req, "quarantine.list", Some(&auth), 200, d),
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items, "as_of": as_of(&node) })))
}
