//! Aggregation of anonymous refusals (DESIGN section 9: "anonymous ones aggregated per client
//! and interval").
//!
//! A request without valid credentials (no token, a malformed one, a bad signature) costs its
//! sender nothing, so one log entry per refusal would let anyone grow the log without limit.
//! Such refusals are keyed by client address and reason (a problem slug). In each interval the
//! first refusal of a key is written at once, with `counts.count = 1`; later ones are only
//! counted, and when the interval ends one entry per key carries their `count` (the event of
//! the last one counted, its time included). The `count`s of a key's entries add up to its
//! refusals. Refusals of authenticated callers are not aggregated: their callers are known.
//!
//! Memory is bounded: at most `max_clients` keys are kept; refusals from further addresses are
//! counted under the client [`OTHER_CLIENT`] with their reason, and reasons are `&'static str`,
//! a fixed set in the code.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AuditEvent, AuditLog};

/// Client of the bucket that takes refusals past the bound (and those of unknown address).
pub const OTHER_CLIENT: &str = "other";
/// Key in `counts` of an aggregated entry: the refusals it stands for.
pub const COUNT: &str = "count";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    /// `None`: the `other` bucket.
    client: Option<IpAddr>,
    reason: &'static str,
}

#[derive(Debug, Default)]
struct Pending {
    /// Refusals counted since the entry written at once.
    count: u64,
    /// The last of them.
    last: Option<AuditEvent>,
}

/// Counts anonymous refusals per client and reason, and turns them into few audit entries.
#[derive(Debug)]
pub struct RefusalAggregator {
    interval: Duration,
    max_clients: usize,
    window: Mutex<HashMap<Key, Pending>>,
}

impl RefusalAggregator {
    /// An aggregator over intervals of `interval`, keeping at most `max_clients` keys.
    pub fn new(interval: Duration, max_clients: usize) -> Self {
        Self {
            interval,
            max_clients,
            window: Mutex::new(HashMap::new()),
        }
    }

    /// The length of an interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Records one anonymous refusal of `client` for `reason`, described by `event`. Returns
    /// the event to append now (the first of its key in this interval, with `client` and
    /// `count: 1` set), or `None` when it was counted for the end of the interval.
    pub fn record(
        &self,
        client: Option<IpAddr>,
        reason: &'static str,
        mut event: AuditEvent,
    ) -> Option<AuditEvent> {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = Key { client, reason };
        if window.len() >= self.max_clients && !window.contains_key(&key) {
            key.client = None;
        }
        event.client = Some(match key.client {
            Some(ip) => ip.to_string(),
            None => OTHER_CLIENT.to_string(),
        });
        match window.get_mut(&key) {
            Some(p) => {
                p.count += 1;
                p.last = Some(event);
                None
            }
            None => {
                window.insert(key, Pending::default());
                event.counts.insert(COUNT.into(), 1);
                Some(event)
            }
        }
    }

    /// Ends the interval: one event per key with refusals counted (their `count` set), and
    /// every key forgotten, so the next refusal of any key is written at once again.
    pub fn drain(&self) -> Vec<AuditEvent> {
        self.drain_keyed().into_iter().map(|(_, e)| e).collect()
    }

    fn drain_keyed(&self) -> Vec<(Key, AuditEvent)> {
        let window = {
            let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *w)
        };
        window
            .into_iter()
            .filter_map(|(key, p)| {
                let mut e = p.last?;
                e.counts.insert(COUNT.into(), p.count);
                Some((key, e))
            })
            .collect()
    }

    /// Puts an entry that could not be written back, to be written with the next interval's.
    fn restore(&self, key: Key, event: AuditEvent) {
        let count = event.counts.get(COUNT).copied().unwrap_or(0);
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = key;
        if window.len() >= self.max_clients && !window.contains_key(&key) {
            key.client = None;
        }
        let p = window.entry(key).or_default();
        p.count += count;
        if p.last.is_none() {
            p.last = Some(event);
        }
    }

    /// Ends the interval and appends its entries to `log`. An entry the log refuses (busy,
    /// failed) is kept for the next interval: its count is not lost while the process runs.
    pub async fn flush(&self, log: &AuditLog) {
        for (key, event) in self.drain_keyed() {
            if let Err(e) = log.append(&event).await {
                tracing::warn!(error = %e, reason = key.reason, "aggregated refusals not yet audited; kept for the next interval");
                self.restore(key, event);
            }
        }
    }

    /// Flushes every interval, for as long as the runtime runs.
    pub async fn run(self: Arc<Self>, log: Arc<AuditLog>) {
        let mut tick = actix_web::rt::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: it starts the first interval.
        tick.tick().await;
        loop {
            tick.tick().await;
            self.flush(&log).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, Actor, Outcome};

    fn refusal(n: u32) -> AuditEvent {
        let actor = Actor {
            sub: "anonymous".into(),
            role: "none".into(),
            region: None,
            peer_member: None,
        };
        let mut e = AuditEvent::new(
            "440000",
            format!("req-{n}"),
            actor,
            Action::AccessDenied,
            Outcome::Denied,
        );
        e.reason = Some("unauthorized".into());
        e
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    fn total(events: &[AuditEvent]) -> u64 {
        events.iter().map(|e| e.counts[COUNT]).sum()
    }

    #[test]
    fn first_refusal_is_written_at_once_and_the_rest_as_one_counted_entry() {
        let a = RefusalAggregator::new(Duration::from_secs(60), 100);
        let first = a.record(ip(1), "unauthorized", refusal(0)).unwrap();
        assert_eq!(first.counts[COUNT], 1);
        assert_eq!(first.client.as_deref(), Some("192.0.2.1"));
        for n in 1..500 {
            assert!(a.record(ip(1), "unauthorized", refusal(n)).is_none());
        }
        // Another reason or another client is another key.
        assert!(a
            .record(ip(1), "unsupported-content-encoding", refusal(500))
            .is_some());
        assert!(a.record(ip(2), "unauthorized", refusal(501)).is_some());
        let flushed = a.drain();
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].counts[COUNT], 499);
        assert_eq!(flushed[0].request_id, "req-499");
        assert_eq!(total(&flushed) + 1, 500);
        // A new interval: the next refusal is written at once again.
        assert!(a.drain().is_empty());
        assert!(a.record(ip(1), "unauthorized", refusal(502)).is_some());
    }

    #[test]
    fn keys_are_bounded_and_the_overflow_counts_under_other() {
        let a = RefusalAggregator::new(Duration::from_secs(60), 10);
        let mut written = Vec::new();
        for round in 0..3 {
            for n in 0..=255u8 {
                let e = refusal(u32::from(n) + 1000 * round);
                written.extend(a.record(ip(n), "unauthorized", e));
            }
        }
        {
            let w = a.window.lock().unwrap();
            assert_eq!(w.len(), 11, "10 clients and the other bucket");
        }
        // Ten clients and `other` were written at once; every other refusal is counted.
        assert_eq!(written.len(), 11);
        assert_eq!(
            written
                .iter()
                .filter(|e| e.client.as_deref() == Some(OTHER_CLIENT))
                .count(),
            1
        );
        let flushed = a.drain();
        assert_eq!(total(&written) + total(&flushed), 3 * 256);
    }

    #[actix_web::test]
    async fn flush_appends_one_entry_per_key_and_keeps_nothing_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::signed_note::SigningKey::from_seed(
            "pes.example/440000",
            crate::signed_note::KeyType::Ed25519,
            [7; 32],
        )
        .unwrap();
        let log = AuditLog::open(dir.path(), key, super::super::LogOptions::default()).unwrap();
        let a = RefusalAggregator::new(Duration::from_secs(60), 10);
        for n in 0..20 {
            if let Some(e) = a.record(ip(u8::try_from(n % 2).unwrap()), "unauthorized", refusal(n))
            {
                log.append(&e).await.unwrap();
            }
        }
        assert_eq!(log.size(), 2);
        a.flush(&log).await;
        assert_eq!(log.size(), 4);
        let counted: u64 = log
            .entries(0, 4)
            .unwrap()
            .iter()
            .map(|b| AuditEvent::from_json(b).unwrap().counts[COUNT])
            .sum();
        assert_eq!(counted, 20);
        a.flush(&log).await;
        assert_eq!(log.size(), 4, "nothing left to write");
    }
}
