//! Fake federation peers: small actix-web mTLS servers on a free 127.0.0.1 port, to test a
//! client or a fan-out against a peer that behaves (or misbehaves) as told.

use std::net::TcpListener;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use pes_gateway::federation::httpsig::{RequestVerifier, SigningKey};
use pes_gateway::federation::inbound::{signed_response, unix_now, verify_inbound, InboundContext};
use pes_gateway::federation::tls::{self, PeerCertificate, VerifiedPeer};
use pes_gateway::federation::trust::TrustList;

use crate::http::free_listener;
use crate::pki::{trust_store, Pki};

/// A server started by [`start_whoami`] or [`start_signed`].
pub struct RunningServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Stops it.
    pub handle: actix_web::dev::ServerHandle,
    /// Its client-certificate verifier (to reload the CRL).
    pub verifier: std::sync::Arc<tls::ReloadableClientVerifier>,
}

/// Serves the routes `configure` adds over mTLS with `region`'s server certificate on
/// `listener` (one worker, the peer's certificate in the connection data), on the actix
/// runtime of the caller.
pub fn serve_mtls(
    pki: &Pki,
    region: &str,
    listener: TcpListener,
    configure: impl Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
) -> RunningServer {
    let (config, verifier) = tls::server_config(&pki.server_files(region)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
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

/// `https://127.0.0.1:<port><path>`.
pub fn url(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
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

/// Starts a real mTLS server for `region` answering `GET /whoami` (in an actix runtime).
pub fn start_whoami(pki: &Pki, region: &str, trust: TrustList) -> RunningServer {
    let trust = web::Data::new(trust);
    serve_mtls(pki, region, free_listener(), move |app| {
        app.app_data(trust.clone())
            .route("/whoami", web::get().to(whoami));
    })
}

/// What a [`start_signed`] endpoint does after verifying the request.
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

/// Starts a real mTLS + signed endpoint `POST /v1/federation/echo` (and `/query`) for
/// `region` (in an actix runtime).
pub fn start_signed(
    pki: &Pki,
    region: &str,
    trust: TrustList,
    behaviour: Behaviour,
) -> RunningServer {
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
    serve_mtls(pki, region, listener, move |app| {
        app.app_data(ep.clone())
            .route("/v1/federation/echo", web::post().to(echo))
            .route("/v1/federation/query", web::post().to(echo));
    })
}

/// The error of a call the peer refused with `status` and problem `slug`.
pub fn denied(status: u16, slug: &str) -> pes_gateway::federation::outbound::CallError {
    pes_gateway::federation::outbound::CallError::Denied {
        status,
        problem: slug.into(),
    }
}
