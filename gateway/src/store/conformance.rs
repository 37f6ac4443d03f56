//! What every [`RecordStore`] backend must do, checked through the trait alone: a backend's test
//! calls [`check`], [`check_lifecycle`] and [`check_erase`] with a function that opens its store
//! on a directory (opening the same directory again must find what was stored before). Both
//! backends run them: sled on the directory, PostgreSQL on a fresh schema named after it, in the
//! database `PES_TEST_PG_URL` gives (`tests/postgres/start.sh` starts one). Without that URL the
//! PostgreSQL tests say loudly that they skipped, and fail when `CI` or `PES_REQUIRE_PG=1` is set.
//!
//! A backend that keeps rollup cells ([`RecordStore::stored_rollups`]) is also checked to hold
//! exactly the recount of its records after every step that changes them.

use std::path::Path;
use std::sync::Arc;

use pes_schemas::{Record, RecordBody, RecordType};

use super::dead_letter::DeadLetter;
use super::entry::{lifecycle_entry, Entry, EntryBuilder, EntryKind, Lifecycle};
use super::value::{encode_key, encode_value, is_live, push_order_version, value_version};
use super::{ApplyMode, ApplyOutcome, RecordStore};
use crate::keys::DataKey;

const REGION: &str = "440000";
const SOURCE: &str = "gd-hr";

/// Opens a backend's store on a directory.
pub(crate) type Open<'a> = &'a dyn Fn(&Path) -> Arc<dyn RecordStore>;

/// Sample record `i` at `version`; records 0 and 1 (a person and their registration) name
/// `person` when it is given.
fn sample(i: u64, version: u64, person: Option<&str>) -> Record {
    let mut r = crate::native_sample::record(i, REGION, SOURCE, version);
    if let Some(pk) = person {
        match &mut r.body {
            RecordBody::Person(p) => p.person_key = pk.to_string(),
            RecordBody::JobSeekerRegistration(j) => j.person_key = pk.to_string(),
            _ => {}
        }
    }
    r
}

/// A journal entry of batch `n` holding `records` and `quarantined` rows.
fn entry(key: &DataKey, n: u8, records: &[Record], quarantined: &[(u32, &[u8])]) -> Vec<u8> {
    let batch_id = [n; 32];
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let mut b = EntryBuilder::new(&batch_id, SOURCE, "2026-01-01T00:00:00Z", 0);
    let mut shared = None;
    for r in records {
        let mut r = r.clone();
        let (t, id) = (r.record_type(), r.record_id.clone());
        b.push_record(
            |k| encode_key(t, &id, k),
            |v| encode_value(&mut r, key, today, &batch_id, &mut shared, None, v).map(|_| ()),
        )
        .unwrap();
    }
    for (row, v) in quarantined {
        b.push_quarantined(*row, v);
    }
    b.finish(&serde_json::to_vec(&shared).unwrap())
}

fn apply(store: &dyn RecordStore, bytes: &[u8], end: u64, mode: ApplyMode) -> ApplyOutcome {
    let mut deltas = Vec::new();
    let out = store
        .apply_entry(&Entry::parse(bytes).unwrap(), end, mode, &mut deltas)
        .unwrap();
    // Every record written moves the rollups: its new facts in, any old version's out.
    assert!(deltas.len() as u64 >= out.applied);
    rollups_are_a_recount(store);
    out
}

/// A backend's stored rollup cells (if it keeps them) are exactly the cells a recount of its
/// live records gives.
fn rollups_are_a_recount(store: &dyn RecordStore) {
    use super::cubes::{for_each_cell, Counters};
    use std::collections::BTreeMap;
    type Cells = BTreeMap<(u8, usize, [u32; 3]), Counters>;
    let mut stored: Cells = BTreeMap::new();
    let kept = store
        .stored_rollups(&mut |t, cube, key, c| {
            let s = stored.entry((t as u8, cube, key)).or_default();
            s.count += c.count;
            s.sum += c.sum;
        })
        .unwrap();
    if !kept {
        return;
    }
    let mut recount: Cells = BTreeMap::new();
    store
        .for_each_fact(&mut |f| {
            for_each_cell(f, |cube, key| {
                let c = recount.entry((f.rtype as u8, cube, key)).or_default();
                c.count += 1;
                c.sum += i64::from(f.measure);
            })
        })
        .unwrap();
    stored.retain(|_, c| c.count != 0 || c.sum != 0);
    assert_eq!(
        stored, recount,
        "stored rollup cells = a recount of the records"
    );
}

/// What applying a batch did: `new` and `updated` records written, `unchanged` skipped.
fn outcome(new: u64, updated: u64, unchanged: u64) -> ApplyOutcome {
    ApplyOutcome {
        applied: new + updated,
        unchanged,
        new,
        updated,
        ..ApplyOutcome::default()
    }
}

fn record_key(r: &Record) -> Vec<u8> {
    let mut k = Vec::new();
    encode_key(r.record_type(), &r.record_id, &mut k);
    k
}

/// The ids of the records a person lookup finds.
fn found(store: &dyn RecordStore, key: &DataKey, person: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .person_records(person, key, false)
        .unwrap()
        .into_iter()
        .map(|r| r.record_id)
        .collect();
    ids.sort();
    ids
}

fn letter(end_offset: u64) -> DeadLetter {
    DeadLetter {
        end_offset,
        len: 3,
        batch_id: None,
        source: Some(SOURCE.into()),
        reason: "test".into(),
        at: "2026-01-01T00:00:00.000Z".into(),
        retries: 0,
        audited: false,
    }
}

/// Runs every check against the backend `open` opens.
pub(crate) fn check(open: Open<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::from_bytes(&[7; 32]).unwrap();
    let alice = "A".repeat(43);
    let bob = "B".repeat(43);
    let first: Vec<Record> = (0..6)
        .map(|i| sample(i, 1, (i < 2).then_some(alice.as_str())))
        .collect();
    let (q3, q5): (&[u8], &[u8]) = (br#"{"row":3}"#, br#"{"row":5}"#);
    let e1 = entry(&key, 1, &first, &[(3, q3), (5, q5)]);

    let store = open(dir.path());
    assert_eq!(
        store.applied_offset().unwrap(),
        0,
        "a new store applied nothing"
    );

    // Applying an entry stores its records, summary and quarantined rows, and its offset.
    let out = apply(&*store, &e1, 100, ApplyMode::Journal);
    assert_eq!(out, outcome(6, 0, 0));
    assert_eq!(store.applied_offset().unwrap(), 100);
    let summaries = store.batch_summaries().unwrap();
    assert_eq!(summaries.len(), 1);
    let (id, summary) = &summaries[0];
    assert_eq!(*id, [1; 32]);
    assert_eq!(
        (summary.records, summary.quarantined, summary.end_offset),
        (6, 2, 100)
    );
    assert_eq!(summary.outcome, out);

    // A record reads back whole with `reveal`, without its protected fields otherwise.
    let person = &first[0];
    assert_eq!(person.record_type(), RecordType::Person);
    let (got, protected) = store
        .read_record(&person.record_id, &key, true)
        .unwrap()
        .unwrap();
    assert_eq!(&got, person);
    assert!(protected);
    let (hidden, _) = store
        .read_record(&person.record_id, &key, false)
        .unwrap()
        .unwrap();
    let RecordBody::Person(p) = hidden.body else {
        panic!("a person reads back as a person");
    };
    assert!(p.protected.is_none(), "protected fields stay sealed");
    assert!(store
        .read_record("no-such-id", &key, false)
        .unwrap()
        .is_none());
    let value = store.get_record(&person.record_id).unwrap().unwrap();
    assert_eq!(value_version(&value), Some(1));

    // Counts and scans see every record once.
    let total: usize = RecordType::ALL.iter().map(|t| store.count_type(*t)).sum();
    assert_eq!(total, 6);
    let mut persons = 0;
    store
        .scan_facts(RecordType::Person, &mut |_| persons += 1)
        .unwrap();
    assert_eq!(persons, store.count_type(RecordType::Person));
    assert!(persons > 0);
    let mut facts = 0;
    store.for_each_fact(&mut |_| facts += 1).unwrap();
    assert_eq!(facts, 6);

    // The person index lists each record naming the person.
    let listed = store.person_record_keys(&alice).unwrap();
    let mut want = vec![record_key(&first[0]), record_key(&first[1])];
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(found(&*store, &key, &alice), {
        let mut ids = vec![first[0].record_id.clone(), first[1].record_id.clone()];
        ids.sort();
        ids
    });
    assert!(found(&*store, &key, &bob).is_empty());

    // Re-applying the entry (a replay after a crash) changes nothing and keeps the index.
    let again = apply(&*store, &e1, 100, ApplyMode::Replay);
    assert_eq!(again, outcome(0, 0, 6));
    assert_eq!(store.applied_offset().unwrap(), 100);
    assert_eq!(store.person_record_keys(&alice).unwrap(), listed);

    // A newer version replaces, an equal one does not; a changed person_key moves the record.
    let second = vec![sample(1, 2, Some(bob.as_str())), sample(2, 1, None)];
    let e2 = entry(&key, 2, &second, &[]);
    let out = apply(&*store, &e2, 200, ApplyMode::Journal);
    assert_eq!(out, outcome(0, 1, 1));
    let v1 = store.get_record(&first[1].record_id).unwrap().unwrap();
    assert_eq!(value_version(&v1), Some(2));
    assert_eq!(
        found(&*store, &key, &alice),
        vec![first[0].record_id.clone()]
    );
    assert_eq!(found(&*store, &key, &bob), vec![first[1].record_id.clone()]);

    // A retried entry applies its records but leaves the applied offset where it is.
    let third = vec![sample(6, 1, None)];
    let e3 = entry(&key, 3, &third, &[]);
    let out = apply(&*store, &e3, 150, ApplyMode::Retry);
    assert_eq!(out, outcome(1, 0, 0));
    assert_eq!(store.applied_offset().unwrap(), 200);
    assert!(store.get_record(&third[0].record_id).unwrap().is_some());
    let third_pk = match &third[0].body {
        RecordBody::Person(p) => p.person_key.clone(),
        _ => panic!("record 6 is a person"),
    };
    assert_eq!(
        found(&*store, &key, &third_pk),
        vec![third[0].record_id.clone()]
    );

    // Quarantined rows list in (batch, row) order, read one by one and go once removed.
    let rows: Vec<Vec<u8>> = store.quarantined().map(Result::unwrap).collect();
    assert_eq!(rows, vec![q3.to_vec(), q5.to_vec()]);
    assert_eq!(store.quarantined_row(&[1; 32], 5).unwrap().unwrap(), q5);
    assert!(store.quarantined_row(&[1; 32], 4).unwrap().is_none());
    store.remove_quarantined(&[1; 32], 3).unwrap();
    assert!(store.quarantined_row(&[1; 32], 3).unwrap().is_none());
    let rows: Vec<Vec<u8>> = store.quarantined().map(Result::unwrap).collect();
    assert_eq!(rows, vec![q5.to_vec()]);

    // A dead letter moves the applied offset past its entry, never back.
    store.put_dead_letter(&letter(300)).unwrap();
    assert_eq!(store.applied_offset().unwrap(), 300);
    store.put_dead_letter(&letter(250)).unwrap();
    assert_eq!(store.applied_offset().unwrap(), 300);
    let ends: Vec<u64> = store
        .dead_letters()
        .unwrap()
        .iter()
        .map(|l| l.end_offset)
        .collect();
    assert_eq!(ends, vec![250, 300], "oldest first");
    let mut l = store.get_dead_letter(250).unwrap().unwrap();
    l.retries += 1;
    store.update_dead_letter(&l).unwrap();
    assert_eq!(store.get_dead_letter(250).unwrap().unwrap().retries, 1);
    store.remove_dead_letter(300).unwrap();
    assert!(store.get_dead_letter(300).unwrap().is_none());

    // Everything survives closing and reopening the store.
    store.flush().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.applied_offset().unwrap(), 300);
    assert_eq!(store.batch_summaries().unwrap().len(), 3);
    let (got, _) = store
        .read_record(&person.record_id, &key, true)
        .unwrap()
        .unwrap();
    assert_eq!(&got, person);
    assert_eq!(found(&*store, &key, &bob), vec![first[1].record_id.clone()]);
    let rows: Vec<Vec<u8>> = store.quarantined().map(Result::unwrap).collect();
    assert_eq!(rows, vec![q5.to_vec()]);
    assert_eq!(store.dead_letters().unwrap(), vec![l]);
    let total: usize = RecordType::ALL.iter().map(|t| store.count_type(*t)).sum();
    assert_eq!(total, 7);
    rollups_are_a_recount(&*store);
}

/// A retirement (`Retire`) or purge (`Purge`) entry over `(record, expected version)` items.
fn lifecycle(kind: EntryKind, n: u8, items: &[(&Record, u64)]) -> Vec<u8> {
    let items: Vec<(Vec<u8>, u64)> = items.iter().map(|(r, v)| (record_key(r), *v)).collect();
    let l = Lifecycle {
        batch_id: [n; 32],
        source: SOURCE,
        at: "2026-02-01T00:00:00Z",
        kind,
        snapshot: "",
        reason: "request:test",
    };
    lifecycle_entry(&l, &items)
}

/// Checks versions by push order, retirement, revival and purge, and lifecycle state.
pub(crate) fn check_lifecycle(open: Open<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::from_bytes(&[7; 32]).unwrap();
    let store = open(dir.path());
    let alice = "A".repeat(43);
    let total =
        |s: &dyn RecordStore| -> usize { RecordType::ALL.iter().map(|t| s.count_type(*t)).sum() };

    // Records without a version of their own take their batch's journal position.
    let first: Vec<Record> = (0..4).map(|i| sample(i, 0, None)).collect();
    let out = apply(
        &*store,
        &entry(&key, 10, &first, &[]),
        100,
        ApplyMode::Journal,
    );
    assert_eq!(out, outcome(4, 0, 0));
    let v = store.get_record(&first[0].record_id).unwrap().unwrap();
    assert_eq!(value_version(&v), Some(push_order_version(100)));

    // The same content pushed later changes nothing, however its sealed bytes differ.
    let out = apply(
        &*store,
        &entry(&key, 11, &first, &[]),
        200,
        ApplyMode::Journal,
    );
    assert_eq!(out, outcome(0, 0, 4));
    let v = store.get_record(&first[0].record_id).unwrap().unwrap();
    assert_eq!(value_version(&v), Some(push_order_version(100)));

    // Other content in a later push wins over what is stored.
    let mut changed = first.clone();
    changed[1] = sample(1, 0, Some(alice.as_str()));
    let out = apply(
        &*store,
        &entry(&key, 12, &changed, &[]),
        300,
        ApplyMode::Journal,
    );
    assert_eq!(out, outcome(0, 1, 3));
    let v = store.get_record(&first[1].record_id).unwrap().unwrap();
    assert_eq!(value_version(&v), Some(push_order_version(300)));
    assert_eq!(
        found(&*store, &key, &alice),
        vec![first[1].record_id.clone()]
    );

    // Retirement tombstones a record only while it holds the version the decision saw.
    let stored_v0 = push_order_version(100);
    let retire = lifecycle(
        EntryKind::Retire,
        20,
        &[(&first[0], stored_v0), (&first[1], push_order_version(100))],
    );
    let mut deltas = Vec::new();
    let out = store
        .apply_entry(
            &Entry::parse(&retire).unwrap(),
            400,
            ApplyMode::Journal,
            &mut deltas,
        )
        .unwrap();
    rollups_are_a_recount(&*store);
    assert_eq!(
        (out.retired, out.unchanged),
        (1, 1),
        "record 1 changed since"
    );
    assert_eq!(deltas.len(), 1);
    assert_eq!(deltas[0].1, -1, "a retired record leaves the rollups");
    assert_eq!(store.applied_offset().unwrap(), 400);
    assert!(store.get_record(&first[0].record_id).unwrap().is_none());
    assert!(store
        .read_record(&first[0].record_id, &key, false)
        .unwrap()
        .is_none());
    assert_eq!(total(&*store), 3);
    let mut facts = 0;
    store.for_each_fact(&mut |_| facts += 1).unwrap();
    assert_eq!(facts, 3, "scans skip retired records");
    let mut seen = Vec::new();
    store
        .scan_records(
            first[0].record_type(),
            &format!("{REGION}:{SOURCE}:"),
            &mut |k, v| {
                seen.push((k.to_vec(), is_live(v)));
                true
            },
        )
        .unwrap();
    assert!(
        seen.contains(&(record_key(&first[0]), false)),
        "the tombstone stays"
    );
    // A replay of the retirement changes nothing more.
    let mut again = Vec::new();
    let out = store
        .apply_entry(
            &Entry::parse(&retire).unwrap(),
            400,
            ApplyMode::Replay,
            &mut again,
        )
        .unwrap();
    assert_eq!((out.retired, again.len()), (0, 0));

    // An older copy does not bring the record back; a later push does.
    let older = vec![sample(0, 5, None)];
    let out = apply(
        &*store,
        &entry(&key, 13, &older, &[]),
        450,
        ApplyMode::Journal,
    );
    assert_eq!(out, outcome(0, 0, 1));
    let out = apply(
        &*store,
        &entry(&key, 14, &first[..1], &[]),
        500,
        ApplyMode::Journal,
    );
    assert_eq!(out, outcome(1, 0, 0), "a retired record comes back as new");
    assert_eq!(total(&*store), 4);

    // Retired by source record id (any version), then purged: the key is gone.
    let retire = lifecycle(EntryKind::Retire, 21, &[(&first[2], u64::MAX)]);
    let out = apply(&*store, &retire, 600, ApplyMode::Journal);
    assert_eq!(out.retired, 1);
    let purge = lifecycle(
        EntryKind::Purge,
        22,
        &[(&first[2], u64::MAX), (&first[3], u64::MAX)],
    );
    let out = apply(&*store, &purge, 700, ApplyMode::Journal);
    assert_eq!(
        (out.purged, out.unchanged),
        (1, 1),
        "a live record is not purged"
    );
    let mut keys = 0;
    store
        .scan_records(first[2].record_type(), &first[2].record_id, &mut |_, _| {
            keys += 1;
            true
        })
        .unwrap();
    assert_eq!(keys, 0);
    assert_eq!(total(&*store), 3);

    // A retired record of a person leaves their lookup.
    assert_eq!(
        found(&*store, &key, &alice),
        vec![first[1].record_id.clone()]
    );
    let retire = lifecycle(EntryKind::Retire, 23, &[(&first[1], u64::MAX)]);
    assert_eq!(apply(&*store, &retire, 800, ApplyMode::Journal).retired, 1);
    assert!(found(&*store, &key, &alice).is_empty());

    // Lifecycle state is kept, listed by prefix, and survives reopening.
    store.put_meta("snapshot/b", b"2").unwrap();
    store.put_meta("snapshot/a", b"1").unwrap();
    store.put_meta("other", b"3").unwrap();
    store.flush().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.get_meta("other").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(
        store.meta_with_prefix("snapshot/").unwrap(),
        vec![
            ("snapshot/a".to_string(), b"1".to_vec()),
            ("snapshot/b".to_string(), b"2".to_vec())
        ]
    );
    assert!(store.get_record(&first[2].record_id).unwrap().is_none());
    assert_eq!(total(&*store), 2);
    rollups_are_a_recount(&*store);
}

#[test]
fn the_sled_store_keeps_the_boundary() {
    let tuning = crate::config::StoreTuning {
        cache_capacity_mib: 8,
        flush_every_ms: 1000,
        ..Default::default()
    };
    let open = |dir: &Path| -> Arc<dyn RecordStore> {
        // sled may hold the directory's lock a moment after the last handle is dropped.
        let mut tries = 0;
        loop {
            match super::SledStore::open(dir, &tuning) {
                Ok(s) => return Arc::new(s),
                Err(e) if tries < 100 => {
                    tries += 1;
                    tracing::debug!(error = %e, "sled still locked; opening again");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("opening the sled store: {e}"),
            }
        }
    };
    check(&open);
    check_lifecycle(&open);
}

/// Runs the erasure checks ([`RecordStore::erase_person`]) against the backend `open` opens.
pub(crate) fn check_erase(open: Open<'_>) {
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::from_bytes(&[7; 32]).unwrap();
    let alice = "A".repeat(43);
    // Same index bucket as alice (the first two characters), so they share index values.
    let carol = format!("{}C", "A".repeat(42));
    // Alice's person (0) and registration (1), carol's person (3), and an unlinked record.
    let first: Vec<Record> = (0..4)
        .map(|i| {
            let who = match i {
                0 | 1 => Some(alice.as_str()),
                3 => Some(carol.as_str()),
                _ => None,
            };
            sample(i, 1, who)
        })
        .collect();
    let (q_alice, q_carol): (&[u8], &[u8]) = (br#"{"who":"alice"}"#, br#"{"who":"carol"}"#);
    let e1 = entry(&key, 1, &first, &[(3, q_alice), (5, q_carol)]);
    // A second registration of alice (4 is a registration), and alice's first registration
    // now naming carol: the index still lists it under alice, but it is carol's.
    let second = vec![sample(4, 1, Some(&alice)), sample(1, 2, Some(&carol))];
    assert_eq!(second[0].record_type(), RecordType::JobSeekerRegistration);
    let e2 = entry(&key, 2, &second, &[]);
    let store = open(dir.path());
    apply(&*store, &e1, 100, ApplyMode::Journal);
    apply(&*store, &e2, 200, ApplyMode::Journal);
    let total =
        |s: &dyn RecordStore| -> usize { RecordType::ALL.iter().map(|t| s.count_type(*t)).sum() };
    let before = total(&*store);
    let carol_had = found(&*store, &key, &carol);
    assert_eq!(carol_had.len(), 2);

    let erased = store
        .erase_person(&alice, &|batch, row, v| {
            assert_eq!((*batch, row == 3), ([1; 32], v == q_alice));
            v == q_alice
        })
        .unwrap();
    // Alice's person and her remaining registration, with their facts taken out once each.
    let mut types: Vec<RecordType> = erased.deltas.iter().map(|(f, _)| f.rtype).collect();
    types.sort_by_key(|t| t.as_str());
    assert_eq!(
        types,
        vec![RecordType::JobSeekerRegistration, RecordType::Person]
    );
    assert!(erased.deltas.iter().all(|(_, sign)| *sign == -1));
    // Three pairs listed alice (records 0 and 1 in the first entry, 4 in the second).
    assert_eq!(erased.index_pairs, 3);
    assert_eq!(erased.quarantined, 1);
    assert_eq!(total(&*store), before - 2);
    for gone in [&first[0], &second[0]] {
        assert!(store.get_record(&gone.record_id).unwrap().is_none());
    }
    assert!(store.get_record(&first[1].record_id).unwrap().is_some());
    assert!(store.person_record_keys(&alice).unwrap().is_empty());
    assert!(found(&*store, &key, &alice).is_empty());
    assert_eq!(found(&*store, &key, &carol), carol_had, "carol keeps hers");
    let rows: Vec<Vec<u8>> = store.quarantined().map(Result::unwrap).collect();
    assert_eq!(rows, vec![q_carol.to_vec()]);
    rollups_are_a_recount(&*store);

    // Erasing again finds nothing; it survives reopening; the store carries on.
    let again = store.erase_person(&alice, &|_, _, _| false).unwrap();
    assert_eq!(
        (again.deltas.len(), again.index_pairs, again.quarantined),
        (0, 0, 0)
    );
    drop(store);
    let store = open(dir.path());
    assert!(found(&*store, &key, &alice).is_empty());
    assert_eq!(found(&*store, &key, &carol), carol_had);
    let mut facts = 0;
    store.for_each_fact(&mut |_| facts += 1).unwrap();
    assert_eq!(facts, before - 2);
    let e3 = entry(&key, 3, &[sample(0, 1, Some(&alice))], &[]);
    apply(&*store, &e3, 300, ApplyMode::Journal);
    assert_eq!(
        found(&*store, &key, &alice),
        vec![first[0].record_id.clone()]
    );

    // Dead letters: a payload naming alice is rewritten without her record and row; one that
    // cannot be parsed goes whole if it holds her person_key, and stays otherwise.
    use super::dead_letter::{read_payload, scrub, set_aside, Scrubbed};
    let dl = dir.path().join("dead-letters");
    let mixed = entry(
        &key,
        9,
        &[sample(0, 1, Some(&alice)), sample(2, 1, None)],
        &[(1, q_alice), (2, q_carol)],
    );
    set_aside(&*store, &dl, &mixed, &letter(500)).unwrap();
    set_aside(
        &*store,
        &dl,
        format!("junk {alice}").as_bytes(),
        &letter(600),
    )
    .unwrap();
    set_aside(&*store, &dl, b"junk", &letter(700)).unwrap();
    let done = scrub(&*store, &dl, &alice, &|_, _, v| v == q_alice).unwrap();
    assert_eq!(
        done,
        Scrubbed {
            rewritten: 1,
            removed: 1
        }
    );
    let kept = read_payload(&dl, 500).unwrap();
    let parsed = Entry::parse(&kept).unwrap();
    assert_eq!(parsed.records.len(), 1);
    assert_eq!(parsed.quarantined, vec![(2, q_carol)]);
    assert!(!kept.windows(alice.len()).any(|w| w == alice.as_bytes()));
    assert_eq!(
        store.get_dead_letter(500).unwrap().unwrap().len,
        kept.len() as u64
    );
    assert!(store.get_dead_letter(600).unwrap().is_none());
    assert!(read_payload(&dl, 600).is_err());
    assert_eq!(read_payload(&dl, 700).unwrap(), b"junk");
    let again = scrub(&*store, &dl, &alice, &|_, _, v| v == q_alice).unwrap();
    assert_eq!(again, Scrubbed::default());
}

#[test]
fn the_sled_store_erases_a_person() {
    let tuning = crate::config::StoreTuning {
        cache_capacity_mib: 8,
        flush_every_ms: 1000,
        ..Default::default()
    };
    check_erase(&|dir| {
        let mut tries = 0;
        loop {
            match super::SledStore::open(dir, &tuning) {
                Ok(s) => return Arc::new(s),
                Err(e) if tries < 100 => {
                    tries += 1;
                    tracing::debug!(error = %e, "sled still locked; opening again");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => panic!("opening the sled store: {e}"),
            }
        }
    });
}

/// The database URL of the PostgreSQL tests, or `None` (said loudly) when there is none and
/// neither `CI` nor `PES_REQUIRE_PG=1` requires one.
pub(crate) fn pg_url() -> Option<String> {
    if let Ok(url) = std::env::var("PES_TEST_PG_URL") {
        if !url.is_empty() {
            return Some(url);
        }
    }
    let required =
        std::env::var_os("CI").is_some() || std::env::var("PES_REQUIRE_PG").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "PES_TEST_PG_URL is not set, and CI (or PES_REQUIRE_PG=1) requires the PostgreSQL \
         store's tests: start a cluster with `eval \"$(tests/postgres/start.sh)\"`"
    );
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    use std::io::Write;
    let _ = std::io::stderr().write_all(
        b"\n*** SKIPPED: a PostgreSQL store test (PES_TEST_PG_URL is not set; \
          `eval \"$(tests/postgres/start.sh)\"` starts a throwaway cluster) ***\n",
    );
    None
}

/// Opens PostgreSQL stores for the checks: each directory gets its own schema, dropped and
/// made anew the first time the directory is opened.
fn pg_opener(url: String) -> impl Fn(&Path) -> Arc<dyn RecordStore> {
    let fresh = std::sync::Mutex::new(std::collections::HashSet::new());
    move |dir: &Path| -> Arc<dyn RecordStore> {
        let d = ring::digest::digest(&ring::digest::SHA256, dir.to_string_lossy().as_bytes());
        let schema = format!("t_{}", hex::encode(&d.as_ref()[..8]));
        let settings = super::postgres::PgSettings::from_url(&url, &schema).unwrap();
        if fresh.lock().unwrap().insert(dir.to_path_buf()) {
            super::postgres::drop_schema(&settings).unwrap();
        }
        let mut store = super::postgres::PgStore::open(&settings).unwrap();
        // Fold the rollup deltas into cells every few records, so the checks see both.
        store.set_fold_threshold(5);
        Arc::new(store)
    }
}

#[test]
fn the_postgres_store_keeps_the_boundary() {
    let Some(url) = pg_url() else { return };
    let open = pg_opener(url);
    check(&open);
    check_lifecycle(&open);
}

#[test]
fn the_postgres_store_erases_a_person() {
    let Some(url) = pg_url() else { return };
    check_erase(&pg_opener(url));
}

/// One writer per region: a second store on the same schema is refused while the first is
/// open, and opens once it is closed; the rollups a new store loads are its records' recount.
#[test]
fn the_postgres_store_has_one_writer_and_keeps_its_rollups() {
    let Some(url) = pg_url() else { return };
    let open = pg_opener(url.clone());
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::from_bytes(&[7; 32]).unwrap();
    let first = open(dir.path());
    let records: Vec<Record> = (0..9).map(|i| sample(i, 1, None)).collect();
    apply(
        &*first,
        &entry(&key, 1, &records, &[]),
        100,
        ApplyMode::Journal,
    );
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        dir.path().to_string_lossy().as_bytes(),
    );
    let schema = format!("t_{}", hex::encode(&d.as_ref()[..8]));
    let settings = super::postgres::PgSettings::from_url(&url, &schema).unwrap();
    let started = std::time::Instant::now();
    let second = super::postgres::PgStore::open(&settings);
    assert!(
        matches!(&second, Err(super::StoreError::Backend(m)) if m.contains("writer lock")),
        "{second:?}"
    );
    assert!(started.elapsed() >= super::postgres::LOCK_WAIT);
    drop(first);
    let again = super::postgres::PgStore::open(&settings).unwrap();
    // The cells it keeps (it keeps them) equal a recount of its records' facts.
    assert!(again.stored_rollups(&mut |_, _, _, _| {}).unwrap());
    rollups_are_a_recount(&again);
    let live: usize = RecordType::ALL.iter().map(|t| again.count_type(*t)).sum();
    assert_eq!(live, 9);
}

/// A store written before the facts gained `county`, `station_kind` and `outcome` (every
/// value in the shorter layout) opens, reads its records as before and gives their facts, with
/// `none` for the new dimensions; a record pushed again gets the new layout.
#[test]
fn the_sled_store_reads_values_of_the_old_facts_layout() {
    use super::facts::{Dim, Facts};
    let tuning = crate::config::StoreTuning {
        cache_capacity_mib: 8,
        flush_every_ms: 1000,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::from_bytes(&[7; 32]).unwrap();
    let records: Vec<Record> = (0..9).map(|i| sample(i, 1, None)).collect();
    let facts_of = |store: &dyn RecordStore| {
        let mut all: Vec<Facts> = Vec::new();
        store.for_each_fact(&mut |f| all.push(*f)).unwrap();
        all
    };
    let (before, facts_before) = {
        let store = super::SledStore::open(dir.path(), &tuning).unwrap();
        apply(
            &store,
            &entry(&key, 1, &records, &[]),
            100,
            ApplyMode::Journal,
        );
        store.flush().unwrap();
        let read: Vec<_> = records
            .iter()
            .map(|r| {
                store
                    .read_record(&r.record_id, &key, true)
                    .unwrap()
                    .unwrap()
            })
            .collect();
        (read, facts_of(&store))
    };
    assert!(facts_before.iter().any(|f| f.get(Dim::County) != 0));
    // Rewrite every value as a gateway before the change stored it.
    {
        let db = super::sled_store::open_sled(dir.path(), &tuning).unwrap();
        for r in &records {
            let k = record_key(r);
            let v = db.get(&k).unwrap().unwrap();
            let old = super::value::tests::old_layout_value(&v);
            assert!(old.len() < v.len());
            db.insert(k, old).unwrap();
        }
        db.flush().unwrap();
    }
    let store = super::SledStore::open(dir.path(), &tuning).unwrap();
    for (r, want) in records.iter().zip(&before) {
        let got = store
            .read_record(&r.record_id, &key, true)
            .unwrap()
            .unwrap();
        assert_eq!(&got, want);
    }
    let facts_after = facts_of(&store);
    assert_eq!(facts_after.len(), facts_before.len());
    for (a, b) in facts_after.iter().zip(&facts_before) {
        assert_eq!(a.rtype, b.rtype);
        assert_eq!(a.vals[..9], b.vals[..9]);
        assert_eq!((a.key_groups, a.measure), (b.key_groups, b.measure));
        for d in [Dim::County, Dim::StationKind, Dim::Outcome] {
            assert_eq!(a.get(d), 0);
        }
    }
    // A newer version of a record replaces its old-layout value, moving the rollups from the
    // old facts to the new.
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let with_county = (0..9)
        .find(|&i| Facts::of(&sample(i, 1, None), today).get(Dim::County) != 0)
        .unwrap();
    let again = vec![sample(with_county, 2, None)];
    let mut deltas = Vec::new();
    store
        .apply_entry(
            &Entry::parse(&entry(&key, 2, &again, &[])).unwrap(),
            200,
            ApplyMode::Journal,
            &mut deltas,
        )
        .unwrap();
    let out: Vec<(i64, u32)> = deltas
        .iter()
        .map(|(f, s)| (*s, f.get(Dim::County)))
        .collect();
    let county = Facts::of(&again[0], today).get(Dim::County);
    assert_ne!(county, 0);
    assert!(
        out.contains(&(-1, 0)) && out.contains(&(1, county)),
        "{out:?}"
    );
}
