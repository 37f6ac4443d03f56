//! Field transforms: pure functions from one value to the next, each failing with a row error code.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{Duration, NaiveDate};

use crate::adapter::RowErrorCode;
use crate::mapping::config::OnUnknown;
use crate::national::IdNumber;
use crate::target::V;

/// A compiled transform step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Trim,
    Halfwidth,
    Upper,
    Lower,
    DigitsOnly,
    Date(Vec<DateFormat>),
    Month(Vec<String>),
    Table(usize),
    Split(String),
    SexFromId,
    BirthDateFromId,
}

/// A date format: chrono pattern or Excel serial day number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DateFormat {
    Pattern(DatePattern),
    ExcelSerial,
}

/// A chrono date pattern, with a fast path for the common ones (only `%Y`, `%m`, `%d` and
/// literal text): chrono re-reads the pattern on every call, which dominated row cost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DatePattern {
    /// The pattern as written.
    pub text: String,
    fast: Option<Vec<DateToken>>,
}

#[derive(Debug, Clone, PartialEq)]
enum DateToken {
    Year,
    Month,
    Day,
    Lit(String),
}

impl DatePattern {
    pub(crate) fn new(text: String) -> DatePattern {
        let mut toks = Vec::new();
        let mut lit = String::new();
        let mut chars = text.chars();
        let mut fast = true;
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            let tok = match chars.next() {
                Some('Y') => DateToken::Year,
                Some('m') => DateToken::Month,
                Some('d') => DateToken::Day,
                _ => {
                    fast = false;
                    break;
                }
            };
            if !lit.is_empty() {
                toks.push(DateToken::Lit(std::mem::take(&mut lit)));
            }
            toks.push(tok);
        }
        if !lit.is_empty() {
            toks.push(DateToken::Lit(lit));
        }
        DatePattern {
            fast: fast.then_some(toks),
            text,
        }
    }

    pub(crate) fn parse(&self, s: &str) -> Option<NaiveDate> {
        let Some(toks) = &self.fast else {
            return NaiveDate::parse_from_str(s, &self.text).ok();
        };
        let b = s.as_bytes();
        let mut i = 0;
        let (mut y, mut m, mut d) = (None, None, None);
        let digits = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
            let start = *i;
            while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
                *i += 1;
            }
            if *i - start < min {
                return None;
            }
            s[start..*i].parse().ok()
        };
        for t in toks {
            match t {
                DateToken::Year => y = Some(digits(&mut i, 4, 4)? as i32),
                DateToken::Month => m = Some(digits(&mut i, 1, 2)?),
                DateToken::Day => d = Some(digits(&mut i, 1, 2)?),
                DateToken::Lit(l) => {
                    if !s[i..].starts_with(l.as_str()) {
                        return None;
                    }
                    i += l.len();
                }
            }
        }
        if i != b.len() {
            return None;
        }
        NaiveDate::from_ymd_opt(y?, m?, d?)
    }
}

/// A compiled code table: entries sorted by local code (synth walks them in that order), with a
/// hash index for lookups (several per row; binary search cost ~5 string compares each).
#[derive(Debug, Clone)]
pub(crate) struct CodeTable {
    pub name: String,
    pub entries: Vec<(String, String)>,
    pub on_unknown: OnUnknown,
    index: HashMap<String, usize, BuildHasherDefault<Fnv1a>>,
}

impl CodeTable {
    pub(crate) fn new(
        name: String,
        entries: HashMap<String, String>,
        on_unknown: OnUnknown,
    ) -> CodeTable {
        let mut entries: Vec<(String, String)> = entries.into_iter().collect();
        entries.sort_unstable();
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, (local, _))| (local.clone(), i))
            .collect();
        CodeTable {
            name,
            entries,
            on_unknown,
            index,
        }
    }

    /// The national code for a local code.
    pub(crate) fn get(&self, local: &str) -> Option<&str> {
        self.index.get(local).map(|&i| self.entries[i].1.as_str())
    }
}

/// FNV-1a: code-table keys are a few bytes, where SipHash's setup dominates. The keys come from
/// the mapping, not from the input, so flooding is not a concern.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Why a transform refused a value.
#[derive(Debug)]
pub(crate) struct StepFail {
    pub code: RowErrorCode,
    pub message: String,
}

fn fail(code: RowErrorCode, message: impl Into<String>) -> StepFail {
    StepFail {
        code,
        message: message.into(),
    }
}

/// Applies one step.
#[inline]
pub(crate) fn apply<'a>(step: &Step, v: V<'a>, tables: &'a [CodeTable]) -> Result<V<'a>, StepFail> {
    match v {
        V::Absent => Ok(V::Absent),
        V::List(items) => {
            if matches!(step, Step::Split(_)) {
                return Ok(V::List(items));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match apply_text(step, item, tables)? {
                    V::Text(t) => out.push(t),
                    V::Date(d) => out.push(Cow::Owned(d.to_string())),
                    V::List(l) => out.extend(l),
                    V::Absent => {}
                }
            }
            Ok(V::List(out))
        }
        V::Date(d) => match step {
            Step::Date(_) => Ok(V::Date(d)),
            _ => apply_text(step, Cow::Owned(d.to_string()), tables),
        },
        V::Text(t) => apply_text(step, t, tables),
    }
}

fn apply_text<'a>(
    step: &Step,
    t: Cow<'a, str>,
    tables: &'a [CodeTable],
) -> Result<V<'a>, StepFail> {
    Ok(match step {
        Step::Trim => V::Text(trim(t)),
        Step::Halfwidth => V::Text(halfwidth(t)),
        Step::Upper => {
            if t.bytes().any(|b| b.is_ascii_lowercase()) {
                V::Text(Cow::Owned(t.to_ascii_uppercase()))
            } else {
                V::Text(t)
            }
        }
        Step::Lower => {
            if t.bytes().any(|b| b.is_ascii_uppercase()) {
                V::Text(Cow::Owned(t.to_ascii_lowercase()))
            } else {
                V::Text(t)
            }
        }
        Step::DigitsOnly => {
            if t.bytes().all(|b| b.is_ascii_digit()) {
                V::Text(t)
            } else {
                V::Text(Cow::Owned(t.chars().filter(char::is_ascii_digit).collect()))
            }
        }
        Step::Date(formats) => {
            if t.is_empty() {
                return Ok(V::Absent);
            }
            V::Date(
                parse_date(&t, formats).ok_or_else(|| match impossible_date(&t, formats) {
                    Some(pattern) => fail(
                        RowErrorCode::BadDate,
                        format!("date has the format '{pattern}' but is not a real calendar date"),
                    ),
                    None => fail(
                        RowErrorCode::BadDate,
                        "date matches none of the mapping's formats",
                    ),
                })?,
            )
        }
        Step::Month(formats) => {
            if t.is_empty() {
                return Ok(V::Absent);
            }
            V::Text(Cow::Owned(parse_month(&t, formats).ok_or_else(|| {
                fail(
                    RowErrorCode::BadDate,
                    "month matches none of the mapping's formats",
                )
            })?))
        }
        Step::Table(i) => {
            if t.is_empty() {
                return Ok(V::Absent);
            }
            let table = &tables[*i];
            match table.get(t.as_ref()) {
                Some(code) => V::Text(Cow::Borrowed(code)),
                None if table.on_unknown == OnUnknown::Pass => V::Text(t),
                None => {
                    return Err(fail(
                        RowErrorCode::UnknownLocalCode,
                        format!("local code not in code table '{}'", table.name),
                    ))
                }
            }
        }
        Step::Split(sep) => V::List(split(t, sep)),
        Step::SexFromId => {
            if t.is_empty() {
                return Ok(V::Absent);
            }
            V::Text(Cow::Borrowed(id(&t)?.sex_code()))
        }
        Step::BirthDateFromId => {
            if t.is_empty() {
                return Ok(V::Absent);
            }
            V::Date(id(&t)?.birth_date())
        }
    })
}

fn id(t: &str) -> Result<IdNumber, StepFail> {
    // The error names the check that failed, never the number.
    IdNumber::parse(t.trim()).map_err(|e| {
        fail(
            RowErrorCode::BadIdNumber,
            format!("not a valid GB 11643 ID number: {e}"),
        )
    })
}

fn split<'a>(t: Cow<'a, str>, sep: &str) -> Vec<Cow<'a, str>> {
    match t {
        Cow::Borrowed(b) => b
            .split(sep)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Cow::Borrowed)
            .collect(),
        Cow::Owned(o) => o
            .split(sep)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Cow::Owned(s.to_string()))
            .collect(),
    }
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{3000}'
}

/// Trims white space, including the ideographic space, without copying.
pub(crate) fn trim(t: Cow<'_, str>) -> Cow<'_, str> {
    let b = t.as_bytes();
    if b.first().is_some_and(|c| c.is_ascii_graphic())
        && b.last().is_some_and(|c| c.is_ascii_graphic())
    {
        return t;
    }
    // Text starting or ending with a CJK character: one char look at each end, cheaper than
    // `trim_matches` (which is left for the values that do need trimming).
    if t.chars().next().is_some_and(|c| !is_space(c))
        && t.chars().next_back().is_some_and(|c| !is_space(c))
    {
        return t;
    }
    match t {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim_matches(is_space)),
        Cow::Owned(o) => {
            let s = o.trim_matches(is_space);
            if s.len() == o.len() {
                Cow::Owned(o)
            } else {
                Cow::Owned(s.to_string())
            }
        }
    }
}

/// Full-width ASCII variants (U+FF01..=U+FF5E) and U+3000 to half-width; copies only if needed.
pub(crate) fn halfwidth(t: Cow<'_, str>) -> Cow<'_, str> {
    if t.is_ascii() {
        return t;
    }
    let needs = t
        .chars()
        .any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c) || c == '\u{3000}');
    if !needs {
        return t;
    }
    Cow::Owned(
        t.chars()
            .map(|c| match c {
                '\u{3000}' => ' ',
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

/// Excel's day 0 is 1899-12-30 once its 1900 leap-year bug is accounted for.
fn excel_epoch() -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1899, 12, 30)
}

fn parse_date(t: &str, formats: &[DateFormat]) -> Option<NaiveDate> {
    formats.iter().find_map(|f| match f {
        DateFormat::Pattern(p) => p.parse(t),
        DateFormat::ExcelSerial => {
            // Serial numbers may carry a time fraction ("45356.5").
            let whole = t.split('.').next()?;
            if whole.is_empty() || whole.len() > 6 || !whole.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let days: i64 = whole.parse().ok()?;
            // Serial 60 is Excel's phantom 1900-02-29; serials below 61 are off by one.
            let days = if days < 61 { days + 1 } else { days };
            excel_epoch()?.checked_add_signed(Duration::days(days))
        }
    })
}

/// The first pattern that `t` has the shape of although it names no real date (`1990.02.30`),
/// so the row error can say so instead of "matches no format". Cold path: only after every
/// format failed.
fn impossible_date<'f>(t: &str, formats: &'f [DateFormat]) -> Option<&'f str> {
    formats.iter().find_map(|f| match f {
        DateFormat::Pattern(p) => {
            let mut parsed = chrono::format::Parsed::new();
            let items = chrono::format::StrftimeItems::new(&p.text);
            let impossible = match chrono::format::parse(&mut parsed, t, items) {
                Ok(()) => parsed.to_naive_date().is_err(),
                // A month 13 or a day 32 is refused while parsing.
                Err(e) => e.kind() == chrono::format::ParseErrorKind::OutOfRange,
            };
            impossible.then_some(p.text.as_str())
        }
        DateFormat::ExcelSerial => None,
    })
}

fn parse_month(t: &str, formats: &[String]) -> Option<String> {
    formats.iter().find_map(|f| {
        let d = NaiveDate::parse_from_str(&format!("{t}|01"), &format!("{f}|%d")).ok()?;
        Some(d.format("%Y-%m").to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast paths of `trim` agree with trimming char by char.
        #[test]
        fn trim_agrees_with_trim_matches(s in "[ a\u{3000}\u{00a0}\u{2003}中\u{20bb7}x\t]{0,8}") {
            proptest::prop_assert_eq!(trim(Cow::Borrowed(&s)), s.trim_matches(is_space));
            proptest::prop_assert_eq!(trim(Cow::Owned(s.clone())), s.trim_matches(is_space));
        }
    }

    fn date(t: &str, f: &[DateFormat]) -> Option<String> {
        parse_date(t, f).map(|d| d.to_string())
    }

    #[test]
    fn dates_in_every_listed_format() {
        let f = vec![
            DateFormat::Pattern(DatePattern::new("%Y-%m-%d".into())),
            DateFormat::Pattern(DatePattern::new("%Y%m%d".into())),
            DateFormat::Pattern(DatePattern::new("%Y/%m/%d".into())),
            DateFormat::Pattern(DatePattern::new("%Y年%m月%d日".into())),
            DateFormat::ExcelSerial,
        ];
        assert_eq!(date("2024-03-05", &f).as_deref(), Some("2024-03-05"));
        assert_eq!(date("20240305", &f).as_deref(), Some("2024-03-05"));
        assert_eq!(date("2024/3/5", &f).as_deref(), Some("2024-03-05"));
        assert_eq!(date("2024年3月5日", &f).as_deref(), Some("2024-03-05"));
        assert_eq!(date("45356", &f).as_deref(), Some("2024-03-05"));
        assert_eq!(date("1", &f).as_deref(), Some("1900-01-01"));
        assert_eq!(date("2024-02-30", &f), None);
    }

    #[test]
    fn a_bad_id_number_says_which_check_failed_and_never_the_number() {
        for (raw, says) in [
            ("440304199003077413", "check character"),
            ("440304199002307412", "birth date"),
            ("990304199003077412", "province"),
        ] {
            let Err(e) = apply(&Step::SexFromId, V::Text(Cow::Borrowed(raw)), &[]) else {
                panic!("{raw} accepted");
            };
            assert_eq!(e.code, RowErrorCode::BadIdNumber);
            assert!(e.message.contains(says), "{raw}: {}", e.message);
            assert!(!e.message.contains(raw), "{}", e.message);
        }
    }

    #[test]
    fn an_impossible_date_is_named_as_such() {
        let f = vec![
            DateFormat::Pattern(DatePattern::new("%Y-%m-%d".into())),
            DateFormat::Pattern(DatePattern::new("%Y.%m.%d".into())),
        ];
        assert_eq!(impossible_date("1990.02.30", &f), Some("%Y.%m.%d"));
        assert_eq!(impossible_date("1990-13-01", &f), Some("%Y-%m-%d"));
        assert_eq!(impossible_date("1990/02/03", &f), None);
        assert_eq!(impossible_date("1990.02.28", &f), None);
        let Err(e) = apply(&Step::Date(f), V::Text(Cow::Borrowed("1990.02.30")), &[]) else {
            panic!("1990.02.30 parsed");
        };
        assert_eq!(e.code, RowErrorCode::BadDate);
        assert!(
            e.message.contains("not a real calendar date"),
            "{}",
            e.message
        );
    }

    #[test]
    fn fast_date_patterns_agree_with_chrono() {
        let cases = [
            "2024-03-05",
            "2024-3-5",
            "20240305",
            "2024/3/5",
            "2024年3月5日",
            "2024-02-30",
            "2024-03-05 ",
            "2024-003-05",
            "",
        ];
        for p in ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日"] {
            let fast = DatePattern::new(p.into());
            for c in cases {
                assert_eq!(
                    fast.parse(c),
                    NaiveDate::parse_from_str(c, p).ok(),
                    "{p} {c:?}"
                );
            }
        }
        // Stricter than chrono on purpose: a year has four digits.
        assert_eq!(DatePattern::new("%Y-%m-%d".into()).parse("24-03-05"), None);
    }

    #[test]
    fn code_tables_find_every_entry_and_nothing_else() {
        let entries: HashMap<String, String> = [("本科", "21"), ("大专", "31"), ("GD0101", "2-01")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let t = CodeTable::new("t".into(), entries.clone(), OnUnknown::Error);
        for (local, national) in &entries {
            assert_eq!(t.get(local), Some(national.as_str()));
        }
        for miss in ["", "本", "本科 ", "gd0101", "GD010"] {
            assert_eq!(t.get(miss), None, "{miss:?}");
        }
    }

    #[test]
    fn fullwidth_digits_and_letters_become_halfwidth() {
        assert_eq!(
            halfwidth(Cow::Borrowed("１１０１０５Ｘ\u{3000}ａ")),
            "110105X a"
        );
        assert!(matches!(
            halfwidth(Cow::Borrowed("plain")),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn months_normalise_to_year_dash_month() {
        assert_eq!(
            parse_month("202403", &["%Y%m".into()]).as_deref(),
            Some("2024-03")
        );
        assert_eq!(
            parse_month("2024年3月", &["%Y年%m月".into()]).as_deref(),
            Some("2024-03")
        );
    }
}
