//! What applying one record or one lifecycle item does to what is stored: the version rules
//! every backend follows, as pure functions of the offered and the stored value, so sled and
//! PostgreSQL cannot drift apart. The backends only read the old values and write the result.

use std::borrow::Cow;

use super::entry::{Entry, EntryKind, ANY_VERSION};
use super::facts::{self, Facts};
use super::{value, ApplyMode, StoreError};

/// `(key, value)` pairs borrowed from an entry.
pub(crate) type KeyValues<'a> = Vec<(&'a [u8], &'a [u8])>;

/// An entry's records sorted by key, one per key: the newest version of each (the later one of
/// equal versions: a push-ordered batch's last copy wins), and how many copies were dropped.
pub(crate) fn newest<'a>(entry: &Entry<'a>) -> (KeyValues<'a>, u64) {
    let mut order: Vec<usize> = (0..entry.records.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let (ka, va) = entry.records[a];
        let (kb, vb) = entry.records[b];
        ka.cmp(kb)
            .then_with(|| value::value_version(vb).cmp(&value::value_version(va)))
            .then_with(|| b.cmp(&a))
    });
    let mut dropped = 0;
    let mut newest: Vec<(&[u8], &[u8])> = Vec::with_capacity(order.len());
    for i in order {
        let (key, val) = entry.records[i];
        if newest.last().is_some_and(|(k, _)| *k == key) {
            dropped += 1;
        } else {
            newest.push((key, val));
        }
    }
    (newest, dropped)
}

/// What to do with one offered record.
pub(crate) enum Upsert<'v> {
    /// Nothing to write: the store holds this version or a newer one, or (push order) the same
    /// content. `relist` is the person_key whose index pair a replay must still leave in place
    /// (the first attempt may have stored the record and stopped before its pair).
    Unchanged { relist: Option<&'v [u8]> },
    /// Write `value` over whatever is stored.
    Write {
        /// The value to store (re-versioned for a push-ordered record).
        value: Cow<'v, [u8]>,
        /// Facts of the live version it replaces (out of the rollups), if any.
        old_facts: Option<Facts>,
        /// Facts of the new version (into the rollups).
        new_facts: Facts,
        /// The person_key to list the record under: only for a new record or a changed
        /// person_key.
        list: Option<&'v [u8]>,
        /// Whether the store held no live version (new, or a retired one brought back).
        new: bool,
    },
}

/// Decides an offered record `(key, val)` against the stored value `old` (tombstones included).
/// A record without a version of its own (0) is ordered by its batch's journal position.
pub(crate) fn decide<'v>(
    key: &[u8],
    val: &'v [u8],
    old: Option<&[u8]>,
    mode: ApplyMode,
    end_offset: u64,
) -> Result<Upsert<'v>, StoreError> {
    let own_version = value::value_version(val).ok_or(StoreError::Malformed)?;
    let new_facts = value::value_facts(val).ok_or(StoreError::Malformed)?;
    let push_ordered = own_version == 0;
    let (new_version, val_out): (u64, Cow<'v, [u8]>) = if push_ordered {
        let v = value::push_order_version(end_offset);
        (v, Cow::Owned(value::with_version(val, v)))
    } else {
        (own_version, Cow::Borrowed(val))
    };
    let indexed = key
        .first()
        .and_then(|b| facts::rtype_from_byte(*b))
        .is_some_and(value::links_person);
    // A tombstone is overwritten by the same version or a newer one (the record is back in its
    // source) and contributes nothing to the rollups.
    let old = match old {
        Some(o) if !value::is_live(o) => {
            let retired_version = value::value_version(o).ok_or(StoreError::Malformed)?;
            if retired_version > new_version {
                return Ok(Upsert::Unchanged { relist: None });
            }
            None
        }
        other => other,
    };
    let mut old_person = None;
    let mut old_facts = None;
    if let Some(old) = old {
        let old_version = value::value_version(old).ok_or(StoreError::Malformed)?;
        // The same content pushed again by a push-ordered source changes nothing.
        let same_content = push_ordered
            && value::value_digest(old).is_some()
            && value::value_digest(old) == value::value_digest(val);
        if old_version >= new_version || same_content {
            let replayed_same =
                mode != ApplyMode::Journal && old_version == new_version && old == &val_out[..];
            let relist = if replayed_same && indexed {
                value::value_person_key(val)
            } else {
                None
            };
            return Ok(Upsert::Unchanged { relist });
        }
        old_facts = Some(value::value_facts(old).ok_or(StoreError::Malformed)?);
        old_person = value::value_person_key(old);
    }
    let new_person = value::value_person_key(val);
    // Only a new record or a changed person_key touches the index.
    let list = if indexed && (old.is_none() || old_person != new_person) {
        new_person
    } else {
        None
    };
    Ok(Upsert::Write {
        value: val_out,
        old_facts,
        new_facts,
        list,
        new: old.is_none(),
    })
}

/// What a lifecycle item does to a stored value.
pub(crate) enum Change {
    /// Replace the live value with this tombstone; its facts leave the rollups.
    Retire(Vec<u8>, Facts),
    /// Delete the tombstone.
    Purge,
    /// Nothing: gone already, or changed since the decision.
    Unchanged,
}

/// Decides a retirement or purge item (the stored value `old`, the version the decision saw).
pub(crate) fn lifecycle_change(
    kind: EntryKind,
    old: Option<&[u8]>,
    expected: u64,
    retired: &value::Retired,
) -> Result<Change, StoreError> {
    let Some(old) = old else {
        return Ok(Change::Unchanged);
    };
    let version = value::value_version(old).ok_or(StoreError::Malformed)?;
    let live = value::is_live(old);
    let wanted = expected == ANY_VERSION || expected == version;
    Ok(match kind {
        EntryKind::Retire if live && wanted => {
            let facts = value::value_facts(old).ok_or(StoreError::Malformed)?;
            let mut tomb = Vec::with_capacity(64);
            value::encode_tombstone(old, retired, &mut tomb).ok_or(StoreError::Malformed)?;
            Change::Retire(tomb, facts)
        }
        EntryKind::Purge if !live && wanted => Change::Purge,
        _ => Change::Unchanged,
    })
}

/// Why a lifecycle entry retires records, from its time and reason.
pub(crate) fn retired_of(ingested_at: &str, reason: &str) -> value::Retired {
    value::Retired {
        at_ms: chrono::DateTime::parse_from_rfc3339(ingested_at)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0),
        reason: reason.to_string(),
    }
}
