//! The stored form of one record: the key and a compact value.
//!
//! Key: one byte of record type, then the record id, so a scan of one record type is a prefix
//! scan and a record is one sled write.
//!
//! Value: `record_version` (u64 LE), [`Facts`] (fixed size per layout: the layout written
//! before `county`, `station_kind` and `outcome` is shorter, and its values still read, see
//! [`Facts::encoded_len`]), a form byte, the content digest (16
//! bytes; not in forms 0 and 1, written before it existed), the batch id (32 bytes), the
//! record's location in its export (u16 LE length first), its JSON (u32 LE length first), then
//! the protected fields sealed with AES-256-GCM under the data key with the record id as AAD
//! (empty when there are none).
//!
//! The content digest (SHA-256 of the record body's JSON and of the protected fields' plain
//! JSON, first 16 bytes) lets a push-ordered source's identical re-export count as unchanged:
//! the sealed bytes differ on every push, the digest does not. A retired record keeps its key
//! with a tombstone value ([`encode_tombstone`]): its version, facts, when it was retired and
//! why, so an older copy cannot bring it back and retention can purge it later.
//!
//! In the compact form (0) the JSON is the typed body only: the envelope fields every record of a
//! batch shares (schema version, code lists, raw hash, adapter, ingest time) are stored once per
//! batch as a [`SharedEnvelope`], and record id, region, source and source record id come from
//! the key. That keeps a value to a few hundred bytes. A record whose shared fields differ from
//! its batch's is stored whole (form 1).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pes_schemas::{PersonProtected, Provenance, Record, RecordBody, RecordType};
use serde::{Deserialize, Serialize};

use crate::keys::{DataKey, KeyError};
use crate::store::facts::{rtype_byte, Facts};

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// JSON (de)serialisation failed (program fault, or a corrupted store).
    #[error("record encoding: {0}")]
    Json(#[from] serde_json::Error),
    /// Sealing or opening the protected fields failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The stored bytes are too short or malformed, or the batch envelope is missing.
    #[error("stored value is malformed")]
    Malformed,
}

/// Envelope fields shared by the records of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedEnvelope {
    /// Schema version.
    pub schema_version: String,
    /// Code-list versions.
    pub code_lists: BTreeMap<String, String>,
    /// Hash of the pushed batch.
    pub raw_sha256: String,
    /// Adapter id.
    pub adapter_id: String,
    /// Adapter version.
    pub adapter_version: String,
    /// Ingest time.
    pub ingested_at: String,
}

impl SharedEnvelope {
    /// The shared fields of a record.
    pub fn of(r: &Record) -> SharedEnvelope {
        SharedEnvelope {
            schema_version: r.schema_version.to_string(),
            code_lists: (*r.code_lists).clone(),
            raw_sha256: r.provenance.raw_sha256.to_string(),
            adapter_id: r.provenance.adapter_id.to_string(),
            adapter_version: r.provenance.adapter_version.to_string(),
            ingested_at: r.provenance.ingested_at.to_string(),
        }
    }

    /// Whether a record carries exactly these shared fields.
    pub fn matches(&self, r: &Record) -> bool {
        *self.schema_version == *r.schema_version
            && self.code_lists == *r.code_lists
            && *self.raw_sha256 == *r.provenance.raw_sha256
            && *self.adapter_id == *r.provenance.adapter_id
            && *self.adapter_version == *r.provenance.adapter_version
            && *self.ingested_at == *r.provenance.ingested_at
    }
}

/// Length of a value's head (version and facts), which depends on the facts layout it was
/// written with; `None` when the value is too short to say.
fn head(v: &[u8]) -> Option<usize> {
    let first = *v.get(8)?;
    Some(8 + Facts::encoded_len(first))
}
/// Compact form, written before content digests (read only).
const FORM_COMPACT_V0: u8 = 0;
/// Whole form, written before content digests (read only).
const FORM_WHOLE_V0: u8 = 1;
const FORM_COMPACT: u8 = 2;
const FORM_WHOLE: u8 = 3;
const FORM_TOMBSTONE: u8 = 4;
/// Bytes of the content digest kept in a value.
pub const DIGEST_LEN: usize = 16;

/// Versions of push-ordered records start here: `PUSH_ORDER_BASE + journal offset` of the
/// batch that carried them, above any date (`20240630`) or millisecond-timestamp version a
/// source column gives, and below 2^53 so JSON readers keep them exact.
pub const PUSH_ORDER_BASE: u64 = 1 << 52;

/// The version a record of a push-ordered source gets when its batch is applied: records arrive
/// with version 0 ("no version of its own") and the store puts this in its place.
pub fn push_order_version(end_offset: u64) -> u64 {
    PUSH_ORDER_BASE + end_offset
}

/// Appends the key of a record to `out`.
pub fn encode_key(rtype: RecordType, record_id: &str, out: &mut Vec<u8>) {
    out.push(rtype_byte(rtype));
    out.extend_from_slice(record_id.as_bytes());
}

/// Encodes a record's value into `out`, sealing and removing its protected fields. `shared` is
/// the batch's shared envelope: set from the first record, compared with the others.
/// `person_groups` are the key groups of the record's person when the caller knows them (see
/// [`Facts::link_person`]).
pub fn encode_value(
    record: &mut Record,
    key: &DataKey,
    today: NaiveDate,
    batch_id: &[u8; 32],
    shared: &mut Option<SharedEnvelope>,
    person_groups: Option<u8>,
    out: &mut Vec<u8>,
) -> Result<Facts, ValueError> {
    let mut facts = Facts::of(record, today);
    facts.link_person(person_groups);
    let protected = match &mut record.body {
        RecordBody::Person(p) => p.protected.take(),
        _ => None,
    };
    let compact = match shared {
        Some(s) => s.matches(record),
        None => {
            *shared = Some(SharedEnvelope::of(record));
            true
        }
    };
    out.extend_from_slice(&record.record_version.to_le_bytes());
    facts.encode_into(out);
    out.push(if compact { FORM_COMPACT } else { FORM_WHOLE });
    let digest_at = out.len();
    out.extend_from_slice(&[0; DIGEST_LEN]);
    out.extend_from_slice(batch_id);
    let loc = record.provenance.location.as_bytes();
    let loc = &loc[..loc.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(loc.len() as u16).to_le_bytes());
    out.extend_from_slice(loc);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    if compact {
        serde_json::to_writer(&mut *out, &record.body)?;
        digest.update(&out[len_at + 4..]);
    } else {
        serde_json::to_writer(&mut *out, &*record)?;
        digest.update(&serde_json::to_vec(&record.body)?);
    }
    let json_len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&json_len.to_le_bytes());
    if let Some(p) = protected {
        let plain = serde_json::to_vec(&p)?;
        // A separator, so a body and protected fields cannot be shifted into one another.
        digest.update(&[0]);
        digest.update(&plain);
        key.seal_into(record.record_id.as_bytes(), &plain, out)?;
    }
    let d = digest.finish();
    out[digest_at..digest_at + DIGEST_LEN].copy_from_slice(&d.as_ref()[..DIGEST_LEN]);
    Ok(facts)
}

/// Why a record was retired, kept in its tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// `snapshot:<id>`, `request:<id>` or `retention`.
    pub reason: String,
}

/// Appends the tombstone of a retired record: its last version and facts, then when and why.
/// Readers treat the key as absent ([`is_live`]); retention deletes it after a while.
pub fn encode_tombstone(old: &[u8], retired: &Retired, out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(old.get(..head(old)?)?);
    out.push(FORM_TOMBSTONE);
    out.extend_from_slice(&retired.at_ms.to_le_bytes());
    let r = retired.reason.as_bytes();
    let r = &r[..r.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(r.len() as u16).to_le_bytes());
    out.extend_from_slice(r);
    Some(())
}

/// Whether a stored value is a record (not a tombstone).
pub fn is_live(v: &[u8]) -> bool {
    head(v)
        .and_then(|h| v.get(h))
        .is_some_and(|f| *f != FORM_TOMBSTONE)
}

/// When and why a tombstone's record was retired (`None` for a live record).
pub fn tombstone(v: &[u8]) -> Option<Retired> {
    let h = head(v)?;
    if *v.get(h)? != FORM_TOMBSTONE {
        return None;
    }
    let at = v.get(h + 1..h + 9)?;
    let at_ms = i64::from_le_bytes(at.try_into().ok()?);
    let lb = v.get(h + 9..h + 11)?;
    let len = u16::from_le_bytes([lb[0], lb[1]]) as usize;
    let reason = String::from_utf8_lossy(v.get(h + 11..h + 11 + len)?).into_owned();
    Some(Retired { at_ms, reason })
}

/// The content digest of a stored record (`None` for values written before digests existed,
/// and for tombstones).
pub fn value_digest(v: &[u8]) -> Option<&[u8]> {
    let h = head(v)?;
    match *v.get(h)? {
        FORM_COMPACT | FORM_WHOLE => v.get(h + 1..h + 1 + DIGEST_LEN),
        _ => None,
    }
}

/// A copy of a stored value with another version (a push-ordered record gets its batch's
/// journal position when it is applied).
pub fn with_version(v: &[u8], version: u64) -> Vec<u8> {
    let mut out = v.to_vec();
    if out.len() >= 8 {
        out[..8].copy_from_slice(&version.to_le_bytes());
    }
    out
}

/// The version stored at the front of a value.
pub fn value_version(v: &[u8]) -> Option<u64> {
    v.get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

/// The facts stored in a value.
pub fn value_facts(v: &[u8]) -> Option<Facts> {
    Facts::decode(v.get(8..head(v)?)?)
}

struct Parts<'a> {
    form: u8,
    batch_id: [u8; 32],
    location: &'a [u8],
    json: &'a [u8],
    sealed: &'a [u8],
}

fn parts(v: &[u8]) -> Result<Parts<'_>, ValueError> {
    let h = head(v).ok_or(ValueError::Malformed)?;
    let (form, at) = match *v.get(h).ok_or(ValueError::Malformed)? {
        FORM_COMPACT_V0 => (FORM_COMPACT, h + 1),
        FORM_WHOLE_V0 => (FORM_WHOLE, h + 1),
        f @ (FORM_COMPACT | FORM_WHOLE) => (f, h + 1 + DIGEST_LEN),
        _ => return Err(ValueError::Malformed),
    };
    let batch_id: [u8; 32] = v
        .get(at..at + 32)
        .and_then(|b| b.try_into().ok())
        .ok_or(ValueError::Malformed)?;
    let mut pos = at + 32;
    let lb = v.get(pos..pos + 2).ok_or(ValueError::Malformed)?;
    let loc_len = u16::from_le_bytes([lb[0], lb[1]]) as usize;
    pos += 2;
    let location = v.get(pos..pos + loc_len).ok_or(ValueError::Malformed)?;
    pos += loc_len;
    let jb = v.get(pos..pos + 4).ok_or(ValueError::Malformed)?;
    let json_len = u32::from_le_bytes([jb[0], jb[1], jb[2], jb[3]]) as usize;
    pos += 4;
    let json = v.get(pos..pos + json_len).ok_or(ValueError::Malformed)?;
    Ok(Parts {
        form,
        batch_id,
        location,
        json,
        sealed: &v[pos + json_len..],
    })
}

/// The batch a stored record came from.
pub fn value_batch(v: &[u8]) -> Option<[u8; 32]> {
    parts(v).ok().map(|p| p.batch_id)
}

/// Decodes a stored record. `record_id` is from its key; `shared` is its batch's envelope.
/// Protected fields are opened only when `reveal` is set.
pub fn decode_value(
    record_id: &str,
    v: &[u8],
    shared: Option<&SharedEnvelope>,
    key: &DataKey,
    reveal: bool,
) -> Result<Record, ValueError> {
    let p = parts(v)?;
    let mut record: Record = if p.form == FORM_WHOLE {
        serde_json::from_slice(p.json)?
    } else {
        let shared = shared.ok_or(ValueError::Malformed)?;
        let body: RecordBody = serde_json::from_slice(p.json)?;
        let mut it = record_id.splitn(3, ':');
        let (region, source, srid) = (
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
        );
        Record {
            record_id: record_id.to_string(),
            region: region.into(),
            source: source.into(),
            source_record_id: srid.to_string(),
            record_version: value_version(v).ok_or(ValueError::Malformed)?,
            schema_version: shared.schema_version.as_str().into(),
            code_lists: shared.code_lists.clone().into(),
            provenance: Provenance {
                raw_sha256: shared.raw_sha256.as_str().into(),
                adapter_id: shared.adapter_id.as_str().into(),
                adapter_version: shared.adapter_version.as_str().into(),
                ingested_at: shared.ingested_at.as_str().into(),
                location: String::from_utf8_lossy(p.location).into_owned(),
            },
            body,
        }
    };
    if reveal && !p.sealed.is_empty() {
        let plain = key.open(record.record_id.as_bytes(), p.sealed)?;
        let prot: PersonProtected = serde_json::from_slice(&plain)?;
        if let RecordBody::Person(person) = &mut record.body {
            person.protected = Some(prot);
        }
    }
    Ok(record)
}

/// The typed body of a stored record, without its envelope; protected fields stay sealed and
/// out of it (what a search index reads).
pub fn value_body(v: &[u8]) -> Result<RecordBody, ValueError> {
    let p = parts(v)?;
    // A whole record's JSON carries the envelope beside the tagged body; the body's fields are
    // read and the envelope's ignored.
    Ok(serde_json::from_slice(p.json)?)
}

/// Whether records of this type name a person (and so belong in the person index).
pub fn links_person(rtype: RecordType) -> bool {
    !matches!(rtype, RecordType::Employer | RecordType::Vacancy)
}

/// The person_key a stored value names, if any. The key is found in the value's JSON without
/// parsing it: `"person_key":"` can only occur there as that key (a quote inside a string value
/// is escaped), and a person_key is base64url, so it ends at the next quote.
pub fn value_person_key(v: &[u8]) -> Option<&[u8]> {
    const NEEDLE: &[u8] = b"\"person_key\":\"";
    let json = parts(v).ok()?.json;
    let at = json.windows(NEEDLE.len()).position(|w| w == NEEDLE)? + NEEDLE.len();
    let rest = json.get(at..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(&rest[..end])
}

/// Whether a stored value holds sealed protected fields.
pub fn has_protected(v: &[u8]) -> bool {
    parts(v).map(|p| !p.sealed.is_empty()).unwrap_or(false)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::native_sample::record;

    #[test]
    fn compact_and_whole_values_decode_to_the_record() {
        let key = DataKey::from_bytes(&[1; 32]).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut shared = None;
        for (i, tweak) in [(0u64, false), (1, false), (2, true), (3, false)] {
            let original = record(i, "440000", "gd-hr", 3);
            let mut r = original.clone();
            if tweak {
                std::sync::Arc::make_mut(&mut r.code_lists).insert("extra".into(), "9".into());
            }
            let want = r.clone();
            let mut v = Vec::new();
            encode_value(&mut r, &key, today, &[5; 32], &mut shared, None, &mut v).unwrap();
            assert_eq!(
                v[head(&v).unwrap()],
                if tweak { FORM_WHOLE } else { FORM_COMPACT }
            );
            let back = decode_value(&want.record_id, &v, shared.as_ref(), &key, true).unwrap();
            assert_eq!(back, want, "record {i}");
            let hidden = decode_value(&want.record_id, &v, shared.as_ref(), &key, false).unwrap();
            if let RecordBody::Person(p) = &hidden.body {
                assert!(p.protected.is_none());
                assert!(has_protected(&v));
            }
        }
    }

    /// A value as stores wrote it before the facts gained `county`, `station_kind` and
    /// `outcome`: the same value with the old facts layout in place of the new one.
    pub(crate) fn old_layout_value(v: &[u8]) -> Vec<u8> {
        let f = value_facts(v).unwrap();
        let mut out = v[..8].to_vec();
        out.extend_from_slice(&crate::store::facts::tests::old_layout(&f));
        out.extend_from_slice(&v[head(v).unwrap()..]);
        out
    }

    #[test]
    fn old_layout_values_still_decode() {
        let key = DataKey::from_bytes(&[1; 32]).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut shared = None;
        for i in 0..4u64 {
            let mut r = record(i, "440000", "gd-hr", 3);
            let want = r.clone();
            let mut v = Vec::new();
            let facts =
                encode_value(&mut r, &key, today, &[5; 32], &mut shared, None, &mut v).unwrap();
            let old = old_layout_value(&v);
            assert_eq!(old.len() + 12, v.len());
            // Records, facts, digest, batch and liveness read as before.
            let back = decode_value(&want.record_id, &old, shared.as_ref(), &key, true).unwrap();
            assert_eq!(back, want, "record {i}");
            let old_facts = value_facts(&old).unwrap();
            assert_eq!(old_facts.rtype, facts.rtype);
            assert_eq!(old_facts.vals[..9], facts.vals[..9]);
            assert_eq!(old_facts.get(crate::store::facts::Dim::County), 0);
            assert_eq!(value_digest(&old), value_digest(&v));
            assert_eq!(value_batch(&old), Some([5; 32]));
            assert_eq!(value_version(&old), Some(3));
            assert!(is_live(&old));
            assert_eq!(value_person_key(&old), value_person_key(&v));
            assert_eq!(has_protected(&old), has_protected(&v));
            // An old value retired keeps its own layout in the tombstone.
            let retired = Retired {
                at_ms: 7,
                reason: "retention".into(),
            };
            let mut t = Vec::new();
            encode_tombstone(&old, &retired, &mut t).unwrap();
            assert!(!is_live(&t));
            assert_eq!(tombstone(&t), Some(retired));
            assert_eq!(value_facts(&t), Some(old_facts));
        }
    }
}
