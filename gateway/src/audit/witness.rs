//! Witnessing (C2SP `tlog-witness` and `tlog-cosignature`).
//!
//! [`Witness`] is the server side: this gateway cosigns a peer log's checkpoint only if it is
//! signed by a key configured for its origin and provably extends the last checkpoint it
//! cosigned for that origin. The check and the update of its persisted state are atomic (one
//! lock, state file written before answering), so it never cosigns two diverging views.
//!
//! [`submit`] is the client side: it sends this gateway's checkpoint to a witness through a
//! caller-supplied transport (federation wires mTLS), learns the witness's size from a 409,
//! and attaches the returned cosignatures to the log.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::checkpoint::{verify_checkpoint, Checkpoint, CheckpointError};
use super::merkle::{self, Hash};
use super::publish::write_atomic;
use super::{AuditError, AuditLog};
use crate::signed_note::{KeyType, NoteError, SigningKey, VerifierKey};

/// Content type of a 409 answer.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
const STATE_FILE: &str = "witness.state";

/// Refusals of `add-checkpoint`, each with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// 400: the request body is malformed, or old size > checkpoint size.
    #[error("bad add-checkpoint request: {0}")]
    BadRequest(String),
    /// 404: no log with this origin is configured.
    #[error("unknown log origin")]
    UnknownOrigin,
    /// 403: no signature from a configured key verified.
    #[error("checkpoint is not signed by a trusted key of its log")]
    Forbidden,
    /// 409: the old size is not the witness's latest size for this log (body: that size).
    #[error("old size does not match the witnessed size {0}")]
    Conflict(u64),
    /// 409: same size as witnessed but a different root: evidence of a fork.
    #[error("checkpoint has the witnessed size but a different root")]
    RootConflict(u64),
    /// 422: the consistency proof does not verify.
    #[error("consistency proof does not verify")]
    BadProof,
    /// 500: the witness could not persist its state (the operator's fault).
    #[error("witness state could not be saved: {0}")]
    Storage(String),
}

impl WitnessError {
    /// HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::BadRequest(_) => 400,
            WitnessError::UnknownOrigin => 404,
            WitnessError::Forbidden => 403,
            WitnessError::Conflict(_) | WitnessError::RootConflict(_) => 409,
            WitnessError::BadProof => 422,
            WitnessError::Storage(_) => 500,
        }
    }
}

/// A parsed add-checkpoint request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// Size the client believes the witness has.
    pub old: u64,
    /// Consistency proof from `old` to the checkpoint size.
    pub proof: Vec<Hash>,
    /// The checkpoint note text.
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// Request body.
    pub fn to_body(&self) -> String {
        let mut s = format!("old {}\n", self.old);
        for h in &self.proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses a request body.
    pub fn parse(body: &str) -> Result<Self, WitnessError> {
        let bad = |m: &str| WitnessError::BadRequest(m.to_owned());
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line"))?;
        let mut lines = head.split('\n');
        let old_s = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| bad("no old size line"))?;
        if old_s.is_empty()
            || !old_s.bytes().all(|b| b.is_ascii_digit())
            || (old_s.len() > 1 && old_s.starts_with('0'))
        {
            return Err(bad("old size is not a decimal without leading zeros"));
        }
        let old = old_s.parse().map_err(|_| bad("old size out of range"))?;
        let mut proof = Vec::new();
        for l in lines {
            if proof.len() >= 63 {
                return Err(bad("more than 63 proof lines"));
            }
            let h: Hash = B64
                .decode(l)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| bad("proof line is not a base64 hash"))?;
            proof.push(h);
        }
        Ok(Self {
            old,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// The witness server state: per origin, the latest cosigned (size, root).
pub struct Witness {
    key: SigningKey,
    logs: RwLock<BTreeMap<String, Vec<VerifierKey>>>,
    dir: PathBuf,
    state: Mutex<BTreeMap<String, (u64, Hash)>>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("key", self.key.verifier())
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// A witness with cosigning key `key` (type cosignature), trusting `log_keys` (each key's
    /// name is its log's origin), persisting its state in `dir`.
    pub fn open(
        key: SigningKey,
        log_keys: Vec<VerifierKey>,
        dir: &Path,
    ) -> Result<Self, AuditError> {
        if key.verifier().kind() != KeyType::Cosignature {
            return Err(NoteError::BadKey("witness key must be a cosignature (0x04) key").into());
        }
        std::fs::create_dir_all(dir)?;
        let mut state = BTreeMap::new();
        match std::fs::read_to_string(dir.join(STATE_FILE)) {
            Ok(text) => {
                for line in text.lines() {
                    let mut parts = line.split(' ');
                    let (Some(origin), Some(size), Some(root), None) =
                        (parts.next(), parts.next(), parts.next(), parts.next())
                    else {
                        return Err(super::StorageError::Corrupt(
                            "witness.state is unreadable".into(),
                        )
                        .into());
                    };
                    let size: u64 = size
                        .parse()
                        .map_err(|_| super::StorageError::Corrupt("witness.state size".into()))?;
                    let root: Hash = B64
                        .decode(root)
                        .ok()
                        .and_then(|r| r.try_into().ok())
                        .ok_or_else(|| super::StorageError::Corrupt("witness.state root".into()))?;
                    state.insert(origin.to_owned(), (size, root));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Self {
            key,
            logs: RwLock::new(by_origin(log_keys)),
            dir: dir.to_owned(),
            state: Mutex::new(state),
        })
    }

    /// Replaces the trusted log keys (e.g. after a trust-list reload). The witnessed state is
    /// kept: a log whose key changes must still extend what was cosigned before.
    pub fn set_log_keys(&self, log_keys: Vec<VerifierKey>) {
        *self.logs.write().unwrap_or_else(|p| p.into_inner()) = by_origin(log_keys);
    }

    /// The witness's public cosigning key.
    pub fn verifier_key(&self) -> &VerifierKey {
        self.key.verifier()
    }

    /// Latest cosigned size for `origin` (0 if none).
    pub fn witnessed_size(&self, origin: &str) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .map_or(0, |s| s.0)
    }

    /// Handles an add-checkpoint body at time `now` (POSIX seconds); returns the cosignature
    /// line(s) to send back.
    pub fn add_checkpoint(&self, body: &str, now: u64) -> Result<String, WitnessError> {
        let req = AddCheckpoint::parse(body)?;
        let origin = req
            .checkpoint
            .split('\n')
            .next()
            .ok_or_else(|| WitnessError::BadRequest("empty checkpoint".into()))?;
        let keys = self
            .logs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .cloned()
            .ok_or(WitnessError::UnknownOrigin)?;
        let mut verified = None;
        for k in &keys {
            match verify_checkpoint(&req.checkpoint, k, &[]) {
                Ok(v) => {
                    verified = Some(v);
                    break;
                }
                Err(CheckpointError::Note(
                    NoteError::NoTrustedSignature | NoteError::InvalidSignature(_),
                )) => {}
                Err(CheckpointError::WrongOrigin(_)) => {}
                Err(e) => return Err(WitnessError::BadRequest(e.to_string())),
            }
        }
        let vc = verified.ok_or(WitnessError::Forbidden)?;
        let cp: Checkpoint = vc.checkpoint;
        if req.old > cp.size {
            return Err(WitnessError::BadRequest(
                "old size is larger than the checkpoint size".into(),
            ));
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (have_size, have_root) = state
            .get(origin)
            .copied()
            .unwrap_or((0, merkle::empty_root()));
        if req.old != have_size {
            return Err(WitnessError::Conflict(have_size));
        }
        if req.old == 0 {
            if !req.proof.is_empty() {
                return Err(WitnessError::BadProof);
            }
        } else if req.old == cp.size {
            if have_root != cp.root {
                return Err(WitnessError::RootConflict(have_size));
            }
            if !req.proof.is_empty() {
                return Err(WitnessError::BadProof);
            }
        } else if merkle::verify_consistency(req.old, cp.size, &req.proof, &have_root, &cp.root)
            .is_err()
        {
            tracing::warn!(
                origin,
                old = req.old,
                new = cp.size,
                "witness refused an inconsistent checkpoint"
            );
            return Err(WitnessError::BadProof);
        }
        let mut next = state.clone();
        next.insert(origin.to_owned(), (cp.size, cp.root));
        let text: String = next
            .iter()
            .map(|(o, (s, r))| format!("{o} {s} {}\n", B64.encode(r)))
            .collect();
        write_atomic(&self.dir, STATE_FILE, text.as_bytes())
            .map_err(|e| WitnessError::Storage(e.to_string()))?;
        *state = next;
        Ok(self.key.signature_line(&cp.body(), now))
    }
}

fn by_origin(log_keys: Vec<VerifierKey>) -> BTreeMap<String, Vec<VerifierKey>> {
    let mut logs: BTreeMap<String, Vec<VerifierKey>> = BTreeMap::new();
    for k in log_keys {
        logs.entry(k.name().to_owned()).or_default().push(k);
    }
    logs
}

/// A witness answer as seen by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessResponse {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
}

/// Submits the log's latest checkpoint to one witness. `post(body)` performs
/// `POST <prefix>/add-checkpoint` and returns the status and body; `known_size` is the size the
/// witness had last time (0 if unknown; a 409 teaches the real one). Returns the witness's new
/// size and the number of cosignatures attached to the log.
pub async fn submit<F, Fut>(
    log: &AuditLog,
    witness_key: &VerifierKey,
    known_size: u64,
    mut post: F,
) -> Result<(u64, usize), AuditError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<WitnessResponse, String>>,
{
    let cp = log.checkpoint().ok_or(AuditError::Closed)?;
    let size = cp.checkpoint.size;
    if size == 0 {
        return Ok((0, 0));
    }
    let mut old = known_size.min(size);
    for _ in 0..3 {
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            log.consistency_proof(old, size)?
        };
        let req = AddCheckpoint {
            old,
            proof,
            checkpoint: cp.text.clone(),
        };
        let resp = post(req.to_body()).await.map_err(AuditError::Failed)?;
        match resp.status {
            200 => {
                let added =
                    log.add_cosignatures(size, &resp.body, std::slice::from_ref(witness_key))?;
                return Ok((size, added));
            }
            409 => {
                let theirs: u64 = resp
                    .body
                    .trim()
                    .parse()
                    .map_err(|_| AuditError::Failed("witness 409 without a size".into()))?;
                if theirs == old || theirs > size {
                    return Err(AuditError::Failed(format!(
                        "witness {} holds size {theirs}, which conflicts with this log's size {size}",
                        witness_key.name()
                    )));
                }
                old = theirs;
            }
            s => {
                return Err(AuditError::Failed(format!(
                    "witness {} refused the checkpoint with status {s}",
                    witness_key.name()
                )))
            }
        }
    }
    Err(AuditError::Failed("witness kept answering 409".into()))
}

/// How long the client waits before submitting again to a witness that failed, when no new
/// checkpoint comes first (an idle log would otherwise stay uncosigned until its next entry).
pub const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(2);

/// Submits every checkpoint this log publishes to each witness; runs until its task is dropped
/// (spawn it next to the server). Each
/// witness is a verifier key and a transport (`post(body)` performs the add-checkpoint call);
/// failures are logged and retried after [`RETRY_AFTER_FAILURE`] or with the next checkpoint.
pub async fn run_client<F, Fut>(log: Arc<AuditLog>, mut witnesses: Vec<(VerifierKey, F)>)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<WitnessResponse, String>>,
{
    let mut rx = log.subscribe();
    // Size each witness is known to hold, and the largest size submitted to it.
    let mut known = vec![0u64; witnesses.len()];
    let mut submitted = vec![0u64; witnesses.len()];
    loop {
        let size = rx
            .borrow_and_update()
            .as_ref()
            .map_or(0, |cp| cp.checkpoint.size);
        let mut failed = false;
        for (i, (key, post)) in witnesses.iter_mut().enumerate() {
            if size == 0 || size <= submitted[i] {
                continue;
            }
            match submit(&log, key, known[i], &mut *post).await {
                Ok((s, _)) => {
                    known[i] = s;
                    submitted[i] = s;
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(witness = key.name(), error = %e, "checkpoint not cosigned")
                }
            }
        }
        if failed {
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(RETRY_AFTER_FAILURE) => {}
            }
        } else if rx.changed().await.is_err() {
            return;
        }
    }
}
