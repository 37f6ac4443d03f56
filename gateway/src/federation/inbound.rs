//! Serving federation calls: check the mTLS peer against the trust list, verify the request
//! signature, and sign the answer. Handlers receive a [`FederationRequest`], which only
//! [`verify_inbound`] builds.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::httpsig::{
    Headers, ReceivedRequest, RequestVerifier, ResponseToSign, SignatureChecked, SignatureError,
    SigningKey,
};
use super::tls::{ConnectionIdentity, PeerError, VerifiedPeer};
use super::trust::{TrustList, TrustStore};
use crate::problem::Problem;

/// What a gateway needs to serve federation calls.
#[derive(Debug)]
pub struct InboundContext {
    /// Trust list in force.
    pub trust: Arc<TrustStore>,
    /// Request signature verifier (owns the replay cache).
    pub verifier: RequestVerifier,
    /// This gateway's signing key, for responses.
    pub key: SigningKey,
}

/// A federation request whose peer and signature were checked.
#[derive(Debug, Clone)]
pub struct FederationRequest {
    /// The mTLS peer, a trust-list member.
    pub peer: VerifiedPeer,
    /// The verified signature.
    pub signature: SignatureChecked,
    /// The trust list used for the checks (policy lookups must use the same one).
    pub trust: Arc<TrustList>,
}

/// Why a federation request was refused. The peer's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The mTLS peer is not an acceptable member.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The request signature was refused.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl Refusal {
    /// Stable problem slug.
    pub fn slug(&self) -> &'static str {
        match self {
            Refusal::Peer(PeerError::NotMember(_)) => "peer_not_member",
            Refusal::Peer(_) => "untrusted_peer",
            Refusal::Signature(e) => e.slug(),
        }
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        let code = match self {
            Refusal::Peer(_) => 403,
            Refusal::Signature(e) => e.status(),
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN)
    }

    /// RFC 9457 problem answer (`https://pes.example/problems/<slug>`).
    pub fn to_response(&self) -> HttpResponse {
        Problem::federation_refused(self.status(), self.slug(), self.to_string()).error_response()
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

/// Checks a federation request: the leaf certificate stored by `tls::on_connect` must name a
/// member with a pinned key, and the `pes-fed-v1` signature must verify for that member.
pub fn verify_inbound(
    req: &HttpRequest,
    body: &[u8],
    ctx: &InboundContext,
    now: i64,
) -> Result<FederationRequest, Refusal> {
    let trust = ctx.trust.current();
    let peer = VerifiedPeer::check_identity(ConnectionIdentity::of(req)?, &trust)?;
    let headers = Headers::from_actix(req.headers());
    let received = ReceivedRequest::from_actix(req, &headers, body);
    let signature = ctx.verifier.verify(&received, &peer, &trust, now)?;
    Ok(FederationRequest {
        peer,
        signature,
        trust,
    })
}

/// A signed answer to a verified request: `Content-Digest`, `Signature-Input`, `Signature`
/// cover the status, body, content type and the request's signature.
pub fn signed_response(
    key: &SigningKey,
    request: &SignatureChecked,
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
    now: i64,
) -> Result<HttpResponse, SignatureError> {
    let headers = key.sign_response(
        &ResponseToSign {
            status: status.as_u16(),
            content_type: Some(content_type),
            body: &body,
            request_signature: request.request_signature(),
        },
        now,
    )?;
    Ok(HttpResponse::build(status)
        .content_type(content_type)
        .insert_header(("content-digest", headers.content_digest))
        .insert_header(("signature-input", headers.signature_input))
        .insert_header(("signature", headers.signature))
        .insert_header((
            super::httpsig::REQUEST_ID_HEADER,
            request.request_id().to_owned(),
        ))
        .body(body))
}

/// Current unix time in seconds.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}
