//! Prometheus metrics of the gateway (`/metrics`).

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};
// Federation members block.
use prometheus::{GaugeVec, IntGaugeVec, Opts};

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    /// Records accepted into the journal.
    pub ingested_rows: IntCounter,
    /// Rows quarantined.
    pub quarantined_rows: IntCounter,
    /// Pushes refused (any 4xx/5xx).
    pub refused_pushes: IntCounter,
    /// Push latency, request to acknowledgement.
    pub batch_latency: Histogram,
    /// Journal fdatasync latency.
    pub journal_fsync: Histogram,
    /// Aggregate query latency.
    pub query_latency: Histogram,
    /// Batches acknowledged but not applied.
    pub apply_lag_batches: IntGauge,
    /// Journal bytes acknowledged but not applied.
    pub apply_lag_bytes: IntGauge,
    /// 1 once a journal write or fsync failed (pushes refused until restart).
    pub journal_failed: IntGauge,
    /// 1 while the journal's disk is full (the last append found no space).
    pub journal_no_space: IntGauge,
    /// Journal entries set aside because they could not be applied.
    pub dead_letters: IntGauge,
    /// Ingest memory budget reserved by pushes in flight.
    pub ingest_memory_reserved: IntGauge,
    /// Federation members as this gateway last found them (see [`PeerMetrics`]).
    pub peers: PeerMetrics,
}

fn hist(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    #[allow(clippy::expect_used)] // constant, valid options: construction cannot fail
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid histogram options")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    #[allow(clippy::expect_used)] // names are constant and distinct: registration cannot fail
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let m = Metrics {
            registry: registry.clone(),
            ingested_rows: IntCounter::new(
                "pes_ingested_rows_total",
                "Records accepted into the journal",
            )
            .expect("metric"),
            quarantined_rows: IntCounter::new("pes_quarantined_rows_total", "Rows quarantined")
                .expect("metric"),
            refused_pushes: IntCounter::new("pes_refused_pushes_total", "Pushes refused")
                .expect("metric"),
            batch_latency: hist(
                "pes_ingest_batch_seconds",
                "Push latency until acknowledgement",
                prometheus::exponential_buckets(0.001, 2.0, 16).unwrap_or_default(),
            ),
            journal_fsync: hist(
                "pes_journal_fsync_seconds",
                "Journal fdatasync latency",
                prometheus::exponential_buckets(0.00005, 2.0, 16).unwrap_or_default(),
            ),
            query_latency: hist(
                "pes_query_seconds",
                "Aggregate query latency",
                prometheus::exponential_buckets(0.00005, 2.0, 16).unwrap_or_default(),
            ),
            apply_lag_batches: IntGauge::new(
                "pes_apply_lag_batches",
                "Batches acknowledged but not yet applied",
            )
            .expect("metric"),
            apply_lag_bytes: IntGauge::new(
                "pes_apply_lag_bytes",
                "Journal bytes acknowledged but not yet applied",
            )
            .expect("metric"),
            journal_failed: IntGauge::new(
                "pes_journal_failed",
                "1 once a journal write or fsync failed: pushes are refused until restart",
            )
            .expect("metric"),
            journal_no_space: IntGauge::new(
                "pes_journal_no_space",
                "1 while the journal's disk is full (the last append found no space)",
            )
            .expect("metric"),
            dead_letters: IntGauge::new(
                "pes_dead_letters",
                "Journal entries set aside because they could not be applied",
            )
            .expect("metric"),
            ingest_memory_reserved: IntGauge::new(
                "pes_ingest_memory_reserved_bytes",
                "Ingest memory budget reserved by pushes in flight",
            )
            .expect("metric"),
            peers: PeerMetrics::register(&registry),
        };
        for c in [&m.ingested_rows, &m.quarantined_rows, &m.refused_pushes] {
            registry.register(Box::new(c.clone())).expect("register");
        }
        for h in [&m.batch_latency, &m.journal_fsync, &m.query_latency] {
            registry.register(Box::new(h.clone())).expect("register");
        }
        for g in [
            &m.apply_lag_batches,
            &m.apply_lag_bytes,
            &m.journal_failed,
            &m.journal_no_space,
            &m.dead_letters,
            &m.ingest_memory_reserved,
        ] {
            registry.register(Box::new(g.clone())).expect("register");
        }
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

// ---- federation members (pes_peer_*) --------------------------------------------------------

/// Per-member metrics of the federation side, updated by every call to a member (fan-out
/// answers and witness calls).
pub struct PeerMetrics {
    /// `pes_peer_up{region}`: 1 when the last call to the member was answered, 0 when it failed.
    pub up: IntGaugeVec,
    /// `pes_peer_latency_seconds{region}`: wall time of the last call to the member.
    pub latency: GaugeVec,
}

impl PeerMetrics {
    #[allow(clippy::expect_used)] // names are constant and distinct: registration cannot fail
    fn register(registry: &Registry) -> PeerMetrics {
        let up = IntGaugeVec::new(
            Opts::new(
                "pes_peer_up",
                "1 when the last call to the federation member was answered, 0 when it failed",
            ),
            &["region"],
        )
        .expect("metric");
        let latency = GaugeVec::new(
            Opts::new(
                "pes_peer_latency_seconds",
                "Wall time of the last call to the federation member",
            ),
            &["region"],
        )
        .expect("metric");
        registry.register(Box::new(up.clone())).expect("register");
        registry
            .register(Box::new(latency.clone()))
            .expect("register");
        PeerMetrics { up, latency }
    }

    /// Records the last call to `region`.
    pub fn set(&self, region: &str, up: bool, latency: std::time::Duration) {
        self.up.with_label_values(&[region]).set(i64::from(up));
        self.latency
            .with_label_values(&[region])
            .set(latency.as_secs_f64());
    }
}
