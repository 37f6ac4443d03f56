//! The stored form of one record: the key and a compact value.
//!
//! Key: one byte of record type, then the record id, so a scan of one record type is a prefix
//! scan and a record is one sled write.
//!
//! Value: `record_version` (u64 LE), [`Facts`] (fixed size), the record's JSON without its
//! protected fields (u32 LE length first), then the protected fields sealed with AES-256-GCM under
//! the data key with the record id as AAD (empty when there are none).

use chrono::NaiveDate;
use pes_schemas::{PersonProtected, Record, RecordBody, RecordType};

use crate::keys::{DataKey, KeyError};
use crate::store::facts::{rtype_byte, Facts, FACTS_LEN};

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// JSON (de)serialisation failed (program fault, or a corrupted store).
    #[error("record encoding: {0}")]
    Json(#[from] serde_json::Error),
    /// Sealing or opening the protected fields failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The stored bytes are too short or malformed (corrupted store).
    #[error("stored value is malformed")]
    Malformed,
}

const HEAD: usize = 8 + FACTS_LEN;

/// Appends the key of a record to `out`.
pub fn encode_key(rtype: RecordType, record_id: &str, out: &mut Vec<u8>) {
    out.push(rtype_byte(rtype));
    out.extend_from_slice(record_id.as_bytes());
}

/// Encodes a record's value into `out`, sealing and removing its protected fields.
pub fn encode_value(
    record: &mut Record,
    key: &DataKey,
    today: NaiveDate,
    out: &mut Vec<u8>,
) -> Result<Facts, ValueError> {
    let facts = Facts::of(record, today);
    let protected = match &mut record.body {
        RecordBody::Person(p) => p.protected.take(),
        _ => None,
    };
    out.extend_from_slice(&record.record_version.to_le_bytes());
    facts.encode_into(out);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut *out, record)?;
    let json_len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&json_len.to_le_bytes());
    if let Some(p) = protected {
        let plain = serde_json::to_vec(&p)?;
        key.seal_into(record.record_id.as_bytes(), &plain, out)?;
    }
    Ok(facts)
}

/// The version stored at the front of a value.
pub fn value_version(v: &[u8]) -> Option<u64> {
    v.get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

/// The facts stored in a value.
pub fn value_facts(v: &[u8]) -> Option<Facts> {
    Facts::decode(v.get(8..HEAD)?)
}

fn json_part(v: &[u8]) -> Result<(&[u8], &[u8]), ValueError> {
    let lb = v.get(HEAD..HEAD + 4).ok_or(ValueError::Malformed)?;
    let len = u32::from_le_bytes([lb[0], lb[1], lb[2], lb[3]]) as usize;
    let json = v
        .get(HEAD + 4..HEAD + 4 + len)
        .ok_or(ValueError::Malformed)?;
    Ok((json, &v[HEAD + 4 + len..]))
}

/// Decodes a stored record; its protected fields are opened only when `reveal` is set.
pub fn decode_value(v: &[u8], key: &DataKey, reveal: bool) -> Result<Record, ValueError> {
    let (json, sealed) = json_part(v)?;
    let mut record: Record = serde_json::from_slice(json)?;
    if reveal && !sealed.is_empty() {
        let plain = key.open(record.record_id.as_bytes(), sealed)?;
        let p: PersonProtected = serde_json::from_slice(&plain)?;
        if let RecordBody::Person(person) = &mut record.body {
            person.protected = Some(p);
        }
    }
    Ok(record)
}

/// Whether a stored value holds sealed protected fields.
pub fn has_protected(v: &[u8]) -> bool {
    json_part(v).map(|(_, s)| !s.is_empty()).unwrap_or(false)
}
