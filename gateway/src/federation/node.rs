//! A gateway's federation side, assembled: trust store, mTLS listener serving
//! `/v1/federation/query` and `/v1/federation/person`, pinned peer clients, periodic reload of
//! the trust list and CRL, the federated aggregate (local part in-process, remote parts fanned
//! out, merged, audited) and the person lookup (same shape, minimised per region).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use serde::{Deserialize, Serialize};

use super::cosign::{self, WitnessSlot, WITNESS_PATH};
use super::fanout::{
    fan_out, merge_answers, peer_receipts, Answered, FanOut, MergedCell, PeerSet, RegionStatus,
};
use super::httpsig::{RequestVerifier, SignatureError, SigningKey};
use super::inbound::{unix_now, InboundContext};
use super::outbound::{exchange, PeerCall};
use super::service::{self, FederatedAnswer, PersonAnswer, PERSON_PATH, QUERY_PATH};
use super::tls::{self, CallTimeouts, ReloadableClientVerifier, TlsError, TlsFiles};
use super::trust::{Reloaded, TrustError, TrustStore};
use crate::audit::event::{Action, Actor, AuditEvent, Outcome};
use crate::audit::witness::{self, Witness, WitnessResponse};
use crate::audit::AuditLog;
use crate::config::FederationConfig;
use crate::federation::lookup::{answer_locally, finish, PersonLookupAnswer, PersonRegion};
use crate::federation::trust::CallerPolicy;
use crate::node::Node;
use crate::query::person::PersonQuery;
use crate::query::{QueryError, QueryRequest};
use crate::signed_note::VerifierKey;

/// File in [`FederationConfig::state_dir`] recording the last accepted trust-list version.
pub const TRUST_STATE_FILE: &str = "trust-list.accepted";

/// Why the federation side could not start. The operator's to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// TLS material.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Trust list.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// Signing key.
    #[error(transparent)]
    Key(#[from] SignatureError),
    /// Root key text.
    #[error("root key: {0}")]
    RootKey(String),
    /// The witness key or state.
    #[error("witness: {0}")]
    Witness(String),
    /// This gateway's region is not in the trust list.
    #[error("region {0} is not a member of the trust list")]
    NotMember(String),
}

/// A request named regions, none of which is a member of the federation (the caller's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("none of the regions asked is a member of the federation: {}", shown(.unknown))]
pub struct NoMemberRegion {
    /// The regions asked, as given.
    pub unknown: Vec<String>,
}

/// The regions of a refusal, bounded: they come from the caller and are echoed back.
fn shown(regions: &[String]) -> String {
    const MAX_SHOWN: usize = 10;
    let mut out: Vec<String> = regions
        .iter()
        .take(MAX_SHOWN)
        .map(|r| r.chars().take(16).collect())
        .collect();
    if regions.len() > MAX_SHOWN {
        out.push(format!("and {} more", regions.len() - MAX_SHOWN));
    }
    out.join(", ")
}

/// The running federation side of one gateway.
#[derive(Debug)]
pub struct Federation {
    region: String,
    config: FederationConfig,
    inbound: web::Data<InboundContext>,
    peers: RwLock<Arc<PeerSet>>,
    client_files: TlsFiles,
    server_files: TlsFiles,
    verifier: RwLock<Option<Arc<ReloadableClientVerifier>>>,
    witness: web::Data<WitnessSlot>,
}

impl Federation {
    /// Loads keys, certificates and the trust list (verified) for `region`.
    pub fn open(region: &str, config: FederationConfig) -> Result<Arc<Self>, FederationError> {
        let root = VerifierKey::parse(config.root_key.trim())
            .map_err(|e| FederationError::RootKey(e.to_string()))?;
        let now = chrono::Utc::now();
        let trust = Arc::new(match &config.state_dir {
            Some(dir) => TrustStore::open_persistent(
                &config.trust_list,
                root,
                now,
                &dir.join(TRUST_STATE_FILE),
            )?,
            None => TrustStore::open(&config.trust_list, root, now)?,
        });
        let list = trust.current();
        let me = list
            .member(region)
            .ok_or_else(|| FederationError::NotMember(region.to_owned()))?;
        let own_authorities = authority_of(&me.url).into_iter().collect();
        let paths = pes_certs::GatewayPaths::new(&config.pki_dir, region);
        let key = SigningKey::from_files(&paths.signing_key, &paths.signing_pub)?;
        let client_files = TlsFiles {
            ca: paths.ca_cert.clone(),
            crl: paths.crl.clone(),
            cert: paths.client_cert.clone(),
            key: paths.client_key.clone(),
        };
        let server_files = TlsFiles {
            ca: paths.ca_cert,
            crl: paths.crl,
            cert: paths.server_cert,
            key: paths.server_key,
        };
        let peers = PeerSet::from_trust(&list, region, &client_files, timeouts(&config))?;
        let witness = match &config.witness_key {
            None => None,
            Some(path) => Some(Arc::new(open_witness(path, &config, &list)?)),
        };
        Ok(Arc::new(Federation {
            region: region.to_owned(),
            inbound: web::Data::new(InboundContext {
                trust,
                verifier: RequestVerifier::new(own_authorities, 100_000),
                key,
            }),
            peers: RwLock::new(Arc::new(peers)),
            client_files,
            server_files,
            verifier: RwLock::new(None),
            witness: web::Data::new(WitnessSlot(witness)),
            config,
        }))
    }

    /// This gateway's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The witness this gateway runs, if configured.
    pub fn witness(&self) -> Option<&Arc<Witness>> {
        self.witness.0.as_ref()
    }

    /// The peers in force.
    pub fn peers(&self) -> Arc<PeerSet> {
        match self.peers.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Replaces the peer set (e.g. URLs known only after start, in tests and demos).
    pub fn set_peers(&self, peers: PeerSet) {
        let mut g = match self.peers.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Arc::new(peers);
    }

    /// Inbound context (trust store, verifier, signing key).
    pub fn inbound(&self) -> &web::Data<InboundContext> {
        &self.inbound
    }

    /// Re-reads the trust list (rebuilding peer clients when it changed) and the CRL. Refusals
    /// are logged and the last good state stays in force.
    pub fn reload(&self) -> Result<Reloaded, FederationError> {
        let r = self.inbound.trust.reload(chrono::Utc::now())?;
        if let Reloaded::Updated { .. } = r {
            let list = self.inbound.trust.current();
            let peers = PeerSet::from_trust(
                &list,
                &self.region,
                &self.client_files,
                timeouts(&self.config),
            )?;
            self.set_peers(peers);
            if let Some(w) = self.witness() {
                w.set_log_keys(cosign::log_keys(&list));
            }
        }
        let verifier = self.verifier.read().ok().and_then(|g| g.clone());
        if let Some(v) = verifier {
            let reloaded = tls::load_certs(&self.server_files.ca)
                .and_then(|ca| v.reload(&ca, tls::load_crls(&self.server_files.crl)?));
            if let Err(e) = reloaded {
                tracing::warn!(error = %e, "CRL reload refused; keeping the current one");
            }
        }
        Ok(r)
    }

    /// Serves `/v1/federation/query` on the mTLS listener until stopped, reloading the trust
    /// list and CRL every `reload_secs`. Runs on an actix system.
    pub async fn serve(self: Arc<Self>, node: web::Data<Node>) -> std::io::Result<()> {
        let (config, verifier) =
            tls::server_config(&self.server_files).map_err(std::io::Error::other)?;
        if let Ok(mut g) = self.verifier.write() {
            *g = Some(verifier);
        }
        let inbound = self.inbound.clone();
        let witness = self.witness.clone();
        let audit_log = node.audit.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(node.clone())
                .app_data(inbound.clone())
                .app_data(witness.clone())
                .configure(service::configure)
                .configure(cosign::configure)
                .wrap(actix_web::middleware::from_fn(
                    crate::access_log::access_log,
                ))
        })
        // Must come before bind_rustls_0_23: it stores the peer's leaf certificate.
        .on_connect(tls::on_connect)
        .bind_rustls_0_23(&self.config.listen, config)?
        .run();
        actix_web::rt::spawn(run_client(Arc::clone(&self), audit_log));
        let me = Arc::clone(&self);
        let period = Duration::from_secs(self.config.reload_secs.max(1));
        actix_web::rt::spawn(async move {
            loop {
                actix_web::rt::time::sleep(period).await;
                let _ = me.reload();
            }
        });
        server.await
    }

    /// Refuses a request whose named regions hold no member of the trust list in force: it
    /// would fan out to nobody and answer an empty 200. `["all"]` or none names every member.
    /// A list with at least one member is served; its other regions come back with status
    /// `error`.
    pub fn check_regions(&self, asked: &[String]) -> Result<(), NoMemberRegion> {
        if asked.is_empty() || asked.iter().any(|r| r == "all") {
            return Ok(());
        }
        let trust = self.inbound.trust.current();
        if asked.iter().any(|r| trust.member(r).is_some()) {
            return Ok(());
        }
        Err(NoMemberRegion {
            unknown: asked.to_vec(),
        })
    }

    /// Regions named by a request: `["all"]` or none = every member of the trust list.
    fn regions_asked(&self, asked: &[String]) -> Vec<String> {
        if asked.is_empty() || asked.iter().any(|r| r == "all") {
            self.inbound
                .trust
                .current()
                .members
                .iter()
                .map(|m| m.region.clone())
                .collect()
        } else {
            asked.to_vec()
        }
    }

    /// Looks a person up across `regions` (`["all"]` or none = every member): this region in
    /// process, minimised by the trust-list policy for this region, the others over
    /// `/v1/federation/person` with signatures, each under the deadline. Only the person_key
    /// travels. Audits the outcome for `actor` with every region's receipt.
    pub async fn person_lookup(
        &self,
        node: &web::Data<Node>,
        q: &PersonQuery,
        regions: &[String],
        request_id: &str,
        actor: &Actor,
    ) -> Result<PersonLookupAnswer, crate::problem::Problem> {
        let trust = self.inbound.trust.current();
        let regions = self.regions_asked(regions);
        let remote: Vec<String> = regions
            .iter()
            .filter(|r| **r != self.region)
            .cloned()
            .collect();
        let body = serde_json::to_vec(q).unwrap_or_default();
        let peers = self.peers();
        let fan = fan_out(
            &peers,
            &self.inbound.key,
            &trust,
            FanOut {
                regions: &remote,
                path: PERSON_PATH,
                request_id,
                body: &body,
                deadline: Duration::from_millis(self.config.deadline_ms),
            },
        );
        let local = async {
            if !regions.contains(&self.region) {
                return None;
            }
            let grants = trust.policy_for(&self.region).map(CallerPolicy::grants);
            Some(answer_locally(node, q, grants, false).await)
        };
        let (outcomes, local) = tokio::join!(fan, local);
        let mut answers: Vec<PersonRegion> = local.into_iter().collect();
        for o in &outcomes {
            let mut status = o.status();
            let mut found = false;
            let mut fields = None;
            if let Ok(ans) = &o.result {
                match serde_json::from_slice::<PersonAnswer>(&ans.body) {
                    Ok(pa) => {
                        found = pa.found;
                        fields = pa.fields;
                    }
                    Err(_) => {
                        status.status = Answered::Error;
                        status.detail = Some("answer does not parse".into());
                    }
                }
            }
            answers.push(PersonRegion {
                status,
                found,
                fields,
            });
        }
        finish(node, q, answers, request_id, actor).await
    }

    /// Answers an aggregate query across `q.regions` (`["all"]` = every member): this region's
    /// part in-process, the others fanned out with signatures, each under the deadline. Audits
    /// the outcome (`ok` or `partial`) for `actor` with every region's status and receipt.
    pub async fn aggregate(
        &self,
        node: &web::Data<Node>,
        q: &QueryRequest,
        request_id: &str,
        actor: &Actor,
    ) -> Result<FederatedQueryAnswer, QueryError> {
        let trust = self.inbound.trust.current();
        let regions = self.regions_asked(&q.regions);
        let remote: Vec<String> = regions
            .iter()
            .filter(|r| **r != self.region)
            .cloned()
            .collect();
        let body = serde_json::to_vec(&QueryRequest {
            regions: Vec::new(),
            ..q.clone()
        })
        .unwrap_or_default();
        let peers = self.peers();
        let fan = fan_out(
            &peers,
            &self.inbound.key,
            &trust,
            FanOut {
                regions: &remote,
                path: QUERY_PATH,
                request_id,
                body: &body,
                deadline: Duration::from_millis(self.config.deadline_ms),
            },
        );
        let local = async {
            if !regions.contains(&self.region) {
                return Ok(None);
            }
            let started = std::time::Instant::now();
            let out = crate::query::local::answer(node.local(), q, node.config.k).await?;
            Ok::<_, QueryError>(Some((out, started.elapsed())))
        };
        let (outcomes, local) = tokio::join!(fan, local);
        let mut answers = Vec::new();
        let mut statuses = Vec::new();
        if let Some((a, latency)) = local? {
            statuses.push(RegionStatus {
                region: self.region.clone(),
                status: Answered::Ok,
                latency_ms: latency.as_secs_f64() * 1000.0,
                receipt: None,
                detail: None,
            });
            answers.push(a);
        }
        for o in &outcomes {
            // The body is parsed once: the receipt comes from the typed answer.
            let status = match &o.result {
                Ok(ans) => match serde_json::from_slice::<FederatedAnswer>(&ans.body) {
                    Ok(fa) => {
                        let status = o.status_with_receipt(Some(fa.receipt.clone()));
                        answers.push(fa.answer);
                        status
                    }
                    Err(_) => RegionStatus {
                        status: Answered::Error,
                        detail: Some("answer does not parse".into()),
                        ..o.status_with_receipt(None)
                    },
                },
                Err(_) => o.status_with_receipt(None),
            };
            statuses.push(status);
        }
        let complete = statuses.iter().all(|s| s.status == Answered::Ok);
        let cells = merge_answers(&answers);
        let mut event = AuditEvent::new(
            self.region.clone(),
            request_id,
            actor.clone(),
            Action::QueryAggregate,
            if complete {
                Outcome::Ok
            } else {
                Outcome::Partial
            },
        );
        event.dataset = Some(q.dataset.clone());
        event.purpose = q.purpose.clone();
        event.query_digest = Some(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &body,
        )));
        event.counts.insert("cells".into(), cells.len() as u64);
        event.peer_receipts = peer_receipts(&statuses);
        let receipt = crate::access::audit(node, event).await.ok();
        Ok(FederatedQueryAnswer {
            dataset: q.dataset.clone(),
            complete,
            regions: statuses,
            cells,
            receipt,
        })
    }
}

/// The merged answer of a federated aggregate query.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FederatedQueryAnswer {
    /// Record type.
    pub dataset: String,
    /// Whether every region asked answered `ok`.
    pub complete: bool,
    /// Every region asked, with status, latency and receipt.
    pub regions: Vec<RegionStatus>,
    /// Merged cells (suppressed parts flagged).
    pub cells: Vec<MergedCell>,
    /// Receipt of the calling gateway's own audit entry for this query.
    pub receipt: Option<crate::access::AuditReceipt>,
}

/// Submits each checkpoint `log` publishes to every trust-list witness run by another member,
/// over that member's pinned mTLS client with a signed request; cosignatures are attached to
/// the published checkpoint. Runs until its task is dropped. A witness that fails is retried
/// after [`crate::audit::witness::RETRY_AFTER_FAILURE`] or with the next checkpoint. The
/// witnesses are those of the trust list in force at start.
async fn run_client(fed: Arc<Federation>, log: Arc<AuditLog>) {
    let trust = fed.inbound().trust.current();
    let witnesses: Vec<_> = trust
        .witnesses
        .iter()
        .filter_map(|w| {
            let region = w.member.clone().filter(|m| m != fed.region())?;
            let key = VerifierKey::parse(&w.vkey).ok()?;
            let fed = Arc::clone(&fed);
            let post = move |body: String| {
                let fed = Arc::clone(&fed);
                let region = region.clone();
                async move { post(&fed, &region, body).await }
            };
            Some((key, post))
        })
        .collect();
    if witnesses.is_empty() {
        return;
    }
    tracing::info!(
        witnesses = witnesses.len(),
        "submitting checkpoints to witnesses"
    );
    witness::run_client(log, witnesses).await;
}

async fn post(fed: &Federation, region: &str, body: String) -> Result<WitnessResponse, String> {
    let peers = fed.peers();
    let peer = peers
        .get(region)
        .ok_or_else(|| format!("witness member {region} is not a peer"))?;
    let url = format!("{}{WITNESS_PATH}", peer.url);
    let trust = fed.inbound().trust.current();
    let request_id = format!("witness-{}", uuid::Uuid::new_v4());
    let answer = exchange(
        peer.client(),
        &fed.inbound().key,
        &trust,
        PeerCall {
            region,
            url: &url,
            request_id: &request_id,
            body: body.into_bytes(),
        },
        "text/plain; charset=utf-8",
        unix_now,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(WitnessResponse {
        status: answer.status,
        body: String::from_utf8_lossy(&answer.body).into_owned(),
    })
}

/// Opens the witness from its key file, trusting the members' log keys.
fn open_witness(
    path: &std::path::Path,
    config: &FederationConfig,
    list: &super::trust::TrustList,
) -> Result<Witness, FederationError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| FederationError::Witness(format!("reading {}: {e}", path.display())))?;
    let key = crate::signed_note::SigningKey::parse(&text)
        .map_err(|e| FederationError::Witness(format!("{}: {e}", path.display())))?;
    let dir = config
        .state_dir
        .as_ref()
        .ok_or_else(|| FederationError::Witness("witness_key needs state_dir".into()))?
        .join("witness");
    Witness::open(key, cosign::log_keys(list), &dir)
        .map_err(|e| FederationError::Witness(e.to_string()))
}

fn timeouts(config: &FederationConfig) -> CallTimeouts {
    let deadline = Duration::from_millis(config.deadline_ms.max(1));
    CallTimeouts {
        connect: deadline,
        request: deadline,
    }
}

fn authority_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}
