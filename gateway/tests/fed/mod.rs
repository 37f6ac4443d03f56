//! Shared fixtures of the federation tests: a PKI in a temp dir, a trust list built from it,
//! and a real actix-web mTLS server on a 127.0.0.1 port.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{Duration, Utc};
use pes_certs::{GatewayPaths, InitOptions};
use pes_gateway::federation::tls::{self, ExpectedPeer, PeerCertificate, TlsFiles, VerifiedPeer};
use pes_gateway::federation::trust::{
    CallerPolicy, Member, MemberKey, TrustList, TRUST_LIST_FORMAT,
};

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
    let root =
        signed_note::SigningKey::generate("pes-federation-root", signed_note::KeyType::Ed25519)
            .unwrap();
    let path = dir.join("federation.json");
    std::fs::write(&path, sign_trust_list(trust, &root).unwrap()).unwrap();
    std::sync::Arc::new(TrustStore::open(&path, root.verifier().clone(), Utc::now()).unwrap())
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
