//! Pseudonymous person keys.
//!
//! `person_key = base64url_nopad(HMAC-SHA256(federation linkage key, normalised 18-char ID))`.
//! Every gateway of the federation holds the same linkage key, so the same person gets the same
//! key everywhere, while the raw ID number never travels.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

use crate::id_number::IdNumber;

/// Length in characters of a person key (32 bytes in unpadded base64url).
pub const PERSON_KEY_LEN: usize = 43;

/// Derives person keys from ID numbers with the federation linkage key.
#[derive(Clone)]
pub struct PersonKeyer {
    key: hmac::Key,
}

impl std::fmt::Debug for PersonKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonKeyer(<linkage key redacted>)")
    }
}

impl PersonKeyer {
    /// Builds a keyer from the federation linkage key (any length; 32 random bytes recommended).
    pub fn new(linkage_key: &[u8]) -> PersonKeyer {
        PersonKeyer {
            key: hmac::Key::new(hmac::HMAC_SHA256, linkage_key),
        }
    }

    /// The person key of an ID number (always computed over its normalised 18-char form).
    pub fn key(&self, id: &IdNumber) -> String {
        let tag = hmac::sign(&self.key, id.as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }
}

/// Whether `s` has the shape of a person key: 43 characters of the base64url alphabet whose
/// last character encodes only 2 meaningful bits (so it decodes to exactly 32 bytes).
pub fn is_well_formed(s: &str) -> bool {
    let b = s.as_bytes();
    // 32 bytes = 42 full characters + one carrying 4 bits, whose low 2 bits must be zero.
    // A table lookup per byte: this runs for every record that names a person.
    b.len() == PERSON_KEY_LEN
        && b[..PERSON_KEY_LEN - 1]
            .iter()
            .fold(true, |ok, c| ok & BASE64URL[usize::from(*c)])
        && b"AEIMQUYcgkosw048".contains(&b[PERSON_KEY_LEN - 1])
}

/// `BASE64URL[b]`: whether byte `b` is in the base64url alphabet (`A-Z a-z 0-9 - _`).
static BASE64URL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_matches_an_independent_hmac_over_the_normalised_id() {
        let keyer = PersonKeyer::new(b"linkage-key");
        // A 15-digit number and its 18-digit upgrade give the same key.
        let id15 = IdNumber::parse("110105491231002").unwrap();
        let id18 = IdNumber::parse(id15.as_str()).unwrap();
        assert_eq!(keyer.key(&id15), keyer.key(&id18));
        let k = hmac::Key::new(hmac::HMAC_SHA256, b"linkage-key");
        let expected = URL_SAFE_NO_PAD.encode(hmac::sign(&k, id18.as_str().as_bytes()).as_ref());
        assert_eq!(keyer.key(&id18), expected);
        assert!(is_well_formed(&expected));
    }

    #[test]
    fn lower_case_x_and_upper_case_x_give_the_same_key() {
        let keyer = PersonKeyer::new(b"k");
        let a = IdNumber::parse("11010519491231002x").unwrap();
        let b = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(keyer.key(&a), keyer.key(&b));
    }

    #[test]
    fn different_linkage_keys_give_different_person_keys() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_ne!(
            PersonKeyer::new(b"a").key(&id),
            PersonKeyer::new(b"b").key(&id)
        );
    }

    #[test]
    fn well_formed_means_decodes_to_exactly_32_bytes() {
        for last in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
            let mut k = "A".repeat(42).into_bytes();
            k.push(*last);
            let k = String::from_utf8(k).unwrap();
            let decodes = URL_SAFE_NO_PAD.decode(&k).is_ok_and(|v| v.len() == 32);
            assert_eq!(is_well_formed(&k), decodes, "{k}");
        }
    }

    #[test]
    fn malformed_person_keys_are_recognised() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed(&"A".repeat(44)));
        assert!(!is_well_formed(&format!("{}=", "A".repeat(42))));
        assert!(!is_well_formed(&format!("{}+", "A".repeat(42))));
    }
}
