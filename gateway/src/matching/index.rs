//! The region's vacancy index: tantivy, with jieba words over title and description, kept in
//! `DATA/search/`.
//!
//! It follows the store: the applier hands it the keys of the vacancies each journal entry
//! touched (pushed, retired or purged), and it re-reads each from the store, so what it holds
//! is what the store holds, whatever order versions arrived in. The journal offset it has
//! indexed up to is the commit payload; on start, an index whose offset is not the store's is
//! rebuilt from the store ([`VacancyIndex::rebuild`]).
//!
//! Filters are exact terms (occupation and division paths, employment type, key groups) and
//! ranges (wage, posted, valid through), scored 0; text words are required terms scored by
//! BM25. Hits are ranked by [`super::query::RankKey`], so a page continues exactly after the
//! cursor.

use std::cmp::Ordering;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use chrono::NaiveDate;
use pes_schemas::RecordType;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal,
    SegmentReader, TantivyDocument, Term,
};

use super::doc::VacancyDoc;
use super::query::{days, id_hash, Checked, VacancyHit};
use super::tokenizer::{JiebaTokenizer, TOKENIZER};
use crate::store::{value, RecordStore, StoreError};

/// Memory the index writer may hold before it writes a segment.
const WRITER_BYTES: usize = 48_000_000;

/// Why the index failed. The operator's (disk) or the program's; never the caller's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// tantivy failed (I/O, a damaged index).
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index directory.
    #[error("search index directory: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    text: Field,
    hit: Field,
    occupation: Field,
    division: Field,
    employment: Field,
    key_group: Field,
    wage_low: Field,
    wage_high1: Field,
    posted: Field,
    valid: Field,
    id_hash: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        text: b.add_text_field("text", words),
        hit: b.add_text_field("hit", STORED),
        occupation: b.add_text_field("occupation", STRING),
        division: b.add_text_field("division", STRING),
        employment: b.add_text_field("employment", STRING),
        key_group: b.add_text_field("key_group", STRING),
        // Lowest wage; none is u64::MAX, so it never passes `low <= wage_max`.
        wage_low: b.add_u64_field("wage_low", INDEXED),
        // Highest wage plus one; none is 0, so it never passes `high + 1 >= wage_min + 1`.
        wage_high1: b.add_u64_field("wage_high1", INDEXED),
        posted: b.add_i64_field("posted", INDEXED | FAST),
        // Last valid day; none is i64::MAX.
        valid: b.add_i64_field("valid", INDEXED),
        id_hash: b.add_u64_field("id_hash", FAST),
    };
    (b.build(), fields)
}

/// A region's vacancy index.
pub struct VacancyIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    fields: Fields,
    region: String,
}

impl std::fmt::Debug for VacancyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VacancyIndex")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl VacancyIndex {
    /// Opens the index in `dir`, creating it when there is none; an index of another layout
    /// is removed and created anew (to be rebuilt from the store).
    pub fn open(dir: &Path, region: &str) -> Result<VacancyIndex, IndexError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = match Index::open_in_dir(dir) {
            Ok(i) if i.schema() == schema => i,
            Ok(_) | Err(tantivy::TantivyError::OpenDirectoryError(_)) => {
                Self::recreate(dir, schema)?
            }
            Err(tantivy::TantivyError::OpenReadError(_)) => Self::recreate(dir, schema)?,
            Err(e) => {
                tracing::warn!(error = %e, "search index unreadable; creating it anew");
                Self::recreate(dir, schema)?
            }
        };
        index
            .tokenizers()
            .register(TOKENIZER, TextAnalyzer::from(JiebaTokenizer));
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(VacancyIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            region: region.to_string(),
        })
    }

    fn recreate(dir: &Path, schema: Schema) -> Result<Index, IndexError> {
        std::fs::remove_dir_all(dir)?;
        std::fs::create_dir_all(dir)?;
        Ok(Index::create_in_dir(dir, schema)?)
    }

    /// The journal offset of the last commit (0 for a new index).
    pub fn indexed_offset(&self) -> u64 {
        self.index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Vacancies the searcher sees.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether the searcher sees none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter<TantivyDocument>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn document(&self, d: &VacancyDoc) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &d.vacancy_id);
        doc.add_text(f.text, &d.title);
        if !d.description.is_empty() {
            doc.add_text(f.text, &d.description);
        }
        doc.add_text(
            f.hit,
            serde_json::to_string(&d.hit(0.0)).unwrap_or_default(),
        );
        for o in d.occupation_path() {
            doc.add_text(f.occupation, o);
        }
        for p in d.division_path() {
            doc.add_text(f.division, p);
        }
        doc.add_text(f.employment, employment_name(d.employment_type));
        for g in &d.key_groups {
            doc.add_text(f.key_group, key_group_name(*g));
        }
        doc.add_u64(f.wage_low, d.wage_low().map_or(u64::MAX, u64::from));
        doc.add_u64(f.wage_high1, d.wage_high().map_or(0, |h| u64::from(h) + 1));
        doc.add_i64(f.posted, days(d.posted_on));
        doc.add_i64(f.valid, d.valid_through.map_or(i64::MAX, days));
        doc.add_u64(f.id_hash, id_hash(&d.vacancy_id));
        doc
    }

    /// Adds (or replaces) a vacancy; visible after the next [`VacancyIndex::commit`].
    pub fn upsert(&self, d: &VacancyDoc) -> Result<(), IndexError> {
        let doc = self.document(d);
        let w = self.writer();
        w.delete_term(Term::from_field_text(self.fields.id, &d.vacancy_id));
        w.add_document(doc)?;
        Ok(())
    }

    /// Removes a vacancy (if held); effective after the next commit.
    pub fn remove(&self, vacancy_id: &str) {
        self.writer()
            .delete_term(Term::from_field_text(self.fields.id, vacancy_id));
    }

    /// Re-reads the vacancies under `keys` (store keys: type byte and record id; other types
    /// are skipped) and indexes each as the store now holds it: an open, live vacancy is
    /// (re)indexed, anything else (filled, retired, purged, erased) leaves the index.
    pub fn refresh(&self, store: &dyn RecordStore, keys: &[Vec<u8>]) -> Result<(), IndexError> {
        let vacancy = crate::store::facts::rtype_byte(RecordType::Vacancy);
        for key in keys {
            let Some((&t, id)) = key.split_first() else {
                continue;
            };
            let Ok(id) = std::str::from_utf8(id) else {
                continue;
            };
            if t != vacancy {
                continue;
            }
            let doc = match store.get_record(id)? {
                Some(v) => value::value_body(&v)
                    .ok()
                    .and_then(|b| VacancyDoc::from_body(id, &b)),
                None => None,
            };
            match doc {
                Some(d) => self.upsert(&d)?,
                None => self.remove(id),
            }
        }
        Ok(())
    }

    /// Makes the changes so far durable and visible, recording `offset` as indexed.
    pub fn commit(&self, offset: u64) -> Result<(), IndexError> {
        {
            let mut w = self.writer();
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(&offset.to_string());
            prepared.commit()?;
        }
        self.reader.reload()?;
        Ok(())
    }

    /// Empties the index and indexes every open vacancy the store holds, committing at
    /// `offset` (the store's applied offset when the scan began). Returns how many it indexed.
    pub fn rebuild(&self, store: &dyn RecordStore, offset: u64) -> Result<u64, IndexError> {
        self.writer().delete_all_documents()?;
        let mut n = 0u64;
        let mut failed: Option<IndexError> = None;
        store.scan_records(RecordType::Vacancy, "", &mut |key, v| {
            if !value::is_live(v) {
                return true;
            }
            let Ok(id) = std::str::from_utf8(&key[1..]) else {
                return true;
            };
            let Some(d) = value::value_body(v)
                .ok()
                .and_then(|b| VacancyDoc::from_body(id, &b))
            else {
                return true;
            };
            match self.writer().add_document(self.document(&d)) {
                Ok(_) => {
                    n += 1;
                    true
                }
                Err(e) => {
                    failed = Some(e.into());
                    false
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        self.commit(offset)?;
        Ok(n)
    }

    /// Adds vacancies without deleting first (a fresh index: the bench's build).
    pub fn add_all(&self, docs: &[VacancyDoc]) -> Result<(), IndexError> {
        let w = self.writer();
        for d in docs {
            w.add_document(self.document(d))?;
        }
        Ok(())
    }

    fn compile(&self, q: &Checked, today: NaiveDate) -> Box<dyn Query> {
        let f = self.fields;
        let filter = |q: Box<dyn Query>| -> (Occur, Box<dyn Query>) {
            (Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0)))
        };
        let term = |field: Field, v: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, v),
                IndexRecordOption::Basic,
            ))
        };
        let any_of = |field: Field, vs: &mut dyn Iterator<Item = &str>| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                vs.map(|v| (Occur::Should, term(field, v))).collect(),
            ))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for w in &q.words {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.text, w),
                    IndexRecordOption::WithFreqs,
                )),
            ));
        }
        let s = &q.query;
        clauses.push(filter(Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(f.valid, days(today))),
            Bound::Unbounded,
        ))));
        if !s.occupation.is_empty() {
            clauses.push(filter(any_of(
                f.occupation,
                &mut s.occupation.iter().map(String::as_str),
            )));
        }
        if !s.division.is_empty() {
            clauses.push(filter(any_of(
                f.division,
                &mut s.division.iter().map(String::as_str),
            )));
        }
        if !s.employment_type.is_empty() {
            let names: Vec<&str> = ALL_TYPES
                .iter()
                .filter(|t| s.employment_type.iter().any(|k| k.covers(**t)))
                .map(|t| employment_name(*t))
                .collect();
            clauses.push(filter(any_of(f.employment, &mut names.into_iter())));
        }
        if !s.key_groups.is_empty() {
            clauses.push(filter(any_of(
                f.key_group,
                &mut s.key_groups.iter().map(|g| key_group_name(*g)),
            )));
        }
        if let Some(lo) = s.wage_min {
            clauses.push(filter(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(f.wage_high1, u64::from(lo) + 1)),
                Bound::Unbounded,
            ))));
        }
        if let Some(hi) = s.wage_max {
            clauses.push(filter(Box::new(RangeQuery::new(
                Bound::Unbounded,
                Bound::Included(Term::from_field_u64(f.wage_low, u64::from(hi))),
            ))));
        }
        if let Some(since) = s.posted_since {
            clauses.push(filter(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(f.posted, days(since))),
                Bound::Unbounded,
            ))));
        }
        if clauses.is_empty() {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// This region's page of hits for `q` on `today`: the first `q.limit` after `q.after` in
    /// rank order.
    pub fn search(&self, q: &Checked, today: NaiveDate) -> Result<Vec<VacancyHit>, IndexError> {
        let query = self.compile(q, today);
        let searcher = self.reader.searcher();
        let collector = RankCollector {
            limit: q.limit,
            scored: !q.words.is_empty(),
            after: q.after.as_ref().map(|a| After {
                key: Light {
                    score: a.score,
                    posted: a.posted,
                    id_hash: a.id_hash,
                },
                region: self.region.cmp(&a.region),
            }),
        };
        let top = searcher.search(&*query, &collector)?;
        let mut out = Vec::with_capacity(top.len());
        for (key, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some(json) = doc.get_first(self.fields.hit).and_then(|v| v.as_str()) else {
                continue;
            };
            if let Ok(mut hit) = serde_json::from_str::<VacancyHit>(json) {
                hit.score = key.score;
                out.push(hit);
            }
        }
        Ok(out)
    }
}

/// The position a page starts after, seen from one region.
#[derive(Debug, Clone, Copy)]
struct After {
    key: Light,
    /// This region against the cursor's region.
    region: Ordering,
}

/// A hit's rank inside one region (the region is the same for all).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Light {
    score: f32,
    posted: i64,
    id_hash: u64,
}

impl Light {
    fn rank_cmp(&self, o: &Light) -> Ordering {
        o.score
            .total_cmp(&self.score)
            .then(o.posted.cmp(&self.posted))
            .then(self.id_hash.cmp(&o.id_hash))
    }

    /// Whether this hit ranks after the cursor (the same order as [`super::query::RankKey::rank_cmp`]).
    fn is_after(&self, a: &After) -> bool {
        let head = a
            .key
            .score
            .total_cmp(&self.score)
            .then(a.key.posted.cmp(&self.posted))
            .then(a.region);
        match head {
            Ordering::Equal => self.id_hash > a.key.id_hash,
            o => o == Ordering::Greater,
        }
    }
}

struct RankCollector {
    limit: usize,
    scored: bool,
    after: Option<After>,
}

struct RankSegment {
    limit: usize,
    scored: bool,
    after: Option<After>,
    segment: SegmentOrdinal,
    posted: Column<i64>,
    id_hash: Column<u64>,
    kept: Vec<(Light, DocAddress)>,
    /// The `limit`-th best kept so far, once there are that many: a hit not better is skipped.
    worst: Option<Light>,
}

fn keep_best(v: &mut Vec<(Light, DocAddress)>, limit: usize) {
    v.sort_by(|a, b| a.0.rank_cmp(&b.0));
    v.truncate(limit);
}

impl Collector for RankCollector {
    type Fruit = Vec<(Light, DocAddress)>;
    type Child = RankSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<RankSegment> {
        Ok(RankSegment {
            limit: self.limit,
            scored: self.scored,
            after: self.after,
            segment,
            posted: reader.fast_fields().i64("posted")?,
            id_hash: reader.fast_fields().u64("id_hash")?,
            kept: Vec::new(),
            worst: None,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored
    }

    fn merge_fruits(
        &self,
        fruits: Vec<Vec<(Light, DocAddress)>>,
    ) -> tantivy::Result<Vec<(Light, DocAddress)>> {
        let mut all: Vec<_> = fruits.into_iter().flatten().collect();
        keep_best(&mut all, self.limit);
        Ok(all)
    }
}

impl SegmentCollector for RankSegment {
    type Fruit = Vec<(Light, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let key = Light {
            score: if self.scored { score } else { 0.0 },
            posted: self.posted.first(doc).unwrap_or(0),
            id_hash: self.id_hash.first(doc).unwrap_or(0),
        };
        if self
            .worst
            .is_some_and(|w| key.rank_cmp(&w) != Ordering::Less)
        {
            return;
        }
        if self.after.as_ref().is_some_and(|a| !key.is_after(a)) {
            return;
        }
        self.kept.push((key, DocAddress::new(self.segment, doc)));
        if self.kept.len() >= self.limit.saturating_mul(4).max(64) {
            keep_best(&mut self.kept, self.limit);
            if self.kept.len() == self.limit {
                self.worst = self.kept.last().map(|(k, _)| *k);
            }
        }
    }

    fn harvest(mut self) -> Self::Fruit {
        keep_best(&mut self.kept, self.limit);
        self.kept
    }
}

const ALL_TYPES: [pes_schemas::EmploymentType; 5] = [
    pes_schemas::EmploymentType::FullTime,
    pes_schemas::EmploymentType::PartTime,
    pes_schemas::EmploymentType::Flexible,
    pes_schemas::EmploymentType::Platform,
    pes_schemas::EmploymentType::Internship,
];

fn employment_name(t: pes_schemas::EmploymentType) -> &'static str {
    use pes_schemas::EmploymentType as E;
    match t {
        E::FullTime => "full_time",
        E::PartTime => "part_time",
        E::Flexible => "flexible",
        E::Platform => "platform",
        E::Internship => "internship",
    }
}

fn key_group_name(g: pes_schemas::KeyGroup) -> &'static str {
    use pes_schemas::KeyGroup as G;
    match g {
        G::CollegeGraduate => "college_graduate",
        G::MigrantWorker => "migrant_worker",
        G::OutOfPoverty => "out_of_poverty",
        G::FlexibleWorker => "flexible_worker",
        G::Disabled => "disabled",
        G::Veteran => "veteran",
        G::LongTermUnemployed => "long_term_unemployed",
    }
}
