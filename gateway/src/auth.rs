//! Bearer-token authentication: EdDSA JWTs pinned by `kid`, and roles.
//!
//! The algorithm is fixed to EdDSA by the verifier and never read from the token header; `iss`,
//! `aud`, `exp` and `sub` are required (jsonwebtoken only checks `iss`/`aud` when present unless
//! they are listed in `required_spec_claims`); leeway is a few seconds, not the 60 s default, and
//! applies to `nbf` (not before) as to `exp`: a token is refused until its `nbf` has come.
//! A successful check returns [`Authenticated`], which only [`Verifier::verify`] can build, so a
//! handler that takes it cannot have skipped the check.

use std::collections::HashMap;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::{Jwks, KeyError};

/// Issuer of gateway tokens.
pub const ISSUER: &str = "pes-token-issuer";
/// Audience of gateway tokens.
pub const AUDIENCE: &str = "pes-gateway";
/// Clock skew tolerated on `exp`/`nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// Roles of users and systems (DESIGN section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A provincial system that pushes exports.
    Pusher,
    /// A dashboard analyst: aggregates only.
    Analyst,
    /// A caseworker: person-level lookups with a purpose.
    Caseworker,
    /// An auditor: the audit log.
    Auditor,
    /// An operator.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Pusher,
        Role::Analyst,
        Role::Caseworker,
        Role::Auditor,
        Role::Admin,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pusher => "pusher",
            Role::Analyst => "analyst",
            Role::Caseworker => "caseworker",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Claims of a gateway token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: the user or system.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch: the token is refused until then (less the leeway).
    /// Typed here so that a non-numeric `nbf` fails to parse instead of being skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at.
    #[serde(default)]
    pub iat: u64,
    /// Role.
    pub role: Role,
    /// Region the token is valid for.
    pub region: String,
    /// Sources a pusher may push to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Purposes a caseworker may state (e.g. `case_management`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<String>,
}

/// Proof that a bearer token verified: only [`Verifier::verify`] builds it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    claims: Claims,
}

impl Authenticated {
    /// Subject.
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }
    /// Role.
    pub fn role(&self) -> Role {
        self.claims.role
    }
    /// Region claim.
    pub fn region(&self) -> &str {
        &self.claims.region
    }
    /// Whether the token lets its holder push to `source`.
    pub fn may_push(&self, source: &str) -> bool {
        self.claims.sources.iter().any(|s| s == source)
    }
    /// Whether the token allows `purpose`.
    pub fn allows_purpose(&self, purpose: &str) -> bool {
        self.claims.purposes.iter().any(|p| p == purpose)
    }
}

/// Why a token was refused. Every variant is the caller's fault; 401 except where noted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Header unparsable, algorithm not EdDSA, or no `kid`.
    #[error("token header refused")]
    BadHeader,
    /// `kid` not in the pinned JWKS. The detail names the key id and, when the token's (not
    /// verified) `region` claim names another region, says the token was issued by that
    /// region's key: the usual cause is a token of one province's gateway sent to another's.
    #[error("{}", unknown_key(.kid, .token_region.as_deref(), .gateway))]
    UnknownKey {
        /// The token's key id (or a placeholder when it is not printable).
        kid: String,
        /// The region the token claims; unverified, so only named as the token's claim.
        token_region: Option<String>,
        /// The region of this gateway.
        gateway: String,
    },
    /// Signature, expiry, issuer, audience or a required claim failed.
    #[error("token invalid: {0}")]
    Invalid(String),
    /// Token is for another region (403).
    #[error(
        "the token is for region {token}, and this gateway serves region {gateway}: use a token \
         issued by this gateway"
    )]
    WrongRegion {
        /// The token's region claim.
        token: String,
        /// This gateway's region.
        gateway: String,
    },
    /// Token's role may not do this (403).
    #[error("a token of role `{}` may not do this", .0.as_str())]
    WrongRole(Role),
}

impl AuthError {
    /// Whether this is a 403 (authenticated but not allowed) rather than a 401.
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            AuthError::WrongRegion { .. } | AuthError::WrongRole(_)
        )
    }
}

/// The detail of [`AuthError::UnknownKey`].
fn unknown_key(kid: &str, token_region: Option<&str>, gateway: &str) -> String {
    match token_region {
        Some(r) if r != gateway => format!(
            "the token was issued by another region's key: it is signed with key id `{kid}`, \
             which this gateway (region {gateway}) does not hold, and names region {r}; use a \
             token issued by this gateway"
        ),
        _ => format!(
            "unknown key id `{kid}`: this gateway (region {gateway}) holds no such token key (a \
             token issued by another gateway, or before this gateway's key was replaced)"
        ),
    }
}

/// A value from a token that may be echoed in a refusal: short, and only characters of key
/// ids and region codes (the caller's own token, but never reflect arbitrary text).
fn printable(v: &str) -> Option<String> {
    (!v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    .then(|| v.to_string())
}

/// The `region` claim of a token whose signature was not (and cannot be) checked.
fn unverified_region(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    printable(v.get("region")?.as_str()?)
}

/// Verifies bearer tokens against the pinned JWKS for one region.
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    region: String,
}

impl Verifier {
    /// Builds a verifier from a JWKS; only Ed25519 keys are taken.
    pub fn new(jwks: &Jwks, region: &str) -> Verifier {
        let mut keys = HashMap::new();
        for k in &jwks.keys {
            if k.kty != "OKP" || k.crv != "Ed25519" {
                continue;
            }
            if let Ok(raw) = URL_SAFE_NO_PAD.decode(&k.x) {
                if raw.len() == 32 {
                    keys.insert(k.kid.clone(), DecodingKey::from_ed_der(&raw));
                }
            }
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        // jsonwebtoken 9 ignores `nbf` unless told to check it.
        validation.validate_nbf = true;
        Verifier {
            keys,
            validation,
            region: region.to_string(),
        }
    }

    /// Loads the JWKS file and builds a verifier.
    pub fn from_file(path: &Path, region: &str) -> Result<Verifier, KeyError> {
        Ok(Verifier::new(&Jwks::load(path)?, region))
    }

    /// Verifies a token and checks its region and role.
    pub fn verify(&self, token: &str, allowed: &[Role]) -> Result<Authenticated, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::BadHeader)?;
        // The algorithm is pinned here and in `validation`; the header only has to agree.
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::BadHeader);
        }
        let kid = header.kid.ok_or(AuthError::BadHeader)?;
        let Some(key) = self.keys.get(&kid) else {
            return Err(AuthError::UnknownKey {
                kid: printable(&kid).unwrap_or_else(|| "(not printable)".into()),
                token_region: unverified_region(token),
                gateway: self.region.clone(),
            });
        };
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.kind_name()))?;
        let claims = data.claims;
        if claims.region != self.region {
            return Err(AuthError::WrongRegion {
                token: printable(&claims.region).unwrap_or_else(|| "(not printable)".into()),
                gateway: self.region.clone(),
            });
        }
        if !allowed.contains(&claims.role) {
            return Err(AuthError::WrongRole(claims.role));
        }
        Ok(Authenticated { claims })
    }

    /// Extracts the bearer token from an `Authorization` header value.
    pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value.strip_prefix("Bearer ").ok_or(AuthError::Missing)?;
        Ok(token.trim())
    }
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    /// A short, stable name of the failure that leaks nothing of the token.
    fn kind_name(&self) -> String {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::ExpiredSignature => "expired",
            K::InvalidSignature => "bad signature",
            K::InvalidIssuer => "wrong issuer",
            K::InvalidAudience => "wrong audience",
            K::MissingRequiredClaim(_) => "missing required claim",
            K::ImmatureSignature => "not yet valid",
            K::InvalidAlgorithm => "algorithm refused",
            _ => "malformed",
        }
        .to_string()
    }
}

/// Issues a token signed with an Ed25519 PKCS#8 key (`pesgw token issue`, tests, the demo).
pub fn issue(
    pkcs8: &[u8],
    kid: &str,
    claims: &Claims,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(pkcs8))
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Claims for a new token valid `ttl_secs` from now.
pub fn claims_for(
    sub: &str,
    role: Role,
    region: &str,
    sources: Vec<String>,
    purposes: Vec<String>,
    ttl_secs: u64,
) -> Claims {
    let now = now_secs();
    Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: sub.into(),
        exp: now + ttl_secs,
        nbf: None,
        iat: now,
        role,
        region: region.into(),
        sources,
        purposes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate_ed25519, Jwk};
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn setup() -> (Vec<u8>, String, Verifier) {
        let der = generate_ed25519().unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(&der).unwrap();
        let jwk = Jwk::ed25519(pair.public_key().as_ref());
        let kid = jwk.kid.clone();
        (der, kid, Verifier::new(&Jwks { keys: vec![jwk] }, "440000"))
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn good_token_verifies_with_role() {
        let (der, kid, v) = setup();
        let c = claims_for(
            "gd-hr-system",
            Role::Pusher,
            "440000",
            vec!["gd-hr".into()],
            vec![],
            60,
        );
        let t = issue(&der, &kid, &c).unwrap();
        let a = v.verify(&t, &[Role::Pusher]).unwrap();
        assert!(a.may_push("gd-hr"));
        assert!(!a.may_push("gd-edu"));
        assert_eq!(
            v.verify(&t, &[Role::Analyst]).unwrap_err(),
            AuthError::WrongRole(Role::Pusher)
        );
    }

    #[test]
    fn wrong_region_and_expired_are_refused() {
        let (der, kid, v) = setup();
        let c = claims_for("x", Role::Pusher, "510000", vec![], vec![], 60);
        assert_eq!(
            v.verify(&issue(&der, &kid, &c).unwrap(), &[Role::Pusher])
                .unwrap_err(),
            AuthError::WrongRegion {
                token: "510000".into(),
                gateway: "440000".into()
            }
        );
        let mut c = claims_for("x", Role::Pusher, "440000", vec![], vec![], 60);
        c.exp = now_secs() - 3600;
        assert!(matches!(
            v.verify(&issue(&der, &kid, &c).unwrap(), &[Role::Pusher]),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn not_yet_valid_is_refused_within_the_leeway_only() {
        let (der, kid, v) = setup();
        let mut c = claims_for("x", Role::Admin, "440000", vec![], vec![], 600);
        c.nbf = Some(now_secs() + 120);
        assert_eq!(
            v.verify(&issue(&der, &kid, &c).unwrap(), &[Role::Admin])
                .unwrap_err(),
            AuthError::Invalid("not yet valid".into())
        );
        // Clock skew within the leeway is tolerated, as for `exp`.
        c.nbf = Some(now_secs() + LEEWAY_SECS - 2);
        assert!(v
            .verify(&issue(&der, &kid, &c).unwrap(), &[Role::Admin])
            .is_ok());
        c.nbf = Some(now_secs() - 60);
        assert!(v
            .verify(&issue(&der, &kid, &c).unwrap(), &[Role::Admin])
            .is_ok());
    }

    #[test]
    fn non_numeric_nbf_is_refused_not_skipped() {
        let (der, kid, v) = setup();
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid);
        let mut claims =
            serde_json::to_value(claims_for("x", Role::Admin, "440000", vec![], vec![], 600))
                .unwrap();
        claims["nbf"] = "tomorrow".into();
        let t = jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ed_der(&der)).unwrap();
        assert!(matches!(
            v.verify(&t, &[Role::Admin]),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn alg_none_and_hs256_are_refused() {
        let (_der, kid, v) = setup();
        let c = claims_for("x", Role::Admin, "440000", vec![], vec![], 60);
        let payload = b64(&serde_json::to_value(&c).unwrap());
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","typ":"JWT","kid":kid})),
            payload
        );
        assert!(v.verify(&none, &[Role::Admin]).is_err());
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        let hs = jsonwebtoken::encode(&h, &c, &EncodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(
            v.verify(&hs, &[Role::Admin]).unwrap_err(),
            AuthError::BadHeader
        );
    }

    #[test]
    fn missing_required_claim_is_refused() {
        let (der, kid, v) = setup();
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some(kid);
        let claims = serde_json::json!({"sub":"x","exp":now_secs()+60,"role":"admin","region":"440000","aud":AUDIENCE});
        let t = jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ed_der(&der)).unwrap();
        assert!(v.verify(&t, &[Role::Admin]).is_err());
    }

    #[test]
    fn unknown_kid_is_refused() {
        let (der, _kid, v) = setup();
        let c = claims_for("x", Role::Admin, "440000", vec![], vec![], 60);
        let t = issue(&der, "other", &c).unwrap();
        let e = v.verify(&t, &[Role::Admin]).unwrap_err();
        assert_eq!(
            e,
            AuthError::UnknownKey {
                kid: "other".into(),
                token_region: Some("440000".into()),
                gateway: "440000".into()
            }
        );
        assert!(e.to_string().starts_with("unknown key id `other`"), "{e}");
    }

    #[test]
    fn a_token_of_another_regions_key_is_named_as_such() {
        let (_der, _kid, v) = setup();
        // Another region's gateway: its own key, its own region in the token.
        let (other_der, other_kid, _) = setup();
        let c = claims_for("sc-hr-system", Role::Pusher, "510000", vec![], vec![], 60);
        let e = v
            .verify(&issue(&other_der, &other_kid, &c).unwrap(), &[Role::Pusher])
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("issued by another region's key")
                && text.contains(&format!("key id `{other_kid}`"))
                && text.contains("names region 510000")
                && text.contains("(region 440000)"),
            "{text}"
        );
        assert!(!e.is_forbidden());
        // A claim that is not a plain code is not echoed back.
        let mut c = c;
        c.region = "<script>".into();
        let e = v
            .verify(&issue(&other_der, &other_kid, &c).unwrap(), &[Role::Pusher])
            .unwrap_err();
        assert!(
            matches!(
                e,
                AuthError::UnknownKey {
                    token_region: None,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.to_string().contains("script"));
    }
}
