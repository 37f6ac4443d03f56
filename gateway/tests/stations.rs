//! Service stations (schema 1.1) end to end: stations and the service events given at them are
//! pushed to a running gateway and counted by `county`, `station_kind`, `outcome` and `status`,
//! from the rollups and by scan; a dimension outside its dataset is refused.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pes_gateway::native_sample::record;
use pes_schemas::{
    RecordBody, ServiceEvent, ServiceKind, ServiceOutcome, ServiceStation, StationKind,
    StationStatus,
};
use pes_testkit::{pesgw, TestGateway, REGION, SOURCE};
use serde_json::{json, Value};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A record of the test source numbered `i` with `body`.
fn line(i: u64, body: RecordBody) -> String {
    let mut r = record(i, REGION, SOURCE, 1);
    r.body = body;
    serde_json::to_string(&r).unwrap()
}

/// Stations: (id, kind, county, status).
const STATIONS: [(&str, StationKind, &str, StationStatus); 4] = [
    (
        "gz-th-lg-01",
        StationKind::GigMarket,
        "440106",
        StationStatus::Operating,
    ),
    (
        "gz-th-jd-02",
        StationKind::StreetTownWindow,
        "440106",
        StationStatus::Operating,
    ),
    (
        "gz-yx-lg-03",
        StationKind::GigMarket,
        "440104",
        StationStatus::Suspended,
    ),
    (
        "dg-yq-04",
        StationKind::IndustrialClusterStation,
        "441900",
        StationStatus::Operating,
    ),
];

fn export() -> Vec<u8> {
    let mut lines = Vec::new();
    for (n, (id, kind, county, status)) in STATIONS.iter().enumerate() {
        lines.push(line(
            n as u64,
            RecordBody::ServiceStation(ServiceStation {
                station_id: id.to_string(),
                name: format!("服务站{n}"),
                kind: *kind,
                division: county.to_string(),
                township: None,
                opened_on: date(2023, 1 + n as u32, 1),
                status: *status,
                services: vec![ServiceKind::Referral, ServiceKind::GigMatch],
            }),
        ));
    }
    // Events: (station index, outcome, with station_kind); the last is a 1.0-style event
    // without the station's kind.
    let events = [
        (0, ServiceOutcome::Placed, true),
        (0, ServiceOutcome::Placed, true),
        (0, ServiceOutcome::Completed, true),
        (1, ServiceOutcome::Pending, true),
        (2, ServiceOutcome::Placed, true),
        (3, ServiceOutcome::NoResult, false),
    ];
    for (j, (s, outcome, with_kind)) in events.into_iter().enumerate() {
        let (id, kind, county, _) = STATIONS[s];
        lines.push(line(
            100 + j as u64,
            RecordBody::ServiceEvent(ServiceEvent {
                person_key: None,
                station_id: id.to_string(),
                division: county.to_string(),
                service: ServiceKind::GigMatch,
                date: date(2024, 3, 1 + j as u32),
                outcome,
                station_kind: with_kind.then_some(kind),
            }),
        ));
    }
    (lines.join("\n") + "\n").into_bytes()
}

/// The answer's cells as group (the values of `dims`, joined by `/`) to count.
fn counts(answer: &Value, dims: &[&str]) -> BTreeMap<String, i64> {
    answer["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let g: Vec<&str> = dims
                .iter()
                .map(|d| c["group"][*d].as_str().unwrap())
                .collect();
            (g.join("/"), c["count"].as_i64().unwrap())
        })
        .collect()
}

fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn stations_and_events_are_counted_by_county_station_kind_and_outcome() {
    let g = TestGateway::builder(pesgw!()).k(1).start();
    let v = g.push(export(), true);
    assert_eq!(v["accepted"], 10, "{v}");

    // Stations by county and kind (a rollup cube holds both).
    let a = g.query(json!({
        "dataset": "service_station",
        "group_by": ["county", "station_kind"],
    }));
    assert_eq!(
        counts(&a, &["county", "station_kind"]),
        map(&[
            ("440104/gig_market", 1),
            ("440106/gig_market", 1),
            ("440106/street_town_window", 1),
            ("441900/industrial_cluster_station", 1),
        ])
    );
    // Operating gig markets per county, with the opening month range.
    let a = g.query(json!({
        "dataset": "service_station",
        "group_by": ["county"],
        "filters": { "station_kind": ["gig_market"], "status": ["operating"] },
    }));
    assert_eq!(counts(&a, &["county"]), map(&[("440106", 1)]));
    let a = g.query(json!({
        "dataset": "service_station",
        "group_by": ["prefecture", "month"],
        "filters": { "county": ["440106", "441900"] },
        "date_from": "2023-02",
    }));
    assert_eq!(
        counts(&a, &["prefecture", "month"]),
        map(&[("440100/2023-02", 1), ("441900/2023-04", 1)])
    );

    // Service events by outcome, and by station kind within an outcome.
    let a = g.query(json!({ "dataset": "service_event", "group_by": ["outcome"] }));
    assert_eq!(
        counts(&a, &["outcome"]),
        map(&[
            ("completed", 1),
            ("no_result", 1),
            ("pending", 1),
            ("placed", 3)
        ])
    );
    let a = g.query(json!({
        "dataset": "service_event",
        "group_by": ["station_kind", "county"],
        "filters": { "outcome": ["placed", "no_result"] },
    }));
    assert_eq!(
        counts(&a, &["station_kind", "county"]),
        map(&[
            ("gig_market/440104", 1),
            ("gig_market/440106", 2),
            // An event without its station's kind counts as `none`.
            ("none/441900", 1),
        ])
    );
    // Four dimensions fit no cube: the scan gives the same kind of answer.
    let a = g.query(json!({
        "dataset": "service_event",
        "group_by": ["county", "station_kind", "outcome", "month"],
        "filters": { "station_kind": ["gig_market"] },
    }));
    assert_eq!(
        counts(&a, &["county", "station_kind", "outcome", "month"]),
        map(&[
            ("440104/gig_market/placed/2024-03", 1),
            ("440106/gig_market/completed/2024-03", 1),
            ("440106/gig_market/placed/2024-03", 2),
        ])
    );

    // Dimensions outside a dataset are refused.
    for (dataset, dim) in [
        ("service_station", "outcome"),
        ("vacancy", "station_kind"),
        ("training_record", "county"),
    ] {
        let r = g
            .http()
            .post(format!("{}/v1/query", g.base))
            .bearer_auth(g.token(pes_gateway::auth::Role::Analyst, &[], &[]))
            .json(&json!({ "dataset": dataset, "group_by": [dim] }))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{dataset} by {dim}");
    }
}
