//! Cross-witnessing over the federation channel (DESIGN section 7, C2SP `tlog-witness` and
//! `tlog-cosignature`).
//!
//! **Server.** A gateway configured with a witness key serves
//! `POST /v1/federation/witness/add-checkpoint` on its mTLS listener. The caller must be a
//! trust-list member and sign the request (`pes-fed-v1`, like every federation call); the body
//! is a tlog-witness add-checkpoint request whose checkpoint must be signed by a member's
//! `log_key` from the trust list and be consistent with what the witness cosigned before
//! ([`crate::audit::witness::Witness`], state persisted across restarts). Every answer
//! (cosignature lines, the 409 size, problems) is signed. Refusals are audited as
//! `witness_cosign`; successful cosignings are not, so that two gateways witnessing each other
//! do not grow each other's logs forever.
//!
//! **Client.** [`crate::federation::node::Federation`]'s checkpoint submission sends every checkpoint this gateway publishes to each trust-list
//! witness run by another member, and attaches the cosignatures it gets back to the published
//! checkpoint (what `GET /v1/audit/checkpoint`, receipts and `pesgw audit verify` see).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::inbound::{signed_response, unix_now, verify_inbound, InboundContext};
use super::service::{as_peer, peer_hint, unavailable};
use super::trust::TrustList;
use crate::access::{audit, event, Detail};
use crate::audit::api::MAX_WITNESS_BODY;
use crate::audit::event::Action;
use crate::audit::witness::{Witness, WitnessError, SIZE_CONTENT_TYPE};
use crate::node::Node;
use crate::problem::{self, Problem};
use crate::signed_note::VerifierKey;

/// Path of the witness on the federation listener.
pub const WITNESS_PATH: &str = "/v1/federation/witness/add-checkpoint";

/// The witness this gateway runs, if any (app data of the federation listener).
#[derive(Debug, Clone, Default)]
pub struct WitnessSlot(pub Option<Arc<Witness>>);

/// Registers the witness route. Needs `web::Data<Node>`, `web::Data<InboundContext>` and
/// `web::Data<WitnessSlot>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(WITNESS_PATH).route(web::post().to(add_checkpoint)));
}

/// The audit log keys of the trust list's members (those that publish one).
pub fn log_keys(trust: &TrustList) -> Vec<VerifierKey> {
    trust
        .members
        .iter()
        .filter_map(|m| m.log_key.as_deref())
        .filter_map(|k| VerifierKey::parse(k).ok())
        .collect()
}

async fn add_checkpoint(
    req: HttpRequest,
    body: web::Bytes,
    node: web::Data<Node>,
    fed: web::Data<InboundContext>,
    slot: web::Data<WitnessSlot>,
) -> HttpResponse {
    let now = unix_now();
    let refused = |claimed: &str, member: Option<&str>, status: u16, slug: &str, size: u64| {
        let mut detail = Detail::new().problem(slug);
        if size > 0 {
            detail = detail.count("witnessed_size", size);
        }
        let mut ev = as_peer(
            event(&node, &req, Action::WitnessCosign, None, status, detail),
            claimed,
            member,
        );
        ev.action = Action::WitnessCosign;
        ev
    };
    let checked = match verify_inbound(&req, &body, &fed, now) {
        Ok(c) => c,
        Err(refusal) => {
            let ev = refused(
                &peer_hint(&req),
                None,
                refusal.status().as_u16(),
                refusal.slug(),
                0,
            );
            if audit(&node, ev).await.is_err() {
                return unavailable();
            }
            return refusal.to_response();
        }
    };
    let caller = checked.peer.region().to_owned();
    let sign = |status: u16, content_type: &str, body: Vec<u8>| {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        signed_response(&fed.key, &checked.signature, code, content_type, body, now)
            .unwrap_or_else(|_| unavailable())
    };
    let result = match (&slot.0, std::str::from_utf8(&body)) {
        (None, _) => Err((
            404,
            "witness-disabled",
            "this gateway does not witness".into(),
        )),
        (Some(_), _) if body.len() > MAX_WITNESS_BODY => Err((
            413,
            "witness-too-large",
            format!("body over {MAX_WITNESS_BODY} bytes"),
        )),
        (Some(_), Err(_)) => Err((400, "witness-bad-request", "body is not UTF-8".into())),
        (Some(w), Ok(text)) => w.add_checkpoint(text, now.max(0) as u64).map_err(|e| {
            let slug = match &e {
                WitnessError::BadRequest(_) => "witness-bad-request",
                WitnessError::UnknownOrigin => "witness-unknown-log",
                WitnessError::Forbidden => "witness-untrusted-signature",
                WitnessError::Conflict(_) => "witness-size-mismatch",
                WitnessError::RootConflict(_) => "witness-root-conflict",
                WitnessError::BadProof => "witness-bad-proof",
                _ => "witness-failure",
            };
            (e.status(), slug, e.to_string())
        }),
    };
    match result {
        Ok(lines) => sign(200, "text/plain; charset=utf-8", lines.into_bytes()),
        Err((status, slug, detail)) => {
            tracing::warn!(peer = %caller, problem = slug, "witness refused a checkpoint");
            let size = match &slot.0 {
                Some(w) if status == 409 => witnessed_size(w, &body),
                _ => 0,
            };
            if audit(&node, refused(&caller, Some(&caller), status, slug, size))
                .await
                .is_err()
            {
                return unavailable();
            }
            if status == 409 {
                // The protocol's answer: the witnessed size, as text.
                return sign(409, SIZE_CONTENT_TYPE, format!("{size}\n").into_bytes());
            }
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = Problem::not_cosigned(code, slug, detail).to_json();
            sign(code.as_u16(), problem::CONTENT_TYPE, body)
        }
    }
}

/// The size the witness holds for the origin named in an add-checkpoint body.
fn witnessed_size(w: &Witness, body: &[u8]) -> u64 {
    std::str::from_utf8(body)
        .ok()
        .and_then(|t| t.split_once("\n\n"))
        .and_then(|(_, cp)| cp.split('\n').next())
        .map_or(0, |origin| w.witnessed_size(origin))
}
