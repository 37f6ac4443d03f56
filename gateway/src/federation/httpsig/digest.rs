//! RFC 9530 `Content-Digest` with sha-256: the only way a signature covers the body.

use super::base::{binary, parse_binary};
use super::SignatureError;

/// `sha-256=:<base64>:` of `body`.
pub fn content_digest(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    format!("sha-256={}", binary(d.as_ref()))
}

/// Checks a `Content-Digest` header against `body`. The header may list several algorithms;
/// the sha-256 member is required and must match.
pub fn check_content_digest(header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let claimed = header
        .split(',')
        .map(str::trim)
        .find_map(|m| m.strip_prefix("sha-256="))
        .ok_or_else(|| SignatureError::Malformed("Content-Digest has no sha-256".into()))?;
    let claimed = parse_binary(claimed)?;
    let actual = ring::digest::digest(&ring::digest::SHA256, body);
    if claimed.as_slice() == actual.as_ref() {
        Ok(())
    } else {
        Err(SignatureError::DigestMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9530_example_sha256_of_hello_world_json() {
        // RFC 9530 section 2 example body and its sha-256 Content-Digest.
        let body = b"{\"hello\": \"world\"}\n";
        assert_eq!(
            content_digest(body),
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
        );
        check_content_digest(
            "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:, sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",
            body,
        )
        .unwrap();
    }

    #[test]
    fn tampered_body_is_a_digest_mismatch() {
        let header = content_digest(b"{\"total\":10}");
        assert!(matches!(
            check_content_digest(&header, b"{\"total\":11}"),
            Err(SignatureError::DigestMismatch)
        ));
    }
}
