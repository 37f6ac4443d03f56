//! The station dimensions across the federation: a national query of service stations by
//! province, county and station kind fans out to the regions, each answers from its own store
//! and suppresses its small cells at the source, and the national answer keeps both.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pes_gateway::audit::event::Actor;
use pes_gateway::auth::Role;
use pes_gateway::native_sample::record;
use pes_gateway::query::QueryRequest;
use pes_schemas::{RecordBody, ServiceKind, ServiceStation, StationKind, StationStatus};
use pes_testkit::{TestFederation, SOURCE};

fn analyst() -> Actor {
    Actor {
        sub: "analyst-1".into(),
        role: "analyst".into(),
        region: Some("100000".into()),
        peer_member: None,
    }
}

/// NDJSON of `n` stations of `kind` in `county`, numbered from `first`.
fn stations(region: &str, first: u64, n: u64, county: &str, kind: StationKind) -> String {
    (first..first + n)
        .map(|i| {
            let mut r = record(i, region, SOURCE, 1);
            r.body = RecordBody::ServiceStation(ServiceStation {
                station_id: format!("st-{i}"),
                name: format!("服务站{i}"),
                kind,
                division: county.into(),
                township: None,
                opened_on: NaiveDate::from_ymd_opt(2022, 5, 1).unwrap(),
                status: StationStatus::Operating,
                services: vec![ServiceKind::GigMatch],
            });
            serde_json::to_string(&r).unwrap() + "\n"
        })
        .collect()
}

#[actix_web::test]
async fn national_station_counts_by_county_are_suppressed_at_each_source() {
    let regions = ["100000", "110000", "440000"];
    // The trust list grants the station dataset (a new dataset needs its own grant), with k = 5.
    let federation = TestFederation::with_trust(&regions, 1, |t| {
        for p in &mut t.policies {
            p.datasets.push("service_station".into());
            p.k = 5;
        }
    });
    let gws: Vec<_> = regions
        .iter()
        .map(|r| federation.in_process_member(r))
        .collect();
    let exports = [
        String::new(),
        stations("110000", 0, 6, "110105", StationKind::GigMarket),
        stations("440000", 0, 7, "440106", StationKind::GigMarket)
            + &stations("440000", 7, 1, "440104", StationKind::GigMarket)
            + &stations("440000", 8, 9, "440104", StationKind::Online),
    ];
    let http = reqwest::Client::new();
    for (gw, body) in gws.iter().zip(exports).skip(1) {
        let mut ok = false;
        for _ in 0..200 {
            match http
                .post(format!("{}/v1/ingest/{SOURCE}?wait=applied", gw.base))
                .bearer_auth(gw.token_as(Role::Pusher, "pusher", &[SOURCE], &[]))
                .header("content-type", "application/x-ndjson")
                .body(body.clone())
                .send()
                .await
            {
                Ok(r) => {
                    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
                    ok = true;
                    break;
                }
                // The API listener may not be bound yet.
                Err(_) => actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        assert!(ok, "push to {} never connected", gw.region);
    }

    let q = QueryRequest {
        dataset: "service_station".into(),
        measures: vec!["count".into()],
        group_by: vec!["province".into(), "county".into()],
        filters: [("station_kind".to_string(), vec!["gig_market".to_string()])].into(),
        regions: vec!["all".into()],
        purpose: Some("statistics".into()),
        ..Default::default()
    };
    let national = &gws[0];
    let answer = national
        .fed
        .aggregate(&national.node, &q, "req-stations", &analyst())
        .await
        .unwrap();
    assert!(answer.complete, "{:?}", answer.regions);
    let cells: BTreeMap<(String, String), (Option<i64>, bool)> = answer
        .cells
        .iter()
        .map(|c| {
            (
                (c.group["province"].clone(), c.group["county"].clone()),
                (c.count, c.includes_suppressed),
            )
        })
        .collect();
    let key = |p: &str, c: &str| (p.to_string(), c.to_string());
    assert_eq!(cells[&key("110000", "110105")], (Some(6), false));
    assert_eq!(cells[&key("440000", "440106")], (Some(7), false));
    // One gig market in 440104: withheld by Guangdong itself (the nine online stations there
    // are filtered out, not added).
    assert_eq!(cells[&key("440000", "440104")], (None, true));
    assert_eq!(cells.len(), 3, "{cells:?}");
}
