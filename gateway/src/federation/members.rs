//! What this gateway knows of each federation member: when it last answered, since when it
//! has not, how fast it was, the last checkpoint cross-witnessing saw, and how fresh its data
//! is. Every fan-out answer and every witness call updates it; `GET /v1/federation/members`
//! and the `pes_peer_*` metrics read it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::outbound::Answered;
use crate::metrics::Metrics;

/// Why the last call to a member failed, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    /// When the call failed.
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// How it failed (`timeout`, `unreachable`, `denied`, `bad_signature`, `error`).
    pub status: Answered,
    /// The cause (problem slug or error text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A checkpoint of this gateway's audit log that a member's witness cosigned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointSeen {
    /// Tree size of the checkpoint.
    pub size: u64,
    /// When the member's witness cosigned it.
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
}

/// What is known of one member, from this gateway's calls to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerHealth {
    /// Last time it gave a verified answer (a signed refusal counts: it is up).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_answer: Option<DateTime<Utc>>,
    /// The last failed call.
    pub last_failure: Option<Failure>,
    /// First failure of the current run of failures; cleared by the next answer.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub unreachable_since: Option<DateTime<Utc>>,
    /// Wall time of the latest call, answered or failed, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Latest checkpoint of this gateway's log that the member's witness cosigned.
    pub last_checkpoint: Option<CheckpointSeen>,
    /// Time of the member's data, as it last stated it in an aggregate answer.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<DateTime<Utc>>,
}

impl PeerHealth {
    /// `Some(true)` when the last call was answered, `Some(false)` while calls fail, `None`
    /// before the first call.
    pub fn reachable(&self) -> Option<bool> {
        if self.unreachable_since.is_some() {
            Some(false)
        } else if self.last_answer.is_some() {
            Some(true)
        } else {
            None
        }
    }
}

/// Whether a call's outcome means the member is up: it answered, and its answer verified.
fn is_up(status: Answered) -> bool {
    matches!(status, Answered::Ok | Answered::Denied)
}

/// Per-member state, shared by the fan-out, the witness client and the members endpoint.
#[derive(Default)]
pub struct PeerBook {
    peers: Mutex<BTreeMap<String, PeerHealth>>,
    metrics: OnceLock<Arc<Metrics>>,
}

impl std::fmt::Debug for PeerBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerBook").finish_non_exhaustive()
    }
}

impl PeerBook {
    /// Reports every later update to `metrics` (`pes_peer_up`, `pes_peer_latency_seconds`).
    /// The first call wins.
    pub fn attach_metrics(&self, metrics: Arc<Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// Records the outcome of one call to `region` at `now`: `status` and `detail` as in a
    /// per-region status, `as_of` if the answer stated the time of its data.
    pub fn record(
        &self,
        region: &str,
        status: Answered,
        detail: Option<&str>,
        latency: Duration,
        as_of: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let up = is_up(status);
        {
            let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            let h = peers.entry(region.to_owned()).or_default();
            h.latency_ms = Some(latency.as_secs_f64() * 1000.0);
            if up {
                h.last_answer = Some(now);
                h.unreachable_since = None;
                if as_of.is_some() {
                    h.as_of = as_of;
                }
            } else {
                h.unreachable_since.get_or_insert(now);
            }
            if status != Answered::Ok {
                h.last_failure = Some(Failure {
                    at: now,
                    status,
                    detail: detail.map(str::to_owned),
                });
            }
        }
        if let Some(m) = self.metrics.get() {
            m.peers.set(region, up, latency);
        }
    }

    /// Records that `region`'s witness cosigned this gateway's checkpoint of `size` at `now`.
    pub fn record_checkpoint(&self, region: &str, size: u64, now: DateTime<Utc>) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.entry(region.to_owned()).or_default().last_checkpoint =
            Some(CheckpointSeen { size, at: now });
    }

    /// What is known of `region` (all empty before the first call).
    pub fn get(&self, region: &str) -> PeerHealth {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(region)
            .cloned()
            .unwrap_or_default()
    }
}

/// The time of this gateway's data: when the newest journal segment was last written, i.e.
/// the last acknowledged push (`None` before the first). Whether that push is applied yet is
/// the answer's `as_of.lag_batches`.
pub fn data_as_of(data_dir: &Path, applied_offset: u64) -> Option<DateTime<Utc>> {
    if applied_offset == 0 {
        return None;
    }
    let segments = crate::ingest::journal::segments(&data_dir.join("journal")).ok()?;
    let (_, newest) = segments.last()?;
    let modified = std::fs::metadata(newest).ok()?.modified().ok()?;
    Some(DateTime::<Utc>::from(modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap_or_default()
    }

    #[test]
    fn a_failure_run_starts_at_its_first_failure_and_ends_with_an_answer() {
        let book = PeerBook::default();
        assert_eq!(book.get("110000").reachable(), None);
        let ms = Duration::from_millis(3);
        book.record("110000", Answered::Ok, None, ms, Some(at(5)), at(10));
        assert_eq!(book.get("110000").reachable(), Some(true));
        book.record(
            "110000",
            Answered::Unreachable,
            Some("refused"),
            ms,
            None,
            at(20),
        );
        book.record("110000", Answered::Timeout, None, ms, None, at(30));
        let h = book.get("110000");
        assert_eq!(h.reachable(), Some(false));
        assert_eq!(h.unreachable_since, Some(at(20)));
        assert_eq!(h.last_answer, Some(at(10)));
        assert_eq!(h.as_of, Some(at(5)));
        let failure = h.last_failure.clone().unwrap_or_else(|| panic!("{h:?}"));
        assert_eq!((failure.at, failure.status), (at(30), Answered::Timeout));
        // A signed refusal is an answer: the member is up again.
        book.record(
            "110000",
            Answered::Denied,
            Some("policy_denied"),
            ms,
            None,
            at(40),
        );
        let h = book.get("110000");
        assert_eq!(h.reachable(), Some(true));
        assert_eq!(h.unreachable_since, None);
        assert_eq!(
            h.as_of,
            Some(at(5)),
            "an answer without a time keeps the last"
        );
    }
}
