//! Property: after any sequence of pushes (repeats, newer and older versions, duplicates inside
//! a batch), the rollup counters equal a recount from the stored records, and each record holds
//! its highest pushed version; and the person index lists exactly the records that name each
//! person_key (new records, newer versions, and person_key changes) — whether one thread or
//! several write a batch's records. And after any mix of push-ordered pushes, retirements and
//! purges, the rollups still equal a recount and exactly the records a model says are live are
//! read back.

use std::collections::{BTreeSet, HashMap};

use pes_gateway::config::StoreTuning;
use pes_gateway::keys::DataKey;
use pes_gateway::native_sample::record;
use pes_gateway::query::rollup::{same_counts, Rollups};
use pes_gateway::store::entry::{
    lifecycle_entry, Entry, EntryBuilder, EntryKind, Lifecycle, ANY_VERSION,
};
use pes_gateway::store::value::{encode_key, encode_value, value_person_key, value_version};
use pes_gateway::store::{RecordStore, SledStore};
use proptest::prelude::*;

fn apply(store: &dyn RecordStore, rollups: &mut Rollups, bytes: &[u8], n: u64) {
    let entry = Entry::parse(bytes).unwrap();
    let mut deltas = Vec::new();
    store
        .apply_entry(
            &entry,
            n,
            pes_gateway::store::ApplyMode::Journal,
            &mut deltas,
        )
        .unwrap();
    for (f, s) in &deltas {
        rollups.apply(f, *s);
    }
}

/// Retires (or purges) records `ids` by key, whatever their version.
fn lifecycle(store: &dyn RecordStore, rollups: &mut Rollups, kind: EntryKind, ids: &[u64], n: u64) {
    let items: Vec<(Vec<u8>, u64)> = ids
        .iter()
        .map(|i| {
            let r = record(*i, "440000", "gd-hr", 0);
            let mut k = Vec::new();
            encode_key(r.record_type(), &r.record_id, &mut k);
            (k, ANY_VERSION)
        })
        .collect();
    let l = Lifecycle {
        batch_id: [n as u8; 32],
        source: "gd-hr",
        at: "2026-02-01T00:00:00Z",
        kind,
        snapshot: "",
        reason: "test",
    };
    apply(store, rollups, &lifecycle_entry(&l, &items), n);
}

fn push(
    store: &dyn RecordStore,
    rollups: &mut Rollups,
    key: &DataKey,
    batch: &[(u64, u64, bool, u8)],
    n: u64,
) {
    let mut b = EntryBuilder::new(&[n as u8; 32], "gd-hr", "2026-01-01T00:00:00Z", 0);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let batch_id = [n as u8; 32];
    let mut shared = None;
    for &(i, version, flip, person) in batch {
        let mut r = record(i, "440000", "gd-hr", version);
        if person > 0 {
            set_person_key(&mut r, &shared_person(person));
        }
        if flip {
            match &mut r.body {
                pes_schemas::RecordBody::Vacancy(v) => {
                    v.status = pes_schemas::VacancyStatus::Closed
                }
                pes_schemas::RecordBody::JobSeekerRegistration(j) => {
                    j.status = pes_schemas::RegistrationStatus::Withdrawn
                }
                pes_schemas::RecordBody::Person(p) => {
                    p.key_groups = vec![pes_schemas::KeyGroup::Veteran]
                }
                _ => {}
            }
        }
        let (t, id) = (r.record_type(), r.record_id.clone());
        b.push_record(
            |k| encode_key(t, &id, k),
            |v| encode_value(&mut r, key, today, &batch_id, &mut shared, None, v).map(|_| ()),
        )
        .unwrap();
    }
    // The batch's shared envelope, as the decoder stores it, so records decode back.
    let bytes = b.finish(&serde_json::to_vec(&shared).unwrap());
    apply(store, rollups, &bytes, n);
}

/// One of a few person keys shared by several records (43 characters, like a real one).
fn shared_person(n: u8) -> String {
    format!("{n:A>43}")
}

fn set_person_key(r: &mut pes_schemas::Record, pk: &str) {
    if let pes_schemas::RecordBody::Person(p) = &mut r.body {
        p.person_key = pk.to_string();
    } else if let pes_schemas::RecordBody::JobSeekerRegistration(j) = &mut r.body {
        j.person_key = pk.to_string();
    }
}

fn person_key_of(r: &pes_schemas::Record) -> Option<String> {
    match &r.body {
        pes_schemas::RecordBody::Person(p) => Some(p.person_key.clone()),
        pes_schemas::RecordBody::JobSeekerRegistration(j) => Some(j.person_key.clone()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn rollups_and_person_index_equal_a_recount_from_records(
        batches in prop::collection::vec(prop::collection::vec((0u64..24, 1u64..5, any::<bool>(), 0u8..4), 1..20), 1..8),
        parallel_from in prop::sample::select(vec![1usize, 3, 2048]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SledStore::open(dir.path(), &StoreTuning { cache_capacity_mib: 8, flush_every_ms: 1000, ..Default::default() }).unwrap();
        // Small thresholds split even these batches between the writer threads.
        store.set_parallel_threshold(parallel_from);
        let key = DataKey::from_bytes(&[3; 32]).unwrap();
        let mut rollups = Rollups::new();
        let mut highest: HashMap<u64, u64> = HashMap::new();
        for (n, b) in batches.iter().enumerate() {
            push(&store, &mut rollups, &key, b, n as u64 + 1);
            for &(i, v, _, _) in b {
                let e = highest.entry(i).or_insert(0);
                *e = (*e).max(v);
            }
        }
        let recount = Rollups::rebuild(&store).unwrap();
        prop_assert!(same_counts(&rollups, &recount));
        for (i, v) in highest {
            let r = record(i, "440000", "gd-hr", 1);
            let stored = store.get_record(&r.record_id).unwrap().unwrap();
            prop_assert_eq!(value_version(&stored), Some(v));
        }
        // The person index against a recount from the stored values: every key a record ever
        // named (its own, or a shared one) lists exactly the records naming it now.
        let mut recount: HashMap<String, BTreeSet<Vec<u8>>> = HashMap::new();
        let mut candidates: BTreeSet<String> = (1..4).map(shared_person).collect();
        for i in 0..24 {
            let r = record(i, "440000", "gd-hr", 1);
            candidates.extend(person_key_of(&r));
            if let Some(v) = store.get_record(&r.record_id).unwrap() {
                if let Some(pk) = value_person_key(&v) {
                    let mut k = Vec::new();
                    encode_key(r.record_type(), &r.record_id, &mut k);
                    recount.entry(String::from_utf8(pk.to_vec()).unwrap()).or_default().insert(k);
                }
            }
        }
        for pk in &candidates {
            let want = recount.get(pk).cloned().unwrap_or_default();
            // The index misses no record of the person...
            let listed: BTreeSet<Vec<u8>> = store.person_record_keys(pk).unwrap().into_iter().collect();
            prop_assert!(listed.is_superset(&want), "person {}: index {:?} misses some of {:?}", pk, listed, want);
            // ...and a lookup returns exactly the records naming them now.
            let found: BTreeSet<Vec<u8>> = store
                .person_records(pk, &key, false)
                .unwrap()
                .iter()
                .map(|r| {
                    let mut k = Vec::new();
                    encode_key(r.record_type(), &r.record_id, &mut k);
                    k
                })
                .collect();
            prop_assert_eq!(&found, &want, "person {}", pk);
        }
        let total: i64 = pes_schemas::RecordType::ALL.iter().map(|t| rollups.total(*t).count).sum();
        prop_assert_eq!(total as usize, pes_schemas::RecordType::ALL.iter().map(|t| store.count_type(*t)).sum::<usize>());
    }
}

/// One step of the lifecycle property: push records (version 0: ordered by push; `flip`
/// changes their content), retire some, or purge some.
#[derive(Debug, Clone)]
enum Step {
    Push(Vec<(u64, bool)>),
    Retire(Vec<u64>),
    Purge(Vec<u64>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        prop::collection::vec((0u64..18, any::<bool>()), 1..12).prop_map(Step::Push),
        prop::collection::vec(0u64..18, 1..6).prop_map(Step::Retire),
        prop::collection::vec(0u64..18, 1..6).prop_map(Step::Purge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn rollups_equal_a_recount_after_pushes_retirements_and_purges(
        steps in prop::collection::vec(step(), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &StoreTuning { cache_capacity_mib: 8, flush_every_ms: 1000, ..Default::default() }).unwrap();
        let key = DataKey::from_bytes(&[3; 32]).unwrap();
        let mut rollups = Rollups::new();
        let mut live: BTreeSet<u64> = BTreeSet::new();
        for (n, s) in steps.iter().enumerate() {
            let n = n as u64 + 1;
            match s {
                Step::Push(batch) => {
                    let b: Vec<(u64, u64, bool, u8)> = batch.iter().map(|&(i, flip)| (i, 0, flip, 0)).collect();
                    push(&store, &mut rollups, &key, &b, n);
                    live.extend(batch.iter().map(|(i, _)| *i));
                }
                Step::Retire(ids) => {
                    lifecycle(&store, &mut rollups, EntryKind::Retire, ids, n);
                    for i in ids {
                        live.remove(i);
                    }
                }
                Step::Purge(ids) => lifecycle(&store, &mut rollups, EntryKind::Purge, ids, n),
            }
        }
        let recount = Rollups::rebuild(&store).unwrap();
        prop_assert!(same_counts(&rollups, &recount));
        for i in 0..18 {
            let r = record(i, "440000", "gd-hr", 0);
            let stored = store.get_record(&r.record_id).unwrap();
            prop_assert_eq!(stored.is_some(), live.contains(&i), "record {}", i);
        }
        let total: i64 = pes_schemas::RecordType::ALL.iter().map(|t| rollups.total(*t).count).sum();
        prop_assert_eq!(total as usize, live.len());
    }
}
