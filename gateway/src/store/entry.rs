//! The journal entry of one pushed batch: normalised records (already encoded for the store,
//! protected fields sealed) and quarantined rows (raw row sealed).
//!
//! Layout: `u8 version | [32] batch id | u16+source | u16+ingested_at | u32+shared envelope |
//! u32 records | u32 quarantined | records: (u16+key, u32+value)* | quarantined: (u32 row, u32+value)*`.
//! Records are appended while the body is decoded, so the entry is built without a second copy.

/// Entry format version.
pub const VERSION: u8 = 1;

/// Why an entry could not be read (corrupted journal: never acknowledged data, or a program bug).
#[derive(Debug, thiserror::Error)]
#[error("journal entry is malformed")]
pub struct MalformedEntry;

/// Builds a journal entry.
pub struct EntryBuilder {
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
        let mut head = Vec::with_capacity(64);
        head.push(VERSION);
        head.extend_from_slice(batch_id);
        put_short(&mut head, source.as_bytes());
        put_short(&mut head, ingested_at.as_bytes());
        EntryBuilder {
            records: Vec::with_capacity(capacity),
            quarantine: Vec::new(),
            n_records: 0,
            n_quarantine: 0,
            head,
        }
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
        out.reserve(12 + shared.len() + self.records.len() + self.quarantine.len());
        out.extend_from_slice(&(shared.len() as u32).to_le_bytes());
        out.extend_from_slice(shared);
        out.extend_from_slice(&self.n_records.to_le_bytes());
        out.extend_from_slice(&self.n_quarantine.to_le_bytes());
        out.extend_from_slice(&self.records);
        out.extend_from_slice(&self.quarantine);
        out
    }
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
    fn str16(&mut self) -> Result<&'a str, MalformedEntry> {
        let n = self.u16()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| MalformedEntry)
    }
}

impl<'a> Entry<'a> {
    /// Parses an entry.
    pub fn parse(b: &'a [u8]) -> Result<Entry<'a>, MalformedEntry> {
        let mut c = Cursor { b, pos: 0 };
        if c.take(1)?[0] != VERSION {
            return Err(MalformedEntry);
        }
        let mut batch_id = [0u8; 32];
        batch_id.copy_from_slice(c.take(32)?);
        let source = c.str16()?;
        let ingested_at = c.str16()?;
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
        Ok(Entry {
            batch_id,
            source,
            ingested_at,
            shared,
            records,
            quarantined,
        })
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
    }
}
