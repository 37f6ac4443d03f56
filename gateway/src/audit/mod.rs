//! Audit transparency log (DESIGN section 7).
//!
//! Every access is one canonical JSON [`AuditEvent`] appended to an RFC 6962 Merkle log.
//! The stages are kept apart, Tessera-style:
//!
//! - [`sequence`]: an append gets its index durably (group commit, one fdatasync per batch);
//! - integration (in [`storage`]): the tree's hash files are extended from the new entries;
//! - [`publish`]: a checkpoint is signed at most one second after new entries, and on demand;
//!   `(size, root)` is persisted before signing so no size ever gets two roots;
//! - [`witness`]: this gateway cosigns peers' checkpoints, and submits its own to witnesses.
//!
//! Auditors read entries and proofs through [`api`] and check everything offline with
//! [`verify`]; a single entry's proof travels as a C2SP tlog-proof [`receipt`]. Anonymous
//! refusals reach the log through [`aggregate`], a few counted entries per client and interval.
//!
//! ```text
//! append(event) ──► queue ──► [sequence: write+fdatasync] ──► [integrate: hash files] ──► head
//!                                                                     │
//!                      checkpoint  ◄── [publish: sync, persist (size, root), sign] ◄──┘
//! ```

pub mod aggregate;
pub mod api;
pub mod checkpoint;
pub mod event;
pub mod merkle;
pub mod publish;
pub mod receipt;
mod sequence;
pub mod storage;
pub mod verify;
pub mod witness;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

pub use checkpoint::{Checkpoint, CheckpointError};
pub use event::{Action, Actor, AuditEvent, EventError, Outcome, PeerReceipt, MAX_EVENT_BYTES};
pub use merkle::Hash;
pub use storage::StorageError;

use crate::signed_note::{Note, NoteError, NoteSignature, SigningKey, VerifierKey};
use storage::{Files, Writer};

/// The outcome of a durable append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Zero-based index of the entry in the log.
    pub index: u64,
    /// RFC 6962 leaf hash of the entry.
    pub leaf_hash: Hash,
}

/// A checkpoint signed by this log, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint content.
    pub checkpoint: Checkpoint,
    /// The signed note text (log signature, then any witness cosignatures).
    pub text: String,
}

/// Counters of an open log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// Entries in the log.
    pub size: u64,
    /// Appends acknowledged since open.
    pub appended: u64,
    /// Group commits (fdatasyncs of `entries.log`) since open.
    pub batches: u64,
}

/// Tuning of an [`AuditLog`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Appends that may wait for the writer before new ones are refused with `Busy`.
    pub queue_capacity: usize,
    /// Most entries written with one fdatasync.
    pub max_batch: usize,
    /// Time between checkpoint publications while entries arrive (must stay under 1 s).
    pub checkpoint_interval: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            max_batch: 1024,
            checkpoint_interval: Duration::from_millis(500),
        }
    }
}

/// Errors of the audit log. Each variant says whose fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Too many appends are waiting (load): callers answer 503 with `Retry-After`.
    #[error("audit log is busy; retry after {retry_after_secs} s")]
    Busy {
        /// Suggested wait.
        retry_after_secs: u64,
    },
    /// The event cannot be written (the program's fault).
    #[error(transparent)]
    Event(#[from] EventError),
    /// Storage failed or is corrupt (the operator's or platform's fault).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The log's disk is full; nothing of the batch was written. Callers answer 503 with
    /// `Retry-After`, and the log takes appends again once space returns.
    #[error("the audit log's disk is full")]
    NoSpace,
    /// An earlier write failed; the log accepts nothing until restarted.
    #[error("{0}")]
    Failed(String),
    /// The log has been closed.
    #[error("audit log is closed")]
    Closed,
    /// The requested index or size is not in the log (the caller's fault).
    #[error("{0}")]
    OutOfRange(String),
    /// Checkpoint signing or parsing failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A key or note was malformed.
    #[error(transparent)]
    Note(#[from] NoteError),
}

impl From<std::io::Error> for AuditError {
    fn from(e: std::io::Error) -> Self {
        AuditError::Storage(StorageError::Io(e))
    }
}

/// Latest integrated state of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Entries integrated.
    pub size: u64,
    /// Root of the tree of that size.
    pub root: Hash,
    /// Bytes of `entries.log` holding those entries.
    pub log_len: u64,
}

/// State shared by the stages and the readers.
pub(crate) struct Shared {
    files: Arc<Files>,
    key: SigningKey,
    head: RwLock<Head>,
    latest: RwLock<Option<Arc<SignedCheckpoint>>>,
    failure: RwLock<Option<String>>,
    appended: AtomicU64,
    batches: AtomicU64,
    latest_tx: watch::Sender<Option<Arc<SignedCheckpoint>>>,
    /// Serialises rewrites of the checkpoint file (publication and added cosignatures).
    checkpoint_lock: Mutex<()>,
}

impl Shared {
    fn head(&self) -> Head {
        *self.head.read().unwrap_or_else(|p| p.into_inner())
    }
    fn set_head(&self, head: Head) {
        *self.head.write().unwrap_or_else(|p| p.into_inner()) = head;
    }
    fn latest(&self) -> Option<Arc<SignedCheckpoint>> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn set_latest(&self, cp: Arc<SignedCheckpoint>) {
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = Some(cp.clone());
        self.latest_tx.send_replace(Some(cp));
    }
    fn failure(&self) -> Option<String> {
        self.failure
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn set_failure(&self, reason: String) {
        *self.failure.write().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }
}

/// One gateway's audit transparency log. Cheap to share behind an `Arc` (or `web::Data`).
pub struct AuditLog {
    shared: Arc<Shared>,
    append_tx: RwLock<Option<SyncSender<sequence::Request>>>,
    publish_tx: Mutex<Option<std::sync::mpsc::Sender<publish::Command>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    verifier: VerifierKey,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.verifier.name())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or creates) the log in `dir`, signing checkpoints with `signer`, whose key name
    /// is the log origin. Recovers from a crash: cuts a torn tail, rebuilds the tree after the
    /// last checkpoint, and refuses to open if the stored tree contradicts a signed root.
    pub fn open(dir: &Path, signer: SigningKey, opts: LogOptions) -> Result<Self, AuditError> {
        if signer.verifier().kind() != crate::signed_note::KeyType::Ed25519 {
            return Err(NoteError::BadKey(
                "the log signs with an Ed25519 (0x01) key, not a cosigning key",
            )
            .into());
        }
        let files = Arc::new(Files::open(dir)?);
        let state = publish::read_state(dir)?;
        let (writer, recovered) =
            Writer::recover(files.clone(), state.size, &state.root, state.log_len)?;
        if recovered.truncated_bytes > 0 || recovered.rebuilt_entries > 0 {
            tracing::info!(
                size = recovered.size,
                truncated_bytes = recovered.truncated_bytes,
                rebuilt_entries = recovered.rebuilt_entries,
                "audit log recovered"
            );
        }
        let verifier = signer.verifier().clone();
        let (latest_tx, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            files,
            key: signer,
            head: RwLock::new(state),
            latest: RwLock::new(None),
            failure: RwLock::new(None),
            appended: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            latest_tx,
            checkpoint_lock: Mutex::new(()),
        });
        // Re-establish the checkpoint for the persisted state (same size, same root).
        let stored = std::fs::read_to_string(dir.join(publish::CHECKPOINT_FILE)).ok();
        let reuse = stored.and_then(|text| {
            let cp = checkpoint::verify_checkpoint(&text, &verifier, &[])
                .ok()?
                .checkpoint;
            (cp.size == state.size && cp.root == state.root).then_some(SignedCheckpoint {
                checkpoint: cp,
                text,
            })
        });
        match reuse {
            Some(cp) => shared.set_latest(Arc::new(cp)),
            None => {
                publish::publish(&shared)?;
            }
        }
        shared.set_head(Head {
            size: writer.size(),
            root: writer.range().root(),
            log_len: writer.log_len(),
        });

        let (append_tx, append_rx) = sync_channel(opts.queue_capacity.max(1));
        let (publish_tx, publish_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        let s = shared.clone();
        let max_batch = opts.max_batch.max(1);
        threads.push(
            std::thread::Builder::new()
                .name("audit-sequence".into())
                .spawn(move || sequence::run(writer, s, append_rx, max_batch))?,
        );
        let s = shared.clone();
        let interval = opts.checkpoint_interval.min(Duration::from_millis(900));
        threads.push(
            std::thread::Builder::new()
                .name("audit-publish".into())
                .spawn(move || publish::run(s, publish_rx, interval))?,
        );
        Ok(Self {
            shared,
            append_tx: RwLock::new(Some(append_tx)),
            publish_tx: Mutex::new(Some(publish_tx)),
            threads: Mutex::new(threads),
            verifier,
        })
    }

    /// Appends an event; resolves once it is durable. Refuses events with protected values
    /// or over 64 KiB, and answers [`AuditError::Busy`] when the queue is full.
    pub async fn append(&self, event: &AuditEvent) -> Result<AppendReceipt, AuditError> {
        let payload = event.to_canonical_json()?;
        self.append_canonical(payload).await
    }

    /// Appends bytes that are already a canonical event (used by benches and replay tools).
    pub async fn append_canonical(&self, payload: Vec<u8>) -> Result<AppendReceipt, AuditError> {
        let rx = self.enqueue(payload)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// Blocking variant of [`AuditLog::append`] for threads outside an async runtime.
    pub fn append_blocking(&self, event: &AuditEvent) -> Result<AppendReceipt, AuditError> {
        let rx = self.enqueue(event.to_canonical_json()?)?;
        rx.blocking_recv().map_err(|_| AuditError::Closed)?
    }

    fn enqueue(
        &self,
        payload: Vec<u8>,
    ) -> Result<oneshot::Receiver<Result<AppendReceipt, AuditError>>, AuditError> {
        if payload.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge(payload.len()).into());
        }
        if let Some(reason) = self.shared.failure() {
            return Err(AuditError::Failed(reason));
        }
        let leaf = merkle::leaf_hash(&payload);
        let (reply, rx) = oneshot::channel();
        let guard = self.append_tx.read().unwrap_or_else(|p| p.into_inner());
        let tx = guard.as_ref().ok_or(AuditError::Closed)?;
        match tx.try_send(sequence::Request {
            payload,
            leaf,
            reply,
        }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(AuditError::Busy {
                retry_after_secs: 1,
            }),
            Err(TrySendError::Disconnected(_)) => Err(AuditError::Closed),
        }
    }

    /// The log's verifier key (`origin+keyid+key`), to publish to auditors and witnesses.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.verifier
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// Entries integrated so far (may be ahead of the latest checkpoint).
    pub fn size(&self) -> u64 {
        self.shared.head().size
    }

    /// Counters since open (for metrics and benches).
    pub fn stats(&self) -> LogStats {
        use std::sync::atomic::Ordering::Relaxed;
        LogStats {
            size: self.size(),
            appended: self.shared.appended.load(Relaxed),
            batches: self.shared.batches.load(Relaxed),
        }
    }

    /// The latest published checkpoint (there is always one after open).
    pub fn checkpoint(&self) -> Option<Arc<SignedCheckpoint>> {
        self.shared.latest()
    }

    /// Publishes a checkpoint covering everything integrated so far, and returns it.
    pub async fn checkpoint_now(&self) -> Result<Arc<SignedCheckpoint>, AuditError> {
        let (tx, rx) = oneshot::channel();
        {
            let guard = self.publish_tx.lock().unwrap_or_else(|p| p.into_inner());
            let sender = guard.as_ref().ok_or(AuditError::Closed)?;
            sender
                .send(publish::Command::Now(tx))
                .map_err(|_| AuditError::Closed)?;
        }
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// Watches published checkpoints (the witness client submits each one).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<SignedCheckpoint>>> {
        self.shared.latest_tx.subscribe()
    }

    /// Stored entries `[from, to)`, canonical JSON bytes each.
    pub fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, AuditError> {
        let size = self.size();
        if from > to || to > size {
            return Err(AuditError::OutOfRange(format!(
                "entries [{from}, {to}) are not within the log of size {size}"
            )));
        }
        Ok(self.shared.files.read_entries(from, to)?)
    }

    /// Root hash of the tree of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, AuditError> {
        self.check_size(size)?;
        let files = &self.shared.files;
        Ok(merkle::subtree_root(0, size, &mut |l, i| {
            files.read_hash(l, i)
        })?)
    }

    /// Inclusion proof for entry `index` in the tree of size `size`; reads O(log n) hashes.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        self.check_size(size)?;
        if index >= size {
            return Err(AuditError::OutOfRange(format!(
                "index {index} is not below size {size}"
            )));
        }
        let files = &self.shared.files;
        Ok(merkle::inclusion_proof(index, size, &mut |l, i| {
            files.read_hash(l, i)
        })?)
    }

    /// Consistency proof between sizes `old` and `new` (`0 < old <= new`).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        self.check_size(new)?;
        if old == 0 || old > new {
            return Err(AuditError::OutOfRange(format!(
                "consistency needs 0 < old <= new, got old {old}, new {new}"
            )));
        }
        let files = &self.shared.files;
        Ok(merkle::consistency_proof(old, new, &mut |l, i| {
            files.read_hash(l, i)
        })?)
    }

    fn check_size(&self, size: u64) -> Result<(), AuditError> {
        let have = self.size();
        if size > have {
            return Err(AuditError::OutOfRange(format!(
                "size {size} is beyond the log size {have}"
            )));
        }
        Ok(())
    }

    /// A C2SP tlog-proof receipt for entry `index` against the latest checkpoint, publishing a
    /// new checkpoint first if the latest one does not cover the entry yet. The entry's
    /// canonical bytes ride in the `extra` line, so the receipt is self-contained.
    pub async fn receipt(&self, index: u64) -> Result<String, AuditError> {
        let mut cp = self.checkpoint().ok_or(AuditError::Closed)?;
        if cp.checkpoint.size <= index {
            if index >= self.size() {
                return Err(AuditError::OutOfRange(format!(
                    "entry {index} is not in the log"
                )));
            }
            cp = self.checkpoint_now().await?;
        }
        let proof = self.inclusion_proof(index, cp.checkpoint.size)?;
        let entry = self
            .entries(index, index + 1)?
            .pop()
            .ok_or(AuditError::Closed)?;
        Ok(receipt::format(index, &proof, &cp.text, Some(&entry)))
    }

    /// Attaches witness cosignature lines to the latest checkpoint if it is still the one of
    /// `size`; lines must verify against `witness_keys` (others are dropped). Returns how many
    /// were added.
    pub fn add_cosignatures(
        &self,
        size: u64,
        lines: &str,
        witness_keys: &[VerifierKey],
    ) -> Result<usize, AuditError> {
        let _guard = self
            .shared
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(latest) = self.shared.latest() else {
            return Ok(0);
        };
        if latest.checkpoint.size != size {
            return Ok(0);
        }
        let mut note = Note::parse(&latest.text)?;
        let mut added = 0;
        for line in lines.lines().filter(|l| !l.is_empty()) {
            let sig = NoteSignature::parse_line(line)?;
            // One cosignature per witness key and checkpoint is enough.
            if note
                .signatures
                .iter()
                .any(|s| s.name == sig.name && s.id == sig.id)
            {
                continue;
            }
            let single = Note {
                body: note.body.clone(),
                signatures: vec![sig.clone()],
            };
            if single.verify(witness_keys).is_ok() {
                note.signatures.push(sig);
                added += 1;
            }
        }
        if added > 0 {
            let text = note.to_text();
            publish::write_atomic(
                self.shared.files.dir(),
                publish::CHECKPOINT_FILE,
                text.as_bytes(),
            )?;
            self.shared.set_latest(Arc::new(SignedCheckpoint {
                checkpoint: latest.checkpoint.clone(),
                text,
            }));
        }
        Ok(added)
    }

    /// Stops accepting appends, publishes a final checkpoint and waits for the stage threads.
    pub fn close(&self) {
        let mut threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // The sequencer drains its queue before exiting; only then may the publisher sign
        // its final checkpoint.
        self.append_tx
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if !threads.is_empty() {
            let _ = threads.remove(0).join();
        }
        self.publish_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}
