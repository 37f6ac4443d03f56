//! What the fault suite shares besides the gateways themselves (those are
//! [`pes_testkit::TestGateway`]s, in a [`pes_testkit::TestFederation`] for the federated cases):
//! valid batches, the `pesgw` CLI, and a stopped gateway's store read back after replay.

use std::path::Path;
use std::process::Command;

use pes_testkit::{pesgw, TestFederation, SOURCE};

/// Records `range` of the native sample for `region` that pass national validation (the sample
/// draws prefectures some provinces lack), as an NDJSON body and their record ids.
pub fn valid_batch(range: std::ops::Range<u64>, region: &str) -> (Vec<u8>, Vec<String>) {
    let mut body = Vec::new();
    let mut ids = Vec::new();
    for i in range {
        let r = pes_gateway::native_sample::record(i, region, SOURCE, 1);
        if pes_schemas::validate::validate_record(&r).is_ok() {
            serde_json::to_writer(&mut body, &r).unwrap();
            body.push(b'\n');
            ids.push(r.record_id.to_string());
        }
    }
    (body, ids)
}

/// Runs `pesgw` with `args`: success and stdout + stderr.
pub fn run_pesgw(args: &[&str]) -> (bool, String) {
    let o = Command::new(pesgw!())
        .args(args)
        .env_remove("PESGW_TOKEN")
        .env_remove("PES_TOKEN")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// The store of a stopped gateway after the journal is replayed into it (what a restart does),
/// checked to have set no entry aside as a dead letter.
pub fn replayed_store(data_dir: &Path) -> std::sync::Arc<dyn pes_gateway::store::RecordStore> {
    use pes_gateway::ingest::apply::{replay, ApplyState};
    let store = pes_gateway::store::open(
        &data_dir.join("store"),
        &pes_gateway::config::StoreTuning::default(),
    )
    .unwrap();
    let state = ApplyState::new(
        pes_gateway::query::rollup::Rollups::rebuild(&*store).unwrap(),
        store.applied_offset().unwrap(),
    );
    let dead = pes_gateway::store::dead_letter::payload_dir(data_dir);
    replay(&*store, &state, &data_dir.join("journal"), &dead).unwrap();
    // Every journaled entry applied: none was set aside.
    assert_eq!(
        store.dead_letters().unwrap().len(),
        0,
        "dead letters in {}",
        data_dir.display()
    );
    store
}

/// Records of the three sample datasets in a store.
pub fn store_count(store: &std::sync::Arc<dyn pes_gateway::store::RecordStore>) -> i64 {
    use pes_schemas::RecordType;
    [
        RecordType::Person,
        RecordType::JobSeekerRegistration,
        RecordType::Vacancy,
    ]
    .into_iter()
    .map(|t| store.count_type(t) as i64)
    .sum()
}

/// The datasets the native sample fills.
pub const DATASETS: [&str; 3] = ["person", "job_seeker_registration", "vacancy"];

/// Purpose and legal basis of the person lookups the tests make.
pub const LOOKUP_PURPOSE: &str = "case_management";
pub const LOOKUP_BASIS: &str = "就业服务与就业管理规定 第六十二条";

/// A federation of `regions` on `fed_ports` whose policies allow statistics and person lookups
/// for case management.
pub fn federation(regions: &[&str], fed_ports: &[u16]) -> TestFederation {
    TestFederation::on_ports(regions, fed_ports, 1, |trust| {
        for p in &mut trust.policies {
            p.purposes.push(LOOKUP_PURPOSE.into());
        }
    })
}
