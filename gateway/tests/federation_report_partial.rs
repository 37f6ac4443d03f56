//! The supply-and-demand report across regions says whether it is whole: `complete` is true
//! while every province answers, and false once one province's process is stopped, with that
//! province named in `regions` (status, cause, since when) and its rows left out. The dashboard
//! marks the report's totals as partial from it.

use pes_gateway::auth::Role;
use pes_testkit::{pesgw, TestFederation, TestGateway, SOURCE};
use serde_json::Value;

async fn report(http: &reqwest::Client, gw: &TestGateway, token: &str, query: &str) -> Value {
    let r = http
        .get(format!("{}/v1/reports/supply-demand{query}", gw.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

fn row_regions(v: &Value) -> std::collections::BTreeSet<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn supply_demand_across_regions_says_complete_and_names_a_stopped_province() {
    let regions = ["100000", "110000", "440000"];
    let federation = TestFederation::new(&regions, 1);
    let mut gws = federation.start_all(pesgw!()).await;
    let http = reqwest::Client::new();
    for gw in &gws[1..] {
        let body = pes_gateway::native_sample::ndjson(0..300, &gw.region, SOURCE, 1);
        gw.push_async(&http, body).await;
    }
    let analyst = gws[0].token_as(Role::Analyst, "analyst-nat", &[], &[]);
    let asked = "?regions=110000,440000";

    // This region alone: no federation fields at all (the answer is as before).
    let local = report(
        &http,
        &gws[1],
        &gws[1].token_as(Role::Analyst, "a", &[], &[]),
        "",
    )
    .await;
    assert!(local.get("complete").is_none(), "{local}");
    assert!(local.get("regions").is_none(), "{local}");

    // Every province answers: complete, both provinces' rows.
    let whole = report(&http, &gws[0], &analyst, asked).await;
    assert_eq!(whole["complete"], true, "{whole}");
    assert_eq!(
        row_regions(&whole),
        ["110000", "440000"].map(String::from).into()
    );

    // 440000 stops: the report is partial, names it with the cause and since when, and its
    // rows are gone (not zero).
    gws[2].kill();
    let partial = report(&http, &gws[0], &analyst, asked).await;
    assert_eq!(partial["complete"], false, "{partial}");
    let missing = partial["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "440000")
        .unwrap_or_else(|| panic!("440000 not named: {partial}"));
    assert_eq!(missing["status"], "unreachable", "{missing}");
    assert!(missing["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(missing["unreachable_since"].is_string(), "{missing}");
    assert_eq!(row_regions(&partial), ["110000"].map(String::from).into());
}
