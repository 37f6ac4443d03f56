//! Prometheus metrics of the gateway (`/metrics`).

use std::path::Path;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    /// Records accepted into the journal.
    pub ingested_rows: IntCounter,
    /// Source rows quarantined (one quarantine entry each, whatever its number of problems).
    pub quarantined_rows: IntCounter,
    /// Problems of the quarantined rows (a row may have several).
    pub row_problems: IntCounter,
    /// Pushes refused (any 4xx/5xx).
    pub refused_pushes: IntCounter,
    /// Records retired (snapshot commits, retirement requests, retention).
    pub records_retired: IntCounter,
    /// Retired records deleted for good by retention.
    pub records_purged: IntCounter,
    /// Push latency, request to acknowledgement.
    pub batch_latency: Histogram,
    /// Journal fdatasync latency.
    pub journal_fsync: Histogram,
    /// Batches acknowledged but not applied.
    pub apply_lag_batches: IntGauge,
    /// Journal bytes acknowledged but not applied.
    pub apply_lag_bytes: IntGauge,
    /// Journal bytes applied to the store but not yet to the vacancy search index.
    pub search_index_lag_bytes: IntGauge,
    /// Vacancies the search index holds.
    pub search_index_vacancies: IntGauge,
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
    /// Requests and queries by route, expiry of the federation's certificates and CRL, audit
    /// log size, build info.
    pub ops: OpsMetrics,
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
            row_problems: IntCounter::new(
                "pes_quarantined_row_problems_total",
                "Problems of the quarantined rows (a row may have several)",
            )
            .expect("metric"),
            refused_pushes: IntCounter::new("pes_refused_pushes_total", "Pushes refused")
                .expect("metric"),
            records_retired: IntCounter::new(
                "pes_records_retired_total",
                "Records retired by snapshot commits, retirement requests and retention",
            )
            .expect("metric"),
            records_purged: IntCounter::new(
                "pes_records_purged_total",
                "Retired records deleted for good by retention",
            )
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
            search_index_lag_bytes: IntGauge::new(
                "pes_search_index_lag_bytes",
                "Journal bytes applied to the store but not yet to the vacancy search index",
            )
            .expect("metric"),
            search_index_vacancies: IntGauge::new(
                "pes_search_index_vacancies",
                "Open vacancies the search index holds",
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
            ops: OpsMetrics::new(&registry),
        };
        for c in [
            &m.ingested_rows,
            &m.quarantined_rows,
            &m.row_problems,
            &m.refused_pushes,
            &m.records_retired,
            &m.records_purged,
        ] {
            registry.register(Box::new(c.clone())).expect("register");
        }
        for h in [&m.batch_latency, &m.journal_fsync] {
            registry.register(Box::new(h.clone())).expect("register");
        }
        for g in [
            &m.apply_lag_batches,
            &m.apply_lag_bytes,
            &m.search_index_lag_bytes,
            &m.search_index_vacancies,
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

// ---- Operations metrics: requests and queries by route, federation certificate and CRL
// expiry, audit log size, build info. Kept in their own block (and struct) beside the ingest
// metrics above; the sampled gauges are set by `/metrics` just before it renders.

/// Routes whose requests are queries: counted by outcome in `pes_queries_total` and timed in
/// `pes_query_seconds`, whether answered locally or fanned out through the federation; the last
/// two are a peer's queries on the mTLS listener (`federation::service`).
pub const QUERY_ROUTES: &[&str] = &[
    "/v1/query",
    "/v1/reports/supply-demand",
    "/v1/persons/lookup",
    "/v1/federation/query",
    "/v1/federation/person",
];

/// Label of requests that matched no route (their raw paths would make unbounded labels).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The operations metrics.
pub struct OpsMetrics {
    /// `pes_http_requests_total{route,status}`: every answered request.
    pub http_requests: IntCounterVec,
    /// `pes_queries_total{route,outcome}`: queries answered (`ok`), refused (4xx) or failed (5xx).
    pub queries: IntCounterVec,
    /// `pes_query_seconds{route}`: query latency, request to answer.
    pub query_seconds: HistogramVec,
    /// `pes_federation_cert_expiry_seconds{cert}`: seconds until this gateway's federation
    /// certificates (`server`, `client`) and the federation CA (`ca`) expire; negative once
    /// expired. Absent without a `[federation]` section.
    pub cert_expiry: GaugeVec,
    /// `pes_federation_crl_expiry_seconds`: seconds until the federation CRL's next update is
    /// due (past it peers are refused). Absent without a `[federation]` section.
    pub crl_expiry: GaugeVec,
    /// `pes_audit_log_entries`: entries integrated into the audit log.
    pub audit_entries: IntGauge,
    /// `pes_audit_log_bytes`: size of the audit log's entry file.
    pub audit_bytes: IntGauge,
    /// `pes_build_info{version,commit}`: always 1; the labels name the running build.
    pub build_info: IntGaugeVec,
}

impl OpsMetrics {
    #[allow(clippy::expect_used)] // names are constant and distinct: registration cannot fail
    fn new(registry: &Registry) -> OpsMetrics {
        let m = OpsMetrics {
            http_requests: IntCounterVec::new(
                Opts::new(
                    "pes_http_requests_total",
                    "Requests answered, by route pattern and status",
                ),
                &["route", "status"],
            )
            .expect("metric"),
            queries: IntCounterVec::new(
                Opts::new(
                    "pes_queries_total",
                    "Queries by route and outcome (ok, refused, failed)",
                ),
                &["route", "outcome"],
            )
            .expect("metric"),
            query_seconds: HistogramVec::new(
                HistogramOpts::new("pes_query_seconds", "Query latency, request to answer")
                    .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).unwrap_or_default()),
                &["route"],
            )
            .expect("metric"),
            cert_expiry: GaugeVec::new(
                Opts::new(
                    "pes_federation_cert_expiry_seconds",
                    "Seconds until the federation certificate expires (negative: expired)",
                ),
                &["cert"],
            )
            .expect("metric"),
            crl_expiry: GaugeVec::new(
                Opts::new(
                    "pes_federation_crl_expiry_seconds",
                    "Seconds until the federation CRL's next update is due (negative: overdue)",
                ),
                &[],
            )
            .expect("metric"),
            audit_entries: IntGauge::new(
                "pes_audit_log_entries",
                "Entries integrated into the audit log",
            )
            .expect("metric"),
            audit_bytes: IntGauge::new("pes_audit_log_bytes", "Bytes of the audit log's entries")
                .expect("metric"),
            build_info: IntGaugeVec::new(
                Opts::new("pes_build_info", "The running build (always 1)"),
                &["version", "commit"],
            )
            .expect("metric"),
        };
        registry
            .register(Box::new(m.http_requests.clone()))
            .expect("register");
        registry
            .register(Box::new(m.queries.clone()))
            .expect("register");
        registry
            .register(Box::new(m.query_seconds.clone()))
            .expect("register");
        registry
            .register(Box::new(m.cert_expiry.clone()))
            .expect("register");
        registry
            .register(Box::new(m.crl_expiry.clone()))
            .expect("register");
        registry
            .register(Box::new(m.audit_entries.clone()))
            .expect("register");
        registry
            .register(Box::new(m.audit_bytes.clone()))
            .expect("register");
        registry
            .register(Box::new(m.build_info.clone()))
            .expect("register");
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("PES_BUILD_COMMIT")])
            .set(1);
        m
    }

    /// Counts one answered request; `route` is the matched pattern (or [`UNMATCHED_ROUTE`]).
    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[route, status_label(status)])
            .inc();
        if QUERY_ROUTES.contains(&route) {
            let outcome = match status {
                200..=399 => "ok",
                400..=499 => "refused",
                _ => "failed",
            };
            self.queries.with_label_values(&[route, outcome]).inc();
            self.query_seconds
                .with_label_values(&[route])
                .observe(seconds);
        }
    }

    /// Sets the expiry gauges from the federation PKI files of `region` under `pki_dir` (the
    /// layout of `pes_certs::GatewayPaths`). A file that cannot be read or parsed drops its
    /// series, so an alert on an absent series catches it too.
    pub fn sample_federation(&self, pki_dir: &Path, region: &str, now_unix: i64) {
        let paths = pes_certs::GatewayPaths::new(pki_dir, region);
        for (label, file) in [
            ("server", &paths.server_cert),
            ("client", &paths.client_cert),
            ("ca", &paths.ca_cert),
        ] {
            match pem_expiry(file, "CERTIFICATE") {
                Some(t) => self
                    .cert_expiry
                    .with_label_values(&[label])
                    .set((t - now_unix) as f64),
                None => {
                    let _ = self.cert_expiry.remove_label_values(&[label]);
                }
            }
        }
        match pem_expiry(&paths.crl, "X509 CRL") {
            Some(t) => self
                .crl_expiry
                .with_label_values(&[])
                .set((t - now_unix) as f64),
            None => {
                let _ = self.crl_expiry.remove_label_values(&[]);
            }
        }
    }

    /// Sets the audit log size: `entries` integrated, and the size of its entry file.
    pub fn sample_audit(&self, entries: u64, entry_file: &Path) {
        self.audit_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        if let Ok(meta) = std::fs::metadata(entry_file) {
            self.audit_bytes
                .set(i64::try_from(meta.len()).unwrap_or(i64::MAX));
        }
    }
}

/// A status code as a label without allocating.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        202 => "202",
        204 => "204",
        206 => "206",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        411 => "411",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// The earliest end of validity (certificates: notAfter; CRLs: nextUpdate) of the `label` PEM
/// blocks of `file`, as a Unix time; `None` if there is none or the file cannot be read.
fn pem_expiry(file: &Path, label: &str) -> Option<i64> {
    let bytes = std::fs::read(file).ok()?;
    let mut earliest: Option<i64> = None;
    for pem in x509_parser::pem::Pem::iter_from_buffer(&bytes) {
        let pem = pem.ok()?;
        if pem.label != label {
            continue;
        }
        let t = if label == "X509 CRL" {
            let (_, crl) = x509_parser::parse_x509_crl(&pem.contents).ok()?;
            crl.next_update()?.timestamp()
        } else {
            let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents).ok()?;
            cert.validity().not_after.timestamp()
        };
        earliest = Some(earliest.map_or(t, |e| e.min(t)));
    }
    earliest
}
