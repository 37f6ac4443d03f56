//! On-disk layout of the audit log and its crash recovery.
//!
//! ```text
//! <dir>/entries.log          frames: len u32 LE | crc32c(payload) u32 LE | payload (canonical JSON)
//! <dir>/entries.idx          u64 LE byte offset of each entry's frame
//! <dir>/tree/level-NN.hash   32-byte hashes of the complete subtrees of height NN, in order
//! <dir>/checkpoint.state     last published (size, root, log length), see `publish`
//! <dir>/checkpoint           last signed checkpoint note (with cosignatures)
//! ```
//!
//! Only `entries.log` is the durability point: appends are acknowledged after its fdatasync.
//! The index and hash files are derived from it; they are synced before a checkpoint is
//! published, so on open everything up to the published size is trusted and everything after
//! it is rebuilt from the (CRC-checked) entries, after cutting off a torn tail. Level `k` holds
//! `size >> k` hashes, so the whole tree costs about two hashes per entry on disk, and any
//! RFC 6962 node is one stored hash or the combination of at most one stored hash per level.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::merkle::{self, CompactRange, Hash, HASH_LEN};

const FRAME_HEADER: u64 = 8;
/// Largest payload accepted in a frame (the event limit plus headroom).
pub const MAX_FRAME_PAYLOAD: u32 = 1 << 20;

/// Storage errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system refused a read, write or sync (the operator's or platform's fault).
    #[error("audit storage I/O: {0}")]
    Io(#[from] io::Error),
    /// Stored data contradicts itself (disk corruption or tampering, never a crash).
    #[error("audit storage is corrupt: {0}")]
    Corrupt(String),
}

/// Encodes one frame.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Result of decoding the frame at the start of `buf`.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole frame with a matching CRC, and its total length.
    Ok(&'a [u8], usize),
    /// The buffer ends inside the frame.
    Truncated,
    /// Header or CRC is wrong.
    Bad,
}

/// Decodes the frame at the start of `buf`.
pub fn decode_frame(buf: &[u8]) -> Frame<'_> {
    if buf.len() < FRAME_HEADER as usize {
        return Frame::Truncated;
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len == 0 || len > MAX_FRAME_PAYLOAD {
        return Frame::Bad;
    }
    let end = FRAME_HEADER as usize + len as usize;
    if buf.len() < end {
        return Frame::Truncated;
    }
    let payload = &buf[FRAME_HEADER as usize..end];
    if crc32c::crc32c(payload) != crc {
        return Frame::Bad;
    }
    Frame::Ok(payload, end)
}

/// Open files of one log directory. Reads are positional (`pread`) so many readers can share
/// it with the single writer; readers only read below the integrated size.
#[derive(Debug)]
pub struct Files {
    dir: PathBuf,
    log: File,
    idx: File,
    levels: RwLock<Vec<Arc<File>>>,
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// fsyncs a directory so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Files {
    /// Opens (creating if needed) the files under `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join("tree"))?;
        let log = open_rw(&dir.join("entries.log"))?;
        let idx = open_rw(&dir.join("entries.idx"))?;
        let mut levels = Vec::new();
        loop {
            let p = Self::level_path(dir, levels.len() as u32);
            if !p.exists() {
                break;
            }
            levels.push(Arc::new(open_rw(&p)?));
        }
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            log,
            idx,
            levels: RwLock::new(levels),
        })
    }

    fn level_path(dir: &Path, level: u32) -> PathBuf {
        dir.join("tree").join(format!("level-{level:02}.hash"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn level(&self, level: u32) -> io::Result<Option<Arc<File>>> {
        let levels = self
            .levels
            .read()
            .map_err(|_| io::Error::other("level lock poisoned"))?;
        Ok(levels.get(level as usize).cloned())
    }

    fn level_or_create(&self, level: u32) -> io::Result<Arc<File>> {
        if let Some(f) = self.level(level)? {
            return Ok(f);
        }
        let mut levels = self
            .levels
            .write()
            .map_err(|_| io::Error::other("level lock poisoned"))?;
        while levels.len() <= level as usize {
            let f = open_rw(&Self::level_path(&self.dir, levels.len() as u32))?;
            levels.push(Arc::new(f));
        }
        sync_dir(&self.dir.join("tree"))?;
        Ok(levels[level as usize].clone())
    }

    /// The stored hash of complete subtree `index` at height `level`.
    pub fn read_hash(&self, level: u32, index: u64) -> io::Result<Hash> {
        let f = self
            .level(level)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "tree level missing"))?;
        let mut h = [0u8; HASH_LEN];
        f.read_exact_at(&mut h, index * HASH_LEN as u64)?;
        Ok(h)
    }

    /// Byte offset of entry `index`'s frame.
    pub fn entry_offset(&self, index: u64) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.idx.read_exact_at(&mut b, index * 8)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads entries `[from, to)` (which must be integrated), checking each frame's CRC.
    pub fn read_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut offset = if from < to {
            self.entry_offset(from)?
        } else {
            0
        };
        for index in from..to {
            let mut header = [0u8; FRAME_HEADER as usize];
            self.log.read_exact_at(&mut header, offset)?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            if len == 0 || len > MAX_FRAME_PAYLOAD {
                return Err(StorageError::Corrupt(format!(
                    "entry {index}: bad frame length"
                )));
            }
            let mut frame = vec![0u8; FRAME_HEADER as usize + len as usize];
            self.log.read_exact_at(&mut frame, offset)?;
            match decode_frame(&frame) {
                Frame::Ok(payload, n) => {
                    out.push(payload.to_vec());
                    offset += n as u64;
                }
                _ => {
                    return Err(StorageError::Corrupt(format!(
                        "entry {index}: CRC mismatch"
                    )))
                }
            }
        }
        Ok(out)
    }

    /// fdatasyncs the index and every hash file (before a checkpoint is published).
    pub fn sync_tree(&self) -> io::Result<()> {
        self.idx.sync_data()?;
        let levels = self
            .levels
            .read()
            .map_err(|_| io::Error::other("level lock poisoned"))?
            .clone();
        for f in levels {
            f.sync_data()?;
        }
        Ok(())
    }
}

/// The single writer: sequences entries into `entries.log` and integrates them into the tree.
#[derive(Debug)]
pub struct Writer {
    files: Arc<Files>,
    log_len: u64,
    range: CompactRange,
    /// Reused per-level buffers of newly completed hashes.
    level_bufs: Vec<Vec<u8>>,
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Entries in the log after recovery.
    pub size: u64,
    /// Bytes of the torn tail that were cut off.
    pub truncated_bytes: u64,
    /// Entries re-integrated after the published size.
    pub rebuilt_entries: u64,
}

impl Writer {
    /// Recovers the files against the last published `(size, root, log_len)` and returns the
    /// writer positioned at the end of the log. The stored tree at `published_size` must hash
    /// to `published_root`; otherwise the log refuses to open rather than ever sign another
    /// root for that size.
    pub fn recover(
        files: Arc<Files>,
        published_size: u64,
        published_root: &Hash,
        published_log_len: u64,
    ) -> Result<(Self, Recovered), StorageError> {
        let log_file_len = files.log.metadata()?.len();
        if log_file_len < published_log_len {
            return Err(StorageError::Corrupt(format!(
                "entries.log is {log_file_len} bytes, shorter than the published {published_log_len}"
            )));
        }
        // Trust the synced prefix of the derived files; cut everything after it.
        let idx_len = files.idx.metadata()?.len();
        if idx_len < published_size * 8 {
            return Err(StorageError::Corrupt(
                "entries.idx shorter than the published size".into(),
            ));
        }
        files.idx.set_len(published_size * 8)?;
        for level in 0..64u32 {
            let want = (published_size >> level) * HASH_LEN as u64;
            match files.level(level)? {
                Some(f) => {
                    if f.metadata()?.len() < want {
                        return Err(StorageError::Corrupt(format!(
                            "tree level {level} is short"
                        )));
                    }
                    f.set_len(want)?;
                }
                None if want > 0 => {
                    return Err(StorageError::Corrupt(format!(
                        "tree level {level} is missing"
                    )));
                }
                None => {}
            }
        }
        let range = CompactRange::from_stored(published_size, &mut |l, i| files.read_hash(l, i))?;
        if range.root() != *published_root {
            return Err(StorageError::Corrupt(format!(
                "stored tree at published size {published_size} does not hash to the published root"
            )));
        }
        let mut writer = Self {
            files,
            log_len: published_log_len,
            range,
            level_bufs: Vec::new(),
        };

        // Re-integrate the entries written after the last checkpoint; cut a torn tail.
        let mut tail = vec![0u8; (log_file_len - published_log_len) as usize];
        writer
            .files
            .log
            .read_exact_at(&mut tail, published_log_len)?;
        let mut pos = 0usize;
        let mut leaves = Vec::new();
        let mut offsets = Vec::new();
        while let Frame::Ok(payload, n) = decode_frame(&tail[pos..]) {
            offsets.push(published_log_len + pos as u64);
            leaves.push(merkle::leaf_hash(payload));
            pos += n;
        }
        let truncated_bytes = (tail.len() - pos) as u64;
        if truncated_bytes > 0 {
            writer.files.log.set_len(published_log_len + pos as u64)?;
            writer.files.log.sync_all()?;
        }
        writer.log_len = published_log_len + pos as u64;
        writer.integrate(&offsets, &leaves)?;
        let rec = Recovered {
            size: writer.range.size(),
            truncated_bytes,
            rebuilt_entries: leaves.len() as u64,
        };
        Ok((writer, rec))
    }

    /// Shared read access to the files.
    pub fn files(&self) -> &Arc<Files> {
        &self.files
    }

    /// Entries integrated so far.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// Length of `entries.log` in bytes.
    pub fn log_len(&self) -> u64 {
        self.log_len
    }

    /// The current right edge of the tree.
    pub fn range(&self) -> &CompactRange {
        &self.range
    }

    /// Sequencing: appends `payloads` to `entries.log` in one write and fdatasyncs it. On
    /// return the entries are durable and their indexes are `size()..size()+n`. Returns each
    /// frame's offset. On failure the partial write is cut off again.
    pub fn append_durable(
        &mut self,
        payloads: &[Vec<u8>],
        buf: &mut Vec<u8>,
    ) -> io::Result<Vec<u64>> {
        buf.clear();
        let mut offsets = Vec::with_capacity(payloads.len());
        for p in payloads {
            offsets.push(self.log_len + buf.len() as u64);
            encode_frame(p, buf);
        }
        if let Err(e) = self.files.log.write_all_at(buf, self.log_len) {
            // Leave no half-written frame behind for the next batch to follow. A full disk whose
            // partial frame is cut off again leaves the log exactly as it was (nothing of this
            // batch was synced), so it is reported as `StorageFull` and the log takes the next
            // batch once space returns; any other failure stops the log.
            let restored = self.files.log.set_len(self.log_len).is_ok();
            let full =
                e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::EDQUOT);
            return Err(match (restored, full) {
                (true, true) => io::Error::new(io::ErrorKind::StorageFull, e),
                _ if e.kind() == io::ErrorKind::StorageFull => io::Error::other(e),
                _ => e,
            });
        }
        if let Err(e) = self.files.log.sync_data() {
            // After a failed fsync the page cache may have dropped the data (fsyncgate): never
            // reported as retryable.
            let _ = self.files.log.set_len(self.log_len);
            return Err(if e.kind() == io::ErrorKind::StorageFull {
                io::Error::other(e)
            } else {
                e
            });
        }
        self.log_len += buf.len() as u64;
        Ok(offsets)
    }

    /// Integration: records the entries' offsets and extends the tree with their leaf hashes,
    /// writing every newly completed subtree hash to its level file (not synced here).
    pub fn integrate(&mut self, offsets: &[u64], leaves: &[Hash]) -> io::Result<()> {
        if leaves.is_empty() {
            return Ok(());
        }
        let first = self.range.size();
        let idx_bytes: Vec<u8> = offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        self.files.idx.write_all_at(&idx_bytes, first * 8)?;
        for b in &mut self.level_bufs {
            b.clear();
        }
        // First new node index per level, to know where each level's buffer starts.
        let mut starts: Vec<Option<u64>> = Vec::new();
        let bufs = &mut self.level_bufs;
        for leaf in leaves {
            self.range.push(*leaf, |node| {
                let l = node.level as usize;
                if bufs.len() <= l {
                    bufs.resize_with(l + 1, Vec::new);
                }
                if starts.len() <= l {
                    starts.resize(l + 1, None);
                }
                starts[l].get_or_insert(node.index);
                bufs[l].extend_from_slice(&node.hash);
            });
        }
        for (level, start) in starts.iter().enumerate() {
            if let Some(start) = start {
                let f = self.files.level_or_create(level as u32)?;
                f.write_all_at(&self.level_bufs[level], start * HASH_LEN as u64)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut buf = Vec::new();
        encode_frame(b"hello", &mut buf);
        assert_eq!(decode_frame(&buf), Frame::Ok(b"hello", 13));
        assert_eq!(decode_frame(&buf[..12]), Frame::Truncated);
        let mut bad = buf.clone();
        bad[10] ^= 1;
        assert_eq!(decode_frame(&bad), Frame::Bad);
        assert_eq!(decode_frame(&[0u8; 16]), Frame::Bad);
    }

    #[test]
    fn torn_tail_is_cut_and_later_entries_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(Files::open(dir.path()).unwrap());
        let empty = merkle::empty_root();
        let (mut w, rec) = Writer::recover(files.clone(), 0, &empty, 0).unwrap();
        assert_eq!(rec.size, 0);
        let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'a' + i; 10]).collect();
        let mut buf = Vec::new();
        let offs = w.append_durable(&payloads, &mut buf).unwrap();
        let leaves: Vec<Hash> = payloads.iter().map(|p| merkle::leaf_hash(p)).collect();
        w.integrate(&offs, &leaves).unwrap();
        let root5 = w.range().root();
        // A torn sixth frame: only part of it reached the disk.
        let mut torn = Vec::new();
        encode_frame(b"partial entry", &mut torn);
        files.log.write_all_at(&torn[..7], w.log_len()).unwrap();
        drop(w);
        let files = Arc::new(Files::open(dir.path()).unwrap());
        let (w, rec) = Writer::recover(files.clone(), 0, &empty, 0).unwrap();
        assert_eq!(
            rec,
            Recovered {
                size: 5,
                truncated_bytes: 7,
                rebuilt_entries: 5
            }
        );
        assert_eq!(w.range().root(), root5);
        assert_eq!(files.read_entries(1, 3).unwrap(), payloads[1..3].to_vec());
    }

    #[test]
    fn published_root_that_does_not_match_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(Files::open(dir.path()).unwrap());
        let (mut w, _) = Writer::recover(files.clone(), 0, &merkle::empty_root(), 0).unwrap();
        let p = vec![b"x".to_vec(), b"y".to_vec()];
        let offs = w.append_durable(&p, &mut Vec::new()).unwrap();
        w.integrate(&offs, &[merkle::leaf_hash(b"x"), merkle::leaf_hash(b"y")])
            .unwrap();
        files.sync_tree().unwrap();
        let len = w.log_len();
        assert!(matches!(
            Writer::recover(files, 2, &[0u8; 32], len),
            Err(StorageError::Corrupt(_))
        ));
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let t = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy_dir(&p, &t);
            } else {
                std::fs::copy(&p, &t).unwrap();
            }
        }
    }

    #[test]
    fn a_crash_at_any_byte_of_the_unpublished_tail_recovers_to_whole_entries() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let files = Arc::new(Files::open(&src).unwrap());
        let (mut w, _) = Writer::recover(files.clone(), 0, &merkle::empty_root(), 0).unwrap();
        let payloads: Vec<Vec<u8>> = (0..9u8).map(|i| vec![b'0' + i; 5 + i as usize]).collect();
        let leaves: Vec<Hash> = payloads.iter().map(|p| merkle::leaf_hash(p)).collect();
        // Three entries published (tree synced, state would record them) ...
        let offs = w.append_durable(&payloads[..3], &mut Vec::new()).unwrap();
        w.integrate(&offs, &leaves[..3]).unwrap();
        files.sync_tree().unwrap();
        let (pub_size, pub_root, pub_len) = (3u64, w.range().root(), w.log_len());
        // ... then six more written and integrated, one batch at a time, but not published.
        for k in 3..9 {
            let offs = w
                .append_durable(&payloads[k..k + 1], &mut Vec::new())
                .unwrap();
            w.integrate(&offs, &leaves[k..k + 1]).unwrap();
        }
        let full = std::fs::read(src.join("entries.log")).unwrap();
        // Frame end offsets, to know how many whole entries survive a cut.
        let mut ends = Vec::new();
        let mut pos = 0;
        while let Frame::Ok(_, n) = decode_frame(&full[pos..]) {
            pos += n;
            ends.push(pos as u64);
        }
        for cut in pub_len..=full.len() as u64 {
            let d = dir.path().join(format!("cut-{cut}"));
            copy_dir(&src, &d);
            std::fs::OpenOptions::new()
                .write(true)
                .open(d.join("entries.log"))
                .unwrap()
                .set_len(cut)
                .unwrap();
            // Unsynced tree files may hold garbage past the published size.
            let mut l0 = std::fs::OpenOptions::new()
                .append(true)
                .open(d.join("tree/level-00.hash"))
                .unwrap();
            std::io::Write::write_all(&mut l0, &[0xAB; 40]).unwrap();
            let files = Arc::new(Files::open(&d).unwrap());
            let (w, rec) = Writer::recover(files.clone(), pub_size, &pub_root, pub_len).unwrap();
            let whole = ends.iter().filter(|e| **e <= cut).count();
            assert_eq!(rec.size, whole as u64, "cut at {cut}");
            let mut cr = CompactRange::new();
            for l in &leaves[..whole] {
                cr.push(*l, |_| {});
            }
            assert_eq!(w.range().root(), cr.root(), "cut at {cut}");
            assert_eq!(
                files.read_entries(0, whole as u64).unwrap(),
                payloads[..whole].to_vec()
            );
            let proof = merkle::inclusion_proof(0, whole as u64, &mut |l, i| files.read_hash(l, i))
                .unwrap();
            merkle::verify_inclusion(0, whole as u64, &leaves[0], &proof, &cr.root()).unwrap();
        }
    }
}
