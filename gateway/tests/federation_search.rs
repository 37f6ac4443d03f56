//! Vacancy search across the federation: the national gateway fans a search out to the
//! regions, each searches its own index, and the pages merge in rank order with per-region
//! status. A region that is down leaves a partial answer; a retired vacancy leaves the index;
//! a cursor walks every open vacancy once.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::NaiveDate;
use pes_gateway::auth::Role;
use pes_gateway::native_sample::record;
use pes_schemas::{EmploymentType, RecordBody, Vacancy, VacancyStatus};
use pes_testkit::{pesgw, TestFederation, TestGateway, SOURCE};
use serde_json::{json, Value};

struct Posting {
    i: u64,
    title: &'static str,
    description: &'static str,
    occupation: &'static str,
    division: &'static str,
    wage: (u32, u32),
    status: VacancyStatus,
}

fn posting(
    i: u64,
    title: &'static str,
    occupation: &'static str,
    division: &'static str,
) -> Posting {
    let description = if occupation.starts_with('4') {
        "负责粤菜烹饪与菜品出品；包吃住"
    } else {
        "负责Java后端开发；五险一金"
    };
    Posting {
        i,
        title,
        description,
        occupation,
        division,
        wage: (5000 + (i as u32) * 100, 8000),
        status: VacancyStatus::Open,
    }
}

fn ndjson(region: &str, postings: &[Posting]) -> String {
    postings
        .iter()
        .map(|p| {
            let mut r = record(p.i, region, SOURCE, 1);
            r.body = RecordBody::Vacancy(Vacancy {
                employer_uscc: "91350100M000100Y43".into(),
                title: p.title.into(),
                occupation: p.occupation.into(),
                industry: "H62".into(),
                work_division: p.division.into(),
                openings: 1,
                min_education: None,
                employment_type: EmploymentType::FullTime,
                salary_min: Some(p.wage.0),
                salary_max: Some(p.wage.1),
                posted_on: NaiveDate::from_ymd_opt(2026, 11, 1 + (p.i % 20) as u32)
                    .unwrap_or_default(),
                valid_through: None,
                status: p.status,
                employer_name: Some("示例餐饮有限公司".into()),
                description: Some(p.description.into()),
                key_groups: vec![],
            });
            serde_json::to_string(&r).unwrap_or_default() + "\n"
        })
        .collect()
}

/// Waits (bounded) until the gateway's index has caught up with its store.
fn indexed(gw: &TestGateway) {
    gw.wait_applied();
    for _ in 0..1000 {
        let (_, v) = gw.readyz();
        if v["search_index_lag_bytes"] == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the index of {} never caught up", gw.region);
}

fn search(gw: &TestGateway, token: Option<&str>, q: Value) -> (u16, Value) {
    let mut req = gw
        .http()
        .post(format!("{}/v1/vacancies/search", gw.base))
        .json(&q);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().unwrap_or_else(|e| panic!("search: {e}"));
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn ids(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|h| h["vacancy_id"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn status_of<'a>(answer: &'a Value, region: &str) -> &'a Value {
    answer["regions"]
        .as_array()
        .and_then(|r| r.iter().find(|s| s["region"] == region))
        .unwrap_or(&Value::Null)
}

#[test]
fn a_national_search_fans_out_pages_stably_and_drops_retired_vacancies() {
    // 510000 is in the trust list but never started: it is down.
    let regions = ["100000", "110000", "440000", "510000"];
    let federation = TestFederation::new(&regions, 1);
    let gws: Vec<_> = regions[..3]
        .iter()
        .map(|r| federation.member(pesgw!(), r).start())
        .collect();
    let (national, beijing, guangdong) = (&gws[0], &gws[1], &gws[2]);
    let mut filled = posting(5, "中式烹调师", "4-03-02-01", "110105");
    filled.status = VacancyStatus::Filled;
    beijing.push(
        ndjson(
            "110000",
            &[
                posting(0, "中式烹调师", "4-03-02-01", "110105"),
                posting(1, "中式烹调师（急招）", "4-03-02-01", "110108"),
                posting(2, "软件工程师", "2-02-10-01", "110108"),
                filled,
            ],
        )
        .into_bytes(),
        true,
    );
    guangdong.push(
        ndjson(
            "440000",
            &[
                posting(0, "中式烹调师", "4-03-02-01", "440106"),
                posting(1, "粤菜厨师", "4-03-02-01", "440106"),
                posting(2, "中式烹调师（包吃住）", "4-03-02-01", "440113"),
                posting(3, "软件工程师", "2-02-10-01", "440305"),
                posting(4, "软件工程师助理", "2-02-10-01", "440305"),
            ],
        )
        .into_bytes(),
        true,
    );
    indexed(beijing);
    indexed(guangdong);
    let analyst = national.token_as(Role::Analyst, "analyst-1", &[], &[]);
    let analyst = analyst.as_str();

    // Text: jieba words over title and description, across regions; the filled one is not found.
    let (status, a) = search(
        national,
        Some(analyst),
        json!({"text": "粤菜 烹饪", "regions": ["all"]}),
    );
    assert_eq!(status, 200, "{a}");
    let found = ids(&a);
    assert_eq!(found.len(), 5, "{a}");
    assert!(
        !found.contains(&"110000:gd-hr:S000000005".to_string())
            && found.iter().all(|id| !id.ends_with("S000000005"))
    );
    assert_eq!(a["complete"], false);
    assert_eq!(status_of(&a, "110000")["status"], "ok");
    assert_eq!(status_of(&a, "440000")["status"], "ok");
    assert!(status_of(&a, "440000")["receipt"].is_object(), "{a}");
    assert_ne!(status_of(&a, "510000")["status"], "ok", "{a}");
    assert!(a["hits"][0]["score"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(a["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|h| h.get("person_key").is_none()));

    // Filters: an occupation group and a province.
    let (_, a) = search(
        national,
        Some(analyst),
        json!({"occupation": "4", "division": "440000", "regions": ["all"]}),
    );
    let found = ids(&a);
    assert_eq!(found.len(), 3, "{a}");
    assert!(found.iter().all(|id| id.starts_with("440000:")));
    let (_, a) = search(
        national,
        Some(analyst),
        json!({"occupation": "2-02-10", "wage_min": 8000, "wage_max": 8000, "regions": ["110000", "440000"]}),
    );
    assert_eq!(ids(&a).len(), 3, "{a}");
    assert_eq!(a["complete"], true);

    // Paging: two at a time, every open vacancy once, in the order of one big page.
    let (_, whole) = search(
        national,
        Some(analyst),
        json!({"regions": ["all"], "limit": 100}),
    );
    let whole = ids(&whole);
    assert_eq!(whole.len(), 8);
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut q = json!({"regions": ["all"], "limit": 2});
        if let Some(c) = &cursor {
            q["cursor"] = json!(c);
        }
        let (status, page) = search(national, Some(analyst), q);
        assert_eq!(status, 200, "{page}");
        paged.extend(ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, whole);
    assert_eq!(paged.iter().collect::<BTreeSet<_>>().len(), 8);

    // A retired vacancy leaves the index of its region.
    let r = guangdong
        .http()
        .post(format!("{}/v1/sources/{SOURCE}/retire", guangdong.base))
        .bearer_auth(guangdong.pusher())
        .json(&json!({"source_record_ids": ["S000000001"]}))
        .send()
        .unwrap_or_else(|e| panic!("retire: {e}"));
    assert_eq!(r.status().as_u16(), 200);
    indexed(guangdong);
    let (_, a) = search(
        national,
        Some(analyst),
        json!({"text": "粤菜", "regions": ["all"]}),
    );
    let found = ids(&a);
    assert_eq!(found.len(), 4, "{a}");
    assert!(!found.contains(&format!("440000:{SOURCE}:S000000001")));

    // Without a token (public search off by default): refused. A pusher may not search.
    let (status, _) = search(national, None, json!({}));
    assert_eq!(status, 401);
    let pusher = national.pusher();
    let (status, _) = search(national, Some(&pusher), json!({}));
    assert_eq!(status, 403);
    // A bad code is the caller's fault, named.
    let (status, p) = search(national, Some(analyst), json!({"occupation": "9-99"}));
    assert_eq!(status, 400);
    assert!(
        p["type"].as_str().unwrap_or("").ends_with("bad-occupation"),
        "{p}"
    );

    // Audited at home for the analyst (partial: 510000 is down), and at Guangdong as an
    // anonymous search by the national gateway: criteria only, no user.
    let home = national.audit_entries(1, |e| e["action"] == "vacancy_search");
    assert!(
        home.iter()
            .any(|e| e["outcome"] == "partial" && e["actor"]["sub"] == "analyst-1"),
        "{home:?}"
    );
    let remote = guangdong.audit_entries(1, |e| e["action"] == "vacancy_search");
    assert!(
        remote
            .iter()
            .all(|e| e["actor"]["peer_member"] == "100000" && e["actor"]["role"] == "peer"),
        "{remote:?}"
    );
}

#[test]
fn a_lost_index_is_rebuilt_from_the_store_and_public_search_needs_no_token() {
    let mut g = TestGateway::start_with(pesgw!(), |c| c.search.public = true);
    g.push(
        ndjson(
            "440000",
            &[
                posting(0, "中式烹调师", "4-03-02-01", "440106"),
                posting(1, "粤菜厨师", "4-03-02-01", "440106"),
                posting(2, "软件工程师", "2-02-10-01", "440305"),
            ],
        )
        .into_bytes(),
        true,
    );
    indexed(&g);
    g.stop();
    let index_dir = g.data_dir().join("search");
    std::fs::remove_dir_all(&index_dir).unwrap_or_else(|e| panic!("removing the index: {e}"));
    g.run();
    indexed(&g);
    // No token: public search is on. This region only (no `regions`).
    let (status, a) = search(&g, None, json!({"occupation": "4-03"}));
    assert_eq!(status, 200, "{a}");
    assert_eq!(ids(&a).len(), 2, "{a}");
    assert_eq!(a["complete"], true);
    assert!(g.metrics().contains("pes_search_index_vacancies 3"));
    let (_, ready) = g.readyz();
    assert_eq!(ready["search_index_lag_bytes"], 0);
    assert_eq!(ready["search_index_failed"], false);
    // A token, when given, must still be a good one.
    let (status, _) = search(&g, Some("not-a-token"), json!({}));
    assert_eq!(status, 401);
    let anonymous = g.audit_entries(1, |e| e["action"] == "vacancy_search");
    assert!(anonymous
        .iter()
        .any(|e| e["actor"]["sub"] == "anonymous" && e["outcome"] == "ok"));
}
