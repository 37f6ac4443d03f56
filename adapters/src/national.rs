//! The one seam between the adapters and `pes-schemas`' validators, code lists and person keys.
//!
//! TEMPORARY: local stand-ins until the schemas branch is merged; then every item here becomes a
//! re-export of `pes_schemas`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pes_schemas::Record;
use ring::hmac;

/// A normalised 18-character GB 11643 ID number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber(String);

/// Why an ID number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ID number")]
pub struct IdNumberError;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// ISO 7064 MOD 11-2 check character over the first 17 digits.
pub fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

impl IdNumber {
    /// Parses and normalises (15 to 18 digits, upper-case X).
    pub fn parse(s: &str) -> Result<IdNumber, IdNumberError> {
        let b = s.as_bytes();
        let mut v: Vec<u8> = match b.len() {
            18 => b.to_vec(),
            15 if b.iter().all(u8::is_ascii_digit) => {
                let mut v = b[..6].to_vec();
                v.extend_from_slice(b"19");
                v.extend_from_slice(&b[6..]);
                let c = check_char(&v);
                v.push(c);
                v
            }
            _ => return Err(IdNumberError),
        };
        if v[17] == b'x' {
            v[17] = b'X';
        }
        if !v[..17].iter().all(u8::is_ascii_digit) || check_char(&v[..17]) != v[17] {
            return Err(IdNumberError);
        }
        let s = String::from_utf8(v).map_err(|_| IdNumberError)?;
        let id = IdNumber(s);
        id.birth_date().ok_or(IdNumberError)?;
        Ok(id)
    }
    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Birth date.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").ok()
    }
    /// GB/T 2261.1 sex code.
    pub fn sex_code(&self) -> &'static str {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            "1"
        } else {
            "2"
        }
    }
    /// Division code.
    pub fn division(&self) -> &str {
        &self.0[..6]
    }
}

/// Derives person keys.
pub struct PersonKeyer(hmac::Key);

impl PersonKeyer {
    /// New keyer from the federation linkage key.
    pub fn new(key: &[u8]) -> Self {
        PersonKeyer(hmac::Key::new(hmac::HMAC_SHA256, key))
    }
    /// base64url(HMAC-SHA256(key, id)).
    pub fn key(&self, id: &IdNumber) -> String {
        use base64::Engine;
        let tag = hmac::sign(&self.0, id.as_str().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }
}

/// USCC validation.
pub mod uscc {
    /// A valid USCC.
    pub struct Uscc(String);
    const CHARSET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    /// Check char over the first 17.
    pub fn check_char(first17: &[u8]) -> Option<u8> {
        let mut sum = 0u32;
        let mut w = 1u32;
        for c in first17 {
            let v = CHARSET.iter().position(|x| x == c)? as u32;
            sum += v * w;
            w = w * 3 % 31;
        }
        Some(CHARSET[((31 - sum % 31) % 31) as usize])
    }
    impl Uscc {
        /// Parses.
        pub fn parse(s: &str) -> Result<Uscc, ()> {
            let b = s.as_bytes();
            if b.len() == 18 && check_char(&b[..17]) == Some(b[17]) {
                Ok(Uscc(s.to_string()))
            } else {
                Err(())
            }
        }
        /// Text.
        pub fn as_str(&self) -> &str {
            &self.0
        }
    }
}

/// A field that failed validation.
#[derive(Debug, Clone)]
pub struct FieldError {
    /// JSON path of the field.
    pub path: String,
    /// Stable code.
    pub code: String,
    /// Message.
    pub message: String,
}

/// Validates a record (stand-in: accepts everything).
pub fn validate_record(_r: &Record) -> Result<(), Vec<FieldError>> {
    Ok(())
}

/// Names of the code lists an adapter may map onto, with their versions.
pub fn code_list_versions() -> BTreeMap<String, String> {
    [("gbt2260", "2023"), ("occupation", "2022"), ("gbt4658", "2006"), ("gbt2261.1", "2003"), ("gbt4754", "2017")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Whether `code` is in the named national code list.
pub fn in_code_list(list: &str, code: &str) -> Option<bool> {
    match list {
        "division" => Some(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())),
        "occupation" => Some(code.len() == 10),
        "education" => Some(code.len() == 2),
        "industry" => Some(code.len() == 3),
        "sex" => Some(matches!(code, "0" | "1" | "2" | "9")),
        _ => None,
    }
}
