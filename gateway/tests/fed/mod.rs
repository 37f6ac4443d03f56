//! Shared fixtures of the federation tests: a PKI in a temp dir, a trust list built from it,
//! and a real actix-web mTLS server on a 127.0.0.1 port.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{Duration, Utc};
use pes_certs::{GatewayPaths, InitOptions};
use pes_gateway::auth::{claims_for, issue, Role};
use pes_gateway::config::FederationConfig;
use pes_gateway::config::{GatewayConfig, SourceConfig};
use pes_gateway::federation::tls::{self, ExpectedPeer, PeerCertificate, TlsFiles, VerifiedPeer};
use pes_gateway::federation::trust::{
    CallerPolicy, Member, MemberKey, TrustList, TRUST_LIST_FORMAT,
};
use ring::signature::KeyPair as _;
use serde_json::Value;

pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// A PKI with certificates for `regions`.
    pub fn new(regions: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
        pes_certs::init(dir.path(), &regions, &InitOptions::default()).unwrap();
        Pki { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn paths(&self, region: &str) -> GatewayPaths {
        GatewayPaths::new(self.path(), region)
    }

    pub fn server_files(&self, region: &str) -> TlsFiles {
        let p = self.paths(region);
        TlsFiles {
            ca: p.ca_cert,
            crl: p.crl,
            cert: p.server_cert,
            key: p.server_key,
        }
    }

    pub fn client_files(&self, region: &str) -> TlsFiles {
        let p = self.paths(region);
        TlsFiles {
            ca: p.ca_cert,
            crl: p.crl,
            cert: p.client_cert,
            key: p.client_key,
        }
    }

    /// A trust list naming `members` (which must exist in this PKI), version `version`.
    pub fn trust_list(&self, members: &[&str], version: u64) -> TrustList {
        let index = pes_certs::load_index(self.path()).unwrap();
        let now = Utc::now();
        let members = members
            .iter()
            .map(|r| Member {
                region: r.to_string(),
                name: format!("region {r}"),
                url: "https://127.0.0.1:1".into(),
                spki_pins: index.for_region(r).map(|c| c.spki_pin.clone()).collect(),
                signing_keys: index
                    .signing_keys
                    .iter()
                    .filter(|k| &k.region == r)
                    .map(|k| MemberKey {
                        kid: k.kid.clone(),
                        public_key: k.public_key.clone(),
                        not_before: now - Duration::days(1),
                        not_after: now + Duration::days(30),
                    })
                    .collect(),
                log_key: None,
            })
            .collect::<Vec<_>>();
        let policies = members
            .iter()
            .map(|m| CallerPolicy {
                caller: m.region.clone(),
                datasets: vec!["vacancy".into(), "person".into()],
                purposes: vec!["statistics".into()],
                protected_fields: vec![],
                k: 5,
            })
            .collect();
        let list = TrustList {
            format: TRUST_LIST_FORMAT.into(),
            version,
            issued_at: now - Duration::minutes(1),
            expires_at: now + Duration::days(7),
            members,
            policies,
            witnesses: vec![],
        };
        list.check().unwrap();
        list
    }

    /// Expectation of a client dialling `region`'s server.
    pub fn expect(&self, trust: &TrustList, region: &str) -> ExpectedPeer {
        ExpectedPeer {
            region: region.into(),
            spki_pins: trust.member(region).unwrap().spki_pins.clone(),
        }
    }
}

pub fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// `GET /whoami`: 200 with the verified peer region, or 403 with the reason.
async fn whoami(req: HttpRequest, trust: web::Data<TrustList>) -> HttpResponse {
    let Some(cert) = req.conn_data::<PeerCertificate>() else {
        return HttpResponse::Forbidden().body("no certificate");
    };
    match VerifiedPeer::check(cert, &trust) {
        Ok(peer) => HttpResponse::Ok().body(peer.region().to_owned()),
        Err(e) => HttpResponse::Forbidden().body(e.to_string()),
    }
}

pub struct RunningServer {
    pub port: u16,
    pub handle: actix_web::dev::ServerHandle,
    pub verifier: std::sync::Arc<tls::ReloadableClientVerifier>,
}

/// Starts a real mTLS server for `region` on a free 127.0.0.1 port.
pub fn start_whoami(pki: &Pki, region: &str, trust: TrustList) -> RunningServer {
    let (config, verifier) = tls::server_config(&pki.server_files(region)).unwrap();
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let trust = web::Data::new(trust);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(trust.clone())
            .route("/whoami", web::get().to(whoami))
    })
    .workers(1)
    .on_connect(tls::on_connect)
    .listen_rustls_0_23(listener, config)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    RunningServer {
        port,
        handle,
        verifier,
    }
}

pub fn url(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
}

pub fn tmp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

// ---- signed federation endpoint -------------------------------------------------------------

use pes_gateway::federation::httpsig::{RequestVerifier, SigningKey};
use pes_gateway::federation::inbound::{signed_response, unix_now, verify_inbound, InboundContext};
use pes_gateway::federation::trust::{sign_trust_list, TrustStore};
use pes_gateway::signed_note;

/// What a test endpoint does after verifying the request.
#[derive(Clone)]
pub enum Behaviour {
    /// Answer with this JSON document.
    Answer(serde_json::Value),
    /// Wait this long before answering (a hung peer).
    Hang(std::time::Duration),
    /// Answer correctly.
    Honest,
    /// Change the body after signing it.
    TamperAfterSigning,
    /// Sign the answer with another member's key.
    SignWithKeyOf(&'static str),
}

impl Pki {
    pub fn signing_key(&self, region: &str) -> SigningKey {
        let p = self.paths(region);
        SigningKey::from_files(&p.signing_key, &p.signing_pub).unwrap()
    }
}

/// Writes `trust` signed by a fresh root into `dir` and opens a store on it.
pub fn trust_store(dir: &Path, trust: &TrustList) -> std::sync::Arc<TrustStore> {
    trust_store_with_root(dir, trust).0
}

/// [`trust_store`], also giving the root key, to sign later versions into
/// `dir/federation.json` (see [`publish_trust`]).
pub fn trust_store_with_root(
    dir: &Path,
    trust: &TrustList,
) -> (std::sync::Arc<TrustStore>, signed_note::SigningKey) {
    let root =
        signed_note::SigningKey::generate("pes-federation-root", signed_note::KeyType::Ed25519)
            .unwrap();
    let path = publish_trust(dir, trust, &root);
    let store =
        std::sync::Arc::new(TrustStore::open(&path, root.verifier().clone(), Utc::now()).unwrap());
    (store, root)
}

/// Signs `trust` with `root` into `dir/federation.json` (where [`trust_store`] reads it).
pub fn publish_trust(dir: &Path, trust: &TrustList, root: &signed_note::SigningKey) -> PathBuf {
    let path = dir.join("federation.json");
    std::fs::write(&path, sign_trust_list(trust, root).unwrap()).unwrap();
    path
}

struct Endpoint {
    ctx: InboundContext,
    behaviour: Behaviour,
    other_key: Option<SigningKey>,
}

async fn echo(req: HttpRequest, body: web::Bytes, ep: web::Data<Endpoint>) -> HttpResponse {
    let now = unix_now();
    let fed = match verify_inbound(&req, &body, &ep.ctx, now) {
        Ok(f) => f,
        Err(refusal) => return refusal.to_response(),
    };
    if let Behaviour::Hang(d) = ep.behaviour {
        actix_web::rt::time::sleep(d).await;
    }
    let answer = match &ep.behaviour {
        Behaviour::Answer(v) => v.clone(),
        _ => serde_json::json!({
        "answered_by": "server",
        "caller": fed.peer.region(),
        "request_id": fed.signature.request_id(),
        "echo": String::from_utf8_lossy(&body),
        }),
    }
    .to_string()
    .into_bytes();
    let key = ep.other_key.as_ref().unwrap_or(&ep.ctx.key);
    let mut resp = signed_response(
        key,
        &fed.signature,
        actix_web::http::StatusCode::OK,
        "application/json",
        answer,
        now,
    )
    .unwrap();
    if let Behaviour::TamperAfterSigning = ep.behaviour {
        let headers = resp.headers().clone();
        let mut forged = HttpResponse::Ok();
        for (k, v) in headers.iter() {
            forged.insert_header((k.clone(), v.clone()));
        }
        resp = forged.body("{\"answered_by\":\"server\",\"total\":999999}");
    }
    resp
}

/// Starts a real mTLS + signed endpoint `POST /v1/federation/echo` for `region`.
pub fn start_signed(
    pki: &Pki,
    region: &str,
    trust: TrustList,
    behaviour: Behaviour,
) -> RunningServer {
    let (config, verifier) = tls::server_config(&pki.server_files(region)).unwrap();
    let listener = free_listener();
    let port = listener.local_addr().unwrap().port();
    let store = trust_store(&pki.path().join(region), &trust);
    let other_key = match &behaviour {
        Behaviour::SignWithKeyOf(r) => Some(pki.signing_key(r)),
        _ => None,
    };
    let ep = web::Data::new(Endpoint {
        ctx: InboundContext {
            trust: store,
            verifier: RequestVerifier::new(vec![format!("127.0.0.1:{port}")], 10_000),
            key: pki.signing_key(region),
        },
        behaviour,
        other_key,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(ep.clone())
            .route("/v1/federation/echo", web::post().to(echo))
            .route("/v1/federation/query", web::post().to(echo))
    })
    .workers(1)
    .on_connect(tls::on_connect)
    .listen_rustls_0_23(listener, config)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    RunningServer {
        port,
        handle,
        verifier,
    }
}

/// Source id the federation test gateways register (native NDJSON).
pub const SOURCE: &str = "native-test";

/// A gateway run as its own `pesgw serve` process (killed on drop).
pub struct Gw {
    pub region: String,
    pub api: String,
    pub config: std::path::PathBuf,
    pub child: Child,
    pub _dir: tempfile::TempDir,
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gw {
    /// A token of this gateway's issuer.
    pub fn token(&self, role: Role, sub: &str, purposes: &[&str]) -> String {
        let cfg = GatewayConfig::load(&self.config).unwrap();
        let der = std::fs::read(&cfg.keys.jwt_issuer_key).unwrap();
        let kid = pes_gateway::keys::key_id(
            pes_gateway::keys::load_ed25519(&cfg.keys.jwt_issuer_key)
                .unwrap()
                .public_key()
                .as_ref(),
        );
        let sources = if role == Role::Pusher {
            vec![SOURCE.to_string()]
        } else {
            vec![]
        };
        let purposes = purposes.iter().map(|p| p.to_string()).collect();
        issue(
            &der,
            &kid,
            &claims_for(sub, role, &self.region, sources, purposes, 600),
        )
        .unwrap()
    }
}

/// A free 127.0.0.1 port.
pub fn port() -> u16 {
    free_listener().local_addr().unwrap().port()
}

/// The test PKI's trust list with policies that allow the report's datasets and purposes.
pub fn policy_trust(pki: &Pki, regions: &[&str], version: u64, fed_ports: &[u16]) -> TrustList {
    let mut trust = pki.trust_list(regions, version);
    for (m, p) in trust.members.iter_mut().zip(fed_ports) {
        m.url = format!("https://127.0.0.1:{p}");
    }
    for p in &mut trust.policies {
        p.datasets = vec![
            "vacancy".into(),
            "person".into(),
            "job_seeker_registration".into(),
        ];
        p.purposes = vec!["statistics".into()];
    }
    trust
}

/// Writes a gateway's config with a `[federation]` section and starts `pesgw serve` on it.
pub fn start_gateway(
    region: &str,
    pki_dir: &Path,
    trust_path: &Path,
    root_key: &str,
    fed_port: u16,
    tweak: impl FnOnce(&mut GatewayConfig),
) -> (tempfile::TempDir, std::path::PathBuf, String, Child) {
    let dir = tempfile::tempdir().unwrap();
    let api_port = port();
    let out =
        pes_gateway::keys::init(dir.path(), region, &format!("127.0.0.1:{api_port}")).unwrap();
    let mut cfg = GatewayConfig::load(&out.config_path).unwrap();
    cfg.sources.insert(
        SOURCE.into(),
        SourceConfig {
            mapping: "native".into(),
            pushers: vec![],
        },
    );
    cfg.federation = Some(FederationConfig {
        listen: format!("127.0.0.1:{fed_port}"),
        pki_dir: pki_dir.to_owned(),
        trust_list: trust_path.to_owned(),
        root_key: root_key.to_owned(),
        deadline_ms: 2000,
        reload_secs: 3600,
        state_dir: None,
        witness_key: None,
    });
    tweak(&mut cfg);
    std::fs::write(&out.config_path, cfg.to_toml().unwrap()).unwrap();
    // The section survives a round trip through the file.
    let reread = GatewayConfig::load(&out.config_path).unwrap();
    assert_eq!(
        reread.federation.as_ref().unwrap().listen,
        format!("127.0.0.1:{fed_port}")
    );
    let child = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(["serve", "--config"])
        .arg(&out.config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    (
        dir,
        out.config_path,
        format!("http://127.0.0.1:{api_port}"),
        child,
    )
}

/// Waits until a gateway answers `/healthz`.
pub async fn wait_ready(http: &reqwest::Client, api: &str) {
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{api}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{api} never became healthy");
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

/// The error of a call the peer refused with `status` and problem `slug`.
pub fn denied(status: u16, slug: &str) -> pes_gateway::federation::outbound::CallError {
    pes_gateway::federation::outbound::CallError::Denied {
        status,
        problem: slug.into(),
    }
}
