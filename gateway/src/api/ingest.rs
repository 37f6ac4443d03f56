//! `POST /v1/ingest/{source}`: authenticated, streaming, durable ingest (DESIGN section 4).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::api::{audit, authenticate, event, refuse, request_id, AuditReceipt, Detail, State};
use crate::audit::Action;
use crate::auth::{Authenticated, Role};
use crate::ingest::budget::{BudgetExhausted, Reservation};
use crate::ingest::decode::{decode_body, DecodeInput, EntrySink, RowProblem};
use crate::ingest::idempotency::{valid_key, Claim, Pending, MAX_KEY_LEN};
use crate::ingest::IngestError;
use crate::node::Node;
use crate::problem::Problem;
use crate::query::AsOf;

/// Response header set on the replayed answer of an `Idempotency-Key` seen before.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Query parameters of a push.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// `applied`: answer only once the batch is applied to the store (read-your-writes).
    #[serde(default)]
    pub wait: Option<String>,
    /// The id of an open snapshot of this source that the batch belongs to (see
    /// `POST /v1/sources/{source}/snapshots`). A batch pushed with a snapshot is read again
    /// even when the same body was pushed before, so its records count as present.
    #[serde(default)]
    pub snapshot: Option<String>,
}

/// The answer to a push.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IngestResponse {
    /// SHA-256 (hex) of the body.
    pub batch_id: String,
    /// Source pushed to.
    pub source: String,
    /// Valid records journaled (0 for a duplicate batch).
    pub accepted: u64,
    /// Source rows quarantined: one each, however many of its records failed (with atomic rows,
    /// none of a failed row's records is stored).
    pub quarantined: u64,
    /// Problems of the quarantined rows, all of them (a row may have several; `row_errors`
    /// lists the first 1000).
    #[serde(default)]
    pub problems: u64,
    /// Records that changed nothing (the store already held that version or newer, or a newer
    /// copy in the same batch). Decided when the batch is applied, in journal order, so it is
    /// `null` until then: given with `?wait=applied`, when the batch was applied before the
    /// answer, and for a duplicate (all of its records).
    pub unchanged: Option<u64>,
    /// Records the store did not hold (or held only as retired); `null` until applied.
    #[serde(default)]
    pub new: Option<u64>,
    /// Records whose stored copy they replaced with other content; `null` until applied.
    #[serde(default)]
    pub updated: Option<u64>,
    /// The snapshot the batch belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The same body was pushed before: nothing changed.
    pub duplicate: bool,
    /// Whether the batch is applied to the store.
    pub applied: bool,
    /// Row problems (the first 1000; all are quarantined with their rows).
    pub row_errors: Vec<RowProblem>,
    /// Audit receipt of this push.
    pub audit_receipt: AuditReceipt,
    /// Journal offset just past this batch.
    pub journal_offset: u64,
    /// Freshness of the store.
    pub as_of: AsOf,
}

/// Current freshness.
pub fn as_of(node: &Node) -> AsOf {
    node.state.as_of()
}

/// Releases a pusher's concurrency slot when dropped.
struct Slot<'a> {
    node: &'a Node,
    sub: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut m = self
            .node
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.sub) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.sub);
            }
        }
    }
}

/// Marks a body as being decoded and journaled by this push; unmarked when dropped.
struct Pushing<'a> {
    node: &'a Node,
    batch_id: [u8; 32],
}

impl Drop for Pushing<'_> {
    fn drop(&mut self) {
        self.node
            .pushing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.batch_id);
    }
}

fn take_slot<'a>(node: &'a Node, sub: &str) -> Option<Slot<'a>> {
    let mut m = node.in_flight.lock().unwrap_or_else(|p| p.into_inner());
    let n = m.entry(sub.to_string()).or_insert(0);
    if *n >= node.config.limits.max_concurrent_pushes_per_pusher {
        return None;
    }
    *n += 1;
    Some(Slot {
        node,
        sub: sub.to_string(),
    })
}

fn ingest_problem(e: &IngestError) -> Problem {
    use crate::ingest::journal::JournalError;
    match e {
        IngestError::Encoding { encoding, location } => Problem::bad_request(
            "body-encoding",
            format!("body is not valid {encoding} at {location}; nothing from it was taken"),
        ),
        IngestError::Malformed { location, message } => Problem::bad_request(
            "malformed-body",
            format!("malformed body at {location}: {message}; nothing from it was taken"),
        ),
        IngestError::TooManyRows { limit } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-rows",
            "Batch too large",
            format!("a batch may hold at most {limit} rows; split the file"),
        ),
        IngestError::TooManyBadRows {
            bad,
            rows,
            max_rows,
            max_share,
            first,
        } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too-many-bad-rows",
            "Too many bad rows",
            format!(
                "{bad} of the {rows} rows read failed; a batch may have at most {max_rows} failed \
                 rows, and at most {:.0}% once {} have failed. Nothing of this batch was kept: \
                 fix the export (the first problems are in `row_errors`) and push it again",
                max_share * 100.0,
                crate::config::BAD_SHARE_MIN_ROWS
            ),
        )
        .with(
            "row_errors",
            serde_json::to_value(first).unwrap_or_default(),
        ),
        IngestError::Io(_) => {
            Problem::bad_request("body-read", "the request body could not be read")
        }
        IngestError::Journal(JournalError::NoSpace { .. }) => {
            tracing::warn!(error = %e, "push refused: the journal's disk is full");
            let mut p = Problem::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient-storage",
                "Insufficient storage",
                "the gateway's journal disk is full; nothing from this batch was taken: retry the \
                 same body later",
            );
            p.retry_after = Some(5);
            p
        }
        IngestError::Journal(JournalError::Failed) => {
            tracing::error!(error = %e, "push refused: the journal has failed");
            let mut p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal-failed",
                "Journal failed",
                "the gateway could not make data durable and takes no pushes until an operator \
                 restarts it; nothing from this batch was acknowledged: retry the same body later",
            );
            p.retry_after = Some(30);
            p
        }
        IngestError::Journal(_) | IngestError::Store(_) => {
            tracing::error!(error = %e, "ingest failed");
            Problem::unavailable("the gateway cannot make the batch durable right now")
        }
    }
}

/// What a decoded and journaled batch reports.
pub struct Journaled {
    /// Valid records.
    pub accepted: u64,
    /// Quarantined rows.
    pub quarantined: u64,
    /// Problems of the quarantined rows (all of them).
    pub problems: u64,
    /// First row problems.
    pub row_errors: Vec<RowProblem>,
}

/// Decodes a body through its source (on the blocking pool) and appends the entry to the
/// journal; returns once the entry is durable.
pub async fn decode_and_journal(
    node: &web::Data<Node>,
    source_id: &str,
    body: web::Bytes,
    batch_id: [u8; 32],
) -> Result<(Journaled, u64), IngestError> {
    decode_and_journal_in(node, source_id, body, batch_id, None).await
}

/// [`decode_and_journal`] for a batch of snapshot `snapshot` when it is set.
pub async fn decode_and_journal_in(
    node: &web::Data<Node>,
    source_id: &str,
    body: web::Bytes,
    batch_id: [u8; 32],
    snapshot: Option<String>,
) -> Result<(Journaled, u64), IngestError> {
    let n = node.clone();
    let sid = source_id.to_string();
    let decoded = web::block(move || {
        let now = chrono::Utc::now();
        let ingested_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let input = DecodeInput {
            region: &n.config.region,
            source: &sid,
            batch_id: &batch_id,
            ingested_at: &ingested_at,
            today: now.date_naive(),
            key: &n.data_key,
            max_rows: n.config.limits.max_rows_per_batch,
            max_quarantined: n.config.limits.max_quarantined_rows,
            max_quarantined_share: n.config.limits.max_quarantined_share,
        };
        let mut sink = EntrySink::new(&input, body.len());
        if let Some(id) = &snapshot {
            sink.snapshot(id);
        }
        let source = n
            .sources
            .get(&sid)
            .ok_or_else(|| IngestError::Io("source vanished".into()))?;
        decode_body(source.adapter(), &body, &n.keyer, &mut sink)?;
        sink.check_share()?;
        Ok::<_, IngestError>(sink.finish())
    })
    .await
    .map_err(|_| IngestError::Io("decoder thread failed".into()))??;
    node.state.batches_journaled.fetch_add(1, Ordering::AcqRel);
    let end = match node.journal.append(decoded.payload).await {
        Ok(end) => end,
        Err(e) => {
            node.state.batches_journaled.fetch_sub(1, Ordering::AcqRel);
            return Err(IngestError::Journal(e));
        }
    };
    Ok((
        Journaled {
            accepted: decoded.accepted,
            quarantined: decoded.quarantined,
            problems: decoded.problems,
            row_errors: decoded.row_errors,
        },
        end,
    ))
}

/// Handles a push.
#[utoipa::path(post, path = "/v1/ingest/{source}", tag = "ingest",
    description = "Push an export of a registered source (role `pusher`, with the source in the \
        token's `sources`). The body is the source's format: NDJSON of national records for a \
        `native` source, or the CSV, fixed-width, JSON, NDJSON or XML export its mapping \
        describes. A body pushed before is a duplicate and changes nothing. With \
        `?wait=applied` the answer comes once the batch is applied (read-your-writes).",
    security(("bearer" = [])),
    params(
        ("source" = String, Path, description = "Source id, as registered in the config's `[sources]`"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters; a retry with the same key and body gets the first answer"),
        IngestParams,
    ),
    request_body(description = "The export, in one of the source's content types",
        content(
            (String = "application/x-ndjson"),
            (String = "application/jsonl"),
            (String = "text/csv"),
            (String = "application/csv"),
            (String = "text/plain"),
            (String = "application/octet-stream"),
            (String = "application/json"),
            (String = "application/xml"),
            (String = "text/xml"),
        )
    ),
    responses(
        (status = 200, description = "Journaled (durable); applied when `applied` is true", body = IngestResponse,
            headers(("idempotent-replayed" = String, description = "`true` on the replayed answer of an Idempotency-Key"))),
        (status = 400, description = "Malformed body, bad encoding or bad Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token may not push to this source", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body stopped arriving", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same body or Idempotency-Key is being pushed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or row count over the limits", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not one of the source's content types", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too many bad rows (`row_errors` extension), or an Idempotency-Key reused for another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many pushes in flight for this pusher", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Journal failed, ingest memory in use or audit log unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 507, description = "The journal's disk is full", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ingest(
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<IngestParams>,
    mut payload: web::Payload,
    node: State,
) -> Result<HttpResponse, Problem> {
    let started = Instant::now();
    let source_id = path.into_inner();
    let auth = authenticate(&node, &req, &[Role::Pusher], Action::IngestPush).await?;
    let detail = Detail::new().dataset(&source_id);
    let (body, batch_id, _slot, _reservation) =
        match admit(&node, &req, &auth, &source_id, &mut payload).await {
            Ok(a) => (a.body, a.batch_id, a.slot, a.reservation),
            Err(p) => return Err(refused(&node, &req, &auth, p, detail).await),
        };
    // A snapshot's batch is its own batch: the same body pushed before (or in another
    // snapshot) must still be read, so that its records count as present.
    let snapshot = params.snapshot.clone();
    let batch_id = match &snapshot {
        None => batch_id,
        Some(id) => {
            if let Err(e) = node.snapshots.check_open(&source_id, id) {
                let p = crate::api::lifecycle::problem(&e);
                return Err(refused(&node, &req, &auth, p, detail).await);
            }
            crate::lifecycle::retire::change_id(&["pes-snapshot-batch", id, &hex::encode(batch_id)])
        }
    };
    let batch_hex = hex::encode(batch_id);
    let idem = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().ok().filter(|k| valid_key(k)).map(str::to_string));
    let idem = match idem {
        None => None,
        Some(Some(k)) => Some(k),
        Some(None) => {
            let p = Problem::bad_request(
                "bad-idempotency-key",
                format!("an Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters"),
            );
            return Err(refused(&node, &req, &auth, p, detail).await);
        }
    };
    let claim = idem.as_deref().map(|k| {
        node.idempotency
            .claim(auth.sub(), &source_id, k, batch_id, Instant::now())
    });
    let pending = match claim {
        None => None,
        Some(Claim::New(p)) => Some(p),
        Some(Claim::Replay(answer)) => {
            return replay(&node, &req, &auth, &answer, &batch_id).await;
        }
        Some(Claim::InFlight) => {
            let mut p = Problem::new(
                StatusCode::CONFLICT,
                "idempotency-key-in-flight",
                "Push in progress",
                "a push with this Idempotency-Key is still in progress; retry after it is answered",
            );
            p.retry_after = Some(1);
            let d = detail.batch_id(&batch_hex);
            return Err(refused(&node, &req, &auth, p, d).await);
        }
        Some(Claim::Mismatch(original)) => {
            let p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                format!(
                    "this Idempotency-Key was used for another body (batch {}); nothing was taken: \
                     send a new body with a new key",
                    hex::encode(original)
                ),
            );
            let d = detail.batch_id(&batch_hex);
            return Err(refused(&node, &req, &auth, p, d).await);
        }
    };

    // A body pushed before is recognised by its hash and changes nothing.
    // A body being decoded right now by another push is not yet a duplicate: that push may
    // still fail, so this one is told to retry rather than that it was taken.
    let known = {
        let mut b = node.state.batches.lock().unwrap_or_else(|p| p.into_inner());
        let mut pushing = node.pushing.lock().unwrap_or_else(|p| p.into_inner());
        if pushing.contains(&batch_id) {
            Err(())
        } else {
            Ok(match b.get(&batch_id) {
                Some(s) => Some(s.clone()),
                None => {
                    b.insert(batch_id, None);
                    pushing.insert(batch_id);
                    None
                }
            })
        }
    };
    let Ok(known) = known else {
        let mut p = Problem::new(
            StatusCode::CONFLICT,
            "batch-in-flight",
            "Same body in progress",
            "the same body is being pushed by another request; retry after it is answered",
        );
        p.retry_after = Some(1);
        let d = detail.batch_id(&batch_hex);
        return Err(refused(&node, &req, &auth, p, d).await);
    };
    let _pushing = known.is_none().then(|| Pushing {
        node: &node,
        batch_id,
    });
    if let Some(summary) = known {
        let detail = detail.batch_id(&batch_hex).raw_sha256(&batch_hex);
        let receipt = audit(
            &node,
            event(&node, &req, Action::IngestPush, Some(&auth), 200, detail),
        )
        .await?;
        let resp = IngestResponse {
            batch_id: batch_hex,
            source: source_id,
            accepted: 0,
            quarantined: 0,
            problems: 0,
            // Nothing of a duplicate changes: every record of it is unchanged.
            unchanged: summary.as_ref().map(|s| s.records),
            new: summary.as_ref().map(|_| 0),
            updated: summary.as_ref().map(|_| 0),
            snapshot: snapshot.clone(),
            duplicate: true,
            applied: summary.is_some(),
            row_errors: vec![],
            audit_receipt: receipt,
            journal_offset: summary.as_ref().map(|s| s.end_offset).unwrap_or(0),
            as_of: as_of(&node),
        };
        return answer(resp, pending);
    }
    let forget = |node: &Node| {
        node.state
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&batch_id);
    };

    let journaled =
        decode_and_journal_in(&node, &source_id, body, batch_id, snapshot.clone()).await;
    let (decoded, end) = match journaled {
        Ok(x) => x,
        Err(e) => {
            forget(&node);
            // A snapshot batch refused for what it holds must not look present-and-absent at
            // the commit: the snapshot remembers it until the same batch is taken.
            let refused_for_content = matches!(
                e,
                IngestError::Encoding { .. }
                    | IngestError::Malformed { .. }
                    | IngestError::TooManyRows { .. }
                    | IngestError::TooManyBadRows { .. }
            );
            if let (Some(id), true) = (&snapshot, refused_for_content) {
                node.snapshots.note_failed(id, &batch_id);
            }
            let d = detail.batch_id(&batch_hex);
            return Err(refused(&node, &req, &auth, ingest_problem(&e), d).await);
        }
    };
    node.state.journal_end.fetch_max(end, Ordering::AcqRel);
    if let Some(id) = &snapshot {
        node.snapshots
            .note_batch(id, &batch_id, decoded.accepted, decoded.quarantined);
    }
    node.metrics.ingested_rows.inc_by(decoded.accepted);
    node.metrics.quarantined_rows.inc_by(decoded.quarantined);
    node.metrics.row_problems.inc_by(decoded.problems);
    node.metrics
        .batch_latency
        .observe(started.elapsed().as_secs_f64());

    if params.wait.as_deref() == Some("applied") {
        node.state.wait_applied(end).await;
    }
    // `new`, `updated` and `unchanged` are decided when the batch is applied (in journal
    // order, after the acknowledgement), so they are given only once that has happened.
    let (applied, counts) = applied_outcome(&node, &batch_id, false);
    let mut resp = respond(
        &node, &req, &auth, decoded, batch_hex, source_id, end, applied, counts,
    )
    .await?;
    resp.snapshot = snapshot;
    answer(resp, pending)
}

/// A push let in: its body (read within the limits and the memory budget) and what it holds
/// until it is answered: a concurrency slot of its pusher and its memory reservation.
struct Admitted<'a> {
    body: web::Bytes,
    batch_id: [u8; 32],
    slot: Slot<'a>,
    reservation: Reservation,
}

/// Admission of a push, in the order a caller would fix things: the source exists, this token
/// may push to it, the content type is the source's, the pusher has a slot free, and the body
/// arrives within the limits. Refusals are returned, for [`refused`] to audit.
async fn admit<'a>(
    node: &'a Node,
    req: &HttpRequest,
    auth: &Authenticated,
    source_id: &str,
    payload: &mut web::Payload,
) -> Result<Admitted<'a>, Problem> {
    let Some(source) = node.sources.get(source_id) else {
        return Err(Problem::not_found(
            "unknown-source",
            format!("no source `{source_id}` is registered"),
        ));
    };
    // Two different fixes, so two different details: a new token, or the operator's config.
    if !auth.may_push(source_id) {
        return Err(Problem::forbidden(format!(
            "this token does not name source `{source_id}` in its `sources`; ask for a pusher \
             token issued for `{source_id}`"
        )));
    }
    if !source.pushers.is_empty() && !source.pushers.iter().any(|p| p == auth.sub()) {
        return Err(Problem::forbidden(format!(
            "pusher `{}` is not registered for source `{source_id}`: the token names the \
             source, but this gateway's `sources.{source_id}.pushers` does not list `{}`; ask \
             its operator to add it",
            auth.sub(),
            auth.sub()
        )));
    }
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !source.accepts(ct) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!(
                "source `{source_id}` takes {}",
                source.content_types().join(", ")
            ),
        ));
    }
    let Some(slot) = take_slot(node, auth.sub()) else {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-pushes",
            "Too many pushes",
            "this pusher has too many pushes in flight",
        );
        p.retry_after = Some(1);
        return Err(p);
    };
    let (body, batch_id, reservation) = read_body(node, req, payload).await?;
    Ok(Admitted {
        body,
        batch_id,
        slot,
        reservation,
    })
}

/// The one place a push's refusal is counted and audited. The body may be partly unread, so
/// the connection is never reused.
async fn refused(
    node: &Node,
    req: &HttpRequest,
    auth: &Authenticated,
    mut p: Problem,
    detail: Detail,
) -> Problem {
    node.metrics.refused_pushes.inc();
    p.close = true;
    refuse(node, req, Action::IngestPush, Some(auth), p, detail).await
}

/// Reads a push body as a stream: hashing as it comes, refusing past `limits.max_body_bytes`,
/// reserving its memory from the ingest budget as it grows (so a chunked body cannot take more
/// than its share), and giving up when no byte arrives for `limits.body_read_timeout_secs`.
/// The reservation must live until the push is answered.
async fn read_body(
    node: &Node,
    req: &HttpRequest,
    payload: &mut web::Payload,
) -> Result<(web::Bytes, [u8; 32], Reservation), Problem> {
    let limits = &node.config.limits;
    let max = limits.max_body_bytes;
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Body too large",
            format!("the body exceeds {max} bytes"),
        )
    };
    let busy = |e: BudgetExhausted| {
        let mut p = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ingest-busy",
            "Ingest memory in use",
            format!("{e}; retry shortly"),
        );
        p.retry_after = Some(2);
        p
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut reservation = node.ingest_budget.reservation();
    if let Some(n) = declared {
        reservation.grow_to(n).await.map_err(busy)?;
    }
    let idle = Duration::from_secs(limits.body_read_timeout_secs);
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    // A body of known length is read into one buffer of that size; a chunked one is kept as its
    // chunks and joined once (growing one buffer would double its capacity past the body).
    let mut whole = web::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    let mut chunks: Vec<web::Bytes> = Vec::new();
    let mut len = 0u64;
    loop {
        let chunk = match tokio::time::timeout(idle, payload.next()).await {
            Err(_) => {
                return Err(Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body-read-timeout",
                    "Body read timed out",
                    format!(
                        "no body bytes arrived for {} s; send the body without pauses",
                        limits.body_read_timeout_secs
                    ),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(Problem::bad_request(
                    "body-read",
                    "the request body could not be read",
                ))
            }
            Ok(Some(Ok(c))) => c,
        };
        len += chunk.len() as u64;
        if len > max {
            return Err(too_large());
        }
        if declared.is_none_or(|n| len > n) {
            reservation.grow_to(len).await.map_err(busy)?;
        }
        hasher.update(&chunk);
        if declared.is_some() {
            whole.extend_from_slice(&chunk);
        } else {
            chunks.push(chunk);
        }
    }
    let body = if declared.is_some() {
        whole.freeze()
    } else if chunks.len() == 1 {
        chunks.pop().unwrap_or_default()
    } else {
        let mut joined = web::BytesMut::with_capacity(len as usize);
        for c in chunks.drain(..) {
            joined.extend_from_slice(&c);
        }
        joined.freeze()
    };
    let mut batch_id = [0u8; 32];
    batch_id.copy_from_slice(hasher.finish().as_ref());
    Ok((body, batch_id, reservation))
}

/// What applying a batch did to its records: new, updated, unchanged.
#[derive(Debug, Clone, Copy)]
struct Counts {
    new: u64,
    updated: u64,
    unchanged: u64,
}

/// Whether a batch is applied, and then what it did (for a duplicate push: nothing, every
/// record unchanged).
fn applied_outcome(node: &Node, batch_id: &[u8; 32], duplicate: bool) -> (bool, Option<Counts>) {
    let b = node.state.batches.lock().unwrap_or_else(|p| p.into_inner());
    match b.get(batch_id) {
        Some(Some(s)) if duplicate => (
            true,
            Some(Counts {
                new: 0,
                updated: 0,
                unchanged: s.records,
            }),
        ),
        Some(Some(s)) => (
            true,
            Some(Counts {
                new: s.outcome.new,
                updated: s.outcome.updated,
                unchanged: s.outcome.unchanged,
            }),
        ),
        _ => (false, None),
    }
}

/// The 200 answer; binds the push's Idempotency-Key to it.
fn answer(resp: IngestResponse, pending: Option<Pending<'_>>) -> Result<HttpResponse, Problem> {
    let body = serde_json::to_vec(&resp).map_err(|e| {
        // The push is durable; only the answer failed. The client retries the same body.
        tracing::error!(error = %e, "ingest answer could not be serialised");
        Problem::internal()
    })?;
    if let Some(p) = pending {
        p.complete(body.clone(), Instant::now());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// Answers a push whose Idempotency-Key and body were answered before: the original answer,
/// with the store's progress brought up to date. Audited; nothing else changes.
async fn replay(
    node: &Node,
    req: &HttpRequest,
    auth: &Authenticated,
    original: &[u8],
    batch_id: &[u8; 32],
) -> Result<HttpResponse, Problem> {
    let mut resp: IngestResponse =
        serde_json::from_slice(original).map_err(|_| Problem::internal())?;
    let (applied, counts) = applied_outcome(node, batch_id, resp.duplicate);
    resp.applied = applied;
    resp.unchanged = counts.map(|c| c.unchanged);
    resp.new = counts.map(|c| c.new);
    resp.updated = counts.map(|c| c.updated);
    resp.as_of = as_of(node);
    let detail = Detail::new()
        .dataset(&resp.source)
        .batch_id(&resp.batch_id)
        .raw_sha256(&resp.batch_id)
        .count("idempotent_replays", 1);
    audit(
        node,
        event(node, req, Action::IngestPush, Some(auth), 200, detail),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((IDEMPOTENT_REPLAYED, "true"))
        .json(resp))
}

#[allow(clippy::too_many_arguments)]
async fn respond(
    node: &Node,
    req: &HttpRequest,
    auth: &Authenticated,
    decoded: Journaled,
    batch_hex: String,
    source: String,
    end: u64,
    applied: bool,
    counts: Option<Counts>,
) -> Result<IngestResponse, Problem> {
    let Journaled {
        accepted,
        quarantined,
        problems,
        row_errors,
    } = decoded;
    let detail = Detail::new()
        .dataset(&source)
        .batch_id(&batch_hex)
        .raw_sha256(&batch_hex)
        .count("accepted", accepted)
        .count("quarantined", quarantined)
        .count("journal_offset", end);
    let receipt = audit(
        node,
        event(node, req, Action::IngestPush, Some(auth), 200, detail),
    )
    .await?;
    tracing::info!(request_id = %request_id(req), batch = %batch_hex, accepted, quarantined, "batch journaled");
    Ok(IngestResponse {
        batch_id: batch_hex,
        source,
        accepted,
        quarantined,
        problems,
        unchanged: counts.map(|c| c.unchanged),
        new: counts.map(|c| c.new),
        updated: counts.map(|c| c.updated),
        snapshot: None,
        duplicate: false,
        applied,
        row_errors,
        audit_receipt: receipt,
        journal_offset: end,
        as_of: as_of(node),
    })
}
