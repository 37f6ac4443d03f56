//! Person lookup across a national gateway and two provincial ones, each its own `pesgw serve`
//! process with its HTTP API and mTLS listener on 127.0.0.1, sharing one linkage key.
//!
//! The person's records are found in the regions that hold them; no protected field leaves a
//! region unless the trust-list policy for the caller grants it (and a granted one does); the
//! person_key is in the audit logs of the calling and the serving gateways, the ID number in
//! neither; bad requests are refused with problem+json and audited.

use pes_gateway::auth::Role;
use pes_gateway::native_sample::record;
use pes_schemas::person_key::PersonKeyer;
use pes_schemas::*;
use pes_testkit::{pesgw, post, TestFederation, TestGateway, LINKAGE_KEY, SOURCE};
use serde_json::{json, Value};

/// A valid GB 11643 number (the standard's own example).
const ID: &str = "11010519491231002X";
const NAME: &str = "张三丰";
const PHONE: &str = "13912345678";
const PURPOSE: &str = "case_management";
const BASIS: &str = "就业服务与就业管理规定 第六十二条";

fn occupation() -> String {
    pes_schemas::codes::all_occupations()
        .iter()
        .find(|o| pes_schemas::codes::is_occupation(o.code))
        .unwrap()
        .code
        .to_string()
}

fn uscc(div: &str) -> String {
    pes_schemas::uscc::complete(&format!("91{div}MA000000")).unwrap()
}

/// Sample record `i` of `region` with its body replaced.
fn with_body(i: u64, region: &str, body: RecordBody) -> Record {
    let mut r = record(i, region, SOURCE, 1);
    r.body = body;
    r
}

/// The person's records a region holds, plus a few unrelated ones.
fn export(region: &str, pk: &str, bodies: Vec<RecordBody>) -> Vec<u8> {
    let mut out = Vec::new();
    // The sample draws prefectures from a list some provinces lack: keep the valid ones.
    let others = (0..30)
        .map(|i| record(i, region, SOURCE, 1))
        .filter(|r| pes_schemas::validate::validate_record(r).is_ok());
    let mine = bodies
        .into_iter()
        .enumerate()
        .map(|(n, b)| with_body(1000 + n as u64, region, b));
    for r in others.chain(mine) {
        serde_json::to_writer(&mut out, &r).unwrap();
        out.push(b'\n');
    }
    assert!(String::from_utf8_lossy(&out).contains(pk));
    out
}

async fn audit_log(http: &reqwest::Client, gw: &TestGateway) -> String {
    let r = http
        .get(format!("{}/v1/audit/entries", gw.base))
        .bearer_auth(gw.token_as(Role::Auditor, "auditor", &[], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.unwrap()
}

fn events(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v.get("event").cloned().unwrap_or(v)
        })
        .collect()
}

fn region<'a>(answer: &'a Value, code: &str) -> &'a Value {
    answer["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == code)
        .unwrap_or_else(|| panic!("{code} missing from {answer}"))
}

#[actix_web::test]
async fn lookup_across_regions_is_minimised_and_audited_at_both_ends() {
    let federation = TestFederation::with_trust(&["100000", "110000", "440000"], 1, |trust| {
        for p in &mut trust.policies {
            p.purposes.push(PURPOSE.into());
            // Only 110000 may receive a protected field, and only the name.
            if p.caller == "110000" {
                p.protected_fields = vec!["name".into()];
            }
        }
    });
    // One linkage key for the whole federation, so a person has one person_key everywhere.
    let pk = PersonKeyer::new(&LINKAGE_KEY).key(&id_number::IdNumber::parse(ID).unwrap());
    let gws = federation.start_all(pesgw!()).await;
    let http = reqwest::Client::new();
    let occ = occupation();
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let gd = export(
        "440000",
        &pk,
        vec![
            RecordBody::Person(Person {
                person_key: pk.clone(),
                sex: "2".into(),
                birth_date: date("1949-12-31"),
                education: "21".into(),
                hukou_division: "440100".into(),
                hukou_nature: HukouNature::Resident,
                residence_division: "440100".into(),
                graduation_year: None,
                key_groups: vec![KeyGroup::OutOfPoverty],
                protected: Some(PersonProtected {
                    name: NAME.into(),
                    id_number: ID.into(),
                    phone: Some(PHONE.into()),
                }),
            }),
            RecordBody::JobSeekerRegistration(JobSeekerRegistration {
                person_key: pk.clone(),
                seeker_category: SeekerCategory::Unemployed,
                desired_occupations: vec![occ.clone()],
                desired_division: "440100".into(),
                registered_on: date("2025-03-01"),
                valid_until: None,
                status: RegistrationStatus::Active,
            }),
            RecordBody::EmploymentEvent(EmploymentEvent {
                person_key: pk.clone(),
                kind: EmploymentEventKind::UnemploymentRegistered,
                employer_uscc: None,
                employment_form: EmploymentForm::Unit,
                occupation: Some(occ.clone()),
                work_division: "440100".into(),
                date: date("2025-02-20"),
                reason: None,
            }),
        ],
    );
    let bj = export(
        "110000",
        &pk,
        vec![RecordBody::TrainingRecord(TrainingRecord {
            person_key: pk.clone(),
            provider_uscc: uscc("110100"),
            target_occupation: occ.clone(),
            training_type: TrainingType::EmploymentSkills,
            start_on: date("2024-05-01"),
            end_on: Some(date("2024-06-30")),
            certificate_level: Some(4),
            subsidy_cny: Some(1200),
            outcome: TrainingOutcome::Certified,
        })],
    );
    for (gw, body) in [(&gws[1], bj), (&gws[2], gd)] {
        let v = gw.push_async(&http, body).await;
        assert_eq!(v["quarantined"], 0, "{v}");
    }

    // A caseworker at the national gateway, by ID number, every region.
    let national = &gws[0];
    let url = format!("{}/v1/persons/lookup", national.base);
    let cw = national.token_as(Role::Caseworker, "cw-1", &[], &[PURPOSE]);
    let req = json!({ "id_number": ID, "purpose": PURPOSE, "legal_basis": BASIS });
    let (s, a) = post(&http, &url, &cw, &req).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["person_key"], pk.as_str());
    assert_eq!(a["complete"], true, "{a}");
    assert_eq!(a["regions"].as_array().unwrap().len(), 3);
    assert_eq!(region(&a, "100000")["found"], false);
    let r110 = region(&a, "110000");
    assert_eq!(r110["status"], "ok");
    assert_eq!(r110["found"], true);
    assert_eq!(r110["fields"]["trainings"][0]["outcome"], "certified");
    assert_eq!(r110["fields"]["benefits"]["training_subsidy_cny"], 1200);
    assert!(r110["receipt"]["index"].is_u64(), "{r110}");
    let r440 = region(&a, "440000");
    assert_eq!(r440["found"], true);
    assert_eq!(r440["fields"]["records"], 3);
    assert_eq!(r440["fields"]["registration"]["status"], "active");
    assert_eq!(
        r440["fields"]["last_employment_event"]["kind"],
        "unemployment_registered"
    );
    assert_eq!(r440["fields"]["benefits"]["registered_unemployed"], true);
    assert_eq!(
        r440["fields"]["benefits"]["key_groups"],
        json!(["out_of_poverty"])
    );
    assert_eq!(r440["fields"]["person"]["education"], "21");
    // The national gateway's policy grants no protected field: none came back.
    assert!(
        r440["fields"]["person"].get("protected").is_none(),
        "{r440}"
    );
    let text = a.to_string();
    assert!(!text.contains(ID) && !text.contains(NAME) && !text.contains(PHONE));

    // A caseworker at 110000, whose policy grants the name (only), by person_key, one region.
    let bj_gw = &gws[1];
    let (s, b) = post(
        &http,
        &format!("{}/v1/persons/lookup", bj_gw.base),
        &bj_gw.token_as(Role::Caseworker, "cw-2", &[], &[PURPOSE]),
        &json!({ "person_key": pk, "purpose": PURPOSE, "legal_basis": BASIS, "regions": ["440000"] }),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["regions"].as_array().unwrap().len(), 1);
    assert_eq!(
        region(&b, "440000")["fields"]["person"]["protected"],
        json!({ "name": NAME })
    );
    let text = b.to_string();
    assert!(!text.contains(ID) && !text.contains(PHONE));

    // Bad requests: refused with problem+json, audited at the calling gateway.
    let cases = [
        (
            json!({ "id_number": ID, "legal_basis": BASIS }),
            cw.clone(),
            400,
            "missing-purpose",
        ),
        (
            json!({ "id_number": ID, "purpose": PURPOSE }),
            cw.clone(),
            400,
            "missing-legal-basis",
        ),
        (
            json!({ "id_number": "110105194912310021", "purpose": PURPOSE, "legal_basis": BASIS }),
            cw.clone(),
            400,
            "bad-id-number",
        ),
        (
            json!({ "id_number": ID, "person_key": pk, "purpose": PURPOSE, "legal_basis": BASIS }),
            cw.clone(),
            400,
            "bad-identifier",
        ),
        (
            json!({ "id_number": ID, "purpose": "job_matching", "legal_basis": BASIS }),
            cw.clone(),
            403,
            "forbidden",
        ),
        (
            req.clone(),
            national.token_as(Role::Analyst, "an-1", &[], &[PURPOSE]),
            403,
            "forbidden",
        ),
    ];
    for (body, token, status, slug) in &cases {
        let r = http
            .post(&url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), *status, "{body}");
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let p: Value = r.json().await.unwrap();
        assert_eq!(
            p["type"],
            format!("https://pes.example/problems/{slug}"),
            "{p}"
        );
        assert!(!p.to_string().contains("19491231002"), "{p}");
    }

    // Audit at both ends: the person_key with purpose and legal basis, never the ID number.
    let national_log = audit_log(&http, national).await;
    let gd_log = audit_log(&http, &gws[2]).await;
    for log in [&national_log, &gd_log] {
        assert!(
            !log.contains("19491231002"),
            "an ID number reached an audit log"
        );
        assert!(!log.contains(NAME) && !log.contains(PHONE));
    }
    let ne = events(&national_log);
    let mine: Vec<&Value> = ne
        .iter()
        .filter(|e| e["action"] == "person_lookup" && e["actor"]["sub"] == "cw-1")
        .collect();
    let ok = mine.iter().find(|e| e["outcome"] == "ok").unwrap();
    assert_eq!(ok["person_key"], pk.as_str());
    assert_eq!(ok["purpose"], PURPOSE);
    assert_eq!(ok["legal_basis"], BASIS);
    let receipts = ok["peer_receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 3);
    let gd_receipt = receipts.iter().find(|r| r["region"] == "440000").unwrap();
    assert!(gd_receipt["index"].is_u64());
    for (_, _, _, slug) in &cases[..5] {
        assert!(
            ne.iter()
                .any(|e| e["actor"]["sub"] == "cw-1" && e["reason"] == *slug),
            "refusal {slug} not audited"
        );
    }
    // The analyst was refused before the token was accepted: audited as an access denial.
    assert!(ne
        .iter()
        .any(|e| e["action"] == "access_denied" && e["reason"] == "forbidden"));
    // The serving region logged the calling member, purpose, legal basis and person_key, at
    // the index the caller was given.
    let ge = events(&gd_log);
    let served: Vec<&Value> = ge
        .iter()
        .filter(|e| e["action"] == "person_lookup" && e["actor"]["peer_member"] == "100000")
        .collect();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0]["person_key"], pk.as_str());
    assert_eq!(served[0]["purpose"], PURPOSE);
    assert_eq!(served[0]["legal_basis"], BASIS);
    let at = gd_receipt["index"].as_u64().unwrap() as usize;
    assert_eq!(ge[at]["actor"]["peer_member"], "100000");
    assert!(ge
        .iter()
        .any(|e| e["action"] == "person_lookup" && e["actor"]["peer_member"] == "110000"));
}
