//! Ports and HTTP on 127.0.0.1.

use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use crate::SOURCE;

/// The first of `n` consecutive free 127.0.0.1 ports, for a process that takes a run of ports
/// (`pesgw demo`, `pesgw bench load`, the operator guide's gateways). The run lies between 20000
/// and 32000, below the kernel's ephemeral range (32768 and up) where outgoing connections take
/// their local ports and could take one of the run between this probe and the child's bind.
pub fn free_port_run(n: u16) -> u16 {
    let span = 12_000 - u64::from(n);
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(0);
    for attempt in 0..500u64 {
        let mixed = seed
            .wrapping_add(attempt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_mul(6_364_136_223_846_793_005);
        let base = 20_000 + ((mixed >> 33) % span) as u16;
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no run of {n} free ports between 20000 and 32000");
}

/// A listener on a free 127.0.0.1 port.
pub fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A free 127.0.0.1 port (closed again at once).
pub fn free_port() -> u16 {
    free_listener().local_addr().unwrap().port()
}

/// A blocking HTTP client for 127.0.0.1 (no proxy).
pub fn client(timeout: Duration) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .unwrap()
}

/// Waits until the gateway at `base` answers `/healthz` (async tests; see also
/// [`crate::TestGateway::ready`]).
pub async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became healthy");
}

/// POSTs JSON with a bearer token; the status and the JSON answer.
pub async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The answer to a push.
#[derive(Debug)]
pub struct Pushed {
    /// HTTP status.
    pub status: u16,
    /// The JSON answer (null if there is none).
    pub body: Value,
    /// `Content-Type`.
    pub content_type: String,
    /// `Retry-After`.
    pub retry_after: Option<String>,
}

/// Pushes NDJSON to [`SOURCE`] at `base` with `token`.
pub fn push_to(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    body: Vec<u8>,
    wait: bool,
) -> reqwest::Result<Pushed> {
    let url = format!(
        "{base}/v1/ingest/{SOURCE}{}",
        if wait { "?wait=applied" } else { "" }
    );
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()?;
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let body = r.json().unwrap_or(Value::Null);
    Ok(Pushed {
        status,
        body,
        content_type,
        retry_after,
    })
}
