//! `pesgw serve` with a `[federation]` section, as an operator runs it: a national gateway and two
//! provincial ones, each its own process with its HTTP API and its mTLS listener on 127.0.0.1.
//! `POST /v1/query` with `regions` fans out and merges; the supply-and-demand report works across
//! regions; `POST /v1/admin/reload` is for admins and refuses a lower trust-list version.

mod fed;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fed::{free_listener, Pki};
use pes_gateway::auth::{claims_for, issue, Role};
use pes_gateway::config::{GatewayConfig, SourceConfig};
use pes_gateway::federation::node::FederationConfig;
use pes_gateway::federation::trust::{sign_trust_list, TrustList};
use pes_gateway::signed_note;
use ring::signature::KeyPair as _;
use serde_json::{json, Value};

const SOURCE: &str = "native-test";

struct Gw {
    region: String,
    api: String,
    config: std::path::PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gw {
    fn token(&self, role: Role, sub: &str, purposes: &[&str]) -> String {
        let cfg = GatewayConfig::load(&self.config).unwrap();
        let der = std::fs::read(&cfg.keys.jwt_issuer_key).unwrap();
        let kid = pes_gateway::keys::key_id(
            pes_gateway::keys::load_ed25519(&cfg.keys.jwt_issuer_key)
                .unwrap()
                .public_key()
                .as_ref(),
        );
        let sources = if role == Role::Pusher {
            vec![SOURCE.to_string()]
        } else {
            vec![]
        };
        let purposes = purposes.iter().map(|p| p.to_string()).collect();
        issue(
            &der,
            &kid,
            &claims_for(sub, role, &self.region, sources, purposes, 600),
        )
        .unwrap()
    }
}

fn port() -> u16 {
    free_listener().local_addr().unwrap().port()
}

/// The test PKI's trust list with policies that allow the report's datasets and purposes.
pub fn policy_trust(pki: &Pki, regions: &[&str], version: u64, fed_ports: &[u16]) -> TrustList {
    let mut trust = pki.trust_list(regions, version);
    for (m, p) in trust.members.iter_mut().zip(fed_ports) {
        m.url = format!("https://127.0.0.1:{p}");
    }
    for p in &mut trust.policies {
        p.datasets = vec![
            "vacancy".into(),
            "person".into(),
            "job_seeker_registration".into(),
        ];
        p.purposes = vec!["statistics".into()];
    }
    trust
}

/// Writes a gateway's config with a `[federation]` section and starts `pesgw serve` on it.
pub fn start_gateway(
    region: &str,
    pki_dir: &Path,
    trust_path: &Path,
    root_key: &str,
    fed_port: u16,
) -> (tempfile::TempDir, std::path::PathBuf, String, Child) {
    let dir = tempfile::tempdir().unwrap();
    let api_port = port();
    let out =
        pes_gateway::keys::init(dir.path(), region, &format!("127.0.0.1:{api_port}")).unwrap();
    let mut cfg = GatewayConfig::load(&out.config_path).unwrap();
    cfg.sources.insert(
        SOURCE.into(),
        SourceConfig {
            mapping: "native".into(),
            pushers: vec![],
        },
    );
    cfg.federation = Some(FederationConfig {
        listen: format!("127.0.0.1:{fed_port}"),
        pki_dir: pki_dir.to_owned(),
        trust_list: trust_path.to_owned(),
        root_key: root_key.to_owned(),
        deadline_ms: 2000,
        reload_secs: 3600,
        state_dir: None,
        witness_key: None,
    });
    std::fs::write(&out.config_path, cfg.to_toml().unwrap()).unwrap();
    // The section survives a round trip through the file.
    let reread = GatewayConfig::load(&out.config_path).unwrap();
    assert_eq!(
        reread.federation.as_ref().unwrap().listen,
        format!("127.0.0.1:{fed_port}")
    );
    let child = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["serve", "--config"])
        .arg(&out.config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    (
        dir,
        out.config_path,
        format!("http://127.0.0.1:{api_port}"),
        child,
    )
}

async fn wait_ready(http: &reqwest::Client, api: &str) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{api}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{api} never became healthy");
}

async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn serve_with_federation_section_fans_out_reports_and_reloads() {
    let regions = ["100000", "110000", "440000"];
    let pki = Pki::new(&regions);
    let fed_ports: Vec<u16> = regions.iter().map(|_| port()).collect();
    let root =
        signed_note::SigningKey::generate("pes-federation-root", signed_note::KeyType::Ed25519)
            .unwrap();
    let trust_path = pki.path().join("federation.json");
    let trust = policy_trust(&pki, &regions, 2, &fed_ports);
    std::fs::write(&trust_path, sign_trust_list(&trust, &root).unwrap()).unwrap();
    let root_key = root.verifier().to_string();

    let mut gws = Vec::new();
    for (region, fed_port) in regions.iter().zip(&fed_ports) {
        let (dir, config, api, child) =
            start_gateway(region, pki.path(), &trust_path, &root_key, *fed_port);
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
    for (i, gw) in gws.iter().enumerate().skip(1) {
        let body =
            pes_gateway::native_sample::ndjson(0..(300 + 150 * i as u64), &gw.region, SOURCE, 1);
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

    // Regional truths, each asked locally (no `regions`).
    let q = json!({ "dataset": "person", "measures": ["count"], "purpose": "statistics" });
    let mut truth = 0;
    for gw in &gws[1..] {
        let (s, a) = post(
            &http,
            &format!("{}/v1/query", gw.api),
            &gw.token(Role::Analyst, "analyst", &[]),
            &q,
        )
        .await;
        assert_eq!(s, 200, "{a}");
        assert_eq!(a["region"], gw.region.as_str());
        assert!(
            a.get("regions").is_none(),
            "a local answer is not fanned out"
        );
        truth += a["cells"][0]["count"].as_i64().unwrap();
    }
    assert!(truth > 0);

    let national = &gws[0];
    let analyst = national.token(Role::Analyst, "analyst-nat", &[]);
    let mut fq = q.clone();
    fq["regions"] = json!(["all"]);
    let (s, a) = post(&http, &format!("{}/v1/query", national.api), &analyst, &fq).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["complete"], true, "{a}");
    assert_eq!(a["cells"][0]["count"].as_i64(), Some(truth));
    let statuses: Vec<(&str, &str)> = a["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["region"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![("100000", "ok"), ("110000", "ok"), ("440000", "ok")]
    );
    for r in &a["regions"].as_array().unwrap()[1..] {
        assert!(r["latency_ms"].is_number());
        assert!(r["receipt"]["index"].is_u64(), "{r}");
    }
    assert!(a["receipt"]["index"].is_u64());

    // An explicit list asks only those regions.
    fq["regions"] = json!(["440000"]);
    let (s, only) = post(&http, &format!("{}/v1/query", national.api), &analyst, &fq).await;
    assert_eq!(s, 200, "{only}");
    assert_eq!(only["regions"].as_array().unwrap().len(), 1);

    // A purpose the regions' policies do not allow: each region refuses, the answer says so.
    let mut denied = fq.clone();
    denied["regions"] = json!(["110000"]);
    denied["purpose"] = json!("marketing");
    let (s, d) = post(
        &http,
        &format!("{}/v1/query", national.api),
        &analyst,
        &denied,
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["complete"], false);
    assert_ne!(d["regions"][0]["status"], "ok");

    // Supply and demand across regions: rows of both provinces, with per-region status.
    let r = http
        .get(format!(
            "{}/v1/reports/supply-demand?regions=all",
            national.api
        ))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let sd: Value = r.json().await.unwrap();
    let row_regions: std::collections::BTreeSet<&str> = sd["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert!(
        row_regions.contains("110000") && row_regions.contains("440000"),
        "{sd}"
    );
    assert_eq!(sd["regions"].as_array().unwrap().len(), 3);
    // The national total of active seekers equals the sum of the provinces' own reports
    // (suppressed cells excluded on both sides).
    let seekers = |v: &Value, region: Option<&str>| -> i64 {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| region.is_none_or(|g| r["region"] == g))
            .filter_map(|r| r["active_seekers"].as_i64())
            .sum()
    };
    for gw in &gws[1..] {
        let local: Value = http
            .get(format!("{}/v1/reports/supply-demand", gw.api))
            .bearer_auth(gw.token(Role::Analyst, "a", &[]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seekers(&sd, Some(&gw.region)), seekers(&local, None));
    }

    // Reload: admins only; the same list is unchanged; a lower version is refused (409) and
    // the last good list stays in force.
    let reload = format!("{}/v1/admin/reload", national.api);
    let (s, _) = post(&http, &reload, &analyst, &json!({})).await;
    assert_eq!(s, 403);
    let admin = national.token(Role::Admin, "admin", &[]);
    let (s, r) = post(&http, &reload, &admin, &json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["trust_list_version"], 2);
    assert_eq!(r["changed"], false);
    let lower = policy_trust(&pki, &regions, 1, &fed_ports);
    std::fs::write(&trust_path, sign_trust_list(&lower, &root).unwrap()).unwrap();
    let (s, r) = post(&http, &reload, &admin, &json!({})).await;
    assert_eq!(s, 409, "{r}");
    fq["regions"] = json!(["all"]);
    let (s, a) = post(&http, &format!("{}/v1/query", national.api), &analyst, &fq).await;
    assert_eq!(s, 200);
    assert_eq!(a["cells"][0]["count"].as_i64(), Some(truth));
    let higher = policy_trust(&pki, &regions, 3, &fed_ports);
    std::fs::write(&trust_path, sign_trust_list(&higher, &root).unwrap()).unwrap();
    let (s, r) = post(&http, &reload, &admin, &json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["trust_list_version"], 3);
    assert_eq!(r["changed"], true);
}

#[actix_web::test]
async fn regions_without_a_federation_section_is_a_clear_400() {
    let dir = tempfile::tempdir().unwrap();
    let api_port = port();
    let out =
        pes_gateway::keys::init(dir.path(), "440000", &format!("127.0.0.1:{api_port}")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["serve", "--config"])
        .arg(&out.config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let gw = Gw {
        region: "440000".into(),
        api: format!("http://127.0.0.1:{api_port}"),
        config: out.config_path.clone(),
        child: Command::new("true").spawn().unwrap(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let http = reqwest::Client::new();
    wait_ready(&http, &gw.api).await;
    let (s, p) = post(
        &http,
        &format!("{}/v1/query", gw.api),
        &gw.token(Role::Analyst, "a", &[]),
        &json!({ "dataset": "person", "measures": ["count"], "regions": ["all"] }),
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(s, 400, "{p}");
    assert!(p["type"]
        .as_str()
        .unwrap()
        .ends_with("federation-not-configured"));
}

#[actix_web::test]
async fn restart_with_an_older_trust_list_is_refused_naming_both_versions() {
    let regions = ["100000", "440000"];
    let pki = Pki::new(&regions);
    let fed_ports: Vec<u16> = regions.iter().map(|_| port()).collect();
    let root =
        signed_note::SigningKey::generate("pes-federation-root", signed_note::KeyType::Ed25519)
            .unwrap();
    let trust_path = pki.path().join("federation.json");
    let v3 = policy_trust(&pki, &regions, 3, &fed_ports);
    std::fs::write(&trust_path, sign_trust_list(&v3, &root).unwrap()).unwrap();
    let root_key = root.verifier().to_string();
    let (_dir, config, api, mut child) =
        start_gateway("440000", pki.path(), &trust_path, &root_key, fed_ports[1]);
    let http = reqwest::Client::new();
    wait_ready(&http, &api).await;
    let _ = child.kill();
    let _ = child.wait();

    // The operator (or an attacker with write access to the file) puts version 2 back.
    let v2 = policy_trust(&pki, &regions, 2, &fed_ports);
    std::fs::write(&trust_path, sign_trust_list(&v2, &root).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("trust list version 2") && err.contains("older than version 3"),
        "{err}"
    );

    // Version 3 again (or newer) starts fine: the state did not move backwards.
    std::fs::write(&trust_path, sign_trust_list(&v3, &root).unwrap()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&http, &api).await;
    let _ = child.kill();
    let _ = child.wait();
}
