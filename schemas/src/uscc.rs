//! GB 32100-2015 unified social credit codes (统一社会信用代码).
//!
//! 18 characters from the 31-character set `0-9 A-Z` without `I O S V Z`:
//!
//! | pos | meaning |
//! |---|---|
//! | 1 | registration authority: `1`-`9`, `A` (military), `N` (agriculture), `Y` (other) |
//! | 2 | organisation type within that authority |
//! | 3-8 | GB/T 2260 division of the registering authority (6 digits) |
//! | 9-17 | GB 11714 organisation code: 8 characters and their check character (position 17) |
//! | 18 | check character: weights 3^(i-1) mod 31, `(31 - sum mod 31) mod 31` mapped to the set |
//!
//! The organisation code's check character (position 17) is GB 11714's: weights 3, 7, 9, 10, 5,
//! 8, 4, 2 over positions 9-16, digits count their value and letters `A`-`Z` count 10-35, and
//! the check is `11 - sum mod 11`, written `X` for 10 and `0` for 11. Both checks are enforced:
//! a code whose organisation code is wrong fails even when its final character was computed
//! over the wrong code.
//!
//! The type character (position 2) is only checked to be in the character set. The per-authority
//! type tables have been extended by amendments since 2015 and published sources differ, so a
//! validator that enforced one edition would refuse codes that registries issue today; a
//! registry-issued code always carries a correct check character, which is what is enforced.
//! [`Uscc::type_name`] names the (authority, type) pairs that are well established.
//! Lower-case letters are not part of the standard's character set and are rejected.

use thiserror::Error;

/// Why a string is not a valid USCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UsccError {
    /// Not 18 characters.
    #[error("uscc: length {len} is not 18 characters")]
    Length {
        /// Number of characters found.
        len: usize,
    },
    /// A character outside `0-9 A-Z` minus `I O S V Z` (1-based position).
    #[error("uscc: character {position} is outside the GB 32100 character set")]
    Charset {
        /// 1-based position of the offending character.
        position: usize,
    },
    /// The first character is not a registration authority (1-9, A, N, Y).
    #[error("uscc: registration authority code is not one of 1-9, A, N, Y")]
    Authority,
    /// Characters 3-8 are not six digits.
    #[error("uscc: division code (characters 3-8) is not six digits")]
    Division,
    /// The check character does not match.
    #[error("uscc: check character does not match (GB 32100 mod 31)")]
    CheckChar,
    /// The organisation code's check character (position 17) does not match.
    #[error(
        "uscc: organisation code check character (character 17) does not match (GB 11714 mod 11)"
    )]
    OrgCodeCheckChar,
}

impl UsccError {
    /// A stable machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            UsccError::Length { .. } => "invalid_length",
            UsccError::Charset { .. } => "invalid_character",
            UsccError::Authority => "unknown_authority",
            UsccError::Division => "invalid_division",
            UsccError::CheckChar => "check_char_mismatch",
            UsccError::OrgCodeCheckChar => "org_code_check_mismatch",
        }
    }
}

/// The 31 characters of GB 32100, in value order.
pub const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights 3^(i-1) mod 31 of positions 1-17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const NOT_IN_SET: u8 = 0xFF;

/// Byte to value (0-30), or `NOT_IN_SET`.
static VALUES: [u8; 256] = {
    let mut table = [NOT_IN_SET; 256];
    let mut i = 0;
    while i < CHARSET.len() {
        table[CHARSET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Whether `b` may be the registration-authority character.
fn is_authority(b: u8) -> bool {
    matches!(b, b'1'..=b'9' | b'A' | b'N' | b'Y')
}

/// Computes the check character of the first 17 characters.
///
/// `first17` should hold 17 characters of [`CHARSET`]; characters outside it count as 0 (the
/// result is then meaningless, but the function never panics).
pub fn check_char(first17: &[u8]) -> u8 {
    let mut sum: u32 = 0;
    for (&b, w) in first17.iter().zip(WEIGHTS) {
        let v = VALUES[b as usize];
        if v != NOT_IN_SET {
            sum += u32::from(v) * w;
        }
    }
    CHARSET[((31 - sum % 31) % 31) as usize]
}

/// GB 11714 weights of the organisation code's eight characters (USCC positions 9-16).
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Computes the GB 11714 check character of an organisation code's first eight characters
/// (`0-9`, `A-Z`); `None` when one is neither.
pub fn org_code_check_char(first8: &[u8]) -> Option<u8> {
    if first8.len() != 8 {
        return None;
    }
    let mut sum = 0u32;
    for (&b, w) in first8.iter().zip(ORG_WEIGHTS) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        c => b'0' + c as u8,
    })
}

/// Completes a code from its first 16 characters (authority, type, division, the organisation
/// code's eight characters) by appending both check characters; `None` when a character is
/// outside the character set. For generators of test and sample data.
pub fn complete(first16: &str) -> Option<String> {
    let bytes = first16.as_bytes();
    if bytes.len() != 16 || bytes.iter().any(|&b| VALUES[b as usize] == NOT_IN_SET) {
        return None;
    }
    let mut s = first16.to_string();
    s.push(char::from(org_code_check_char(&bytes[8..16])?));
    let c = check_char(s.as_bytes());
    s.push(char::from(c));
    Some(s)
}

fn check(input: &[u8]) -> Result<(), UsccError> {
    if input.len() != 18 {
        // Cold path: a non-ASCII character in an 18-character string is a character error.
        let text = String::from_utf8_lossy(input);
        let len = text.chars().count();
        if len == 18 {
            if let Some(i) = text.chars().position(|c| !c.is_ascii()) {
                return Err(UsccError::Charset { position: i + 1 });
            }
        }
        return Err(UsccError::Length { len });
    }
    let mut sum: u32 = 0;
    for (i, &b) in input[..17].iter().enumerate() {
        let v = VALUES[b as usize];
        if v == NOT_IN_SET {
            return Err(UsccError::Charset { position: i + 1 });
        }
        sum += u32::from(v) * WEIGHTS[i];
    }
    let last = VALUES[input[17] as usize];
    if last == NOT_IN_SET {
        return Err(UsccError::Charset { position: 18 });
    }
    if !is_authority(input[0]) {
        return Err(UsccError::Authority);
    }
    if !input[2..8].iter().all(u8::is_ascii_digit) {
        return Err(UsccError::Division);
    }
    if (31 - sum % 31) % 31 != u32::from(last) {
        return Err(UsccError::CheckChar);
    }
    if org_code_check_char(&input[8..16]) != Some(input[16]) {
        return Err(UsccError::OrgCodeCheckChar);
    }
    Ok(())
}

/// Checks a USCC without building a value: the fast path for bulk validation.
pub fn validate(input: &str) -> Result<(), UsccError> {
    check(input.as_bytes())
}

/// A valid unified social credit code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc {
    chars: [u8; 18],
}

impl std::fmt::Debug for Uscc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uscc({})", self.as_str())
    }
}

impl std::fmt::Display for Uscc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Uscc {
    /// Parses and checks a USCC: length, character set, authority, type, division digits, both
    /// check characters.
    pub fn parse(input: &str) -> Result<Uscc, UsccError> {
        let bytes = input.as_bytes();
        check(bytes)?;
        let mut chars = [0u8; 18];
        chars.copy_from_slice(bytes);
        Ok(Uscc { chars })
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        // Invariant: every byte is from CHARSET (ASCII), so this is always valid UTF-8.
        std::str::from_utf8(&self.chars).unwrap_or_default()
    }

    /// Registration authority character (position 1).
    pub fn authority(&self) -> char {
        char::from(self.chars[0])
    }

    /// Organisation type character (position 2).
    pub fn org_type(&self) -> char {
        char::from(self.chars[1])
    }

    /// The 6-digit division of the registering authority (positions 3-8).
    pub fn division(&self) -> &str {
        &self.as_str()[2..8]
    }

    /// The 9-character organisation code (positions 9-17).
    pub fn org_code(&self) -> &str {
        &self.as_str()[8..17]
    }

    /// Name of the registration authority.
    pub fn authority_name(&self) -> &'static str {
        authority_name(self.chars[0])
    }

    /// Name of the (authority, type) pair where GB 32100 and its amendments establish it.
    pub fn type_name(&self) -> Option<&'static str> {
        type_name(self.chars[0], self.chars[1])
    }
}

impl std::str::FromStr for Uscc {
    type Err = UsccError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

fn authority_name(a: u8) -> &'static str {
    match a {
        b'1' => "机构编制",
        b'2' => "外交",
        b'3' => "司法行政",
        b'4' => "文化",
        b'5' => "民政",
        b'6' => "旅游",
        b'7' => "宗教",
        b'8' => "工会",
        b'9' => "工商 (市场监管)",
        b'A' => "中央军委改革和编制办公室",
        b'N' => "农业",
        b'Y' => "其他",
        _ => "unknown",
    }
}

fn type_name(a: u8, t: u8) -> Option<&'static str> {
    Some(match (a, t) {
        (b'1', b'1') => "机关",
        (b'1', b'2') => "事业单位",
        (b'1', b'3') => "中央编办直接管理机构编制的群众团体",
        (b'1', b'9') => "其他",
        (b'2', b'1') => "外国常驻新闻机构",
        (b'2', b'9') => "其他",
        (b'3', b'1') => "律师执业机构",
        (b'3', b'2') => "公证处",
        (b'3', b'3') => "基层法律服务所",
        (b'3', b'4') => "司法鉴定机构",
        (b'3', b'5') => "仲裁委员会",
        (b'3', b'9') => "其他",
        (b'4', b'1') => "外国在华文化中心",
        (b'4', b'9') => "其他",
        (b'5', b'1') => "社会团体",
        (b'5', b'2') => "民办非企业单位",
        (b'5', b'3') => "基金会",
        (b'5', b'9') => "其他",
        (b'6', b'1') => "外国旅游部门常驻代表机构",
        (b'6', b'2') => "港澳台地区旅游部门常驻内地（大陆）代表机构",
        (b'6', b'9') => "其他",
        (b'7', b'1') => "宗教活动场所",
        (b'7', b'2') => "宗教院校",
        (b'7', b'9') => "其他",
        (b'8', b'1') => "基层工会",
        (b'8', b'9') => "其他",
        (b'9', b'1') => "企业",
        (b'9', b'2') => "个体工商户",
        (b'9', b'3') => "农民专业合作社",
        (b'A', b'1') => "军队事业单位",
        (b'A', b'9') => "其他",
        (b'N', b'1') => "组级集体经济组织",
        (b'N', b'2') => "村级集体经济组织",
        (b'N', b'3') => "乡镇级集体经济组织",
        (b'N', b'9') => "其他",
        (b'Y', b'1') => "其他",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1u32;
        for expected in WEIGHTS {
            assert_eq!(w, expected);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn charset_excludes_i_o_s_v_z() {
        for c in b"IOSVZ" {
            assert!(!CHARSET.contains(c));
        }
        assert_eq!(CHARSET.len(), 31);
    }
}
