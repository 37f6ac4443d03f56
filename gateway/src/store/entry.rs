//! A journal entry: one pushed batch (normalised records, already encoded for the store with
//! protected fields sealed, and quarantined rows with the raw row sealed), or one lifecycle
//! change (records to retire, tombstones to purge).
//!
//! Layout (version 2): `u8 version | [32] batch id | u16+source | u16+ingested_at | u8 kind |
//! u16+snapshot id |` then, for a batch, `u32+shared envelope | u32 records | u32 quarantined |
//! records: (u16+key, u32+value)* | quarantined: (u32 row, u32+value)*`, and for a retirement or
//! a purge, `u16+reason | u32 n | (u16+key, u64 expected version)*`. Version 1 entries (a batch,
//! without kind and snapshot id) are still read. Records are appended while the body is decoded,
//! so the entry is built without a second copy.

/// Entry format version written.
pub const VERSION: u8 = 2;
/// The first format, before snapshots and retirement (read only).
const VERSION_1: u8 = 1;

/// An expected version that matches whatever is stored (retirement by source record id).
pub const ANY_VERSION: u64 = u64::MAX;

/// What an entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A pushed batch.
    Batch,
    /// Retire live records (tombstone them), each only if its stored version is the expected
    /// one ([`ANY_VERSION`]: any).
    Retire,
    /// Delete tombstones for good (retention), each only if it still holds the expected
    /// version.
    Purge,
}

impl EntryKind {
    fn byte(self) -> u8 {
        match self {
            EntryKind::Batch => 0,
            EntryKind::Retire => 1,
            EntryKind::Purge => 2,
        }
    }

    fn from_byte(b: u8) -> Option<EntryKind> {
        Some(match b {
            0 => EntryKind::Batch,
            1 => EntryKind::Retire,
            2 => EntryKind::Purge,
            _ => return None,
        })
    }
}

/// Why an entry could not be read (corrupted journal: never acknowledged data, or a program bug).
#[derive(Debug, thiserror::Error)]
#[error("journal entry is malformed")]
pub struct MalformedEntry;

/// Builds a journal entry.
pub struct EntryBuilder {
    snapshot: String,
    records: Vec<u8>,
    quarantine: Vec<u8>,
    n_records: u32,
    n_quarantine: u32,
    head: Vec<u8>,
}

impl EntryBuilder {
    /// Starts an entry for a batch.
    pub fn new(
        batch_id: &[u8; 32],
        source: &str,
        ingested_at: &str,
        capacity: usize,
    ) -> EntryBuilder {
        EntryBuilder {
            snapshot: String::new(),
            records: Vec::with_capacity(capacity),
            quarantine: Vec::new(),
            n_records: 0,
            n_quarantine: 0,
            head: head(batch_id, source, ingested_at),
        }
    }

    /// Marks the batch as part of a snapshot of its source.
    pub fn snapshot(&mut self, id: &str) {
        self.snapshot = id.to_string();
    }

    /// Appends one record; `write_key` and `write_value` append to the buffer they are given.
    pub fn push_record<E>(
        &mut self,
        write_key: impl FnOnce(&mut Vec<u8>),
        write_value: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mark = self.records.len();
        self.records.extend_from_slice(&[0, 0]);
        write_key(&mut self.records);
        let klen = (self.records.len() - mark - 2) as u16;
        self.records[mark..mark + 2].copy_from_slice(&klen.to_le_bytes());
        let vmark = self.records.len();
        self.records.extend_from_slice(&[0; 4]);
        if let Err(e) = write_value(&mut self.records) {
            self.records.truncate(mark);
            return Err(e);
        }
        let vlen = (self.records.len() - vmark - 4) as u32;
        self.records[vmark..vmark + 4].copy_from_slice(&vlen.to_le_bytes());
        self.n_records += 1;
        Ok(())
    }

    /// Appends one quarantined row (its value already holds the sealed raw row).
    pub fn push_quarantined(&mut self, row: u32, value: &[u8]) {
        self.quarantine.extend_from_slice(&row.to_le_bytes());
        self.quarantine
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.quarantine.extend_from_slice(value);
        self.n_quarantine += 1;
    }

    /// Records so far.
    pub fn records(&self) -> u32 {
        self.n_records
    }

    /// Finishes the entry; `shared` is the batch's shared envelope (JSON, may be empty).
    pub fn finish(self, shared: &[u8]) -> Vec<u8> {
        let mut out = self.head;
        out.reserve(15 + self.snapshot.len() + shared.len() + self.records.len());
        out.reserve(self.quarantine.len());
        out.push(EntryKind::Batch.byte());
        put_short(&mut out, self.snapshot.as_bytes());
        out.extend_from_slice(&(shared.len() as u32).to_le_bytes());
        out.extend_from_slice(shared);
        out.extend_from_slice(&self.n_records.to_le_bytes());
        out.extend_from_slice(&self.n_quarantine.to_le_bytes());
        out.extend_from_slice(&self.records);
        out.extend_from_slice(&self.quarantine);
        out
    }
}

fn head(batch_id: &[u8; 32], source: &str, ingested_at: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(64);
    head.push(VERSION);
    head.extend_from_slice(batch_id);
    put_short(&mut head, source.as_bytes());
    put_short(&mut head, ingested_at.as_bytes());
    head
}

/// What a lifecycle entry ([`EntryKind::Retire`] or [`EntryKind::Purge`]) carries besides its
/// items.
pub struct Lifecycle<'a> {
    /// Id of the change (a snapshot commit's is derived from the snapshot id).
    pub batch_id: [u8; 32],
    /// The source whose records change.
    pub source: &'a str,
    /// RFC 3339 time of the decision.
    pub at: &'a str,
    /// Retire or purge.
    pub kind: EntryKind,
    /// The snapshot being committed, if any.
    pub snapshot: &'a str,
    /// Why: `snapshot:<id>`, `request:<id>`, `retention`.
    pub reason: &'a str,
}

/// Builds a lifecycle entry over `(key, expected version)` items.
pub fn lifecycle_entry(l: &Lifecycle<'_>, items: &[(Vec<u8>, u64)]) -> Vec<u8> {
    let mut out = head(&l.batch_id, l.source, l.at);
    out.push(l.kind.byte());
    put_short(&mut out, l.snapshot.as_bytes());
    put_short(&mut out, l.reason.as_bytes());
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for (key, version) in items {
        put_short(&mut out, key);
        out.extend_from_slice(&version.to_le_bytes());
    }
    out
}

fn put_short(out: &mut Vec<u8>, b: &[u8]) {
    let len = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&b[..len]);
}

/// A parsed view of a journal entry.
#[derive(Debug)]
pub struct Entry<'a> {
    /// SHA-256 of the pushed body.
    pub batch_id: [u8; 32],
    /// Source id.
    pub source: &'a str,
    /// RFC 3339 ingest time.
    pub ingested_at: &'a str,
    /// What the entry does.
    pub kind: EntryKind,
    /// The snapshot the batch belongs to, or the one a retirement commits (empty: none).
    pub snapshot: &'a str,
    /// Why records are retired or purged (empty for a batch).
    pub reason: &'a str,
    /// `(key, expected version)` of the records a lifecycle entry retires or purges.
    pub lifecycle: Vec<(&'a [u8], u64)>,
    /// The batch's shared envelope (JSON; empty when the batch has no records).
    pub shared: &'a [u8],
    /// `(key, value)` of each record, in input order.
    pub records: Vec<(&'a [u8], &'a [u8])>,
    /// `(row, value)` of each quarantined row.
    pub quarantined: Vec<(u32, &'a [u8])>,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MalformedEntry> {
        let s = self.b.get(self.pos..self.pos + n).ok_or(MalformedEntry)?;
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self) -> Result<usize, MalformedEntry> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]) as usize)
    }
    fn u32(&mut self) -> Result<u32, MalformedEntry> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, MalformedEntry> {
        let s = self.take(8)?;
        Ok(u64::from_le_bytes(
            s.try_into().map_err(|_| MalformedEntry)?,
        ))
    }
    fn str16(&mut self) -> Result<&'a str, MalformedEntry> {
        let n = self.u16()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| MalformedEntry)
    }
}

impl<'a> Entry<'a> {
    /// Parses an entry.
    pub fn parse(b: &'a [u8]) -> Result<Entry<'a>, MalformedEntry> {
        let mut c = Cursor { b, pos: 0 };
        let version = c.take(1)?[0];
        if version != VERSION && version != VERSION_1 {
            return Err(MalformedEntry);
        }
        let mut batch_id = [0u8; 32];
        batch_id.copy_from_slice(c.take(32)?);
        let source = c.str16()?;
        let ingested_at = c.str16()?;
        let (kind, snapshot) = if version == VERSION_1 {
            (EntryKind::Batch, "")
        } else {
            let kind = EntryKind::from_byte(c.take(1)?[0]).ok_or(MalformedEntry)?;
            (kind, c.str16()?)
        };
        let mut entry = Entry {
            batch_id,
            source,
            ingested_at,
            kind,
            snapshot,
            reason: "",
            lifecycle: Vec::new(),
            shared: &[],
            records: Vec::new(),
            quarantined: Vec::new(),
        };
        if kind != EntryKind::Batch {
            entry.reason = c.str16()?;
            let n = c.u32()? as usize;
            entry.lifecycle.reserve(n.min(b.len() / 10));
            for _ in 0..n {
                let k = c.u16()?;
                let key = c.take(k)?;
                entry.lifecycle.push((key, c.u64()?));
            }
            return Ok(entry);
        }
        let shared_len = c.u32()? as usize;
        let shared = c.take(shared_len)?;
        let n_records = c.u32()? as usize;
        let n_quarantine = c.u32()? as usize;
        let mut records = Vec::with_capacity(n_records.min(b.len() / 8));
        for _ in 0..n_records {
            let k = c.u16()?;
            let key = c.take(k)?;
            let v = c.u32()? as usize;
            records.push((key, c.take(v)?));
        }
        let mut quarantined = Vec::with_capacity(n_quarantine.min(b.len() / 8));
        for _ in 0..n_quarantine {
            let row = c.u32()?;
            let v = c.u32()? as usize;
            quarantined.push((row, c.take(v)?));
        }
        entry.shared = shared;
        entry.records = records;
        entry.quarantined = quarantined;
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips() {
        let mut b = EntryBuilder::new(&[7; 32], "gd-hr", "2026-01-01T00:00:00Z", 0);
        b.push_record::<()>(
            |k| k.extend_from_slice(b"k1"),
            |v| {
                v.extend_from_slice(b"value-1");
                Ok(())
            },
        )
        .unwrap();
        assert!(b
            .push_record(
                |k| k.extend_from_slice(b"bad"),
                |v| {
                    v.push(1);
                    Err("nope")
                }
            )
            .is_err());
        b.push_quarantined(3, b"q");
        let bytes = b.finish(b"{}");
        let e = Entry::parse(&bytes).unwrap();
        assert_eq!(e.source, "gd-hr");
        assert_eq!(e.shared, b"{}");
        assert_eq!(e.records, vec![(&b"k1"[..], &b"value-1"[..])]);
        assert_eq!(e.quarantined, vec![(3, &b"q"[..])]);
        assert!(Entry::parse(&bytes[..bytes.len() - 1]).is_err());
        assert_eq!((e.kind, e.snapshot), (EntryKind::Batch, ""));
    }

    #[test]
    fn snapshot_batches_and_lifecycle_entries_round_trip() {
        let mut b = EntryBuilder::new(&[1; 32], "gd-hr", "t", 0);
        b.snapshot("snap-1");
        let bytes = b.finish(b"");
        let e = Entry::parse(&bytes).unwrap();
        assert_eq!(
            (e.kind, e.snapshot, e.records.len()),
            (EntryKind::Batch, "snap-1", 0)
        );

        let l = Lifecycle {
            batch_id: [2; 32],
            source: "gd-hr",
            at: "2026-01-01T00:00:00Z",
            kind: EntryKind::Retire,
            snapshot: "snap-1",
            reason: "snapshot:snap-1",
        };
        let items = vec![(b"k1".to_vec(), 7), (b"k2".to_vec(), ANY_VERSION)];
        let bytes = lifecycle_entry(&l, &items);
        let e = Entry::parse(&bytes).unwrap();
        assert_eq!(
            (e.kind, e.snapshot, e.reason),
            (EntryKind::Retire, "snap-1", "snapshot:snap-1")
        );
        assert_eq!(
            e.lifecycle,
            vec![(&b"k1"[..], 7), (&b"k2"[..], ANY_VERSION)]
        );
        assert!(e.records.is_empty());
        assert!(Entry::parse(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn version_1_entries_are_still_read() {
        // A version 1 entry: no kind, no snapshot id.
        let mut v1 = vec![VERSION_1];
        v1.extend_from_slice(&[9; 32]);
        put_short(&mut v1, b"src");
        put_short(&mut v1, b"t");
        v1.extend_from_slice(&0u32.to_le_bytes());
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&0u32.to_le_bytes());
        put_short(&mut v1, b"key");
        v1.extend_from_slice(&3u32.to_le_bytes());
        v1.extend_from_slice(b"val");
        let e = Entry::parse(&v1).unwrap();
        assert_eq!(
            (e.kind, e.source, e.snapshot),
            (EntryKind::Batch, "src", "")
        );
        assert_eq!(e.records, vec![(&b"key"[..], &b"val"[..])]);
    }
}
