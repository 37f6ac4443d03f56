//! RFC 9421 HTTP Message Signatures, profile `pes-fed-v1` (DESIGN section 6).
//!
//! Every federation request is signed by the calling gateway's Ed25519 key and covers
//! `@method`, `@target-uri`, `@authority`, `content-digest` (RFC 9530 sha-256), `content-type`
//! (when there is a body) and `x-request-id`, with the parameters `created`, `expires`,
//! `nonce`, `keyid`, `alg` and `tag="pes-fed-v1"`. Every response is signed by the answering
//! gateway and covers `@status`, its own `content-digest` and `content-type`, and the request's
//! signature (`"signature";req;key="pes"`), so an answer is bound to the question it answers.
//!
//! [`RequestVerifier::verify`] checks, in order: the profile, that the key is in the trust list
//! and valid, that it belongs to the same member as the mTLS peer, the time window, the
//! signature, the digest, and finally the nonce (recorded only for signatures that verified, so
//! forgeries cannot fill the cache). It returns [`SignatureChecked`], the proof token handlers
//! take. [`verify_response`] does the same for answers, returning [`ResponseChecked`].

mod base;
mod digest;
mod replay;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};

pub use base::{signature_base, ComponentId, ParamValue, SignatureParams};
pub use digest::{check_content_digest, content_digest};
pub use replay::ReplayCache;

use super::tls::VerifiedPeer;
use super::trust::TrustList;

/// Profile tag carried in the `tag` parameter.
pub const PROFILE_TAG: &str = "pes-fed-v1";
/// Dictionary label of the signature in `Signature-Input` / `Signature`.
pub const LABEL: &str = "pes";
/// Header carrying the request id, covered by the signature.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Allowed clock difference and signature lifetime, in seconds.
pub const WINDOW_SECS: i64 = 30;
/// Signature algorithm name (RFC 9421 section 6.2.2).
pub const ALG: &str = "ed25519";

/// Why a signed message was refused. Every variant except `ReplayCacheFull` and `Key` is the
/// sender's fault; `ReplayCacheFull` is back-pressure (retry later); `Key` is the operator's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `Signature`, `Signature-Input` or a covered header is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A signature header is not well formed.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The signature does not follow the `pes-fed-v1` profile.
    #[error("signature does not follow the pes-fed-v1 profile: {0}")]
    Profile(String),
    /// The key id is not in the trust list, or not valid now.
    #[error("key {0} is not a valid federation key")]
    UnknownKey(String),
    /// The key belongs to another member than the mTLS peer (or the expected responder).
    #[error("key {kid} belongs to region {owner}, not to the peer {peer}")]
    KeyNotOfPeer {
        /// Key id used.
        kid: String,
        /// Member owning it.
        owner: String,
        /// Member authenticated by mTLS (or expected to answer).
        peer: String,
    },
    /// `created`/`expires` outside the ±30 s window.
    #[error("signature is outside its time window")]
    Expired,
    /// The nonce was already used.
    #[error("nonce already used")]
    ReplayedNonce,
    /// Too many live nonces; retry later.
    #[error("replay cache is full")]
    ReplayCacheFull,
    /// The Ed25519 signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The body does not match `Content-Digest`.
    #[error("body does not match Content-Digest")]
    DigestMismatch,
    /// The request was signed for another gateway (`@authority`).
    #[error("request was signed for another gateway")]
    WrongAuthority,
    /// The local signing key could not be loaded.
    #[error("signing key: {0}")]
    Key(String),
}

impl SignatureError {
    /// Stable problem type slug (`https://pes.example/problems/<slug>`).
    pub fn slug(&self) -> &'static str {
        match self {
            SignatureError::KeyNotOfPeer { .. } => "key_not_of_peer",
            SignatureError::Expired => "expired_signature",
            SignatureError::ReplayedNonce => "replayed_nonce",
            SignatureError::DigestMismatch => "digest_mismatch",
            SignatureError::ReplayCacheFull => "unavailable",
            SignatureError::Key(_) => "internal",
            _ => "bad_signature",
        }
    }

    /// HTTP status for the refusal.
    pub fn status(&self) -> u16 {
        match self {
            SignatureError::KeyNotOfPeer { .. } => 403,
            SignatureError::DigestMismatch => 400,
            SignatureError::ReplayCacheFull => 503,
            SignatureError::Key(_) => 500,
            _ => 401,
        }
    }
}

/// This gateway's Ed25519 signing key and its key id. Cloning is cheap (the key pair is
/// shared), so signing can move to a blocking thread.
#[derive(Debug, Clone)]
pub struct SigningKey {
    kid: String,
    pair: std::sync::Arc<Ed25519KeyPair>,
}

impl SigningKey {
    /// From a PKCS#8 (v1 or v2) DER document.
    pub fn from_pkcs8(kid: &str, der: &[u8]) -> Result<Self, SignatureError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| SignatureError::Key(e.to_string()))?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            pair: std::sync::Arc::new(pair),
        })
    }

    /// From a raw 32-byte seed and its public key (test vectors).
    pub fn from_seed(kid: &str, seed: &[u8], public: &[u8]) -> Result<Self, SignatureError> {
        let pair = Ed25519KeyPair::from_seed_and_public_key(seed, public)
            .map_err(|e| SignatureError::Key(e.to_string()))?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            pair: std::sync::Arc::new(pair),
        })
    }

    /// From the files written by `pesgw certs`: `signing.key` (PKCS#8 PEM) and `signing.pub`
    /// (`<kid> <base64>`).
    pub fn from_files(
        key: &std::path::Path,
        public: &std::path::Path,
    ) -> Result<Self, SignatureError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::PrivatePkcs8KeyDer;
        let der = PrivatePkcs8KeyDer::from_pem_file(key)
            .map_err(|e| SignatureError::Key(format!("{}: {e}", key.display())))?;
        let line = std::fs::read_to_string(public)
            .map_err(|e| SignatureError::Key(format!("{}: {e}", public.display())))?;
        let kid = line
            .split_whitespace()
            .next()
            .ok_or_else(|| SignatureError::Key(format!("{}: no kid", public.display())))?;
        Self::from_pkcs8(kid, der.secret_pkcs8_der())
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Raw public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Signs a signature base.
    pub fn sign(&self, base: &str) -> Vec<u8> {
        self.pair.sign(base.as_bytes()).as_ref().to_vec()
    }

    /// Signs an outgoing request. The caller adds the returned headers as they are.
    pub fn sign_request(
        &self,
        req: &RequestToSign<'_>,
        now: i64,
    ) -> Result<SignedHeaders, SignatureError> {
        let content_digest = content_digest(req.body);
        let mut components = vec![
            ComponentId::new("@method"),
            ComponentId::new("@target-uri"),
            ComponentId::new("@authority"),
            ComponentId::new("content-digest"),
        ];
        if req.content_type.is_some() {
            components.push(ComponentId::new("content-type"));
        }
        components.push(ComponentId::new(REQUEST_ID_HEADER));
        let params = SignatureParams {
            components,
            params: Vec::new(),
        }
        .int("created", now)
        .int("expires", now + WINDOW_SECS)
        .string("nonce", &new_nonce()?)
        .string("keyid", &self.kid)
        .string("alg", ALG)
        .string("tag", PROFILE_TAG);
        let uri = Target::parse(req.target_uri)?;
        let base = signature_base(&params, |c| {
            if c.req || c.key.is_some() {
                return None;
            }
            match c.name.as_str() {
                "@method" => Some(req.method.to_ascii_uppercase()),
                "@target-uri" => Some(req.target_uri.to_owned()),
                "@authority" => Some(uri.authority.clone()),
                "content-digest" => Some(content_digest.clone()),
                "content-type" => req.content_type.map(str::to_owned),
                REQUEST_ID_HEADER => Some(req.request_id.to_owned()),
                _ => None,
            }
        })?;
        Ok(SignedHeaders {
            content_digest,
            signature_input: format!("{LABEL}={}", params.serialize()),
            signature: format!("{LABEL}={}", base::binary(&self.sign(&base))),
        })
    }

    /// Signs a response to a request whose `Signature` header was `request_signature`.
    pub fn sign_response(
        &self,
        resp: &ResponseToSign<'_>,
        now: i64,
    ) -> Result<SignedHeaders, SignatureError> {
        let content_digest = content_digest(resp.body);
        let (params, base) = response_base(
            resp.status,
            &content_digest,
            resp.content_type,
            resp.request_signature,
            |components| {
                SignatureParams {
                    components,
                    params: Vec::new(),
                }
                .int("created", now)
                .int("expires", now + WINDOW_SECS)
                .string("keyid", &self.kid)
                .string("alg", ALG)
                .string("tag", PROFILE_TAG)
            },
        )?;
        Ok(SignedHeaders {
            content_digest,
            signature_input: format!("{LABEL}={}", params.serialize()),
            signature: format!("{LABEL}={}", base::binary(&self.sign(&base))),
        })
    }
}

/// What is signed of an outgoing request.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Full target URI as sent (`https://host:port/path?query`).
    pub target_uri: &'a str,
    /// `Content-Type` header, if the request has a body.
    pub content_type: Option<&'a str>,
    /// Value of the `x-request-id` header.
    pub request_id: &'a str,
    /// Body bytes.
    pub body: &'a [u8],
}

/// What is signed of a response.
#[derive(Debug, Clone, Copy)]
pub struct ResponseToSign<'a> {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// Body bytes.
    pub body: &'a [u8],
    /// The `Signature` header of the request answered.
    pub request_signature: &'a str,
}

/// Headers to add to a signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Content-Digest` value.
    pub content_digest: String,
    /// `Signature-Input` value.
    pub signature_input: String,
    /// `Signature` value.
    pub signature: String,
}

/// A received message: lowercase header names with their values (repeated names are combined
/// with ", " as RFC 9421 section 2.1 requires).
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Empty header set.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Adds a header (name is lowercased).
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_owned()));
    }

    /// Combined, trimmed value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// From actix-web request headers.
    pub fn from_actix(map: &actix_web::http::header::HeaderMap) -> Self {
        let mut h = Headers::new();
        for (name, value) in map {
            if let Ok(v) = value.to_str() {
                h.push(name.as_str(), v);
            }
        }
        h
    }

    /// From reqwest response headers.
    pub fn from_reqwest(map: &reqwest::header::HeaderMap) -> Self {
        let mut h = Headers::new();
        for (name, value) in map {
            if let Ok(v) = value.to_str() {
                h.push(name.as_str(), v);
            }
        }
        h
    }
}

/// A received request, as the verifier needs it.
#[derive(Debug, Clone)]
pub struct ReceivedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Reconstructed target URI: `https://` + Host + path and query.
    pub target_uri: String,
    /// Headers.
    pub headers: &'a Headers,
    /// Body bytes.
    pub body: &'a [u8],
}

impl<'a> ReceivedRequest<'a> {
    /// From an actix-web request (always `https`, as federation endpoints are mTLS only).
    pub fn from_actix(
        req: &'a actix_web::HttpRequest,
        headers: &'a Headers,
        body: &'a [u8],
    ) -> Self {
        let host = headers.get("host").unwrap_or_default();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        ReceivedRequest {
            method: req.method().as_str(),
            target_uri: format!("https://{host}{path}"),
            headers,
            body,
        }
    }
}

/// Proof that a request's signature verified under `pes-fed-v1` for the mTLS peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureChecked {
    region: String,
    kid: String,
    request_id: String,
    request_signature: String,
}

impl SignatureChecked {
    /// The calling member's region.
    pub fn region(&self) -> &str {
        &self.region
    }
    /// Key id that signed.
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The covered request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
    /// The request's `Signature` header, which the response signature must cover.
    pub fn request_signature(&self) -> &str {
        &self.request_signature
    }
}

/// Proof that a response was signed by the member that was asked, for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseChecked {
    region: String,
    kid: String,
    signature: String,
}

impl ResponseChecked {
    /// Answering member.
    pub fn region(&self) -> &str {
        &self.region
    }
    /// Its key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The response `Signature` header, kept as evidence of what was answered.
    pub fn signature(&self) -> &str {
        &self.signature
    }
}

/// Verifies incoming federation requests. One per gateway (it owns the replay cache).
#[derive(Debug)]
pub struct RequestVerifier {
    replay: ReplayCache,
    own_authorities: Vec<String>,
}

impl RequestVerifier {
    /// A verifier accepting requests addressed to any of `own_authorities` (`host:port` as in
    /// the Host header; empty = do not check), with a replay cache of `replay_capacity` nonces.
    pub fn new(own_authorities: Vec<String>, replay_capacity: usize) -> Self {
        RequestVerifier {
            replay: ReplayCache::new(replay_capacity),
            own_authorities,
        }
    }

    /// Checks a request from the mTLS peer `peer` against the trust list at unix time `now`.
    pub fn verify(
        &self,
        req: &ReceivedRequest<'_>,
        peer: &VerifiedPeer,
        trust: &TrustList,
        now: i64,
    ) -> Result<SignatureChecked, SignatureError> {
        let sig = Received::parse(req.headers)?;
        let p = &sig.params;
        for name in [
            "@method",
            "@target-uri",
            "@authority",
            "content-digest",
            REQUEST_ID_HEADER,
        ] {
            require_component(p, name)?;
        }
        if !req.body.is_empty() {
            require_component(p, "content-type")?;
        }
        let nonce = p
            .get_str("nonce")
            .ok_or_else(|| SignatureError::Profile("nonce missing".into()))?
            .to_owned();
        let (kid, public, created, expires) =
            sig.check_key_and_window(trust, peer.region(), now)?;
        let target = Target::parse(&req.target_uri)?;
        if !self.own_authorities.is_empty() && !self.own_authorities.contains(&target.authority) {
            return Err(SignatureError::WrongAuthority);
        }
        let base = signature_base(p, |c| {
            if c.req || c.key.is_some() {
                return None;
            }
            match c.name.as_str() {
                "@method" => Some(req.method.to_ascii_uppercase()),
                "@target-uri" => Some(req.target_uri.clone()),
                "@authority" => Some(target.authority.clone()),
                "@path" => Some(target.path.clone()),
                "@query" => Some(target.query.clone()),
                "@scheme" => Some("https".into()),
                name if !name.starts_with('@') => req.headers.get(name),
                _ => None,
            }
        })?;
        verify_ed25519(&public, &base, &sig.signature)?;
        let digest = req
            .headers
            .get("content-digest")
            .ok_or(SignatureError::Missing("Content-Digest"))?;
        check_content_digest(&digest, req.body)?;
        let forget_after = expires.min(created + WINDOW_SECS);
        self.replay
            .check_and_insert(&kid, &nonce, forget_after, now)?;
        Ok(SignatureChecked {
            region: peer.region().to_owned(),
            kid,
            request_id: req.headers.get(REQUEST_ID_HEADER).unwrap_or_default(),
            request_signature: sig.raw_signature,
        })
    }
}

/// Checks a response from the member `expected_region` to the request whose `Signature` header
/// was `request_signature`.
pub fn verify_response(
    status: u16,
    headers: &Headers,
    body: &[u8],
    request_signature: &str,
    expected_region: &str,
    trust: &TrustList,
    now: i64,
) -> Result<ResponseChecked, SignatureError> {
    prepare_response_check(
        status,
        headers,
        request_signature,
        expected_region,
        trust,
        now,
    )?
    .finish(body)
}

/// A response signature whose key, window and covered components were checked; what is left
/// is the CPU-heavy part (Ed25519 verification and the body digest), which a caller may run off
/// the reactor with [`PendingResponseCheck::finish`].
#[derive(Debug)]
pub struct PendingResponseCheck {
    public: Vec<u8>,
    base: String,
    signature: Vec<u8>,
    digest: String,
    checked: ResponseChecked,
}

impl PendingResponseCheck {
    /// Verifies the signature over the base and the body against its `Content-Digest`.
    pub fn finish(self, body: &[u8]) -> Result<ResponseChecked, SignatureError> {
        verify_ed25519(&self.public, &self.base, &self.signature)?;
        check_content_digest(&self.digest, body)?;
        Ok(self.checked)
    }
}

/// The cheap half of [`verify_response`]: parses the signature, checks the key belongs to
/// `expected_region` and the time window, and rebuilds the signature base.
pub fn prepare_response_check(
    status: u16,
    headers: &Headers,
    request_signature: &str,
    expected_region: &str,
    trust: &TrustList,
    now: i64,
) -> Result<PendingResponseCheck, SignatureError> {
    let sig = Received::parse(headers)?;
    let digest = headers
        .get("content-digest")
        .ok_or(SignatureError::Missing("Content-Digest"))?;
    let content_type = headers.get("content-type");
    let (kid, public, _, _) = sig.check_key_and_window(trust, expected_region, now)?;
    let (expected, base) = response_base(
        status,
        &digest,
        content_type.as_deref(),
        request_signature,
        |components| SignatureParams {
            components,
            params: sig.params.params.clone(),
        },
    )?;
    // The covered set is fixed by the profile: a signer cannot leave out the request binding.
    if expected.components != sig.params.components {
        return Err(SignatureError::Profile(
            "response must cover @status, content-digest, content-type and the request signature"
                .into(),
        ));
    }
    Ok(PendingResponseCheck {
        public,
        base,
        signature: sig.signature,
        digest,
        checked: ResponseChecked {
            region: expected_region.to_owned(),
            kid,
            signature: sig.raw_signature,
        },
    })
}

fn response_base(
    status: u16,
    content_digest: &str,
    content_type: Option<&str>,
    request_signature: &str,
    make: impl FnOnce(Vec<ComponentId>) -> SignatureParams,
) -> Result<(SignatureParams, String), SignatureError> {
    let mut components = vec![
        ComponentId::new("@status"),
        ComponentId::new("content-digest"),
    ];
    if content_type.is_some() {
        components.push(ComponentId::new("content-type"));
    }
    components.push(ComponentId::of_request("signature").with_key(LABEL));
    let params = make(components);
    let (label, req_sig_value) = base::single_member(request_signature)?;
    let base = signature_base(&params, |c| {
        match (c.name.as_str(), c.req, c.key.as_deref()) {
            ("@status", false, None) => Some(status.to_string()),
            ("content-digest", false, None) => Some(content_digest.to_owned()),
            ("content-type", false, None) => content_type.map(str::to_owned),
            ("signature", true, Some(key)) if key == label => Some(req_sig_value.to_owned()),
            _ => None,
        }
    })?;
    Ok((params, base))
}

/// The parsed `Signature-Input` / `Signature` pair of a message.
struct Received {
    params: SignatureParams,
    signature: Vec<u8>,
    raw_signature: String,
}

impl Received {
    fn parse(headers: &Headers) -> Result<Self, SignatureError> {
        let input = headers
            .get("signature-input")
            .ok_or(SignatureError::Missing("Signature-Input"))?;
        let raw_signature = headers
            .get("signature")
            .ok_or(SignatureError::Missing("Signature"))?;
        let (label, input) = base::single_member(&input)?;
        let (sig_label, sig_value) = base::single_member(&raw_signature)?;
        if label != LABEL || sig_label != LABEL {
            return Err(SignatureError::Profile(format!("label must be {LABEL}")));
        }
        let params = SignatureParams::parse(input)?;
        if params.get_str("tag") != Some(PROFILE_TAG) {
            return Err(SignatureError::Profile(format!(
                "tag must be {PROFILE_TAG}"
            )));
        }
        if params.get_str("alg") != Some(ALG) {
            return Err(SignatureError::Profile(format!("alg must be {ALG}")));
        }
        let signature = base::parse_binary(sig_value)?;
        Ok(Received {
            params,
            signature,
            raw_signature,
        })
    }

    /// Looks the key up, binds it to `member`, and checks created/expires against `now`.
    fn check_key_and_window(
        &self,
        trust: &TrustList,
        member: &str,
        now: i64,
    ) -> Result<(String, Vec<u8>, i64, i64), SignatureError> {
        let p = &self.params;
        let kid = p
            .get_str("keyid")
            .ok_or_else(|| SignatureError::Profile("keyid missing".into()))?
            .to_owned();
        let created = p
            .get_int("created")
            .ok_or_else(|| SignatureError::Profile("created missing".into()))?;
        let expires = p
            .get_int("expires")
            .ok_or_else(|| SignatureError::Profile("expires missing".into()))?;
        let (owner, key) = trust
            .key(&kid)
            .ok_or_else(|| SignatureError::UnknownKey(kid.clone()))?;
        if owner.region != member {
            return Err(SignatureError::KeyNotOfPeer {
                kid,
                owner: owner.region.clone(),
                peer: member.to_owned(),
            });
        }
        let now_dt = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        if !key.valid_at(now_dt) {
            return Err(SignatureError::UnknownKey(kid));
        }
        let in_window = (now - created).abs() <= WINDOW_SECS
            && now <= expires
            && expires >= created
            && expires - created <= 2 * WINDOW_SECS;
        if !in_window {
            return Err(SignatureError::Expired);
        }
        let public = key
            .public_key_bytes()
            .map_err(|_| SignatureError::UnknownKey(kid.clone()))?;
        Ok((kid, public, created, expires))
    }
}

fn require_component(p: &SignatureParams, name: &str) -> Result<(), SignatureError> {
    if p.components
        .iter()
        .any(|c| c.name == name && !c.req && c.key.is_none())
    {
        Ok(())
    } else {
        Err(SignatureError::Profile(format!("{name} must be covered")))
    }
}

fn verify_ed25519(public: &[u8], base: &str, signature: &[u8]) -> Result<(), SignatureError> {
    UnparsedPublicKey::new(&ED25519, public)
        .verify(base.as_bytes(), signature)
        .map_err(|_| SignatureError::BadSignature)
}

fn new_nonce() -> Result<String, SignatureError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SignatureError::Key("system RNG failed".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The parts of a target URI that derived components use.
struct Target {
    authority: String,
    path: String,
    query: String,
}

impl Target {
    fn parse(uri: &str) -> Result<Self, SignatureError> {
        let url = reqwest::Url::parse(uri)
            .map_err(|_| SignatureError::Malformed("target URI does not parse".into()))?;
        let host = url
            .host_str()
            .ok_or_else(|| SignatureError::Malformed("target URI has no host".into()))?
            .to_ascii_lowercase();
        // RFC 9421 2.2.3: lowercase host, default port omitted (Url drops it already).
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        Ok(Target {
            authority,
            path: url.path().to_owned(),
            query: format!("?{}", url.query().unwrap_or("")),
        })
    }
}

#[cfg(test)]
mod rfc9421_tests;
