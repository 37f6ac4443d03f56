//! Code lists of the unified schema, embedded from `schemas/codes/*.csv`.
//!
//! The CSV files are the published lists (each with a `version` column; sources in
//! `schemas/codes/README.md`). They are compiled in with `include_str!` and parsed once, on first
//! use, into lookup maps. Entries borrow from the embedded text, so lookups return `&'static`
//! data and never allocate.
//!
//! | list name ([`VERSIONS`]) | file | standard |
//! |---|---|---|
//! | `gbt2260` | `divisions.csv` | GB/T 2260 administrative divisions (NBS 2023) plus retired codes |
//! | `occupations` | `occupations.csv` | 2022 national occupational classification |
//! | `gbt4658` | `education.csv` | GB/T 4658-2006 education levels |
//! | `gbt2261_1` | `sex.csv` | GB/T 2261.1-2003 sex |
//! | `gbt4754` | `industry.csv` | GB/T 4754-2017 sections and divisions |
//! | `key_groups` ... `station_kinds` | same name `.csv` | lists the gateway owns |

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use thiserror::Error;

/// Code-list name and the version this build embeds. Records name the versions they were
/// normalised with in `code_lists`.
pub const VERSIONS: [(&str, &str); 11] = [
    ("gbt2260", "2023"),
    ("occupations", "2022"),
    ("gbt4658", "2006"),
    ("gbt2261_1", "2003"),
    ("gbt4754", "2017"),
    ("key_groups", "1"),
    ("seeker_categories", "1"),
    ("employment_forms", "1"),
    ("platform_types", "1"),
    ("service_kinds", "1"),
    ("station_kinds", "1"),
];

/// The embedded version of a code list, by name (see [`VERSIONS`]).
pub fn version(list: &str) -> Option<&'static str> {
    VERSIONS.iter().find(|(n, _)| *n == list).map(|(_, v)| *v)
}

/// [`VERSIONS`] as the map a [`crate::Record`]'s `code_lists` field holds.
pub fn code_list_versions() -> BTreeMap<String, String> {
    VERSIONS
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Raw text of the embedded CSV files, by file stem (for publishing them over HTTP, say).
pub const FILES: [(&str, &str); 11] = [
    ("divisions", include_str!("../codes/divisions.csv")),
    ("occupations", include_str!("../codes/occupations.csv")),
    ("education", include_str!("../codes/education.csv")),
    ("sex", include_str!("../codes/sex.csv")),
    ("industry", include_str!("../codes/industry.csv")),
    ("key_groups", include_str!("../codes/key_groups.csv")),
    (
        "seeker_categories",
        include_str!("../codes/seeker_categories.csv"),
    ),
    (
        "employment_forms",
        include_str!("../codes/employment_forms.csv"),
    ),
    (
        "platform_types",
        include_str!("../codes/platform_types.csv"),
    ),
    ("service_kinds", include_str!("../codes/service_kinds.csv")),
    ("station_kinds", include_str!("../codes/station_kinds.csv")),
];

/// Level of an administrative division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DivisionLevel {
    /// Province, autonomous region, municipality or SAR (`XX0000`).
    Province,
    /// Prefecture-level (`XXXX00`).
    Prefecture,
    /// County-level.
    County,
}

/// One GB/T 2260 division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Division {
    /// 6-digit code.
    pub code: &'static str,
    /// Name (Chinese).
    pub name: &'static str,
    /// Level.
    pub level: DivisionLevel,
    /// Code of the enclosing division (none for provinces).
    pub parent: Option<&'static str>,
    /// Retired: no longer a current division, but valid inside ID numbers issued before.
    pub retired: bool,
    /// For a retired code, the current code that took its place.
    pub successor: Option<&'static str>,
}

/// Level in the occupational classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OccupationLevel {
    /// 大类, code `X`.
    Major,
    /// 中类, code `X-XX`.
    Middle,
    /// 小类, code `X-XX-XX`.
    Minor,
    /// 细类 (an occupation), code `X-XX-XX-XX`.
    Occupation,
}

/// One entry of the 2022 occupational classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occupation {
    /// Code: `X`, `X-XX`, `X-XX-XX` or `X-XX-XX-XX` by level.
    pub code: &'static str,
    /// Name (Chinese).
    pub name: &'static str,
    /// Level.
    pub level: OccupationLevel,
    /// Code of the enclosing group (none for major groups).
    pub parent: Option<&'static str>,
    /// Marked as a digital occupation (S) in the 2022 classification.
    pub digital: bool,
    /// Marked as a green occupation (L) in the 2022 classification.
    pub green: bool,
}

/// An entry of a simple national code list (education, sex, industry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeEntry {
    /// The code.
    pub code: &'static str,
    /// Name (Chinese).
    pub name: &'static str,
    /// Enclosing group, for hierarchical lists (education group, industry section).
    pub parent: Option<&'static str>,
}

/// An entry of a list the gateway owns; its code is the snake_case name used in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayCode {
    /// The code (as serialised in records).
    pub code: &'static str,
    /// Chinese name.
    pub name_zh: &'static str,
    /// English name.
    pub name_en: &'static str,
}

/// A multiply-rotate hasher (the Fx hash of rustc) for the code-list indexes. The keys are the
/// embedded lists, fixed at build time, so a keyed hash buys nothing; SipHash cost more than the
/// rest of a record's validation. Lookups of arbitrary input stay correct (equality decides).
#[derive(Default, Clone, Copy)]
struct CodeHasher(u64);

impl CodeHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for CodeHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Spread the well-mixed high bits into the low ones the table indexes with.
        self.0.rotate_left(26)
    }
}

type CodeMap<V> = HashMap<&'static str, V, BuildHasherDefault<CodeHasher>>;

struct Tables {
    divisions: Vec<Division>,
    division_index: CodeMap<usize>,
    occupations: Vec<Occupation>,
    occupation_index: CodeMap<usize>,
    education: CodeMap<CodeEntry>,
    sex: CodeMap<CodeEntry>,
    industry: CodeMap<CodeEntry>,
    gateway: HashMap<&'static str, Vec<GatewayCode>>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(Tables::load);

/// Data rows of an embedded CSV (header skipped), split on commas. The files are written without
/// quoting (checked by tests), so a plain split is exact.
fn rows(text: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').collect())
}

fn non_empty(s: &'static str) -> Option<&'static str> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

fn file(stem: &str) -> &'static str {
    FILES
        .iter()
        .find(|(n, _)| *n == stem)
        .map_or("", |(_, t)| *t)
}

impl Tables {
    /// Parses every list. Malformed rows are skipped rather than panicking; the tests assert
    /// that no row of the shipped files is skipped.
    fn load() -> Tables {
        let mut divisions = Vec::new();
        for r in rows(file("divisions")) {
            // code,name,level,parent,status,successor,version
            if r.len() != 7 {
                continue;
            }
            let level = match r[2] {
                "province" => DivisionLevel::Province,
                "prefecture" => DivisionLevel::Prefecture,
                "county" => DivisionLevel::County,
                _ => continue,
            };
            divisions.push(Division {
                code: r[0],
                name: r[1],
                level,
                parent: non_empty(r[3]),
                retired: r[4] == "retired",
                successor: non_empty(r[5]),
            });
        }
        let division_index = divisions
            .iter()
            .enumerate()
            .map(|(i, d)| (d.code, i))
            .collect();

        let mut occupations = Vec::new();
        for r in rows(file("occupations")) {
            // code,name,level,parent,markers,version
            if r.len() != 6 {
                continue;
            }
            let level = match r[2] {
                "major" => OccupationLevel::Major,
                "middle" => OccupationLevel::Middle,
                "minor" => OccupationLevel::Minor,
                "occupation" => OccupationLevel::Occupation,
                _ => continue,
            };
            occupations.push(Occupation {
                code: r[0],
                name: r[1],
                level,
                parent: non_empty(r[3]),
                digital: r[4].contains('S'),
                green: r[4].contains('L'),
            });
        }
        let occupation_index = occupations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.code, i))
            .collect();

        let simple = |stem: &str, parent_col: Option<usize>, cols: usize| {
            rows(file(stem))
                .filter(|r| r.len() == cols)
                .map(|r| {
                    let entry = CodeEntry {
                        code: r[0],
                        name: r[1],
                        parent: parent_col.and_then(|c| non_empty(r[c])),
                    };
                    (r[0], entry)
                })
                .collect::<CodeMap<_>>()
        };
        let education = simple("education", Some(3), 5);
        let sex = simple("sex", None, 3);
        let industry = simple("industry", Some(3), 5);

        let gateway = GATEWAY_LISTS
            .iter()
            .map(|stem| {
                let list = rows(file(stem))
                    .filter(|r| r.len() == 4)
                    .map(|r| GatewayCode {
                        code: r[0],
                        name_zh: r[1],
                        name_en: r[2],
                    })
                    .collect();
                (*stem, list)
            })
            .collect();

        Tables {
            divisions,
            division_index,
            occupations,
            occupation_index,
            education,
            sex,
            industry,
            gateway,
        }
    }
}

/// Names of the lists the gateway owns (file stems and [`VERSIONS`] names).
pub const GATEWAY_LISTS: [&str; 6] = [
    "key_groups",
    "seeker_categories",
    "employment_forms",
    "platform_types",
    "service_kinds",
    "station_kinds",
];

/// Looks up a division code, current or retired.
pub fn division(code: &str) -> Option<&'static Division> {
    let t = &*TABLES;
    t.division_index.get(code).map(|&i| &t.divisions[i])
}

/// Looks up a current (not retired) division code.
pub fn current_division(code: &str) -> Option<&'static Division> {
    division(code).filter(|d| !d.retired)
}

/// All divisions, current and retired, in code order.
pub fn all_divisions() -> &'static [Division] {
    &TABLES.divisions
}

/// The provincial-level division a 6-digit code lies in (by its first two digits).
pub fn province_of(code: &str) -> Option<&'static Division> {
    let prefix = code.get(..2)?;
    let mut buf = [b'0'; 6];
    buf[..2].copy_from_slice(prefix.as_bytes());
    division(std::str::from_utf8(&buf).ok()?)
}

/// Why a string is not a usable division code (as a field of its own, not inside an ID number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DivisionError {
    /// Not six ASCII digits.
    #[error("division: a GB/T 2260 code is 6 digits")]
    Format,
    /// Six digits, but not in the code list.
    #[error("division: not a GB/T 2260 code in the 2023 list")]
    Unknown,
    /// A retired code: valid only inside ID numbers issued before it was retired.
    #[error("division: retired code (now {successor}); valid only inside ID numbers")]
    Retired {
        /// The current code that took its place.
        successor: &'static str,
    },
}

impl DivisionError {
    /// A stable machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            DivisionError::Format => "invalid_format",
            DivisionError::Unknown => "unknown_division",
            DivisionError::Retired { .. } => "retired_division",
        }
    }
}

/// Checks a division code given as a field of its own: a current code of the list.
pub fn validate_division(code: &str) -> Result<&'static Division, DivisionError> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DivisionError::Format);
    }
    match division(code) {
        None => Err(DivisionError::Unknown),
        Some(d) if d.retired => Err(DivisionError::Retired {
            successor: d.successor.unwrap_or("merged"),
        }),
        Some(d) => Ok(d),
    }
}

/// Why a string is not a listed occupation code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OccupationError {
    /// Not of the form `X-XX-XX-XX` (and, where groups are allowed, not a group prefix either).
    #[error("occupation: not of the form X-XX-XX-XX")]
    Format,
    /// Well formed, but not in the 2022 list.
    #[error("occupation: not in the 2022 occupational classification list")]
    Unknown,
}

impl OccupationError {
    /// A stable machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            OccupationError::Format => "invalid_format",
            OccupationError::Unknown => "unknown_occupation",
        }
    }
}

/// Checks an occupation code: the `X-XX-XX-XX` form and membership of the 2022 list (细类 only).
pub fn validate_occupation(code: &str) -> Result<&'static Occupation, OccupationError> {
    if !is_occupation_format(code) {
        return Err(OccupationError::Format);
    }
    occupation(code)
        .filter(|o| o.level == OccupationLevel::Occupation)
        .ok_or(OccupationError::Unknown)
}

/// Checks a code that may be an occupation or a group prefix (`X`, `X-XX`, `X-XX-XX`), as
/// desired occupations and aggregate filters allow.
pub fn validate_occupation_or_group(code: &str) -> Result<&'static Occupation, OccupationError> {
    let b = code.as_bytes();
    let shaped = matches!(b.len(), 1 | 4 | 7 | 10)
        && b.iter().enumerate().all(|(i, c)| match i {
            1 | 4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return Err(OccupationError::Format);
    }
    occupation(code).ok_or(OccupationError::Unknown)
}

/// Looks up an occupational classification code of any level.
pub fn occupation(code: &str) -> Option<&'static Occupation> {
    let t = &*TABLES;
    t.occupation_index.get(code).map(|&i| &t.occupations[i])
}

/// Whether `code` is a listed occupation (细类, `X-XX-XX-XX`).
pub fn is_occupation(code: &str) -> bool {
    occupation(code).is_some_and(|o| o.level == OccupationLevel::Occupation)
}

/// Whether `code` has the `X-XX-XX-XX` shape of an occupation code (list membership aside).
pub fn is_occupation_format(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            1 | 4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// All occupational classification entries (groups and occupations), in code order.
pub fn all_occupations() -> &'static [Occupation] {
    &TABLES.occupations
}

/// The major group (大类) of a listed code of any level.
pub fn occupation_major_group(code: &str) -> Option<&'static Occupation> {
    occupation(code)?;
    occupation(code.get(..1)?)
}

/// The middle group (中类) of a listed code of middle level or below; none for a major group.
pub fn occupation_middle_group(code: &str) -> Option<&'static Occupation> {
    occupation(code)?;
    occupation(code.get(..4)?)
}

/// Looks up a GB/T 4658 education code (group or item).
pub fn education(code: &str) -> Option<&'static CodeEntry> {
    TABLES.education.get(code)
}

/// Looks up a GB/T 2261.1 sex code.
pub fn sex(code: &str) -> Option<&'static CodeEntry> {
    TABLES.sex.get(code)
}

/// Looks up a GB/T 4754-2017 code: a section letter (`I`) or a division (`I65`).
pub fn industry(code: &str) -> Option<&'static CodeEntry> {
    TABLES.industry.get(code)
}

/// Entries of a gateway-owned list by name (see [`GATEWAY_LISTS`]).
pub fn gateway_list(name: &str) -> Option<&'static [GatewayCode]> {
    TABLES.gateway.get(name).map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_found_by_its_own_text_and_near_misses_are_not() {
        for d in all_divisions() {
            // A fresh copy, so the lookup hashes the text rather than reusing the table's key.
            let copy: String = d.code.chars().collect();
            assert_eq!(division(&copy).map(|x| x.code), Some(d.code));
        }
        for o in all_occupations() {
            assert_eq!(
                occupation(&o.code.chars().collect::<String>()).map(|x| x.code),
                Some(o.code)
            );
        }
        assert!(division("44010").is_none());
        assert!(division("4401060").is_none());
        assert!(occupation("2-02-10-0").is_none());
        assert!(education("").is_none());
    }

    #[test]
    fn every_row_of_every_file_is_loaded() {
        let count = |stem: &str| rows(file(stem)).count();
        assert_eq!(all_divisions().len(), count("divisions"));
        assert_eq!(all_occupations().len(), count("occupations"));
        assert_eq!(TABLES.education.len(), count("education"));
        assert_eq!(TABLES.sex.len(), count("sex"));
        assert_eq!(TABLES.industry.len(), count("industry"));
        for stem in GATEWAY_LISTS {
            assert_eq!(gateway_list(stem).unwrap().len(), count(stem), "{stem}");
        }
    }
}
