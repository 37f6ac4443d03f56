//! Fan-out: ask several peers concurrently, each under its own deadline, and merge their
//! aggregate answers. A region that is down, slow or refuses gives a per-region status, never a
//! hang or a failed whole answer (DESIGN section 5).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::httpsig::SigningKey;
pub use super::outbound::Answered;
use super::outbound::{call_peer, CallError, PeerAnswer, PeerCall};
use super::tls::{client_config, http_client, CallTimeouts, ExpectedPeer, TlsError, TlsFiles};
use super::trust::TrustList;
use crate::access::AuditReceipt;
use crate::audit::event::PeerReceipt;
use crate::query::{Cell, QueryAnswer};

/// Default per-peer deadline.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);

/// One peer: its region, base URL and a client pinned to it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Region code.
    pub region: String,
    /// Base URL from the trust list.
    pub url: String,
    client: reqwest::Client,
}

impl Peer {
    /// The client pinned to this peer (mTLS, timeouts set).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// The peers of this gateway, built from the trust list (rebuild on trust-list reload).
#[derive(Debug, Clone, Default)]
pub struct PeerSet {
    peers: BTreeMap<String, Peer>,
}

impl PeerSet {
    /// One pinned mTLS client per member other than `own_region`, using this gateway's client
    /// certificate in `files`.
    pub fn from_trust(
        trust: &TrustList,
        own_region: &str,
        files: &TlsFiles,
        timeouts: CallTimeouts,
    ) -> Result<Self, TlsError> {
        let mut peers = BTreeMap::new();
        for m in trust.members.iter().filter(|m| m.region != own_region) {
            let config = client_config(
                files,
                ExpectedPeer {
                    region: m.region.clone(),
                    spki_pins: m.spki_pins.clone(),
                },
            )?;
            peers.insert(
                m.region.clone(),
                Peer {
                    region: m.region.clone(),
                    url: m.url.trim_end_matches('/').to_owned(),
                    client: http_client(config, timeouts)?,
                },
            );
        }
        Ok(PeerSet { peers })
    }

    /// Replaces a peer's base URL (tests and local demos where ports are chosen at start).
    pub fn set_url(&mut self, region: &str, url: &str) {
        if let Some(p) = self.peers.get_mut(region) {
            p.url = url.trim_end_matches('/').to_owned();
        }
    }

    /// The peer serving `region`.
    pub fn get(&self, region: &str) -> Option<&Peer> {
        self.peers.get(region)
    }

    /// Regions of all peers.
    pub fn regions(&self) -> Vec<String> {
        self.peers.keys().cloned().collect()
    }
}

/// Status of one region in a federated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegionStatus {
    /// Region code.
    pub region: String,
    /// How it answered.
    pub status: Answered,
    /// Wall time until the answer or the failure, in milliseconds.
    pub latency_ms: f64,
    /// Audit receipt returned by the region (when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<AuditReceipt>,
    /// Why the region did not answer (problem slug or cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When it did not answer: since when calls to it have failed (the first failure of the
    /// current run), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub unreachable_since: Option<chrono::DateTime<chrono::Utc>>,
    /// When it answered: the time of its data (its last acknowledged push), when it states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// Outcome of asking one region.
#[derive(Debug, Clone)]
pub struct RegionOutcome {
    /// Region asked.
    pub region: String,
    /// The verified answer, or why there is none.
    pub result: Result<PeerAnswer, CallError>,
    /// Time spent.
    pub latency: Duration,
}

impl RegionOutcome {
    /// The per-region status line, with the receipt taken from the answer's `receipt` field (a
    /// receipt not of the receipt's form is left out).
    pub fn status(&self) -> RegionStatus {
        #[derive(Deserialize)]
        struct WithReceipt {
            receipt: Option<AuditReceipt>,
        }
        let receipt = self.result.as_ref().ok().and_then(|answer| {
            serde_json::from_slice::<WithReceipt>(&answer.body)
                .ok()
                .and_then(|w| w.receipt)
        });
        self.status_with_receipt(receipt)
    }

    /// The per-region status line with a receipt the caller already read from the answer (so
    /// the body is parsed once).
    pub fn status_with_receipt(&self, receipt: Option<AuditReceipt>) -> RegionStatus {
        let latency_ms = self.latency.as_secs_f64() * 1000.0;
        match &self.result {
            Ok(_) => RegionStatus {
                region: self.region.clone(),
                status: Answered::Ok,
                latency_ms,
                receipt,
                detail: None,
                unreachable_since: None,
                as_of: None,
            },
            Err(e) => RegionStatus {
                region: self.region.clone(),
                status: e.status_label(),
                latency_ms,
                receipt: None,
                detail: Some(match e {
                    CallError::Denied { problem, .. } => problem.clone(),
                    other => other.to_string(),
                }),
                unreachable_since: None,
                as_of: None,
            },
        }
    }
}

/// What to ask of the peers.
#[derive(Debug, Clone, Copy)]
pub struct FanOut<'a> {
    /// Regions to ask.
    pub regions: &'a [String],
    /// Federation path on each peer (e.g. `/v1/federation/query`).
    pub path: &'a str,
    /// Request id, propagated.
    pub request_id: &'a str,
    /// JSON body, signed per peer.
    pub body: &'a [u8],
    /// Per-peer deadline (default [`DEFAULT_DEADLINE`]).
    pub deadline: Duration,
}

/// Asks every region concurrently: `POST {url}{path}` with the signed body, each bounded by the
/// deadline. Regions that are not peers get status `error`.
pub async fn fan_out(
    peers: &PeerSet,
    key: &SigningKey,
    trust: &TrustList,
    ask: FanOut<'_>,
) -> Vec<RegionOutcome> {
    let FanOut {
        regions,
        path,
        request_id,
        body,
        deadline,
    } = ask;
    let calls = regions.iter().map(|region| async move {
        let started = Instant::now();
        let result = match peers.peers.get(region) {
            None => Err(CallError::Error(format!(
                "{region} is not a federation peer"
            ))),
            Some(peer) => {
                let url = format!("{}{path}", peer.url);
                let call = call_peer(
                    &peer.client,
                    key,
                    trust,
                    PeerCall {
                        region,
                        url: &url,
                        request_id,
                        body: body.to_vec(),
                    },
                    || chrono::Utc::now().timestamp(),
                );
                match tokio::time::timeout(deadline, call).await {
                    Ok(r) => r,
                    Err(_) => Err(CallError::Timeout),
                }
            }
        };
        RegionOutcome {
            region: region.clone(),
            result,
            latency: started.elapsed(),
        }
    });
    futures_util::future::join_all(calls).await
}

/// One merged cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MergedCell {
    /// Dimension to code.
    pub group: BTreeMap<String, String>,
    /// Sum of the regions' unsuppressed counts; absent when every part was suppressed.
    pub count: Option<i64>,
    /// Sum of the regions' unsuppressed sums, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<i64>,
    /// Whether at least one region withheld its part of this cell (so the totals are lower
    /// bounds).
    pub includes_suppressed: bool,
    /// Regions that contributed a part (suppressed or not).
    pub regions: Vec<String>,
}

/// Merges regional answers cell by cell (same group). Each region suppressed its own small
/// cells at the source; a merged cell says when it includes such a part.
pub fn merge_answers(answers: &[QueryAnswer]) -> Vec<MergedCell> {
    let mut merged: BTreeMap<Vec<(String, String)>, MergedCell> = BTreeMap::new();
    for answer in answers {
        for cell in &answer.cells {
            let key: Vec<(String, String)> = cell
                .group
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let m = merged.entry(key).or_insert_with(|| MergedCell {
                group: cell.group.clone(),
                count: None,
                sum: None,
                includes_suppressed: false,
                regions: Vec::new(),
            });
            add_part(m, cell);
            m.regions.push(answer.region.clone());
        }
    }
    merged.into_values().collect()
}

fn add_part(m: &mut MergedCell, cell: &Cell) {
    if cell.suppressed {
        m.includes_suppressed = true;
        return;
    }
    if let Some(c) = cell.count {
        m.count = Some(m.count.unwrap_or(0) + c);
    }
    if let Some(s) = cell.sum {
        m.sum = Some(m.sum.unwrap_or(0) + s);
    }
}

/// The audit form of every region's status: its receipt's origin, index and leaf hash.
pub fn peer_receipts(statuses: &[RegionStatus]) -> Vec<PeerReceipt> {
    statuses
        .iter()
        .map(|s| PeerReceipt {
            region: s.region.clone(),
            status: s.status.as_str().to_string(),
            log_origin: s.receipt.as_ref().map(|r| r.log_origin.clone()),
            index: s.receipt.as_ref().map(|r| r.index),
            leaf_hash: s.receipt.as_ref().map(|r| r.leaf_hash.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::AsOf;

    fn answer(region: &str, cells: &[(&str, Option<i64>)]) -> QueryAnswer {
        QueryAnswer {
            dataset: "vacancy".into(),
            region: region.into(),
            answered_from: "rollup".into(),
            sum_measure: None,
            k: 5,
            as_of: AsOf {
                applied_offset: 0,
                journal_offset: 0,
                lag_batches: 0,
            },
            cells: cells
                .iter()
                .map(|(occ, count)| Cell {
                    group: [("occupation_major".to_string(), occ.to_string())].into(),
                    count: *count,
                    sum: None,
                    suppressed: count.is_none(),
                })
                .collect(),
        }
    }

    #[test]
    fn merged_totals_are_the_sums_and_suppressed_parts_are_flagged() {
        let merged = merge_answers(&[
            answer("110000", &[("2", Some(10)), ("4", None)]),
            answer("440000", &[("2", Some(7)), ("4", Some(12))]),
            answer("510000", &[("6", None)]),
        ]);
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0].count, Some(17));
        assert!(!merged[0].includes_suppressed);
        assert_eq!(merged[0].regions, vec!["110000", "440000"]);
        // 110000 withheld its part: the total is 440000's alone, and says so.
        assert_eq!(merged[1].count, Some(12));
        assert!(merged[1].includes_suppressed);
        // Every part withheld: no count at all.
        assert_eq!(merged[2].count, None);
        assert!(merged[2].includes_suppressed);
    }
}
