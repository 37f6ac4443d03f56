//! "Jobs with no takers" across the federation, over HTTP on the national gateway: the
//! takers of an occupation × division cell per region, and the open vacancies no reachable
//! region has a seeker for; a region that is down makes the report incomplete.

use pes_gateway::auth::Role;
use pes_gateway::native_sample::record;
use pes_schemas::{RecordBody, RegistrationStatus, VacancyStatus};
use pes_testkit::{pesgw, TestFederation, SOURCE};
use serde_json::Value;

/// `n` active registrations wanting `occupation` in `division`, numbered from `first`.
fn seekers(region: &str, first: u64, n: u64, occupation: &str, division: &str) -> String {
    (0..n)
        .map(|j| {
            // Record 3i + 1 of the sample is a registration.
            let mut r = record(3 * (first + j) + 1, region, SOURCE, 1);
            let RecordBody::JobSeekerRegistration(reg) = &mut r.body else {
                unreachable!("3i + 1 is a registration")
            };
            reg.desired_occupations = vec![occupation.into()];
            reg.desired_division = division.into();
            reg.status = RegistrationStatus::Active;
            serde_json::to_string(&r).unwrap() + "\n"
        })
        .collect()
}

/// `n` open vacancies of `occupation` in `division` with 2 openings each.
fn vacancies(region: &str, first: u64, n: u64, occupation: &str, division: &str) -> String {
    (0..n)
        .map(|j| {
            let mut r = record(3 * (first + j) + 2, region, SOURCE, 1);
            let RecordBody::Vacancy(v) = &mut r.body else {
                unreachable!("3i + 2 is a vacancy")
            };
            v.occupation = occupation.into();
            v.work_division = division.into();
            v.openings = 2;
            v.status = VacancyStatus::Open;
            serde_json::to_string(&r).unwrap() + "\n"
        })
        .collect()
}

async fn push(http: &reqwest::Client, base: &str, token: &str, body: String) {
    for _ in 0..200 {
        match http
            .post(format!("{base}/v1/ingest/{SOURCE}?wait=applied"))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body.clone())
            .send()
            .await
        {
            Ok(r) => {
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                assert_eq!(status, 200, "{v}");
                assert_eq!(v["quarantined"], 0, "{v}");
                return;
            }
            // The API listener may not be bound yet.
            Err(_) => actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    panic!("push to {base} never connected");
}

#[actix_web::test]
async fn takers_per_region_and_vacancies_nobody_can_take() {
    // 330000 is stopped once started: it is down.
    let regions = ["100000", "440000", "510000", "330000"];
    let federation = TestFederation::with_trust(&regions, 1, |t| {
        for p in &mut t.policies {
            p.k = 5;
        }
    });
    let mut gws = federation.start_all(pesgw!()).await;
    gws[3].kill();
    let http = reqwest::Client::new();
    // Guangdong: welders' vacancies (6-18) that Sichuan's seekers want; couriers' vacancies
    // (4-02) nobody wants; 3 cooks wanted (4-03, a small cell) and a cook's vacancy.
    let gd = &gws[1];
    let gd_body = vacancies("440000", 0, 6, "6-18-02-04", "440300")
        + &vacancies("440000", 10, 7, "4-02-07-08", "440100")
        + &vacancies("440000", 20, 5, "4-03-02-01", "440100")
        + &seekers("440000", 30, 3, "4-03-02-01", "440300");
    push(
        &http,
        &gd.base,
        &gd.token_as(Role::Pusher, "p", &[SOURCE], &[]),
        gd_body,
    )
    .await;
    let sc = &gws[2];
    let sc_body = seekers("510000", 0, 8, "6-18-02-04", "440300")
        + &seekers("510000", 10, 6, "6-18-02-04", "510100")
        + &vacancies("510000", 20, 5, "2-02-10-03", "510100");
    push(
        &http,
        &sc.base,
        &sc.token_as(Role::Pusher, "p", &[SOURCE], &[]),
        sc_body,
    )
    .await;

    let national = &gws[0];
    let analyst = national.token_as(Role::Analyst, "analyst-1", &[], &[]);
    let get = |path: String| {
        let http = http.clone();
        let analyst = analyst.clone();
        let base = national.base.clone();
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth(analyst)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };

    // Takers of a welder's vacancy in Shenzhen: Sichuan's 8 seekers who want Shenzhen, not
    // the 6 who want Chengdu; Guangdong has none; the national gateway answers zero.
    let (status, t) =
        get("/v1/reports/takers?occupation=6-18-02-04&division=440303&regions=all".into()).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["occupation_group"], "6-18");
    assert_eq!(t["division"], "440300", "a county counts as its prefecture");
    let row = |region: &str| {
        t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region"] == region)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(row("510000")["active_seekers"], 8, "{t}");
    assert_eq!(row("440000")["active_seekers"], 0, "{t}");
    assert_eq!(
        row("330000"),
        Value::Null,
        "a region that did not answer has no row"
    );
    assert_eq!(t["complete"], false);

    // Anywhere in the country: 14 in Sichuan.
    let (_, t) = get("/v1/reports/takers?occupation=6-18&regions=440000,510000".into()).await;
    let sc_row = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "510000")
        .unwrap()
        .clone();
    assert_eq!(sc_row["active_seekers"], 14, "{t}");
    assert_eq!(t["complete"], true);

    // The cooks: 3 seekers in Guangdong, a small cell withheld at the source.
    let (_, t) = get("/v1/reports/takers?occupation=4-03-02-01&regions=440000".into()).await;
    assert_eq!(t["rows"][0]["suppressed"], true, "{t}");
    assert!(t["rows"][0]["active_seekers"].is_null());

    // No takers: couriers in Guangdong (7 vacancies, 14 openings) and Sichuan's engineers;
    // welders have takers in Sichuan; cooks have a suppressed cell of takers.
    let (status, n) = get("/v1/reports/no-takers?regions=all".into()).await;
    assert_eq!(status, 200, "{n}");
    let rows: Vec<(String, String, Value, Value)> = n["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().to_string(),
                r["occupation_group"].as_str().unwrap().to_string(),
                r["vacancies"].clone(),
                r["openings"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("440000".into(), "4-02".into(), 7.into(), 14.into()),
            ("510000".into(), "2-02".into(), 5.into(), 10.into()),
        ],
        "{n}"
    );
    assert_eq!(n["groups_with_vacancies"], 4);
    assert_eq!(n["complete"], false, "330000 did not answer");
    let down = n["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "330000")
        .unwrap()
        .clone();
    assert_ne!(down["status"], "ok");

    // Refusals: a pusher may not ask; an unknown occupation is a 400 problem.
    let pusher = national.token_as(Role::Pusher, "p", &[SOURCE], &[]);
    let r = http
        .get(format!(
            "{}/v1/reports/no-takers?regions=all",
            national.base
        ))
        .bearer_auth(pusher)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (status, p) = get("/v1/reports/takers?occupation=9-99&regions=all".into()).await;
    assert_eq!(status, 400);
    assert_eq!(
        p["type"].as_str().unwrap().rsplit('/').next(),
        Some("bad-occupation"),
        "{p}"
    );
    let (status, p) = get("/v1/reports/no-takers?regions=".into()).await;
    assert_eq!(status, 400);
    assert_eq!(
        p["type"].as_str().unwrap().rsplit('/').next(),
        Some("no-regions"),
        "{p}"
    );
}
