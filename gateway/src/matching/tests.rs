//! The index against the brute-force reference: for filter-only searches both must give the
//! same hits in the same order, page after page.

use chrono::NaiveDate;
use pes_schemas::{EmploymentType, KeyGroup};
use proptest::prelude::*;

use super::doc::{brute_force, VacancyDoc};
use super::index::VacancyIndex;
use super::query::{Cursor, EmploymentKind, SearchQuery};

const OCCUPATIONS: [&str; 6] = [
    "2-02-10-01",
    "2-02-10-03",
    "4-03-02-01",
    "4-02-06-01",
    "6-18-01-01",
    "4-01-02-01",
];
const DIVISIONS: [&str; 6] = ["440106", "440113", "440305", "110105", "110108", "510104"];
const TYPES: [EmploymentType; 5] = [
    EmploymentType::FullTime,
    EmploymentType::PartTime,
    EmploymentType::Flexible,
    EmploymentType::Platform,
    EmploymentType::Internship,
];
const GROUPS: [KeyGroup; 3] = [
    KeyGroup::CollegeGraduate,
    KeyGroup::MigrantWorker,
    KeyGroup::Disabled,
];

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default() + chrono::Duration::days(i64::from(n))
}

fn today() -> NaiveDate {
    day(60)
}

prop_compose! {
    fn vacancy(i: usize)(
        occ in 0..OCCUPATIONS.len(),
        div in 0..DIVISIONS.len(),
        t in 0..TYPES.len(),
        lo in proptest::option::of(20u32..120),
        span in 0u32..40,
        posted in 0u32..60,
        valid in proptest::option::of(30u32..90),
        groups in proptest::collection::vec(0..GROUPS.len(), 0..3),
    ) -> VacancyDoc {
        let mut key_groups: Vec<KeyGroup> = groups.into_iter().map(|g| GROUPS[g]).collect();
        key_groups.dedup();
        VacancyDoc {
            region: "440000".into(),
            vacancy_id: format!("440000:src:V{i:05}"),
            title: "操作工".into(),
            description: String::new(),
            employer_name: None,
            occupation: OCCUPATIONS[occ].into(),
            division: DIVISIONS[div].into(),
            employment_type: TYPES[t],
            wage_min: lo.map(|l| l * 100),
            wage_max: lo.map(|l| (l + span) * 100),
            posted_on: day(posted),
            valid_through: valid.map(day),
            openings: 1,
            key_groups,
        }
    }
}

fn vacancies() -> impl Strategy<Value = Vec<VacancyDoc>> {
    (1usize..120).prop_flat_map(|n| (0..n).map(vacancy).collect::<Vec<_>>())
}

prop_compose! {
    fn filters()(
        occ in proptest::option::of(prop_oneof![
            Just("2"), Just("2-02"), Just("4-03-02-01"), Just("4"), Just("6-18")
        ]),
        div in proptest::option::of(prop_oneof![
            Just("440000"), Just("440100"), Just("440106"), Just("110000"), Just("510104")
        ]),
        wage_min in proptest::option::of(0u32..14_000),
        wage_max in proptest::option::of(0u32..14_000),
        kinds in proptest::collection::vec(prop_oneof![
            Just(EmploymentKind::FullTime), Just(EmploymentKind::PartTime),
            Just(EmploymentKind::Gig), Just(EmploymentKind::Internship)
        ], 0..2),
        since in proptest::option::of(0u32..60),
        group in proptest::option::of(0..GROUPS.len()),
        limit in 1u32..9,
    ) -> SearchQuery {
        let (wage_min, wage_max) = match (wage_min, wage_max) {
            (Some(a), Some(b)) if a > b => (Some(b), Some(a)),
            other => other,
        };
        SearchQuery {
            occupation: occ.into_iter().map(str::to_string).collect(),
            division: div.into_iter().map(str::to_string).collect(),
            wage_min,
            wage_max,
            employment_type: kinds,
            posted_since: since.map(day),
            key_groups: group.into_iter().map(|g| GROUPS[g]).collect(),
            limit: Some(limit),
            ..SearchQuery::default()
        }
    }
}

fn index_of(docs: &[VacancyDoc]) -> (tempfile::TempDir, VacancyIndex) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let index = VacancyIndex::open(dir.path(), "440000").unwrap_or_else(|e| panic!("open: {e}"));
    index.add_all(docs).unwrap_or_else(|e| panic!("add: {e}"));
    index.commit(1).unwrap_or_else(|e| panic!("commit: {e}"));
    (dir, index)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn filter_only_searches_page_exactly_as_the_brute_force_scan(
        docs in vacancies(),
        queries in proptest::collection::vec(filters(), 1..6),
    ) {
        let (_dir, index) = index_of(&docs);
        for mut q in queries {
            // Every page, until the brute force has no more.
            for _page in 0..40 {
                let checked = q.check().unwrap_or_else(|e| panic!("check: {e}"));
                let want = brute_force(&docs, &checked, today());
                let got = index.search(&checked, today()).unwrap_or_else(|e| panic!("search: {e}"));
                prop_assert_eq!(&got, &want, "query {:?}", q);
                match got.last() {
                    Some(last) if got.len() == checked.limit => {
                        q.cursor = Some(Cursor::encode(&last.rank_key()));
                    }
                    _ => break,
                }
            }
        }
    }
}

fn doc(id: &str, title: &str, description: &str) -> VacancyDoc {
    VacancyDoc {
        region: "440000".into(),
        vacancy_id: format!("440000:src:{id}"),
        title: title.into(),
        description: description.into(),
        employer_name: Some("广州示例餐饮有限公司".into()),
        occupation: "4-03-02-01".into(),
        division: "440106".into(),
        employment_type: EmploymentType::FullTime,
        wage_min: Some(5000),
        wage_max: Some(7000),
        posted_on: day(10),
        valid_through: None,
        openings: 2,
        key_groups: vec![],
    }
}

#[test]
fn text_is_searched_by_words_ranked_by_relevance_and_not_by_substring() {
    let docs = vec![
        doc("a", "中餐厨师", "负责粤菜烹饪，包吃住"),
        doc("b", "厨师长", "管理厨房团队，厨师出身优先，熟悉粤菜"),
        doc("c", "软件工程师", "Java 后端开发"),
    ];
    let (_dir, index) = index_of(&docs);
    let search = |text: &str| {
        let q = SearchQuery {
            text: Some(text.into()),
            ..SearchQuery::default()
        };
        let checked = q.check().unwrap_or_else(|e| panic!("check: {e}"));
        index
            .search(&checked, today())
            .unwrap_or_else(|e| panic!("search: {e}"))
            .into_iter()
            .map(|h| {
                (
                    h.vacancy_id.rsplit(':').next().unwrap_or("").to_string(),
                    h.score,
                )
            })
            .collect::<Vec<_>>()
    };
    let cooks = search("粤菜 厨师");
    let ids: Vec<&str> = cooks.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{cooks:?}");
    assert!(ids.contains(&"a") && ids.contains(&"b"));
    assert!(cooks[0].1 >= cooks[1].1 && cooks[1].1 > 0.0, "{cooks:?}");
    // Every word must be held: no cook is a Java developer.
    assert!(search("厨师 java").is_empty());
    assert_eq!(search("JAVA").len(), 1, "ASCII words are lower-cased");
    // 程师 is a substring of 工程师 but not a word of it.
    assert!(search("程师").is_empty());
}

#[test]
fn a_removed_or_replaced_vacancy_is_found_as_it_now_is() {
    let mut docs = vec![doc("a", "中餐厨师", ""), doc("b", "面点师", "")];
    let (_dir, index) = index_of(&docs);
    index.remove(&docs[0].vacancy_id);
    docs[1].title = "西点师".into();
    index
        .upsert(&docs[1])
        .unwrap_or_else(|e| panic!("upsert: {e}"));
    index.commit(2).unwrap_or_else(|e| panic!("commit: {e}"));
    assert_eq!(index.indexed_offset(), 2);
    let q = SearchQuery::default()
        .check()
        .unwrap_or_else(|e| panic!("{e}"));
    let hits = index.search(&q, today()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].title, "西点师");
}
