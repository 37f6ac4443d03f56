//! Sequencing stage: gives each appended entry its index durably, with group commit.
//!
//! Callers hand canonical entries to one writer thread through a bounded queue. The thread
//! takes everything queued (up to a batch limit), writes it with one `write` and one
//! `fdatasync`, then integrates the batch into the tree and answers every caller. A full
//! queue is reported at once as [`AuditError::Busy`] (HTTP 503 with Retry-After) rather than
//! letting callers pile up.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::merkle::Hash;
use super::storage::Writer;
use super::{AppendReceipt, AuditError, Head, Shared};

/// One queued append.
pub(crate) struct Request {
    pub(crate) payload: Vec<u8>,
    /// Leaf hash, computed by the caller so hashing runs in parallel, off the commit path.
    pub(crate) leaf: Hash,
    pub(crate) reply: oneshot::Sender<Result<AppendReceipt, AuditError>>,
}

/// Runs the writer loop until every sender is dropped.
pub(crate) fn run(
    mut writer: Writer,
    shared: Arc<Shared>,
    rx: Receiver<Request>,
    max_batch: usize,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(max_batch);
    let mut payloads: Vec<Vec<u8>> = Vec::with_capacity(max_batch);
    let mut leaves: Vec<Hash> = Vec::with_capacity(max_batch);
    let mut buf = Vec::with_capacity(1 << 20);
    loop {
        match rx.recv_timeout(Duration::from_secs(3600)) {
            Ok(first) => batch.push(first),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if let Some(reason) = shared.failure() {
            for r in batch.drain(..) {
                let _ = r.reply.send(Err(AuditError::Failed(reason.clone())));
            }
            continue;
        }
        payloads.clear();
        leaves.clear();
        for r in &mut batch {
            leaves.push(r.leaf);
            payloads.push(std::mem::take(&mut r.payload));
        }
        let first_index = writer.size();
        let result = match writer.append_durable(&payloads, &mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                // The disk is full and nothing of the batch is in the log: refuse the batch
                // (503 with Retry-After) and take the next one once space returns.
                tracing::warn!(error = %e, "audit log disk full; refusing appends until space returns");
                for r in batch.drain(..) {
                    let _ = r.reply.send(Err(AuditError::NoSpace));
                }
                continue;
            }
            appended => appended.and_then(|offsets| writer.integrate(&offsets, &leaves)),
        };
        if let Err(e) = result {
            // Any other failed write, or a failed fsync, leaves the on-disk state unknown (fsync errors are not
            // retryable on Linux): stop accepting appends; a restart recovers from disk.
            tracing::error!(error = %e, "audit log write failed; log stops accepting entries");
            let reason = format!("audit log write failed: {e}");
            shared.set_failure(reason.clone());
            for r in batch.drain(..) {
                let _ = r.reply.send(Err(AuditError::Failed(reason.clone())));
            }
            continue;
        }
        let head = Head {
            size: writer.size(),
            root: writer.range().root(),
            log_len: writer.log_len(),
        };
        shared.set_head(head);
        shared
            .appended
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        shared.batches.fetch_add(1, Ordering::Relaxed);
        for (i, r) in batch.drain(..).enumerate() {
            let receipt = AppendReceipt {
                index: first_index + i as u64,
                leaf_hash: leaves[i],
            };
            let _ = r.reply.send(Ok(receipt));
        }
    }
}
