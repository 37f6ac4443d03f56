//! `pesgw demo` as a user runs it: it brings up a national and provincial gateways with data,
//! serves the dashboard and its demo tokens, answers queries with those tokens, stops cleanly on
//! Ctrl-C, and a second run over the same directory reuses it instead of pushing again.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo and returns it with its stdout lines up to "Ready".
fn start(dir: &Path, port: u16) -> (Demo, Vec<String>, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["demo", "--regions", "2", "--records", "900", "--port"])
        .arg(port.to_string())
        .arg("--dir")
        .arg(dir)
        .arg("--mappings")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/mappings"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("pesgw demo starts");
    let out = child.stdout.take().unwrap();
    let demo = Demo(child);
    // Keep reading stdout on a thread until the demo exits, so its last lines never hit a
    // closed pipe; lines come back over a channel.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv() {
        let ready = line.starts_with("Ready in");
        lines.push(line);
        if ready {
            return (demo, lines, rx);
        }
    }
    panic!("demo exited before it was ready: {lines:#?}");
}

/// Sends `signal` (`-INT` as Ctrl-C does, or `-TERM`) and waits for the demo to exit.
fn interrupt(demo: &mut Demo, signal: &str) -> std::process::ExitStatus {
    let pid = demo.0.id().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = demo.0.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "demo did not stop on {signal}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_serves_dashboard_tokens_and_data_stops_on_ctrl_c_and_reuses_its_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    // Three HTTP APIs, then three federation listeners.
    let port = pes_testkit::free_port_run(6);
    let (mut demo, lines, console) = start(&dir, port);
    let text = lines.join("\n");
    assert!(text.contains(&format!("Dashboard (national)   http://127.0.0.1:{port}/")));
    assert!(text.contains("#/audit"));
    assert!(
        text.contains("gd-hrss-csv"),
        "Guangdong pushes through its mapping: {text}"
    );

    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo.json")).unwrap()).unwrap();
    let gateways = info["gateways"].as_array().unwrap();
    assert_eq!(gateways.len(), 3);
    let gd = gateways
        .iter()
        .find(|g| g["region"] == "440000")
        .expect("Guangdong gateway");
    let gd_url = gd["url"].as_str().unwrap().to_string();

    let client = reqwest::blocking::Client::new();
    // The dashboard and its role picker's tokens, for this gateway's region only.
    let shell = client.get(format!("{gd_url}/")).send().unwrap();
    assert_eq!(shell.status(), 200);
    assert!(shell.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let tokens: serde_json::Value = client
        .get(format!("{gd_url}/ui/demo/tokens.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let tokens = tokens["tokens"].as_array().unwrap();
    assert!(tokens.iter().all(|t| t["region"] == "440000"));
    let analyst = tokens.iter().find(|t| t["role"] == "analyst").unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    // The data is there and the analyst token reads it.
    let q: serde_json::Value = client
        .post(format!("{gd_url}/v1/query"))
        .bearer_auth(&analyst)
        .json(&serde_json::json!({"dataset": "job_seeker_registration", "group_by": ["province"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let seekers = q["cells"][0]["count"].as_i64().expect("a seeker count");
    assert!(seekers > 0, "{q}");

    // The national gateway's fan-out (mTLS, signed, per the signed trust list) totals exactly
    // what each province answers for itself.
    let token_of = |region: &str, role: &str| {
        info["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["region"] == region && t["role"] == role)
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut provinces_total = 0;
    let mut provinces = Vec::new();
    for g in gateways.iter().filter(|g| g["role"] == "provincial") {
        let region = g["region"].as_str().unwrap();
        let local: serde_json::Value = client
            .post(format!("{}/v1/query", g["url"].as_str().unwrap()))
            .bearer_auth(token_of(region, "analyst"))
            .json(&serde_json::json!({"dataset": "job_seeker_registration", "measures": ["count"]}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        provinces_total += local["cells"][0]["count"]
            .as_i64()
            .unwrap_or_else(|| panic!("a count from {region}: {local}"));
        provinces.push(region.to_string());
    }
    let national_url = info["national"]["url"].as_str().unwrap();
    // The national seeker count across the provinces, as the dashboard asks it.
    let national_seekers = || -> serde_json::Value {
        client
            .post(format!("{national_url}/v1/query"))
            .bearer_auth(token_of("100000", "analyst"))
            .json(&serde_json::json!({
                "dataset": "job_seeker_registration", "measures": ["count"],
                "regions": provinces, "purpose": "dashboard_overview",
            }))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let fed = national_seekers();
    assert_eq!(fed["complete"], true, "{fed}");
    assert_eq!(fed["regions"].as_array().unwrap().len(), 2, "{fed}");
    assert!(fed["regions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "ok" && r["receipt"]["index"].is_u64()));
    assert_eq!(
        fed["cells"][0]["count"].as_i64(),
        Some(provinces_total),
        "{fed}"
    );
    // The sample person the demo prints is found in every province by the caseworker page's
    // route, by ID number, and the ID number appears in no answer.
    let sample = &info["sample_person"];
    let id = sample["id_number"].as_str().unwrap();
    assert!(text.contains(id), "the demo prints the sample ID number");
    let lookup: serde_json::Value = client
        .post(format!("{national_url}/v1/persons/lookup"))
        .bearer_auth(token_of("100000", "caseworker"))
        .json(&serde_json::json!({
            "id_number": id, "purpose": "case_management", "legal_basis": "demo",
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(lookup["person_key"], sample["person_key"], "{lookup}");
    for region in &provinces {
        let r = lookup["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region"] == region.as_str())
            .unwrap();
        assert_eq!(r["found"], true, "{lookup}");
    }
    assert!(!lookup.to_string().contains(id));
    // The dashboard's occupations page: supply and demand across the provinces.
    let sd: serde_json::Value = client
        .get(format!(
            "{national_url}/v1/reports/supply-demand?regions={}&purpose=dashboard_overview",
            provinces.join(",")
        ))
        .bearer_auth(token_of("100000", "analyst"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        sd["regions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "ok"),
        "{sd}"
    );
    assert!(!sd["rows"].as_array().unwrap().is_empty(), "{sd}");

    // Each gateway is its own process, listed with its pid and config.
    let pids: Vec<u32> = gateways
        .iter()
        .map(|g| g["pid"].as_u64().expect("a pid") as u32)
        .collect();
    assert!(!pids.contains(&demo.0.id()));
    for g in gateways {
        assert!(Path::new(g["config"].as_str().unwrap()).exists(), "{g}");
        let pid = g["pid"].as_u64().unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "{g}");
    }
    // Stopping one province is an outage the demo reports, and the national answer says so.
    let gd_pid = gd["pid"].as_u64().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &gd_pid])
        .status()
        .unwrap()
        .success());
    let reported = console
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo reports the exit");
    assert!(
        reported.contains("440000") && reported.contains(&gd_pid),
        "{reported}"
    );
    let partial = national_seekers();
    assert_eq!(partial["complete"], false, "{partial}");
    let gd_status = partial["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "440000")
        .expect("Guangdong is named");
    assert_ne!(gd_status["status"], "ok", "{partial}");

    assert!(
        interrupt(&mut demo, "-INT").success(),
        "Ctrl-C is a clean stop"
    );
    drop(demo);
    // No gateway outlives the demo.
    for pid in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} still runs"
        );
    }

    // Second run: same keys and data, nothing pushed again.
    let (mut again, lines, _) = start(&dir, port);
    let text = lines.join("\n");
    assert!(text.contains("2 provinces reused"), "{text}");
    let q2: serde_json::Value = client
        .post(format!("{gd_url}/v1/query"))
        .bearer_auth(&analyst)
        .json(&serde_json::json!({"dataset": "job_seeker_registration", "group_by": ["province"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(q2["cells"][0]["count"].as_i64(), Some(seekers));
    assert!(
        interrupt(&mut again, "-TERM").success(),
        "SIGTERM is a clean stop"
    );
}
