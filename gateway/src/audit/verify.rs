//! The independent offline verifier behind `pesgw audit verify`.
//!
//! It trusts nothing but the log's verifier key (and witness keys): it checks the checkpoint
//! signature and cosignatures, rehashes every entry into the tree and compares the root, and
//! checks that the tree at the previously saved checkpoint's size has the saved root (a fork
//! otherwise). When the root does not match it walks down from the signed root, taking each
//! pair of committed child hashes from the log (authenticated because they must hash to their
//! parent) and following the first one that differs from the recomputed one, until it names
//! the first entry that was changed, dropped or reordered.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::checkpoint::{verify_checkpoint, CheckpointError, VerifiedCheckpoint};
use super::merkle::{self, CompactRange, Hash};
use super::publish::CHECKPOINT_FILE;
use super::storage::Files;
use crate::signed_note::VerifierKey;

/// Entries fetched per request.
pub const CHUNK: u64 = 8192;

/// Where a verification failed; each variant names the place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Reading from the log failed.
    #[error("reading the log: {0}")]
    Source(String),
    /// The checkpoint signature (or a cosignature) is invalid.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// Not enough valid witness cosignatures.
    #[error("checkpoint has {have} valid witness cosignatures, {need} required")]
    Cosignatures {
        /// Valid cosignatures.
        have: usize,
        /// Required.
        need: usize,
    },
    /// An entry's stored frame is damaged.
    #[error("entry {index}: {reason}")]
    Entry {
        /// Entry index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The log holds fewer entries than its checkpoint commits to.
    #[error("log returned {have} entries but the checkpoint commits to {size}: entries from index {have} are missing")]
    Missing {
        /// Entries present.
        have: u64,
        /// Checkpoint size.
        size: u64,
    },
    /// The entries do not hash to the signed root; `index` is the first entry that differs.
    #[error("entry {index} differs from the entry the signed checkpoint commits to (changed, dropped or reordered); recomputed root {computed} != signed root {signed}")]
    Mismatch {
        /// First differing entry.
        index: u64,
        /// Recomputed root (hex).
        computed: String,
        /// Signed root (hex).
        signed: String,
    },
    /// The log shows a history that contradicts a checkpoint seen before.
    #[error("FORK: the log contradicts the saved checkpoint of size {saved_size}\n--- saved checkpoint ---\n{saved}--- current checkpoint ---\n{current}")]
    Fork {
        /// Size of the saved checkpoint.
        saved_size: u64,
        /// Saved signed checkpoint.
        saved: String,
        /// Current signed checkpoint.
        current: String,
    },
}

/// A log to verify: a directory or a gateway URL.
pub trait LogSource {
    /// The latest signed checkpoint note.
    fn checkpoint(&mut self) -> Result<String, VerifyError>;
    /// Entries `[from, to)`; may return fewer if the log has fewer.
    fn entries(&mut self, from: u64, to: u64) -> Result<EntryBatch, VerifyError>;
    /// The committed hashes of the two children of the tree node covering leaves `[start, end)`
    /// in the tree of `size` (unauthenticated; the verifier checks them against the parent).
    fn children(&mut self, start: u64, end: u64, size: u64) -> Result<(Hash, Hash), VerifyError>;
    /// Hands a consumed batch back so its buffer can be reused (optional).
    fn recycle(&mut self, _batch: EntryBatch) {}
}

/// Consecutive entries held in one buffer (no per-entry allocation).
#[derive(Debug, Default, Clone)]
pub struct EntryBatch {
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// Expected CRC32C of each entry, when the source stores one (checked while hashing).
    crcs: Vec<u32>,
}

impl EntryBatch {
    /// A batch over `buf` with entries at the given `(start, end)` byte spans.
    pub fn new(buf: Vec<u8>, spans: Vec<(usize, usize)>) -> Self {
        Self {
            buf,
            spans,
            crcs: Vec::new(),
        }
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// Entry `i` of the batch.
    pub fn get(&self, i: usize) -> &[u8] {
        let (s, e) = self.spans[i];
        &self.buf[s..e]
    }
    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|&(s, e)| &self.buf[s..e])
    }
}

/// Outcome of a successful verification.
#[derive(Debug, Clone)]
pub struct Report {
    /// The verified checkpoint.
    pub checkpoint: VerifiedCheckpoint,
    /// Its text (to save as the new state).
    pub checkpoint_text: String,
    /// Entries rehashed.
    pub entries: u64,
    /// Size of the saved checkpoint checked for consistency, if any.
    pub consistent_with: Option<u64>,
}

/// What the verifier trusts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The log's key.
    pub log_key: VerifierKey,
    /// Witness keys.
    pub witness_keys: Vec<VerifierKey>,
    /// Cosignatures required.
    pub min_cosignatures: usize,
}

/// Verifies the whole log. `saved` is the checkpoint text from the previous run.
pub fn verify_log(
    source: &mut (dyn LogSource + Send),
    policy: &Policy,
    saved: Option<&str>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, VerifyError> {
    let text = source.checkpoint()?;
    let vc = verify_checkpoint(&text, &policy.log_key, &policy.witness_keys)?;
    if vc.cosignatures.len() < policy.min_cosignatures {
        return Err(VerifyError::Cosignatures {
            have: vc.cosignatures.len(),
            need: policy.min_cosignatures,
        });
    }
    let saved_cp = match saved {
        Some(s) => Some((
            verify_checkpoint(s, &policy.log_key, &[])?.checkpoint,
            s.to_owned(),
        )),
        None => None,
    };
    let size = vc.checkpoint.size;
    if let Some((old, old_text)) = &saved_cp {
        if old.size > size || (old.size == size && old.root != vc.checkpoint.root) {
            return Err(VerifyError::Fork {
                saved_size: old.size,
                saved: old_text.clone(),
                current: text,
            });
        }
    }
    let mut range = CompactRange::new();
    let mut leaves: Vec<Hash> = Vec::with_capacity(size.min(1 << 26) as usize);
    let mut root_at_saved = None;
    // A reader thread fetches and frames the next batch while this one is hashed.
    std::thread::scope(|scope| -> Result<(), VerifyError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(u64, EntryBatch), VerifyError>>(2);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<EntryBatch>();
        let reader_source = &mut *source;
        scope.spawn(move || {
            let mut next = 0u64;
            while next < size {
                if let Ok(b) = back_rx.try_recv() {
                    reader_source.recycle(b);
                }
                let to = (next + CHUNK).min(size);
                let result = reader_source.entries(next, to);
                let stop = !matches!(&result, Ok(b) if !b.is_empty());
                let n = result.as_ref().map_or(0, |b| b.len() as u64);
                if tx.send(result.map(|b| (next, b))).is_err() || stop {
                    return;
                }
                next += n;
            }
        });
        for item in rx {
            let (first, batch) = item?;
            if batch.is_empty() {
                break;
            }
            let hashes = leaf_hashes(&batch).map_err(|k| VerifyError::Entry {
                index: first + k as u64,
                reason: "CRC mismatch (corrupted or tampered)".into(),
            })?;
            for h in hashes {
                leaves.push(h);
                range.push(h, |_| {});
                if let Some((old, _)) = &saved_cp {
                    if range.size() == old.size {
                        root_at_saved = Some(range.root());
                    }
                }
            }
            let done = first + batch.len() as u64;
            let _ = back_tx.send(batch);
            progress(done, size);
        }
        Ok(())
    })?;
    let computed = range.root();
    if leaves.len() as u64 != size || computed != vc.checkpoint.root {
        let index = locate(source, &leaves, size, &vc.checkpoint.root)?;
        if leaves.len() as u64 != size && index >= leaves.len() as u64 {
            return Err(VerifyError::Missing {
                have: leaves.len() as u64,
                size,
            });
        }
        return Err(VerifyError::Mismatch {
            index,
            computed: hex::encode(computed),
            signed: hex::encode(vc.checkpoint.root),
        });
    }
    let mut consistent_with = None;
    if let Some((old, old_text)) = saved_cp {
        if old.size > 0 && root_at_saved != Some(old.root) {
            return Err(VerifyError::Fork {
                saved_size: old.size,
                saved: old_text,
                current: text,
            });
        }
        consistent_with = Some(old.size);
    }
    Ok(Report {
        checkpoint: vc,
        checkpoint_text: text,
        entries: size,
        consistent_with,
    })
}

/// Leaf hashes of a batch, computed on all cores (hashing dominates verification), checking
/// each entry's CRC on the way. Returns the position in the batch of the first bad CRC.
fn leaf_hashes(batch: &EntryBatch) -> Result<Vec<Hash>, usize> {
    let work = |first: usize, spans: &[(usize, usize)]| -> Result<Vec<Hash>, usize> {
        let mut out = Vec::with_capacity(spans.len());
        for (k, &(a, b)) in spans.iter().enumerate() {
            let entry = &batch.buf[a..b];
            if let Some(&crc) = batch.crcs.get(first + k) {
                if crc32c::crc32c(entry) != crc {
                    return Err(first + k);
                }
            }
            out.push(merkle::leaf_hash(entry));
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads == 1 || batch.len() < 1024 {
        return work(0, &batch.spans);
    }
    let per = batch.len().div_ceil(threads);
    let parts: Vec<Result<Vec<Hash>, usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .spans
            .chunks(per)
            .enumerate()
            .map(|(n, c)| s.spawn(move || work(n * per, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(batch.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// Walks from the signed root to the first leaf whose recomputed hash differs from the
/// committed one, authenticating every committed child pair against its parent.
fn locate(
    source: &mut (dyn LogSource + Send),
    leaves: &[Hash],
    size: u64,
    root: &Hash,
) -> Result<u64, VerifyError> {
    let n = leaves.len() as u64;
    let recomputed = |start: u64, end: u64| -> Option<Hash> {
        (end <= n)
            .then(|| {
                merkle::subtree_root(start, end, &mut |l, i| -> Result<Hash, ()> {
                    let s = (i << l) as usize;
                    let mut cr = CompactRange::new();
                    for h in &leaves[s..s + (1usize << l)] {
                        cr.push(*h, |_| {});
                    }
                    Ok(cr.root())
                })
                .ok()
            })
            .flatten()
    };
    let (mut start, mut end, mut committed) = (0u64, size, *root);
    while end - start > 1 {
        let k = 1u64 << (63 - (end - start - 1).leading_zeros());
        let (left, right) = source.children(start, end, size)?;
        if merkle::node_hash(&left, &right) != committed {
            return Err(VerifyError::Source(format!(
                "the log's stored hashes for leaves [{start}, {end}) do not match its signed tree"
            )));
        }
        if recomputed(start, start + k) != Some(left) {
            (end, committed) = (start + k, left);
        } else {
            (start, committed) = (start + k, right);
        }
    }
    Ok(start)
}

/// The node list of an inclusion proof: `(start, end)` of each sibling, leaf level first, in
/// the order of [`merkle::inclusion_proof`].
pub fn inclusion_path_nodes(index: u64, size: u64) -> Vec<(u64, u64)> {
    fn walk(m: u64, start: u64, end: u64, out: &mut Vec<(u64, u64)>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        if m < k {
            walk(m, start, start + k, out);
            out.push((start + k, end));
        } else {
            walk(m - k, start + k, end, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    walk(index, 0, size, &mut out);
    out
}

/// Committed children of node `[start, end)` taken from two inclusion proofs: the proof for
/// the first leaf of the right child holds the left child, and vice versa.
pub fn children_from_proofs(
    start: u64,
    end: u64,
    size: u64,
    mut proof: impl FnMut(u64, u64) -> Result<Vec<Hash>, VerifyError>,
) -> Result<(Hash, Hash), VerifyError> {
    let k = 1u64 << (63 - (end - start - 1).leading_zeros());
    let mut pick = |leaf: u64, want: (u64, u64)| -> Result<Hash, VerifyError> {
        let nodes = inclusion_path_nodes(leaf, size);
        let pos = nodes
            .iter()
            .position(|n| *n == want)
            .ok_or_else(|| VerifyError::Source("node not on the proof path".into()))?;
        proof(leaf, size)?
            .get(pos)
            .copied()
            .ok_or_else(|| VerifyError::Source("inclusion proof too short".into()))
    };
    let left = pick(start + k, (start, start + k))?;
    let right = pick(start, (start + k, end))?;
    Ok((left, right))
}

/// Reads a log directory directly: entries stream from `entries.log` in large reads, committed
/// hashes come from the tree files.
pub struct DirSource {
    dir: PathBuf,
    log: File,
    /// Bytes read from `entries.log` but not yet returned (a partial frame at most).
    pending: Vec<u8>,
    /// A consumed batch's buffer, reused to avoid fresh allocations and page faults.
    spare: Vec<u8>,
    next_index: u64,
    files: Files,
    read_block: usize,
}

/// Bytes read from `entries.log` per read call.
const READ_BLOCK: usize = 4 << 20;

impl DirSource {
    /// Opens a log directory read-only (it must not be served at the same time).
    pub fn open(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            log: File::open(dir.join("entries.log"))?,
            pending: Vec::new(),
            spare: Vec::new(),
            next_index: 0,
            files: Files::open(dir)?,
            read_block: READ_BLOCK,
        })
    }

    /// Reads more of `entries.log` into `buf`; false at end of file.
    fn fill(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        let old = buf.len();
        buf.resize(old + self.read_block, 0);
        let n = loop {
            match self.log.read(&mut buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        buf.truncate(old + n);
        Ok(n > 0)
    }
}

impl LogSource for DirSource {
    fn checkpoint(&mut self) -> Result<String, VerifyError> {
        std::fs::read_to_string(self.dir.join(CHECKPOINT_FILE))
            .map_err(|e| VerifyError::Source(e.to_string()))
    }

    fn entries(&mut self, from: u64, to: u64) -> Result<EntryBatch, VerifyError> {
        let io_err = |e: io::Error| VerifyError::Source(e.to_string());
        if from != self.next_index {
            let off = self.files.entry_offset(from).map_err(io_err)?;
            self.log.seek(SeekFrom::Start(off)).map_err(io_err)?;
            self.pending.clear();
            self.next_index = from;
        }
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        buf.extend_from_slice(&self.pending);
        let mut spans = Vec::with_capacity((to - from) as usize);
        let mut crcs = Vec::with_capacity((to - from) as usize);
        let mut pos = 0usize;
        while self.next_index < to {
            let index = self.next_index;
            if buf.len() - pos < 8 {
                if !self.fill(&mut buf).map_err(io_err)? {
                    if buf.len() > pos {
                        return Err(VerifyError::Entry {
                            index,
                            reason: "frame cut short (truncated log)".into(),
                        });
                    }
                    break;
                }
                continue;
            }
            let h = &buf[pos..pos + 8];
            let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
            if len == 0 || len > super::storage::MAX_FRAME_PAYLOAD as usize {
                return Err(VerifyError::Entry {
                    index,
                    reason: "bad frame length (corrupted or tampered)".into(),
                });
            }
            if buf.len() - pos < 8 + len {
                if !self.fill(&mut buf).map_err(io_err)? {
                    return Err(VerifyError::Entry {
                        index,
                        reason: "frame cut short (truncated log)".into(),
                    });
                }
                continue;
            }
            let payload = (pos + 8, pos + 8 + len);
            crcs.push(crc);
            spans.push(payload);
            pos = payload.1;
            self.next_index += 1;
        }
        self.pending.clear();
        self.pending.extend_from_slice(&buf[pos..]);
        Ok(EntryBatch { buf, spans, crcs })
    }

    fn recycle(&mut self, batch: EntryBatch) {
        self.spare = batch.buf;
    }

    fn children(&mut self, start: u64, end: u64, _size: u64) -> Result<(Hash, Hash), VerifyError> {
        let k = 1u64 << (63 - (end - start - 1).leading_zeros());
        let files = &self.files;
        let read = |s: u64, e: u64| {
            merkle::subtree_root(s, e, &mut |l, i| files.read_hash(l, i))
                .map_err(|e| VerifyError::Source(e.to_string()))
        };
        Ok((read(start, start + k)?, read(start + k, end)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_nodes_line_up_with_generated_proofs() {
        for size in 1..40u64 {
            let leaves: Vec<Hash> = (0..size)
                .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
                .collect();
            let mut complete = |l: u32, i: u64| -> Result<Hash, ()> {
                let s = (i << l) as usize;
                let mut cr = CompactRange::new();
                for h in &leaves[s..s + (1 << l)] {
                    cr.push(*h, |_| {});
                }
                Ok(cr.root())
            };
            for index in 0..size {
                let proof = merkle::inclusion_proof(index, size, &mut complete).unwrap();
                let nodes = inclusion_path_nodes(index, size);
                assert_eq!(nodes.len(), proof.len());
                for ((s, e), h) in nodes.iter().zip(&proof) {
                    assert_eq!(merkle::subtree_root(*s, *e, &mut complete).unwrap(), *h);
                }
            }
        }
    }

    #[test]
    fn dir_source_reassembles_frames_split_across_reads() {
        use super::super::storage::Writer;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(Files::open(dir.path()).unwrap());
        let (mut w, _) = Writer::recover(files, 0, &merkle::empty_root(), 0).unwrap();
        let payloads: Vec<Vec<u8>> = (0..300u32)
            .map(|i| vec![b'a' + (i % 26) as u8; 1 + (i as usize * 7) % 90])
            .collect();
        let offs = w.append_durable(&payloads, &mut Vec::new()).unwrap();
        let leaves: Vec<Hash> = payloads.iter().map(|p| merkle::leaf_hash(p)).collect();
        w.integrate(&offs, &leaves).unwrap();
        for block in [1, 13, 100, 4096] {
            let mut src = DirSource::open(dir.path()).unwrap();
            src.read_block = block;
            let mut got = Vec::new();
            let mut from = 0;
            while from < 300 {
                let b = src.entries(from, (from + 7).min(300)).unwrap();
                got.extend(b.iter().map(<[u8]>::to_vec));
                from += b.len() as u64;
            }
            assert_eq!(got, payloads, "block {block}");
            // Asking past the end returns what there is.
            assert!(src.entries(300, 310).unwrap().is_empty());
            // Seeking back works through the index.
            assert_eq!(src.entries(5, 6).unwrap().get(0), &payloads[5][..]);
        }
    }
}
