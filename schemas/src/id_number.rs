//! GB 11643-1999 citizen identity numbers.
//!
//! An 18-character number is: a 6-digit GB/T 2260 address (division) code, an 8-digit birth date
//! `YYYYMMDD`, a 3-digit order code (odd for men, even for women) and a check character computed
//! with ISO 7064 MOD 11-2 (`0`-`9` or `X`). Legacy 15-digit numbers (6-digit division, `YYMMDD`,
//! 3-digit order, no check character) are upgraded by inserting `19` before the year and appending
//! the computed check character.
//!
//! The division part only has to be well formed: 6 digits whose first two name a known
//! provincial-level division, or `83` (residence permits of Taiwan residents, GB 11643 as
//! applied by the 2018 residence-permit rules: Hong Kong residents' permits start `81`, Macao's
//! `82`, Taiwan's `83`; Taiwan's division code is `71`, so `83` names no division). Retired county codes stay valid inside ID numbers (people keep the
//! number they were issued), so the county part is not looked up.
//!
//! Validation does not allocate: [`IdNumber`] stores its 18 bytes inline. Errors never contain
//! the number itself, since it is a protected field.

use std::sync::LazyLock;

use chrono::{Datelike, FixedOffset, NaiveDate, Utc};
use thiserror::Error;

/// Why a string is not a valid GB 11643 ID number. Never contains the number itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdNumberError {
    /// Neither 18 characters nor the 15-digit legacy form.
    #[error("id_number: length {len} is neither 18 nor 15 characters")]
    Length {
        /// Number of characters found.
        len: usize,
    },
    /// A character that may not stand at that position (1-based).
    #[error(
        "id_number: character {position} is not allowed there (digits only, X only as the 18th)"
    )]
    Charset {
        /// 1-based position of the offending character.
        position: usize,
    },
    /// The first two digits are not a known provincial-level division.
    #[error("id_number: division code does not start with a known province code")]
    UnknownProvince,
    /// The birth date is not a real calendar date (or is before 1800).
    #[error("id_number: birth date is not a real date")]
    InvalidBirthDate,
    /// The birth date lies in the future.
    #[error("id_number: birth date is in the future")]
    FutureBirthDate,
    /// The check character does not match the MOD 11-2 check of the first 17 digits.
    #[error("id_number: check character does not match (ISO 7064 MOD 11-2)")]
    CheckChar,
}

impl IdNumberError {
    /// A stable machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            IdNumberError::Length { .. } => "invalid_length",
            IdNumberError::Charset { .. } => "invalid_character",
            IdNumberError::UnknownProvince => "unknown_province",
            IdNumberError::InvalidBirthDate => "invalid_birth_date",
            IdNumberError::FutureBirthDate => "future_birth_date",
            IdNumberError::CheckChar => "check_char_mismatch",
        }
    }
}

/// A valid GB 11643 ID number, normalised to 18 characters with an upper-case `X`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdNumber {
    digits: [u8; 18],
}

impl std::fmt::Debug for IdNumber {
    /// Redacted: the number is a protected field and must not reach logs through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdNumber(<redacted>)")
    }
}

/// MOD 11-2 weights of the first 17 positions (2^(18-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each value of the weighted sum mod 11.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";
/// Earliest accepted birth year: older dates are data errors, not people.
const MIN_BIRTH_YEAR: u32 = 1800;

/// Provincial-level division codes (first two digits) accepted in ID numbers: the 34
/// provincial-level divisions of GB/T 2260 (31 mainland, Taiwan 71, Hong Kong 81, Macao 82), the
/// same set as the `province` rows of `codes/divisions.csv` (a test checks this).
const KNOWN_PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];
/// Prefixes of ID numbers that are not divisions: `83`, the residence permits of Taiwan
/// residents (those of Hong Kong and Macao residents start with their division codes 81 and 82).
pub const RESIDENCE_PERMIT_PREFIXES: [u8; 1] = [83];

/// Lookup table: `PROVINCE_TABLE[n]` is true when `n` is a known province prefix.
static PROVINCE_TABLE: [bool; 100] = {
    let mut table = [false; 100];
    let mut i = 0;
    while i < KNOWN_PROVINCES.len() {
        table[KNOWN_PROVINCES[i] as usize] = true;
        i += 1;
    }
    let mut i = 0;
    while i < RESIDENCE_PERMIT_PREFIXES.len() {
        table[RESIDENCE_PERMIT_PREFIXES[i] as usize] = true;
        i += 1;
    }
    table
};

/// Whether `prefix` (0-99) may start an ID number: a provincial-level division code, or a
/// residence-permit prefix ([`RESIDENCE_PERMIT_PREFIXES`]).
pub fn is_known_province_prefix(prefix: u8) -> bool {
    PROVINCE_TABLE
        .get(prefix as usize)
        .copied()
        .unwrap_or(false)
}

/// Today (China Standard Time) as `YYYYMMDD`, taken once: any date up to it is not in the future.
/// Later dates are re-checked against the clock, so a long-running process stays correct.
static TODAY_AT_START: LazyLock<u32> = LazyLock::new(today_yyyymmdd);

fn today_yyyymmdd() -> u32 {
    // UTC+8 always exists; the fallback keeps this total without a panic path.
    let now = match FixedOffset::east_opt(8 * 3600) {
        Some(cst) => Utc::now().with_timezone(&cst).date_naive(),
        None => Utc::now().date_naive(),
    };
    now.year() as u32 * 10_000 + now.month() * 100 + now.day()
}

/// Computes the MOD 11-2 check character (`b'0'`..`b'9'` or `b'X'`) of the first 17 digits.
///
/// `first17` should hold 17 ASCII digits; only its first 17 bytes are used. Non-digit bytes give
/// a meaningless (but non-panicking) result.
pub fn check_char(first17: &[u8]) -> u8 {
    let mut sum: u32 = 0;
    for (b, w) in first17.iter().zip(WEIGHTS) {
        sum += u32::from(b.wrapping_sub(b'0')) * w;
    }
    CHECK_CHARS[(sum % 11) as usize]
}

#[inline]
fn digit(b: u8) -> u32 {
    u32::from(b.wrapping_sub(b'0'))
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Number of days in `month` of `year`, 0 for a month outside 1-12.
pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// The error for input whose byte length is neither 18 nor 15: a non-ASCII character in an
/// otherwise right-sized string is a character error, anything else a length error.
fn length_or_charset(input: &[u8]) -> IdNumberError {
    let text = String::from_utf8_lossy(input);
    let len = text.chars().count();
    if len == 18 || len == 15 {
        if let Some(i) = text.chars().position(|c| !c.is_ascii()) {
            return IdNumberError::Charset { position: i + 1 };
        }
    }
    IdNumberError::Length { len }
}

/// Validates and normalises without allocating; the core of [`IdNumber::parse`] and [`validate`].
fn normalise(input: &[u8]) -> Result<[u8; 18], IdNumberError> {
    let mut out = [0u8; 18];
    match input.len() {
        18 => {
            for (i, &b) in input[..17].iter().enumerate() {
                if !b.is_ascii_digit() {
                    return Err(IdNumberError::Charset { position: i + 1 });
                }
            }
            out.copy_from_slice(input);
            match out[17] {
                b'0'..=b'9' | b'X' => {}
                b'x' => out[17] = b'X',
                _ => return Err(IdNumberError::Charset { position: 18 }),
            }
        }
        15 => {
            for (i, &b) in input.iter().enumerate() {
                if !b.is_ascii_digit() {
                    return Err(IdNumberError::Charset { position: i + 1 });
                }
            }
            out[..6].copy_from_slice(&input[..6]);
            out[6] = b'1';
            out[7] = b'9';
            out[8..17].copy_from_slice(&input[6..15]);
            out[17] = check_char(&out[..17]);
        }
        _ => return Err(length_or_charset(input)),
    }

    let province = digit(out[0]) * 10 + digit(out[1]);
    if !PROVINCE_TABLE[province as usize] {
        return Err(IdNumberError::UnknownProvince);
    }

    let year = digit(out[6]) * 1000 + digit(out[7]) * 100 + digit(out[8]) * 10 + digit(out[9]);
    let month = digit(out[10]) * 10 + digit(out[11]);
    let day = digit(out[12]) * 10 + digit(out[13]);
    if year < MIN_BIRTH_YEAR || day == 0 || day > days_in_month(year, month) {
        return Err(IdNumberError::InvalidBirthDate);
    }
    let ymd = year * 10_000 + month * 100 + day;
    if ymd > *TODAY_AT_START && ymd > today_yyyymmdd() {
        return Err(IdNumberError::FutureBirthDate);
    }

    if check_char(&out[..17]) != out[17] {
        return Err(IdNumberError::CheckChar);
    }
    Ok(out)
}

/// Checks an ID number without building a value: the fast path for bulk validation.
pub fn validate(input: &str) -> Result<(), IdNumberError> {
    normalise(input.as_bytes()).map(|_| ())
}

impl IdNumber {
    /// Parses an 18-character number (lower-case `x` accepted) or a 15-digit legacy number
    /// (upgraded to 18), checking charset, province, birth date and check character.
    pub fn parse(input: &str) -> Result<IdNumber, IdNumberError> {
        normalise(input.as_bytes()).map(|digits| IdNumber { digits })
    }

    /// The normalised 18-character form (upper-case `X`).
    pub fn as_str(&self) -> &str {
        // Invariant: `digits` holds only ASCII digits and `X`, so it is always valid UTF-8.
        std::str::from_utf8(&self.digits).unwrap_or_default()
    }

    /// The 18 normalised bytes.
    pub fn as_bytes(&self) -> &[u8; 18] {
        &self.digits
    }

    /// The 6-digit address (division) code; it may be a retired code.
    pub fn division(&self) -> &str {
        &self.as_str()[..6]
    }

    /// The date of birth.
    pub fn birth_date(&self) -> NaiveDate {
        let d = &self.digits;
        let year = digit(d[6]) * 1000 + digit(d[7]) * 100 + digit(d[8]) * 10 + digit(d[9]);
        let month = digit(d[10]) * 10 + digit(d[11]);
        let day = digit(d[12]) * 10 + digit(d[13]);
        // Invariant: parse checked that this is a real date.
        NaiveDate::from_ymd_opt(year as i32, month, day).unwrap_or_default()
    }

    /// GB/T 2261.1 sex code from the order code: `"1"` (odd, male) or `"2"` (even, female).
    pub fn sex_code(&self) -> &'static str {
        if digit(self.digits[16]) % 2 == 1 {
            "1"
        } else {
            "2"
        }
    }
}

impl std::str::FromStr for IdNumber {
    type Err = IdNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdNumber::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_char_of_the_standard_example() {
        // GB 11643-1999 appendix example 11010519491231002X.
        assert_eq!(check_char(b"11010519491231002"), b'X');
    }

    #[test]
    fn days_in_month_handles_leap_years() {
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 13), 0);
    }

    #[test]
    fn debug_output_is_redacted() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("1101"));
    }
}
