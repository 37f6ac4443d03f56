//! Where request paths hand their audit events.
//!
//! Every request path (pushes, queries, record reads, quarantine, and every refusal) calls
//! [`AuditHook::record`]. Until the audit transparency log (`audit::AuditLog`) is merged, events
//! are appended to `audit-events.jsonl` in the data directory as RFC 6962 leaf hashes over their
//! JSON, and the receipt carries the entry's index and leaf hash. No protected field ever enters
//! an event: callers pass ids, counts and hashes only.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One audited event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 time.
    pub time: String,
    /// Gateway region.
    pub gateway: String,
    /// Request id.
    pub request_id: String,
    /// What was attempted: `ingest`, `query`, `record.read`, `quarantine.list`, ...
    pub action: String,
    /// Who: token subject, or `anonymous` when no token verified.
    pub actor_sub: String,
    /// Role of the actor, when known.
    pub actor_role: Option<String>,
    /// `ok`, `refused` or `error`.
    pub outcome: String,
    /// HTTP status answered.
    pub status: u16,
    /// Action-specific detail: batch id, raw hash, counts, query digest. Never record content.
    pub detail: serde_json::Value,
}

/// What the caller keeps as proof the event was logged.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditReceipt {
    /// Index of the entry in the log.
    pub index: u64,
    /// RFC 6962 leaf hash of the entry (hex).
    pub leaf_hash: String,
}

/// The audit log failed (operator's side).
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    path: PathBuf,
    source: std::io::Error,
}

struct Inner {
    file: std::fs::File,
    next: u64,
}

/// Appends audit events.
pub struct AuditHook {
    path: PathBuf,
    inner: tokio::sync::Mutex<Inner>,
}

impl AuditHook {
    /// Opens (or creates) the event file in `dir`.
    pub fn open(dir: &Path) -> Result<AuditHook, AuditError> {
        let path = dir.join("audit-events.jsonl");
        let err = |source| AuditError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let next = match std::fs::read(&path) {
            Ok(b) => b.iter().filter(|c| **c == b'\n').count() as u64,
            Err(_) => 0,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        Ok(AuditHook {
            path,
            inner: tokio::sync::Mutex::new(Inner { file, next }),
        })
    }

    /// Appends one event and returns its receipt.
    pub async fn record(&self, event: &AuditEvent) -> Result<AuditReceipt, AuditError> {
        let json = serde_json::to_vec(event).map_err(|e| AuditError {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        let mut leaf = Vec::with_capacity(json.len() + 1);
        leaf.push(0u8);
        leaf.extend_from_slice(&json);
        let hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, &leaf));
        let mut inner = self.inner.lock().await;
        let mut line = json;
        line.push(b'\n');
        inner.file.write_all(&line).map_err(|source| AuditError {
            path: self.path.clone(),
            source,
        })?;
        let index = inner.next;
        inner.next += 1;
        Ok(AuditReceipt {
            index,
            leaf_hash: hash,
        })
    }

    /// Number of events logged.
    pub async fn len(&self) -> u64 {
        self.inner.lock().await.next
    }

    /// Whether nothing has been logged.
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    /// Path of the event file (tests read it).
    pub fn path(&self) -> &Path {
        &self.path
    }
}
