//! Publication stage: signs checkpoints on a timer (well under one second after new entries)
//! and on demand.
//!
//! Order of a publication, which is what keeps one size from ever getting two roots:
//! 1. fdatasync the index and tree hash files up to the head being published;
//! 2. write `(size, root, log length)` to `checkpoint.state` (temp file, fsync, rename, fsync
//!    directory);
//! 3. only then sign, and store the signed note in `checkpoint` the same way.
//!
//! On open, storage recovery checks that the tree at the stored size still hashes to the
//! stored root and refuses to open otherwise; a crash between 2 and 3 re-signs the same
//! (size, root), which yields the same Ed25519 signature.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tokio::sync::oneshot;

use super::checkpoint::Checkpoint;
use super::merkle::{self, Hash};
use super::storage::{sync_dir, StorageError};
use super::{AuditError, Head, Shared, SignedCheckpoint};

const STATE_FILE: &str = "checkpoint.state";
const STATE_MAGIC: &str = "pes-audit-state/v1";
/// File holding the latest signed checkpoint note (with any cosignatures).
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// Commands to the publisher thread.
pub(crate) enum Command {
    /// Publish now (if there is anything new) and answer with the latest checkpoint.
    Now(oneshot::Sender<Result<Arc<SignedCheckpoint>, AuditError>>),
}

/// Writes `contents` to `dir/name` atomically and durably.
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Reads the last published head; an absent file means nothing was ever published.
pub fn read_state(dir: &Path) -> Result<Head, StorageError> {
    let text = match fs::read_to_string(dir.join(STATE_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Head {
                size: 0,
                root: merkle::empty_root(),
                log_len: 0,
            })
        }
        Err(e) => return Err(e.into()),
    };
    let corrupt = || StorageError::Corrupt("checkpoint.state is unreadable".into());
    let mut lines = text.lines();
    if lines.next() != Some(STATE_MAGIC) {
        return Err(corrupt());
    }
    let mut field = |key: &str| -> Result<String, StorageError> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(key))
            .and_then(|l| l.strip_prefix(' '))
            .map(str::to_owned)
            .ok_or_else(corrupt)
    };
    let size = field("size")?.parse().map_err(|_| corrupt())?;
    let root: Hash = B64
        .decode(field("root")?)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or_else(corrupt)?;
    let log_len = field("log_len")?.parse().map_err(|_| corrupt())?;
    Ok(Head {
        size,
        root,
        log_len,
    })
}

fn write_state(dir: &Path, head: &Head) -> std::io::Result<()> {
    let text = format!(
        "{STATE_MAGIC}\nsize {}\nroot {}\nlog_len {}\n",
        head.size,
        B64.encode(head.root),
        head.log_len
    );
    write_atomic(dir, STATE_FILE, text.as_bytes())
}

/// Publishes `head` if it is newer than the latest checkpoint (or there is none yet).
pub(crate) fn publish(shared: &Shared) -> Result<Arc<SignedCheckpoint>, AuditError> {
    let head = shared.head();
    if let Some(latest) = shared.latest() {
        if latest.checkpoint.size >= head.size {
            return Ok(latest);
        }
    }
    let dir = shared.files.dir();
    shared.files.sync_tree().map_err(StorageError::from)?;
    let state = read_state(dir)?;
    if state.size > head.size || (state.size == head.size && state.root != head.root) {
        // Never sign a smaller tree or a second root for the same size.
        return Err(AuditError::Storage(StorageError::Corrupt(format!(
            "head {} is behind or diverges from the published state {}",
            head.size, state.size
        ))));
    }
    if state.size != head.size {
        write_state(dir, &head).map_err(StorageError::from)?;
    }
    let cp = Checkpoint {
        origin: shared.key.name().to_owned(),
        size: head.size,
        root: head.root,
    };
    let text = cp.sign(&shared.key)?;
    write_atomic(dir, CHECKPOINT_FILE, text.as_bytes()).map_err(StorageError::from)?;
    let signed = Arc::new(SignedCheckpoint {
        checkpoint: cp,
        text,
    });
    shared.set_latest(signed.clone());
    tracing::debug!(size = head.size, "audit checkpoint published");
    Ok(signed)
}

/// Runs the publisher loop until the command channel closes, publishing at every `interval`
/// when there are new entries.
pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<Command>, interval: Duration) {
    loop {
        let mut waiting = Vec::new();
        match rx.recv_timeout(interval) {
            Ok(Command::Now(reply)) => waiting.push(reply),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = publish(&shared) {
                    tracing::error!(error = %e, "final audit checkpoint failed");
                }
                return;
            }
        }
        // Requests that queued meanwhile share one publication.
        while let Ok(Command::Now(reply)) = rx.try_recv() {
            waiting.push(reply);
        }
        let result = publish(&shared);
        if let Err(e) = &result {
            tracing::error!(error = %e, "audit checkpoint publication failed");
        }
        for reply in waiting {
            let answer = match &result {
                Ok(cp) => Ok(cp.clone()),
                Err(e) => Err(AuditError::Failed(format!(
                    "checkpoint publication failed: {e}"
                ))),
            };
            let _ = reply.send(answer);
        }
    }
}
