//! What a vacancy search asks ([`SearchQuery`]), what it answers ([`VacancyHit`]), the rank
//! order of hits across regions ([`RankKey`]) and the cursor of the next page ([`Cursor`]).
//!
//! One `SearchQuery` serves the HTTP route, the federation body and Rust callers (matching for
//! a job seeker builds one from a profile). Vacancies are public data: nothing here names a
//! person.

use std::cmp::Ordering;

use base64::Engine as _;
use chrono::NaiveDate;
use pes_schemas::{EmploymentType, KeyGroup};
use serde::{Deserialize, Deserializer, Serialize};

/// Hits per page when the query does not say.
pub const DEFAULT_LIMIT: u32 = 20;
/// Most hits per page.
pub const MAX_LIMIT: u32 = 100;
/// Most occupation or division codes one query may name.
pub const MAX_CODES: usize = 50;
/// Longest free text, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// Kind of employment asked for: the schema's kinds, and `gig` for flexible or platform work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentKind {
    /// Full time.
    FullTime,
    /// Part time.
    PartTime,
    /// Gig work: flexible or platform.
    Gig,
    /// Flexible.
    Flexible,
    /// Platform work.
    Platform,
    /// Internship.
    Internship,
}

impl EmploymentKind {
    /// Whether a vacancy of type `t` is of this kind.
    pub fn covers(self, t: EmploymentType) -> bool {
        matches!(
            (self, t),
            (EmploymentKind::FullTime, EmploymentType::FullTime)
                | (EmploymentKind::PartTime, EmploymentType::PartTime)
                | (
                    EmploymentKind::Gig,
                    EmploymentType::Flexible | EmploymentType::Platform
                )
                | (EmploymentKind::Flexible, EmploymentType::Flexible)
                | (EmploymentKind::Platform, EmploymentType::Platform)
                | (EmploymentKind::Internship, EmploymentType::Internship)
        )
    }
}

/// A vacancy search. Every filter given must hold; a list filter holds when any of its values
/// does. Only open vacancies still valid on the day of the search are found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Free text in Chinese (or any language) over title and description, cut into words by
    /// jieba; a vacancy matches when it holds every word. Ranks hits by BM25.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Occupation codes or groups of the 2022 classification (`2`, `2-02`, `2-02-10`,
    /// `2-02-10-01`): a group matches every occupation in it. One code or a list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(value_type = Vec<String>)]
    pub occupation: Vec<String>,
    /// GB/T 2260 divisions of the workplace: a province or prefecture matches every county
    /// in it. One code or a list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schema(value_type = Vec<String>)]
    pub division: Vec<String>,
    /// Lowest monthly wage wanted, CNY: the vacancy's highest wage reaches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wage_min: Option<u32>,
    /// Highest monthly wage of the range, CNY: the vacancy's lowest wage is not above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wage_max: Option<u32>,
    /// Kinds of employment (`gig` = flexible or platform).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub employment_type: Vec<EmploymentKind>,
    /// Posted on or after this date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub posted_since: Option<NaiveDate>,
    /// Key groups the vacancy is flagged for (any of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub key_groups: Vec<KeyGroup>,
    /// Hits per page (default 20, at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Regions to search through the federation (`["all"]` = every member); absent: this
    /// region only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Why a search cannot be run: the caller's fault, answered with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// An occupation that is neither a code nor a group of the 2022 classification.
    #[error("occupation {0:?} is not a code or group of the 2022 classification")]
    BadOccupation(String),
    /// A division that is not a current GB/T 2260 code.
    #[error("division {0:?} is not a current GB/T 2260 code")]
    BadDivision(String),
    /// `wage_min` above `wage_max`.
    #[error("wage_min is above wage_max")]
    BadWageRange,
    /// `limit` of 0 or above [`MAX_LIMIT`].
    #[error("limit must be between 1 and {MAX_LIMIT}")]
    BadLimit,
    /// Too many codes, or too long a text.
    #[error("{0}")]
    TooLarge(&'static str),
    /// A cursor this gateway did not make.
    #[error("cursor is not one this search returned")]
    BadCursor,
}

impl SearchError {
    /// The problem type slug.
    pub fn slug(&self) -> &'static str {
        match self {
            SearchError::BadOccupation(_) => "bad-occupation",
            SearchError::BadDivision(_) => "bad-division",
            SearchError::BadWageRange => "bad-wage-range",
            SearchError::BadLimit => "bad-limit",
            SearchError::TooLarge(_) => "search-too-large",
            SearchError::BadCursor => "bad-cursor",
        }
    }
}

/// A query checked: codes known, limit in range, cursor decoded, text cut into words.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The query as asked.
    pub query: SearchQuery,
    /// Words of the free text (empty: no text).
    pub words: Vec<String>,
    /// Hits per page.
    pub limit: usize,
    /// Rank position after which this page starts.
    pub after: Option<RankKey>,
}

impl SearchQuery {
    /// Checks the query (the caller's input) and cuts its text into words.
    pub fn check(&self) -> Result<Checked, SearchError> {
        if self.occupation.len() > MAX_CODES || self.division.len() > MAX_CODES {
            return Err(SearchError::TooLarge(
                "at most 50 occupations and 50 divisions",
            ));
        }
        for o in &self.occupation {
            if pes_schemas::codes::validate_occupation_or_group(o).is_err() {
                return Err(SearchError::BadOccupation(o.chars().take(16).collect()));
            }
        }
        for d in &self.division {
            if pes_schemas::codes::validate_division(d).is_err() {
                return Err(SearchError::BadDivision(d.chars().take(16).collect()));
            }
        }
        if let (Some(lo), Some(hi)) = (self.wage_min, self.wage_max) {
            if lo > hi {
                return Err(SearchError::BadWageRange);
            }
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(SearchError::BadLimit);
        }
        let text = self.text.as_deref().unwrap_or("");
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(SearchError::TooLarge("text is longer than 200 characters"));
        }
        let after = match &self.cursor {
            None => None,
            Some(c) => Some(Cursor::decode(c)?),
        };
        Ok(Checked {
            query: self.clone(),
            words: super::tokenizer::query_words(text),
            limit: limit as usize,
            after,
        })
    }
}

/// A vacancy found. Public data only: no person, no protected field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VacancyHit {
    /// Region holding the vacancy.
    pub region: String,
    /// Record id of the vacancy (`<region>:<source>:<id>`).
    pub vacancy_id: String,
    /// Job title.
    pub title: String,
    /// Employer name, when the vacancy gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_name: Option<String>,
    /// Occupation code (2022 classification).
    pub occupation: String,
    /// Monthly wage range, CNY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wage_min: Option<u32>,
    /// Monthly wage range, CNY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wage_max: Option<u32>,
    /// Kind of employment.
    #[schema(value_type = String)]
    pub employment_type: EmploymentType,
    /// Division of the workplace.
    pub division: String,
    /// Date posted.
    #[schema(value_type = String, format = Date)]
    pub posted_on: NaiveDate,
    /// Openings.
    pub openings: u32,
    /// Key groups it is flagged for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub key_groups: Vec<KeyGroup>,
    /// Relevance (BM25 over the text words; 0 for a search without text).
    pub score: f32,
}

impl VacancyHit {
    /// Its place in the rank order.
    pub fn rank_key(&self) -> RankKey {
        RankKey {
            score: self.score,
            posted: days(self.posted_on),
            region: self.region.clone(),
            id_hash: id_hash(&self.vacancy_id),
        }
    }
}

/// Days since 0001-01-01 (CE), the posted date as the index keeps it.
pub fn days(d: NaiveDate) -> i64 {
    i64::from(chrono::Datelike::num_days_from_ce(&d))
}

/// A stable 64-bit tie-breaker of a vacancy id: the first 8 bytes of its SHA-256, the same in
/// every region and after any rebuild.
pub fn id_hash(id: &str) -> u64 {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    u64::from_be_bytes(b)
}

/// Where a hit stands in the order of results: higher score first, then newer, then region,
/// then the id's hash. A total order, the same in every region, so a page boundary is a
/// position that does not move when vacancies are added elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankKey {
    /// Relevance.
    #[serde(rename = "s")]
    pub score: f32,
    /// Posted date in days since CE.
    #[serde(rename = "p")]
    pub posted: i64,
    /// Region.
    #[serde(rename = "r")]
    pub region: String,
    /// [`id_hash`] of the vacancy id.
    #[serde(rename = "h")]
    pub id_hash: u64,
}

impl RankKey {
    /// `Less` when `self` ranks before `other`.
    pub fn rank_cmp(&self, other: &RankKey) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(other.posted.cmp(&self.posted))
            .then_with(|| self.region.cmp(&other.region))
            .then(self.id_hash.cmp(&other.id_hash))
    }
}

/// The opaque cursor of the next page: base64url of the last hit's [`RankKey`].
pub struct Cursor;

impl Cursor {
    /// The cursor that continues after `key`.
    pub fn encode(key: &RankKey) -> String {
        let json = serde_json::to_vec(key).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// The position a cursor continues after.
    pub fn decode(cursor: &str) -> Result<RankKey, SearchError> {
        if cursor.len() > 512 {
            return Err(SearchError::BadCursor);
        }
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| SearchError::BadCursor)?;
        let key: RankKey = serde_json::from_slice(&json).map_err(|_| SearchError::BadCursor)?;
        if !key.score.is_finite() || key.region.len() > 16 {
            return Err(SearchError::BadCursor);
        }
        Ok(key)
    }
}

/// Merges regions' pages into one: every hit in rank order, the first `limit` kept, and the
/// cursor of the next page when more may follow (some region filled its page).
pub fn merge_pages(pages: Vec<Vec<VacancyHit>>, limit: usize) -> (Vec<VacancyHit>, Option<String>) {
    let more = pages.iter().any(|p| p.len() >= limit);
    let mut all: Vec<(RankKey, VacancyHit)> = pages
        .into_iter()
        .flatten()
        .map(|h| (h.rank_key(), h))
        .collect();
    all.sort_by(|a, b| a.0.rank_cmp(&b.0));
    let more = more || all.len() > limit;
    all.truncate(limit);
    let next = if more {
        all.last().map(|(k, _)| Cursor::encode(k))
    } else {
        None
    };
    (all.into_iter().map(|(_, h)| h).collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_code_or_a_list_is_accepted_and_unknown_fields_are_refused() {
        let q: SearchQuery =
            serde_json::from_str(r#"{"occupation":"2-02","division":["440100","110000"]}"#)
                .unwrap_or_default();
        assert_eq!(q.occupation, vec!["2-02"]);
        assert_eq!(q.division.len(), 2);
        assert!(serde_json::from_str::<SearchQuery>(r#"{"person_key":"x"}"#).is_err());
    }

    #[test]
    fn bad_codes_limits_and_cursors_are_the_callers_fault() {
        let bad = |q: SearchQuery| q.check().map(|_| ()).unwrap_err().slug();
        let q = |f: fn(&mut SearchQuery)| {
            let mut q = SearchQuery::default();
            f(&mut q);
            q
        };
        assert_eq!(
            bad(q(|q| q.occupation = vec!["9-99-99-99".into()])),
            "bad-occupation"
        );
        assert_eq!(
            bad(q(|q| q.division = vec!["12345".into()])),
            "bad-division"
        );
        assert_eq!(bad(q(|q| q.limit = Some(0))), "bad-limit");
        assert_eq!(bad(q(|q| q.limit = Some(101))), "bad-limit");
        assert_eq!(bad(q(|q| q.cursor = Some("!!".into()))), "bad-cursor");
        assert_eq!(
            bad(q(|q| {
                q.wage_min = Some(9000);
                q.wage_max = Some(3000)
            })),
            "bad-wage-range"
        );
        assert!(q(|q| q.occupation = vec!["2".into(), "2-02-10-01".into()])
            .check()
            .is_ok());
    }

    #[test]
    fn a_cursor_round_trips_its_position() {
        let k = RankKey {
            score: 3.25,
            posted: 739_000,
            region: "440000".into(),
            id_hash: u64::MAX - 7,
        };
        assert_eq!(Cursor::decode(&Cursor::encode(&k)), Ok(k));
    }

    fn hit(region: &str, id: &str, score: f32, day: u32) -> VacancyHit {
        VacancyHit {
            region: region.into(),
            vacancy_id: id.into(),
            title: "t".into(),
            employer_name: None,
            occupation: "2-02-10-01".into(),
            wage_min: None,
            wage_max: None,
            employment_type: EmploymentType::FullTime,
            division: "440106".into(),
            posted_on: NaiveDate::from_ymd_opt(2026, 11, day).unwrap_or_default(),
            openings: 1,
            key_groups: vec![],
            score,
        }
    }

    #[test]
    fn merged_pages_rank_by_score_then_recency_and_say_when_more_follow() {
        let (hits, next) = merge_pages(
            vec![
                vec![hit("440000", "a", 2.0, 1), hit("440000", "b", 1.0, 9)],
                vec![hit("110000", "c", 2.0, 5)],
            ],
            2,
        );
        let ids: Vec<_> = hits.iter().map(|h| h.vacancy_id.as_str()).collect();
        assert_eq!(ids, vec!["c", "a"]);
        assert!(next.is_some());
        let (_, none) = merge_pages(vec![vec![hit("440000", "a", 0.0, 1)]], 2);
        assert_eq!(none, None);
    }
}
