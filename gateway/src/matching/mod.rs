//! Vacancy search (issue 16): each region searches its own open vacancies, and a search across
//! regions fans out like an aggregate query and merges the ranked pages.
//!
//! ```text
//! ingest::apply ─► IndexFeed ─► follow (thread) ─► index (tantivy + jieba, DATA/search/)
//! POST /v1/vacancies/search ─► query::SearchQuery::check ─► index::VacancyIndex::search
//!   (this region) + federation fan-out (others) ─► query::merge_pages ─► hits + next cursor
//! ```
//!
//! - [`query`]: the request ([`SearchQuery`], usable from Rust: matching for a job seeker builds
//!   one from a profile), the hit, the rank order and the cursor.
//! - [`doc`]: the public projection of an open vacancy, and the brute-force reference search.
//! - [`tokenizer`]: jieba as a tantivy tokenizer.
//! - [`index`]: the per-region index.
//! - [`follow`]: the thread keeping the index at the store's state.
//!
//! Only open vacancies are indexed (status `open`, live: a retired record leaves the index);
//! those past `valid_through` are filtered at search time. No person is ever indexed.

pub mod doc;
pub mod follow;
pub mod index;
pub mod query;
pub mod tokenizer;

pub use doc::{brute_force, VacancyDoc};
pub use index::{IndexError, VacancyIndex};
pub use query::{Checked, Cursor, EmploymentKind, SearchError, SearchQuery, VacancyHit};

/// The day a search is run for, in China time (UTC+8): a vacancy valid through yesterday is
/// no longer found.
pub fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// Searches `index` for `q` today on the blocking pool (tantivy reads are CPU and mmap I/O,
/// never for an async worker).
pub async fn search_blocking(
    index: std::sync::Arc<VacancyIndex>,
    q: Checked,
) -> Result<Vec<VacancyHit>, IndexError> {
    let day = today();
    match tokio::task::spawn_blocking(move || index.search(&q, day)).await {
        Ok(r) => r,
        Err(e) => Err(IndexError::Io(std::io::Error::other(e.to_string()))),
    }
}

#[cfg(test)]
mod tests;
