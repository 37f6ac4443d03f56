//! The supply-and-demand report across regions says whether it is whole: `complete` is true
//! while every province answers, and false once one province's process is stopped, with that
//! province named in `regions` (status, cause, since when) and its rows left out. The dashboard
//! marks the report's totals as partial from it.

mod fed;

use fed::{policy_trust, port, start_gateway, wait_ready, Gw, Pki, SOURCE};
use pes_gateway::auth::Role;
use pes_gateway::federation::trust::sign_trust_list;
use pes_gateway::signed_note;
use serde_json::Value;

async fn report(http: &reqwest::Client, gw: &Gw, token: &str, query: &str) -> Value {
    let r = http
        .get(format!("{}/v1/reports/supply-demand{query}", gw.api))
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
    let pki = Pki::new(&regions);
    let fed_ports: Vec<u16> = regions.iter().map(|_| port()).collect();
    let root =
        signed_note::SigningKey::generate("pes-federation-root", signed_note::KeyType::Ed25519)
            .unwrap();
    let trust_path = pki.path().join("federation.json");
    let trust = policy_trust(&pki, &regions, 1, &fed_ports);
    std::fs::write(&trust_path, sign_trust_list(&trust, &root).unwrap()).unwrap();
    let root_key = root.verifier().to_string();
    let mut gws = Vec::new();
    for (region, fed_port) in regions.iter().zip(&fed_ports) {
        let (dir, config, api, child) = start_gateway(
            region,
            pki.path(),
            &trust_path,
            &root_key,
            *fed_port,
            |_| {},
        );
        gws.push(Gw {
            region: region.to_string(),
            api,
            config,
            child,
            _dir: dir,
        });
    }
    let http = reqwest::Client::new();
    for gw in &gws {
        wait_ready(&http, &gw.api).await;
    }
    for gw in &gws[1..] {
        let body = pes_gateway::native_sample::ndjson(0..300, &gw.region, SOURCE, 1);
        let r = http
            .post(format!("{}/v1/ingest/{SOURCE}?wait=applied", gw.api))
            .bearer_auth(gw.token(Role::Pusher, "pusher", &[]))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    }
    let analyst = gws[0].token(Role::Analyst, "analyst-nat", &[]);
    let asked = "?regions=110000,440000";

    // This region alone: no federation fields at all (the answer is as before).
    let local = report(&http, &gws[1], &gws[1].token(Role::Analyst, "a", &[]), "").await;
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
    let gd = &mut gws[2];
    gd.child.kill().unwrap();
    gd.child.wait().unwrap();
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
