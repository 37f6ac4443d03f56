//! A vacancy as search sees it ([`VacancyDoc`]: the public fields of an open vacancy), and the
//! brute-force reference search over a slice of them ([`brute_force`]): the floor of the bench
//! and the oracle of the tests.

use chrono::NaiveDate;
use pes_schemas::{EmploymentType, KeyGroup, RecordBody, Vacancy, VacancyStatus};

use super::query::{days, id_hash, Checked, RankKey, VacancyHit};

/// The searchable, public part of an open vacancy.
#[derive(Debug, Clone, PartialEq)]
pub struct VacancyDoc {
    /// Region holding it.
    pub region: String,
    /// Record id.
    pub vacancy_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Employer name.
    pub employer_name: Option<String>,
    /// Occupation code.
    pub occupation: String,
    /// Workplace division.
    pub division: String,
    /// Kind of employment.
    pub employment_type: EmploymentType,
    /// Wage range.
    pub wage_min: Option<u32>,
    /// Wage range.
    pub wage_max: Option<u32>,
    /// Posted.
    pub posted_on: NaiveDate,
    /// Open until (none: no end).
    pub valid_through: Option<NaiveDate>,
    /// Openings.
    pub openings: u32,
    /// Key groups.
    pub key_groups: Vec<KeyGroup>,
}

impl VacancyDoc {
    /// The searchable part of a stored record, when it is an open vacancy (a filled, closed or
    /// expired one is not searchable).
    pub fn from_body(vacancy_id: &str, body: &RecordBody) -> Option<VacancyDoc> {
        let RecordBody::Vacancy(v) = body else {
            return None;
        };
        Self::from_vacancy(vacancy_id, v)
    }

    /// See [`VacancyDoc::from_body`].
    pub fn from_vacancy(vacancy_id: &str, v: &Vacancy) -> Option<VacancyDoc> {
        if v.status != VacancyStatus::Open {
            return None;
        }
        let region = vacancy_id.split(':').next().unwrap_or_default().to_string();
        Some(VacancyDoc {
            region,
            vacancy_id: vacancy_id.to_string(),
            title: v.title.clone(),
            description: v.description.clone().unwrap_or_default(),
            employer_name: v.employer_name.clone(),
            occupation: v.occupation.clone(),
            division: v.work_division.clone(),
            employment_type: v.employment_type,
            wage_min: v.salary_min,
            wage_max: v.salary_max,
            posted_on: v.posted_on,
            valid_through: v.valid_through,
            openings: v.openings,
            key_groups: v.key_groups.clone(),
        })
    }

    /// Lowest wage (the minimum, else the maximum).
    pub fn wage_low(&self) -> Option<u32> {
        self.wage_min.or(self.wage_max)
    }

    /// Highest wage (the maximum, else the minimum).
    pub fn wage_high(&self) -> Option<u32> {
        self.wage_max.or(self.wage_min)
    }

    /// The occupation and the groups it belongs to (`2`, `2-02`, `2-02-10`, `2-02-10-01`).
    pub fn occupation_path(&self) -> Vec<String> {
        code_prefixes(&self.occupation)
    }

    /// The division and the province and prefecture it lies in.
    pub fn division_path(&self) -> Vec<String> {
        division_path(&self.division)
    }

    /// Whether every filter of `q` holds on `today` (the text is the caller's to check).
    pub fn passes_filters(&self, q: &Checked, today: NaiveDate) -> bool {
        let f = &q.query;
        if self.valid_through.is_some_and(|t| t < today) {
            return false;
        }
        if !f.occupation.is_empty() {
            let path = self.occupation_path();
            if !f.occupation.iter().any(|o| path.contains(o)) {
                return false;
            }
        }
        if !f.division.is_empty() {
            let path = self.division_path();
            if !f.division.iter().any(|d| path.contains(d)) {
                return false;
            }
        }
        if let Some(lo) = f.wage_min {
            if self.wage_high().is_none_or(|h| h < lo) {
                return false;
            }
        }
        if let Some(hi) = f.wage_max {
            if self.wage_low().is_none_or(|l| l > hi) {
                return false;
            }
        }
        if !f.employment_type.is_empty()
            && !f
                .employment_type
                .iter()
                .any(|k| k.covers(self.employment_type))
        {
            return false;
        }
        if f.posted_since.is_some_and(|s| self.posted_on < s) {
            return false;
        }
        if !f.key_groups.is_empty() && !f.key_groups.iter().any(|g| self.key_groups.contains(g)) {
            return false;
        }
        true
    }

    /// The hit this vacancy gives with `score`.
    pub fn hit(&self, score: f32) -> VacancyHit {
        VacancyHit {
            region: self.region.clone(),
            vacancy_id: self.vacancy_id.clone(),
            title: self.title.clone(),
            employer_name: self.employer_name.clone(),
            occupation: self.occupation.clone(),
            wage_min: self.wage_min,
            wage_max: self.wage_max,
            employment_type: self.employment_type,
            division: self.division.clone(),
            posted_on: self.posted_on,
            openings: self.openings,
            key_groups: self.key_groups.clone(),
            score,
        }
    }

    fn rank_key(&self, score: f32) -> RankKey {
        RankKey {
            score,
            posted: days(self.posted_on),
            region: self.region.clone(),
            id_hash: id_hash(&self.vacancy_id),
        }
    }
}

/// A code's group prefixes and itself: `2-02-10-01` gives `2`, `2-02`, `2-02-10`, `2-02-10-01`.
pub fn code_prefixes(code: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(4);
    for (i, c) in code.char_indices() {
        if c == '-' {
            out.push(code[..i].to_string());
        }
    }
    out.push(code.to_string());
    out
}

/// A division and the province and prefecture above it (`440106`: `440000`, `440100`,
/// `440106`), each once.
pub fn division_path(code: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    if code.len() == 6 && code.is_ascii() {
        for p in [format!("{}0000", &code[..2]), format!("{}00", &code[..4])] {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if !out.iter().any(|c| c == code) {
        out.push(code.to_string());
    }
    out
}

/// Whether `hay`, lower-cased, contains `word` (lower-cased already); allocates only for a
/// text with upper-case ASCII.
fn contains_lower(hay: &str, word: &str) -> bool {
    hay.contains(word)
        || (hay.bytes().any(|b| b.is_ascii_uppercase()) && hay.to_lowercase().contains(word))
}

/// The reference search: every vacancy checked in turn. Filters as the index applies them; the
/// text as substrings (every query word appears in the title or description, lower-cased), all
/// scored 0, so a filter-only search must give exactly the index's answer.
pub fn brute_force(docs: &[VacancyDoc], q: &Checked, today: NaiveDate) -> Vec<VacancyHit> {
    let mut found: Vec<(RankKey, &VacancyDoc)> = docs
        .iter()
        .filter(|d| d.passes_filters(q, today))
        .filter(|d| {
            q.words
                .iter()
                .all(|w| contains_lower(&d.title, w) || contains_lower(&d.description, w))
        })
        .map(|d| (d.rank_key(0.0), d))
        .filter(|(k, _)| {
            q.after
                .as_ref()
                .is_none_or(|a| k.rank_cmp(a) == std::cmp::Ordering::Greater)
        })
        .collect();
    found.sort_by(|a, b| a.0.rank_cmp(&b.0));
    found.truncate(q.limit);
    found.into_iter().map(|(_, d)| d.hit(0.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_belongs_to_its_groups_and_a_county_to_its_prefecture_and_province() {
        assert_eq!(
            code_prefixes("2-02-10-01"),
            vec!["2", "2-02", "2-02-10", "2-02-10-01"]
        );
        assert_eq!(code_prefixes("4"), vec!["4"]);
        assert_eq!(division_path("440106"), vec!["440000", "440100", "440106"]);
        assert_eq!(division_path("440100"), vec!["440000", "440100"]);
        assert_eq!(division_path("110000"), vec!["110000"]);
    }
}
