//! Every shipped provincial sample, pushed through its mapping into a real gateway of that
//! region, is counted back by query exactly as the adapter decodes it locally.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pes_adapters::{build_adapter, DecodeContext, Decoded, Mapping};
use pes_gateway::config::SourceConfig;
use pes_schemas::person_key::PersonKeyer;
use pes_schemas::RecordBody;
use pes_testkit::{pesgw, TestGateway};

fn adapters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters")
}

/// What the adapter makes of a sample, decoded locally.
struct LocalDecode {
    /// Distinct record ids per record type.
    ids: BTreeMap<String, usize>,
    /// Records decoded.
    records: usize,
    /// Row errors.
    errors: usize,
    /// Job-seeker registrations per key group of their person (the person decoded earlier in
    /// the same export), keyed by the key group's wire name.
    registrations_by_group: BTreeMap<String, i64>,
}

/// Decodes a sample locally, as the gateway's adapter does.
fn local_decode(mapping: &Mapping, body: &[u8], region: &str) -> LocalDecode {
    let adapter = build_adapter(mapping);
    let keyer = PersonKeyer::new(b"local");
    let ctx = DecodeContext {
        region,
        source: "prov",
        raw_sha256: &"0".repeat(64),
        ingested_at: "2026-01-01T00:00:00Z",
        keyer: &keyer,
    };
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut records, mut errors) = (0, 0);
    let mut groups_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut registrations_by_group = BTreeMap::new();
    adapter
        .decode(&mut &body[..], &ctx, &mut |d| {
            match d {
                Decoded::Record(r) => {
                    records += 1;
                    ids.entry(r.record_type().as_str().to_string())
                        .or_default()
                        .insert(r.record_id.clone());
                    let body = serde_json::to_value(&r.body).unwrap();
                    let person_key = body["person_key"].as_str().unwrap_or_default().to_string();
                    match r.body {
                        RecordBody::Person(p) => {
                            let names = p.key_groups.iter().map(|g| {
                                serde_json::to_value(g)
                                    .unwrap()
                                    .as_str()
                                    .unwrap()
                                    .to_string()
                            });
                            groups_of.insert(person_key, names.collect());
                        }
                        RecordBody::JobSeekerRegistration(_) => {
                            for g in groups_of.get(&person_key).into_iter().flatten() {
                                *registrations_by_group.entry(g.clone()).or_insert(0) += 1;
                            }
                        }
                        _ => {}
                    }
                }
                // The gateway quarantines a failed row as one entry.
                Decoded::RowError(_) | Decoded::FailedRow(_) => errors += 1,
            }
            Ok(())
        })
        .unwrap();
    LocalDecode {
        ids: ids.into_iter().map(|(t, s)| (t, s.len())).collect(),
        records,
        errors,
        registrations_by_group,
    }
}

#[test]
fn every_shipped_sample_is_counted_back_by_query() {
    let samples = [
        ("gd_440000_csv.toml", "gd_440000_persons.csv"),
        ("zj_330000_json.toml", "zj_330000_persons.json"),
        ("bj_110000_xml.toml", "bj_110000_export.xml"),
        ("sc_510000_fixed.toml", "sc_510000_legacy.txt"),
    ];
    let mut linked = 0;
    for (mapping_file, sample_file) in samples {
        let mapping_path = adapters_dir().join("mappings").join(mapping_file);
        let mapping = Mapping::from_path(&mapping_path).unwrap();
        let body = std::fs::read(adapters_dir().join("samples").join(sample_file)).unwrap();
        let LocalDecode {
            ids: want,
            records,
            errors,
            registrations_by_group,
        } = local_decode(&mapping, &body, &mapping.region);
        assert!(records > 0, "{sample_file} decodes to no records");
        let g = start_prov(&mapping.region, &mapping_path);
        let ct = build_adapter(&mapping).content_types()[0];
        let token = g.token(pes_gateway::auth::Role::Pusher, &["prov"], &[]);
        let (status, v, _) = g.push_raw("prov", &token, ct, body.clone(), true);
        assert_eq!(status, 200, "{sample_file}: {v}");
        assert_eq!(v["accepted"], records as u64, "{sample_file}");
        assert_eq!(v["quarantined"], errors as u64, "{sample_file}");
        for (dataset, n) in &want {
            assert_eq!(g.total(dataset) as usize, *n, "{sample_file}: {dataset}");
        }
        // Registrations are counted under their person's key groups.
        let v = g.query(serde_json::json!({
            "dataset": "job_seeker_registration",
            "group_by": ["key_group"],
        }));
        let got: BTreeMap<String, i64> = v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["group"]["key_group"] != "none")
            .map(|c| {
                let group = c["group"]["key_group"].as_str().unwrap().to_string();
                (group, c["count"].as_i64().unwrap())
            })
            .collect();
        assert_eq!(
            got, registrations_by_group,
            "{sample_file}: registrations by key group"
        );
        linked += registrations_by_group.values().sum::<i64>();
        // Pushing the same export again changes nothing.
        let (_, again, _) = g.push_raw("prov", &token, ct, body, true);
        assert_eq!(again["duplicate"], true);
        for (dataset, n) in &want {
            assert_eq!(
                g.total(dataset) as usize,
                *n,
                "{sample_file}: {dataset} after re-push"
            );
        }
    }
    assert!(
        linked > 0,
        "no sample links a registration to a person's key groups"
    );
}

/// The source's quarantine listing, as an admin.
fn quarantine_list(g: &TestGateway, admin: &str) -> serde_json::Value {
    g.http()
        .get(format!("{}/v1/quarantine?source=prov", g.base))
        .bearer_auth(admin)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Pushes `body` to the source `prov` as its pusher, waiting until it is applied; the answer of
/// a push that must be taken (200).
fn push_prov(g: &TestGateway, content_type: &str, body: Vec<u8>) -> serde_json::Value {
    let token = g.token(pes_gateway::auth::Role::Pusher, &["prov"], &[]);
    let (status, v, _) = g.push_raw("prov", &token, content_type, body, true);
    assert_eq!(status, 200, "{v}");
    v
}

/// The rows and the problems a push answer (`quarantined`, `problems`), a retry's answer (the
/// same) or a quarantine listing (`rows`, `problems`) counts.
fn rows_and_problems(v: &serde_json::Value) -> (u64, u64) {
    let rows = v.get("rows").unwrap_or(&v["quarantined"]);
    match (rows.as_u64(), v["problems"].as_u64()) {
        (Some(rows), Some(problems)) => (rows, problems),
        _ => panic!("no rows and problems in {v}"),
    }
}

/// Retries one quarantined row as an admin: the status and the answer.
fn retry_quarantined(g: &TestGateway, admin: &str, id: &str) -> (u16, serde_json::Value) {
    let r = g
        .http()
        .post(format!("{}/v1/quarantine/{id}/retry", g.base))
        .bearer_auth(admin)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

/// Copies the shipped mappings (and their code tables) into `dir`.
fn copy_mappings(dir: &Path) -> PathBuf {
    let to = dir.join("mappings");
    std::fs::create_dir_all(to.join("codes")).unwrap();
    for f in ["gd_440000_csv.toml", "codes/gd_occupation.csv"] {
        std::fs::copy(adapters_dir().join("mappings").join(f), to.join(f)).unwrap();
    }
    to
}

/// A Guangdong gateway whose source `prov` reads through the mapping at `mapping_path`.
fn start_gd(mapping_path: &Path) -> TestGateway {
    start_prov("440000", mapping_path)
}

/// A gateway of `region` whose source `prov` reads through the mapping at `mapping_path`.
fn start_prov(region: &str, mapping_path: &Path) -> TestGateway {
    TestGateway::start_in(pesgw!(), region, |c| {
        c.k = 1;
        c.sources.insert(
            "prov".into(),
            SourceConfig {
                mapping: mapping_path.to_string_lossy().into_owned(),
                pushers: vec![],
            },
        );
    })
}

/// The Guangdong sample's lines (header first), decoded.
fn gd_sample_lines() -> Vec<String> {
    let sample = std::fs::read(adapters_dir().join("samples/gd_440000_persons.csv")).unwrap();
    let (text, _, _) = encoding_rs::GB18030.decode(&sample);
    text.lines().map(str::to_string).collect()
}

/// An export of `lines` (header first) in GB18030, as Guangdong pushes it.
fn gd_export(lines: &[String]) -> Vec<u8> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    encoding_rs::GB18030.encode(&text).0.into_owned()
}

/// The first data row of the Guangdong sample with a local occupation code the table lacks
/// (`GD9999`): the row as text, and the export (header and row) in GB18030.
fn gd_row_with_unknown_code() -> (String, Vec<u8>) {
    let lines = gd_sample_lines();
    let row = lines[1].replace("GD0301;GD0302", "GD9999");
    let body = gd_export(&[lines[0].clone(), row.clone()]);
    (row, body)
}

/// A Guangdong export of two rows: the sample's second row (clean: a person and its
/// registration) and then its first row with an unknown occupation code (`GD9999`, failing the
/// registration) and a phone number of five digits (failing the person).
fn gd_clean_row_then_two_bad_records() -> Vec<u8> {
    let lines = gd_sample_lines();
    let bad = lines[1]
        .replace("GD0301;GD0302", "GD9999")
        .replace(",13800138000,", ",12345,");
    assert_ne!(bad, lines[1]);
    gd_export(&[lines[0].clone(), lines[2].clone(), bad])
}

/// Atomic rows (the default): a source row whose person (bad phone) and registration (unknown
/// occupation code) both fail is one quarantine entry with both problems, numbered by its
/// index among the export's rows; none of its records is stored; the push answer, the listing
/// and `/metrics` count one row and two problems.
#[test]
fn a_row_with_two_failed_records_is_one_quarantine_entry_with_both_problems() {
    let work = tempfile::tempdir().unwrap();
    let mappings = copy_mappings(work.path());
    let g = start_gd(&mappings.join("gd_440000_csv.toml"));
    let v = push_prov(&g, "text/csv", gd_clean_row_then_two_bad_records());
    assert_eq!(rows_and_problems(&v), (1, 2), "{v}");
    let fields: BTreeSet<&str> = v["row_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "person.protected.phone",
            "job_seeker_registration.desired_occupations"
        ]),
        "{v}"
    );
    // Only the clean row's person is stored.
    assert_eq!(g.total("person"), 1);
    let admin = g.token(pes_gateway::auth::Role::Admin, &[], &[]);
    let listed = quarantine_list(&g, &admin);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(rows_and_problems(&listed), (1, 2));
    let item = &items[0];
    // The second source row (index 1), though the clean row before it gave two records.
    assert_eq!(item["row"], 1, "{item}");
    assert!(item["id"].as_str().unwrap().ends_with("-1"), "{item}");
    let problems = item["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{item}");
    for p in problems {
        assert_eq!(p["row"], 1);
        assert_eq!(p["location"], "row:2");
    }
    assert_eq!(item["problem"], problems[0]);
    // Retried alone, the row fails again as one row with both problems; one entry remains.
    let id = item["id"].as_str().unwrap();
    let (status, r) = retry_quarantined(&g, &admin, id);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["resolved"], false, "{r}");
    assert_eq!(rows_and_problems(&r), (1, 2), "{r}");
    let listed = quarantine_list(&g, &admin);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["id"], id);
    let m = g.metrics();
    assert!(m.contains("\npes_quarantined_rows_total 1\n"), "{m}");
    assert!(
        m.contains("\npes_quarantined_row_problems_total 2\n"),
        "{m}"
    );
}

/// `atomic_rows = false` keeps the per-record behaviour: each failed record is an entry of its
/// own, and the row's good records are stored.
#[test]
fn without_atomic_rows_each_failed_record_is_an_entry_of_its_own() {
    let work = tempfile::tempdir().unwrap();
    let mappings = copy_mappings(work.path());
    let mapping_path = mappings.join("gd_440000_csv.toml");
    let text = std::fs::read_to_string(&mapping_path).unwrap();
    let loose = text.replace(
        "region = \"440000\"",
        "region = \"440000\"\natomic_rows = false",
    );
    assert_ne!(loose, text);
    std::fs::write(&mapping_path, loose).unwrap();
    let g = start_gd(&mapping_path);
    let v = push_prov(&g, "text/csv", gd_clean_row_then_two_bad_records());
    assert_eq!(rows_and_problems(&v), (2, 2), "{v}");
    let admin = g.token(pes_gateway::auth::Role::Admin, &[], &[]);
    let listed = quarantine_list(&g, &admin);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    for item in items {
        assert_eq!(item["problems"].as_array().unwrap().len(), 1, "{item}");
    }
    assert_eq!(rows_and_problems(&listed), (2, 2));

    // A row whose registration alone fails keeps its person.
    let v = push_prov(&g, "text/csv", gd_row_with_unknown_code().1);
    assert_eq!(
        (v["accepted"].as_u64(), v["quarantined"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(g.total("person"), 2);
}

/// A JSON item whose nested element fails is one quarantine entry, numbered by item, its
/// problem naming the nested element; none of the item's records is stored.
#[test]
fn a_json_item_with_a_failed_nested_element_is_quarantined_whole() {
    let mapping_path = adapters_dir().join("mappings/zj_330000_json.toml");
    let g = start_prov("330000", &mapping_path);
    let body = std::fs::read(adapters_dir().join("samples/zj_330000_persons.json")).unwrap();
    let v = push_prov(&g, "application/json", body);
    let admin = g.token(pes_gateway::auth::Role::Admin, &[], &[]);
    let listed = quarantine_list(&g, &admin);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(rows_and_problems(&listed), rows_and_problems(&v));
    let nested = items
        .iter()
        .find(|i| i["problems"][0]["location"] == "/1/employmentHistory/2")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(nested["row"], 1, "{nested}");
    assert!(nested["id"].as_str().unwrap().ends_with("-1"), "{nested}");
    // The item's person (ZJP-000002) is withheld with its failing event.
    let r = g
        .http()
        .get(format!("{}/v1/records/330000:prov:ZJP-000002", g.base))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn quarantined_row_is_retried_after_the_mapping_is_fixed() {
    let work = tempfile::tempdir().unwrap();
    let mappings = copy_mappings(work.path());
    let mut g = start_gd(&mappings.join("gd_440000_csv.toml"));
    let v = push_prov(&g, "text/csv", gd_row_with_unknown_code().1);
    // The row is atomic: its valid person is not stored while its registration fails.
    assert_eq!(v["accepted"], 0);
    assert_eq!(v["quarantined"], 1);
    assert_eq!(v["row_errors"][0]["code"], "unknown_local_code");
    let admin = g.token(pes_gateway::auth::Role::Admin, &[], &[]);
    let list = |g: &TestGateway| quarantine_list(g, &admin);
    let id = list(&g)["items"][0]["id"].as_str().unwrap().to_string();
    // Retrying before the fix changes nothing and keeps exactly one entry.
    let retry = |g: &TestGateway| retry_quarantined(g, &admin, &id).1;
    assert_eq!(retry(&g)["resolved"], false);
    assert_eq!(list(&g)["items"].as_array().unwrap().len(), 1);
    assert_eq!(g.total("person"), 0, "no half of the row is stored");
    // The operator adds the code to the table and restarts the gateway.
    let mut table = std::fs::read_to_string(mappings.join("codes/gd_occupation.csv")).unwrap();
    table.push_str("GD9999,2-02-10-03\n");
    std::fs::write(mappings.join("codes/gd_occupation.csv"), table).unwrap();
    g.kill();
    g.run();
    let r = retry(&g);
    assert_eq!(r["resolved"], true, "{r}");
    assert!(r["accepted"].as_u64().unwrap() >= 1);
    assert_eq!(list(&g)["items"].as_array().unwrap().len(), 0);
    assert_eq!(g.total("job_seeker_registration"), 1);
    assert_eq!(g.total("person"), 1);
}

/// `POST /v1/admin/reload`.
fn reload(g: &TestGateway, admin: &str) -> (u16, serde_json::Value) {
    let r = g
        .http()
        .post(format!("{}/v1/admin/reload", g.base))
        .bearer_auth(admin)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

/// A mapping fix needs no restart: `POST /v1/admin/reload` puts it in force (and a broken
/// mapping is refused while the one in force stays). The quarantine listing masks only the
/// protected cells, so the local code that needs fixing is readable there.
#[test]
fn a_mapping_fix_is_taken_by_reload_without_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let mappings = copy_mappings(work.path());
    let mapping_path = mappings.join("gd_440000_csv.toml");
    let g = start_gd(&mapping_path);
    let (row, body) = gd_row_with_unknown_code();
    let id_number = row.split(',').nth(1).unwrap().to_string();
    let name = row.split(',').nth(2).unwrap().to_string();
    let v = push_prov(&g, "text/csv", body);
    assert_eq!(v["quarantined"], 1);
    let admin = g.token(pes_gateway::auth::Role::Admin, &[], &[]);
    let listed = quarantine_list(&g, &admin);
    let item = &listed["items"][0];
    let masked = item["raw_masked"].as_str().unwrap();
    assert!(masked.contains("GD9999"), "{masked}");
    assert!(
        !masked.contains(&id_number) && !masked.contains(&name),
        "{masked}"
    );
    let id = item["id"].as_str().unwrap().to_string();

    // Whether the reload says the source `prov` changed.
    let changed = |r: &serde_json::Value| {
        r["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["source"] == "prov")
            .unwrap()["changed"]
            .clone()
    };
    // Nothing changed yet: the reload says so.
    let (s, r) = reload(&g, &admin);
    assert_eq!(s, 200, "{r}");
    assert_eq!(changed(&r), false);
    assert!(r["trust_list_version"].is_null(), "{r}");

    // A broken mapping is refused (409); the one in force stays.
    let good = std::fs::read_to_string(&mapping_path).unwrap();
    std::fs::write(&mapping_path, "id = ").unwrap();
    let (s, p) = reload(&g, &admin);
    assert_eq!(s, 409, "{p}");
    assert_eq!(p["type"], "https://pes.example/problems/mapping-refused");
    std::fs::write(&mapping_path, &good).unwrap();

    // The operator adds the code to the table and reloads: no restart.
    let mut table = std::fs::read_to_string(mappings.join("codes/gd_occupation.csv")).unwrap();
    table.push_str("GD9999,2-02-10-03\n");
    std::fs::write(mappings.join("codes/gd_occupation.csv"), table).unwrap();
    let (s, r) = reload(&g, &admin);
    assert_eq!(s, 200, "{r}");
    assert_eq!(changed(&r), true);
    let (_, retried) = retry_quarantined(&g, &admin, &id);
    assert_eq!(retried["resolved"], true, "{retried}");
    assert_eq!(g.total("job_seeker_registration"), 1);
}

#[test]
fn quarantined_xml_item_is_retried_after_the_mapping_is_fixed() {
    let work = tempfile::tempdir().unwrap();
    let mapping_path = work.path().join("bj_110000_xml.toml");
    let shipped =
        std::fs::read_to_string(adapters_dir().join("mappings/bj_110000_xml.toml")).unwrap();
    std::fs::write(&mapping_path, &shipped).unwrap();
    let mut g = start_prov("110000", &mapping_path);
    // Two employers; the second has a size class the mapping's code table lacks.
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Export system="bj-ggjy">
  <Employers>
    <Employer id="BJE-0001" version="2">
      <USCC>91110108MA01ABCD5T</USCC>
      <Name>北京星河软件科技有限公司</Name>
      <Industry>I65</Industry>
      <Division>110108</Division>
      <Size>中型</Size>
      <Ownership>私营</Ownership>
    </Employer>
    <Employer id="BJE-0002" version="1">
      <USCC>91110105MA00XYN14J</USCC>
      <Name>北京朝阳餐饮管理有限公司 &amp; 分店</Name>
      <Industry>H62</Industry>
      <Division>110105</Division>
      <Size>超大型</Size>
      <Ownership>港澳台</Ownership>
    </Employer>
  </Employers>
</Export>
"#;
    let v = push_prov(&g, "application/xml", body.as_bytes().to_vec());
    assert_eq!(v["accepted"], 1, "{v}");
    assert_eq!(v["quarantined"], 1, "{v}");
    assert_eq!(v["row_errors"][0]["code"], "unknown_local_code");
    let admin = g.token(pes_gateway::auth::Role::Admin, &[], &[]);
    let list = |g: &TestGateway| quarantine_list(g, &admin);
    let id = list(&g)["items"][0]["id"].as_str().unwrap().to_string();
    let retry = |g: &TestGateway| retry_quarantined(g, &admin, &id);
    // Before the fix the item fails again, and one quarantine entry remains.
    let (status, r) = retry(&g);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["resolved"], false, "{r}");
    assert_eq!(r["quarantined"], 1, "{r}");
    assert_eq!(list(&g)["items"].as_array().unwrap().len(), 1);
    // The operator adds the local size class to the table and restarts the gateway.
    let fixed = shipped.replace(
        "\"微型\" = \"micro\"",
        "\"微型\" = \"micro\", \"超大型\" = \"large\"",
    );
    assert_ne!(fixed, shipped);
    std::fs::write(&mapping_path, fixed).unwrap();
    g.kill();
    g.run();
    let (status, r) = retry(&g);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["resolved"], true, "{r}");
    assert_eq!(r["accepted"], 1, "{r}");
    assert_eq!(list(&g)["items"].as_array().unwrap().len(), 0);
    assert_eq!(g.total("employer"), 2);
}
