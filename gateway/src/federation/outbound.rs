//! Calling a peer: sign the request, send it over the pinned mTLS client, verify the signed
//! answer. The error kinds are the per-region statuses of a fan-out answer.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::httpsig::{
    prepare_response_check, Headers, RequestToSign, ResponseChecked, SignatureError, SigningKey,
    REQUEST_ID_HEADER,
};
use super::trust::TrustList;

/// A verified answer from a peer (2xx from [`call_peer`]; any signed status from [`exchange`]).
#[derive(Debug, Clone)]
pub struct PeerAnswer {
    /// HTTP status (2xx).
    pub status: u16,
    /// Body bytes (covered by the verified signature).
    pub body: Vec<u8>,
    /// Proof of who answered, with the response signature kept as evidence.
    pub checked: ResponseChecked,
    /// Wall time of the call.
    pub latency: Duration,
}

/// Why a peer call gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No answer within the deadline.
    #[error("timed out")]
    Timeout,
    /// No connection (down, refused, TLS handshake refused).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The peer refused the request (problem `type` slug and status).
    #[error("denied with {status}: {problem}")]
    Denied {
        /// HTTP status.
        status: u16,
        /// Problem type of the refusal, if given.
        problem: String,
    },
    /// The answer's signature did not verify.
    #[error("bad response signature: {0}")]
    BadSignature(SignatureError),
    /// Anything else (our own signing failed, unreadable body).
    #[error("error: {0}")]
    Error(String),
}

/// How one region answered (DESIGN section 5); serialised as its snake_case name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Answered {
    /// It answered, with a verified signature.
    Ok,
    /// Not within the deadline.
    Timeout,
    /// No connection (down, refused, TLS failed).
    Unreachable,
    /// It refused (policy, purpose, dataset), with a signed problem.
    Denied,
    /// Its answer's signature did not verify.
    BadSignature,
    /// Anything else (an unreadable answer, a failure here).
    Error,
}

impl Answered {
    /// The wire name, e.g. `bad_signature`.
    pub fn as_str(self) -> &'static str {
        match self {
            Answered::Ok => "ok",
            Answered::Timeout => "timeout",
            Answered::Unreachable => "unreachable",
            Answered::Denied => "denied",
            Answered::BadSignature => "bad_signature",
            Answered::Error => "error",
        }
    }
}

impl std::fmt::Display for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CallError {
    /// The per-region status of DESIGN section 5.
    pub fn status_label(&self) -> Answered {
        match self {
            CallError::Timeout => Answered::Timeout,
            CallError::Unreachable(_) => Answered::Unreachable,
            CallError::Denied { .. } => Answered::Denied,
            CallError::BadSignature(_) => Answered::BadSignature,
            CallError::Error(_) => Answered::Error,
        }
    }
}

/// A call to make.
#[derive(Debug, Clone)]
pub struct PeerCall<'a> {
    /// Region of the peer called (its answer must be signed by one of its keys).
    pub region: &'a str,
    /// Full URL (`https://host:port/path`).
    pub url: &'a str,
    /// Request id, propagated and covered by the signature.
    pub request_id: &'a str,
    /// JSON body.
    pub body: Vec<u8>,
}

/// POSTs a signed JSON request and verifies the signed answer. `client` must come from
/// `tls::http_client` for this peer (pinned, timeouts set).
pub async fn call_peer(
    client: &reqwest::Client,
    key: &SigningKey,
    trust: &TrustList,
    call: PeerCall<'_>,
    now: impl Fn() -> i64,
) -> Result<PeerAnswer, CallError> {
    let answer = exchange(client, key, trust, call, "application/json", now).await?;
    if !(200..300).contains(&answer.status) {
        return Err(CallError::Denied {
            status: answer.status,
            problem: problem_slug(&answer.body),
        });
    }
    Ok(answer)
}

/// POSTs a signed request with `content_type` and verifies the signed answer, whatever its
/// status: a signed refusal comes back as `Ok` (its status and body are evidence, e.g. the
/// witness's 409 with its size). Unsigned refusals (made before the signature check) are
/// [`CallError::Denied`].
pub async fn exchange(
    client: &reqwest::Client,
    key: &SigningKey,
    trust: &TrustList,
    call: PeerCall<'_>,
    content_type: &str,
    now: impl Fn() -> i64,
) -> Result<PeerAnswer, CallError> {
    let started = Instant::now();
    // Ed25519 signing and verification run on the blocking pool: the per-peer calls of a
    // fan-out then use every core instead of queueing on the reactor thread.
    let signer = key.clone();
    let (url, request_id, ct) = (
        call.url.to_owned(),
        call.request_id.to_owned(),
        content_type.to_owned(),
    );
    let ts = now();
    let (signed, request_body) = off_reactor(move || {
        let signed = signer.sign_request(
            &RequestToSign {
                method: "POST",
                target_uri: &url,
                content_type: Some(&ct),
                request_id: &request_id,
                body: &call.body,
            },
            ts,
        );
        (signed, call.body)
    })
    .await?;
    let signed = signed.map_err(|e| CallError::Error(e.to_string()))?;
    let request_signature = signed.signature.clone();
    let resp = client
        .post(call.url)
        .header("content-type", content_type)
        .header(REQUEST_ID_HEADER, call.request_id)
        .header("content-digest", signed.content_digest)
        .header("signature-input", signed.signature_input)
        .header("signature", signed.signature)
        .body(request_body)
        .send()
        .await
        .map_err(classify)?;
    let status = resp.status().as_u16();
    let headers = Headers::from_reqwest(resp.headers());
    let body = Vec::from(resp.bytes().await.map_err(classify)?);
    let signed_answer = headers.get("signature").is_some();
    if !(200..300).contains(&status) && !signed_answer {
        // Refusals before the signature check are not signed; report them as denials.
        return Err(CallError::Denied {
            status,
            problem: problem_slug(&body),
        });
    }
    let pending = prepare_response_check(
        status,
        &headers,
        &request_signature,
        call.region,
        trust,
        now(),
    )
    .map_err(CallError::BadSignature)?;
    let (checked, body) = off_reactor(move || (pending.finish(&body), body)).await?;
    let checked = checked.map_err(CallError::BadSignature)?;
    Ok(PeerAnswer {
        status,
        body,
        checked,
        latency: started.elapsed(),
    })
}

/// Where the caller's Ed25519 work runs: 0 = not chosen yet (read the environment), 1 = inline
/// on the reactor, 2 = on the blocking pool.
static CRYPTO_MODE: AtomicU8 = AtomicU8::new(0);

/// Chooses where the caller's per-peer signing and response verification run: inline on the
/// reactor (`true`) or on tokio's blocking pool (`false`, the default unless the environment
/// variable `PESGW_FED_CRYPTO_INLINE=1` is set). For A/B measurements
/// (`pesgw bench federation --ab-crypto`).
pub fn set_crypto_inline(inline: bool) {
    CRYPTO_MODE.store(if inline { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether the caller's crypto runs inline on the reactor (see [`set_crypto_inline`]).
pub fn crypto_inline() -> bool {
    match CRYPTO_MODE.load(Ordering::Relaxed) {
        0 => {
            let inline = std::env::var_os("PESGW_FED_CRYPTO_INLINE").is_some_and(|v| v == "1");
            set_crypto_inline(inline);
            inline
        }
        mode => mode == 1,
    }
}

/// Runs CPU-bound work on the runtime's blocking pool, or inline (see [`set_crypto_inline`]).
async fn off_reactor<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CallError> {
    if crypto_inline() {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CallError::Error(format!("signature task failed: {e}")))
}

fn classify(e: reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout
    } else if e.is_connect() {
        CallError::Unreachable(e.to_string())
    } else {
        CallError::Error(e.to_string())
    }
}

fn problem_slug(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .map(|t| t.rsplit('/').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}
