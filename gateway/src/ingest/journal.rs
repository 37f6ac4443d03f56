//! The ingest journal: the durability point of a push.
//!
//! Entries are appended to segment files `seg-<base offset>.wal` as frames of
//! `u32 LE length | u32 LE CRC32C(payload) | payload`. One writer thread takes every entry that is
//! waiting, writes them all, calls `fdatasync` once (group commit) and only then answers each
//! caller with the journal offset just past its entry. Offsets are global byte positions across
//! segments. On open, a torn or corrupt tail (a crash mid-write) is cut off: it was never
//! acknowledged.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

/// A segment is closed and a new one started past this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest payload one frame may carry.
pub const MAX_FRAME: usize = 1 << 31;

/// Journal failures: I/O on the journal's disk (operator's side) or a closed writer (program).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing a segment failed.
    #[error("journal I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The writer thread has stopped (after an I/O failure); nothing more can be made durable.
    #[error("journal writer has stopped")]
    Closed,
    /// An entry is larger than a frame can carry.
    #[error("journal entry too large")]
    TooLarge,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A durable entry handed on to the applier, in journal order.
#[derive(Debug)]
pub struct Durable {
    /// Offset just past the entry.
    pub end_offset: u64,
    /// The entry's payload.
    pub payload: Vec<u8>,
}

/// Notice of a durable entry, sent to the applier in journal order. The payload itself is read
/// back from the segment (the page cache), so entries waiting to be applied cost no heap and the
/// lag bound can be generous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset just past the entry.
    pub end_offset: u64,
    /// Base offset of the segment holding it.
    pub seg_base: u64,
    /// Payload length.
    pub len: u64,
}

/// Reads entries back from their segments, keeping the current segment open.
pub struct SegmentReader {
    dir: PathBuf,
    open: Option<(u64, File)>,
}

impl SegmentReader {
    /// A reader of the journal in `dir`.
    pub fn new(dir: &Path) -> SegmentReader {
        SegmentReader {
            dir: dir.to_path_buf(),
            open: None,
        }
    }

    /// Reads the payload of an appended entry.
    pub fn read(&mut self, a: &Appended) -> Result<Durable, JournalError> {
        let mut d = Durable {
            end_offset: 0,
            payload: Vec::new(),
        };
        self.read_into(a, &mut d)?;
        Ok(d)
    }

    /// Reads the payload of an appended entry into `out`, reusing its buffer: entries are
    /// megabytes, and a fresh buffer for each costs page faults on the applier's thread.
    pub fn read_into(&mut self, a: &Appended, out: &mut Durable) -> Result<(), JournalError> {
        use std::os::unix::fs::FileExt as _;
        if self.open.as_ref().map(|o| o.0) != Some(a.seg_base) {
            let path = segment_path(&self.dir, a.seg_base);
            let f = File::open(&path).map_err(io(&path))?;
            self.open = Some((a.seg_base, f));
        }
        let path = segment_path(&self.dir, a.seg_base);
        let Some((_, f)) = &self.open else {
            return Err(JournalError::Closed);
        };
        out.payload.clear();
        out.payload.resize(a.len as usize, 0);
        let pos = a.end_offset - a.seg_base - a.len;
        f.read_exact_at(&mut out.payload, pos).map_err(io(&path))?;
        out.end_offset = a.end_offset;
        Ok(())
    }
}

struct Append {
    payload: Vec<u8>,
    done: tokio::sync::oneshot::Sender<Result<u64, JournalError>>,
}

/// Handle to the journal writer; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Append>,
}

/// Observes each `fdatasync` (for the fsync latency metric).
pub type SyncObserver = Box<dyn Fn(std::time::Duration) + Send>;

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("seg-{base:020}.wal"))
}

/// Lists the segments of a journal directory as `(base offset, path)`, in order.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(base) = name
            .strip_prefix("seg-")
            .and_then(|s| s.strip_suffix(".wal"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((base, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the valid frames of one segment; returns them with the length of the valid prefix.
/// Frames of a segment as `(end position, payload)`.
type Frames = Vec<(u64, Vec<u8>)>;

fn read_segment(path: &Path) -> Result<(Frames, u64), JournalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(path))?;
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let end = pos + 8 + len;
        frames.push((end as u64, payload.to_vec()));
        pos = end;
    }
    Ok((frames, pos as u64))
}

/// Reads every durable entry whose end offset is past `after`, in order.
pub fn read_after(dir: &Path, after: u64) -> Result<Vec<Durable>, JournalError> {
    let segs = segments(dir)?;
    let mut out = Vec::new();
    for (i, (base, path)) in segs.iter().enumerate() {
        let next_base = segs.get(i + 1).map(|s| s.0).unwrap_or(u64::MAX);
        if next_base <= after {
            continue;
        }
        let (frames, _) = read_segment(path)?;
        for (end, payload) in frames {
            if base + end > after {
                out.push(Durable {
                    end_offset: base + end,
                    payload,
                });
            }
        }
    }
    Ok(out)
}

/// Deletes segments that lie wholly at or below `synced` (the store is durable past them).
pub fn prune(dir: &Path, synced: u64) -> Result<usize, JournalError> {
    let segs = segments(dir)?;
    let mut removed = 0;
    for w in segs.windows(2) {
        if w[1].0 <= synced {
            std::fs::remove_file(&w[0].1).map_err(io(&w[0].1))?;
            removed += 1;
        }
    }
    Ok(removed)
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, cuts off a torn tail, and starts the writer.
    /// Each durable entry is also announced on `applied_tx` (bounded: a full channel makes pushes wait,
    /// which bounds the apply lag). Returns the handle and the offset of the journal's end.
    pub fn open(
        dir: &Path,
        applied_tx: mpsc::SyncSender<Appended>,
        on_sync: SyncObserver,
    ) -> Result<(Journal, u64), JournalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let segs = segments(dir)?;
        let (base, path, len) = match segs.last() {
            Some((base, path)) => {
                let (_, valid) = read_segment(path)?;
                (*base, path.clone(), valid)
            }
            None => (0, segment_path(dir, 0), 0),
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len(len).map_err(io(&path))?;
        let mut file = file;
        file.seek(SeekFrom::Start(len)).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        sync_dir(dir)?;
        let (tx, rx) = mpsc::channel::<Append>();
        let writer = Writer {
            dir: dir.to_path_buf(),
            base,
            pos: len,
            file,
            path,
            applied_tx,
            on_sync,
        };
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(io(dir))?;
        Ok((Journal { tx }, base + len))
    }

    /// Appends one entry and waits until it is on disk; returns the offset just past it.
    pub async fn append(&self, payload: Vec<u8>) -> Result<u64, JournalError> {
        if payload.len() >= MAX_FRAME {
            return Err(JournalError::TooLarge);
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send(Append { payload, done })
            .map_err(|_| JournalError::Closed)?;
        wait.await.map_err(|_| JournalError::Closed)?
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

struct Writer {
    dir: PathBuf,
    base: u64,
    pos: u64,
    file: File,
    path: PathBuf,
    applied_tx: mpsc::SyncSender<Appended>,
    on_sync: SyncObserver,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Append>) {
        let mut buf = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut group = vec![first];
            while let Ok(more) = rx.try_recv() {
                group.push(more);
            }
            match self.write_group(&mut group, &mut buf) {
                Ok(ends) => {
                    for (a, end) in group.into_iter().zip(ends) {
                        let _ = a.done.send(Ok(end));
                        let notice = Appended {
                            end_offset: end,
                            seg_base: self.base,
                            len: a.payload.len() as u64,
                        };
                        drop(a.payload);
                        // Blocks when the applier is too far behind: pushes wait (bounded lag).
                        if self.applied_tx.send(notice).is_err() {
                            tracing::error!("applier stopped; journal writer stops");
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "journal write failed; refusing further pushes");
                    for a in group {
                        let _ = a.done.send(Err(JournalError::Closed));
                    }
                    return;
                }
            }
        }
    }

    fn write_group(
        &mut self,
        group: &mut [Append],
        buf: &mut Vec<u8>,
    ) -> Result<Vec<u64>, JournalError> {
        if self.pos >= SEGMENT_BYTES {
            self.rotate()?;
        }
        buf.clear();
        let mut ends = Vec::with_capacity(group.len());
        let mut end = self.pos;
        for a in group.iter() {
            buf.extend_from_slice(&(a.payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&a.payload).to_le_bytes());
            if a.payload.len() > 1 << 20 {
                // Large payloads are written directly instead of copied into the group buffer.
                self.file.write_all(buf).map_err(io(&self.path))?;
                buf.clear();
                self.file.write_all(&a.payload).map_err(io(&self.path))?;
            } else {
                buf.extend_from_slice(&a.payload);
            }
            end += 8 + a.payload.len() as u64;
            ends.push(self.base + end);
        }
        self.file.write_all(buf).map_err(io(&self.path))?;
        self.pos = end;
        let t = Instant::now();
        self.file.sync_data().map_err(io(&self.path))?;
        (self.on_sync)(t.elapsed());
        Ok(ends)
    }

    fn rotate(&mut self) -> Result<(), JournalError> {
        self.file.sync_all().map_err(io(&self.path))?;
        self.base += self.pos;
        self.pos = 0;
        self.path = segment_path(&self.dir, self.base);
        self.file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&self.path)
            .map_err(io(&self.path))?;
        sync_dir(&self.dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> (Journal, u64, mpsc::Receiver<Appended>) {
        let (tx, rx) = mpsc::sync_channel(1024);
        let (j, end) = Journal::open(dir, tx, Box::new(|_| {})).unwrap();
        (j, end, rx)
    }

    #[tokio::test]
    async fn appended_entries_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (j, end, rx) = open(dir.path());
        assert_eq!(end, 0);
        let a = j.append(b"alpha".to_vec()).await.unwrap();
        let b = j.append(b"beta".to_vec()).await.unwrap();
        assert_eq!(a, 13);
        assert_eq!(b, 25);
        let mut reader = SegmentReader::new(dir.path());
        assert_eq!(reader.read(&rx.recv().unwrap()).unwrap().payload, b"alpha");
        assert_eq!(reader.read(&rx.recv().unwrap()).unwrap().payload, b"beta");
        let all = read_after(dir.path(), 0).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].payload, b"beta");
        assert_eq!(read_after(dir.path(), a).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn torn_tail_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (j, _, _rx) = open(dir.path());
            j.append(b"kept".to_vec()).await.unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let seg = segment_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2, 3, 4, b'x']).unwrap();
        drop(f);
        let (j, end, _rx) = open(dir.path());
        assert_eq!(end, 12);
        let next = j.append(b"next".to_vec()).await.unwrap();
        assert_eq!(next, 24);
        let all = read_after(dir.path(), 0).unwrap();
        assert_eq!(
            all.iter().map(|d| d.payload.clone()).collect::<Vec<_>>(),
            vec![b"kept".to_vec(), b"next".to_vec()]
        );
    }

    #[test]
    fn prune_keeps_the_segment_holding_the_synced_offset() {
        let dir = tempfile::tempdir().unwrap();
        for base in [0u64, 100, 200] {
            std::fs::write(segment_path(dir.path(), base), b"").unwrap();
        }
        assert_eq!(prune(dir.path(), 150).unwrap(), 1);
        let left: Vec<u64> = segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(left, vec![100, 200]);
    }
}
