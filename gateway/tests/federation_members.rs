//! Outages made visible: a national gateway and two provinces, each its own `pesgw serve`
//! process. `GET /v1/federation/members` lists the signed trust list's members with what the
//! national gateway knows of them; one province's process is stopped, and the federated answer
//! names it (status, cause, since when), the members endpoint and `/metrics` mark it down, and
//! `pesgw query --regions all` prints it as missing.

use std::process::{Command, Stdio};

use pes_gateway::auth::Role;
use pes_testkit::{pesgw, post, TestFederation, TestGateway, REGION, SOURCE};
use serde_json::{json, Value};

async fn members(http: &reqwest::Client, gw: &TestGateway, token: &str) -> (u16, Value) {
    let r = http
        .get(format!("{}/v1/federation/members", gw.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn member<'a>(v: &'a Value, region: &str) -> &'a Value {
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["region"] == region)
        .unwrap_or_else(|| panic!("{region} not listed: {v}"))
}

#[actix_web::test]
async fn members_and_a_stopped_province_are_named_with_status_and_time() {
    let regions = ["100000", "110000", "440000"];
    let federation = TestFederation::new(&regions, 4);
    let mut gws = federation.start_all(pesgw!()).await;
    let http = reqwest::Client::new();
    for gw in &gws[1..] {
        let body = pes_gateway::native_sample::ndjson(0..300, &gw.region, SOURCE, 1);
        gw.push_async(&http, body).await;
    }
    let national = &gws[0];
    let analyst = national.token_as(Role::Analyst, "analyst-nat", &[], &[]);

    // The endpoint needs a token of this region; any role reads it.
    let (s, _) = members(&http, national, "not-a-token").await;
    assert_eq!(s, 401);
    let (s, _) = members(
        &http,
        national,
        &gws[1].token_as(Role::Analyst, "x", &[], &[]),
    )
    .await;
    assert_eq!(s, 401, "a token of another region's issuer");
    let pusher = national.token_as(Role::Pusher, "pusher-nat", &[SOURCE], &[]);
    let (s, before) = members(&http, national, &pusher).await;
    assert_eq!(s, 200, "{before}");
    assert_eq!(before["region"], "100000");
    assert_eq!(before["trust_list_version"], 4);
    let listed: Vec<&str> = before["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["region"].as_str().unwrap())
        .collect();
    assert_eq!(listed, regions);
    let me = member(&before, "100000");
    assert_eq!(me["this_gateway"], true);
    assert_eq!(me["reachable"], "yes");
    assert_eq!(me["name"], "region 100000");
    // Nobody was called yet.
    assert_eq!(member(&before, "440000")["reachable"], "unknown");
    assert_eq!(member(&before, "440000")["this_gateway"], false);

    // Everyone answers: complete, and each province states the time of its data.
    let q = json!({ "dataset": "person", "measures": ["count"], "purpose": "statistics",
                    "regions": ["all"] });
    let query_url = format!("{}/v1/query", national.base);
    let (s, a) = post(&http, &query_url, &analyst, &q).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["complete"], true, "{a}");
    for r in &a["regions"].as_array().unwrap()[1..] {
        assert_eq!(r["status"], "ok", "{r}");
        assert!(
            r["as_of"].is_string(),
            "a province with data states its as_of: {r}"
        );
        assert!(r.get("unreachable_since").is_none(), "{r}");
    }
    let (_, up) = members(&http, national, &analyst).await;
    for region in ["110000", "440000"] {
        let m = member(&up, region);
        assert_eq!(m["reachable"], "yes", "{m}");
        assert!(m["last_answer"].is_string(), "{m}");
        assert!(m["latency_ms"].is_number(), "{m}");
        assert!(m["unreachable_since"].is_null(), "{m}");
        assert_eq!(
            m["as_of"],
            a["regions"][regions.iter().position(|r| *r == region).unwrap()]["as_of"]
        );
    }
    let text = national.metrics_async(&http).await;
    assert!(text.contains("pes_peer_up{region=\"440000\"} 1"), "{text}");
    assert!(text.contains("pes_peer_latency_seconds{region=\"440000\"}"));

    // 440000's process stops: the answer is partial and names it, with the cause and since when.
    let gd = &mut gws[2];
    gd.kill();
    let national = &gws[0];
    let (s, partial) = post(&http, &query_url, &analyst, &q).await;
    assert_eq!(s, 200, "{partial}");
    assert_eq!(partial["complete"], false);
    let missing = &partial["regions"][2];
    assert_eq!(missing["region"], "440000");
    assert_eq!(missing["status"], "unreachable", "{missing}");
    assert!(missing["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let since = missing["unreachable_since"].as_str().unwrap().to_owned();
    assert!(missing.get("as_of").is_none(), "{missing}");
    // The province still up answered as before.
    assert_eq!(partial["regions"][1]["status"], "ok");
    assert!(partial["regions"][1]["as_of"].is_string());

    // Asked again, it is still missing since the first failure.
    let (_, again) = post(&http, &query_url, &analyst, &q).await;
    assert_eq!(again["regions"][2]["unreachable_since"], since.as_str());

    let (_, down) = members(&http, national, &analyst).await;
    let m = member(&down, "440000");
    assert_eq!(m["reachable"], "no", "{m}");
    assert_eq!(m["unreachable_since"], since.as_str());
    assert_eq!(m["last_failure"]["status"], "unreachable");
    assert!(m["last_answer"].is_string(), "its last answer is kept: {m}");
    assert!(m["as_of"].is_string(), "its last stated as_of is kept: {m}");
    assert_eq!(member(&down, "110000")["reachable"], "yes");
    let text = national.metrics_async(&http).await;
    assert!(text.contains("pes_peer_up{region=\"440000\"} 0"), "{text}");
    assert!(text.contains("pes_peer_up{region=\"110000\"} 1"), "{text}");

    // A person lookup names the missing region the same way.
    let caseworker = national.token_as(Role::Caseworker, "cw-nat", &[], &["statistics"]);
    let lookup = json!({ "id_number": "11010519491231002X", "purpose": "statistics",
                         "legal_basis": "test", "regions": ["all"] });
    let (s, p) = post(
        &http,
        &format!("{}/v1/persons/lookup", national.base),
        &caseworker,
        &lookup,
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["complete"], false, "{p}");
    let gone = p["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "440000")
        .unwrap();
    assert_eq!(gone["status"], "unreachable", "{gone}");
    assert_eq!(gone["unreachable_since"], since.as_str());

    // `pesgw query --regions all --purpose` answers federally and names the missing region.
    let out = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["query", "--url", &national.base, "--dataset", "person"])
        .args(["--regions", "all", "--purpose", "statistics"])
        .env("PES_TOKEN", &analyst)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    // Exit code 4: partial totals are not taken for whole ones by a scheduled job.
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("from 2 of 3 regions"), "{stdout}");
    assert!(
        stdout.contains(&format!("missing: 440000 unreachable since {since}")),
        "{stdout}"
    );
    assert!(stdout.contains("PARTIAL"), "{stdout}");
}

#[test]
fn a_gateway_without_federation_lists_itself_and_audits_the_read() {
    let gw = TestGateway::start(pesgw!());
    let read = |token: &str| {
        let r = gw
            .http()
            .get(format!("{}/v1/federation/members", gw.base))
            .bearer_auth(token)
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let (s, v) = read(&gw.token(Role::Caseworker, &[], &["statistics"]));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["region"], REGION);
    assert_eq!(v["trust_list_version"], Value::Null);
    let all = v["members"].as_array().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["region"], REGION);
    assert_eq!(all[0]["this_gateway"], true);
    assert_eq!(all[0]["reachable"], "yes");
    // No data pushed yet: no time to state.
    assert_eq!(all[0]["as_of"], Value::Null);

    // After a push the gateway states the time of its data.
    gw.push(
        pes_gateway::native_sample::ndjson(0..20, REGION, SOURCE, 1),
        true,
    );
    let (_, v) = read(&gw.token(Role::Analyst, &[], &[]));
    assert!(v["members"][0]["as_of"].is_string(), "{v}");

    // Each read is audited with the caller.
    let reads = gw.audit_entries(2, |e| e["counts"]["members"] == 1);
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[0]["actor"]["role"], "caseworker");
    assert_eq!(reads[1]["actor"]["role"], "analyst");

    // Without a token: refused.
    let (s, _) = read("");
    assert_eq!(s, 401);
}
