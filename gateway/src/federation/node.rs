//! A gateway's federation side, assembled: trust store, mTLS listener serving
//! `/v1/federation/query` and `/v1/federation/person`, pinned peer clients, periodic reload of
//! the trust list and CRL, and one generic fan-out ([`Federation::ask`]: local part in-process,
//! remote parts asked concurrently, each parsed into its typed answer with its status) that
//! serves the federated aggregate (merged, audited) and the person lookup (minimised per
//! region, audited). Every call to a member updates [`Federation::members`].

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
use super::members::{data_as_of, PeerBook};
use super::outbound::{exchange, PeerCall};
use super::service::{
    self, FederatedAnswer, PersonAnswer, SearchPage, PERSON_PATH, QUERY_PATH, SEARCH_PATH,
};
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
use crate::query::{QueryAnswer, QueryError, QueryRequest};
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
    book: PeerBook,
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
            book: PeerBook::default(),
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
        self.book.attach_metrics(node.metrics.clone());
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

    /// Asks `ask.regions` (`["all"]` or none = every member) the same question: this region
    /// through `local` (called only when this region is asked), the others over `ask.path` with
    /// signatures, concurrently, each under the deadline. Each peer's answer is parsed as `R`;
    /// one that does not parse is status `error`. Every peer's outcome updates
    /// [`Federation::members`]; a region that did not answer carries `unreachable_since` when
    /// known, one that did carries the time of its data when it states it.
    ///
    /// Returns every region asked, this region first, each with its status and answer (none
    /// when it did not answer). Only an error of `local` fails the whole.
    pub async fn ask<R, E, F, Fut>(
        &self,
        ask: Ask<'_>,
        local: F,
    ) -> Result<Vec<(RegionStatus, Option<R::Answer>)>, E>
    where
        R: Reply,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(RegionStatus, Option<R::Answer>), E>>,
    {
        let trust = self.inbound.trust.current();
        let regions = self.regions_asked(ask.regions);
        let remote: Vec<String> = regions
            .iter()
            .filter(|r| **r != self.region)
            .cloned()
            .collect();
        let peers = self.peers();
        let fan = fan_out(
            &peers,
            &self.inbound.key,
            &trust,
            FanOut {
                regions: &remote,
                path: ask.path,
                request_id: ask.request_id,
                body: ask.body,
                deadline: Duration::from_millis(self.config.deadline_ms),
            },
        );
        let local = async {
            if regions.contains(&self.region) {
                local().await.map(Some)
            } else {
                Ok(None)
            }
        };
        let (outcomes, local) = tokio::join!(fan, local);
        let mut out: Vec<_> = local?.into_iter().collect();
        let now = chrono::Utc::now();
        for o in &outcomes {
            // The body is parsed once: receipt and data time come from the typed answer.
            let (mut status, answer) = match &o.result {
                Ok(ans) => match serde_json::from_slice::<R>(&ans.body) {
                    Ok(reply) => {
                        let mut status = o.status_with_receipt(reply.receipt());
                        status.as_of = reply.as_of();
                        (status, Some(reply.into_answer()))
                    }
                    Err(_) => (
                        RegionStatus {
                            status: Answered::Error,
                            detail: Some("answer does not parse".into()),
                            ..o.status_with_receipt(None)
                        },
                        None,
                    ),
                },
                Err(_) => (o.status_with_receipt(None), None),
            };
            // Only members are kept: a caller may name any region.
            if peers.get(&o.region).is_some() {
                self.book.record(
                    &o.region,
                    status.status,
                    status.detail.as_deref(),
                    o.latency,
                    status.as_of,
                    now,
                );
                if status.status != Answered::Ok {
                    status.unreachable_since = self.book.get(&o.region).unreachable_since;
                }
            }
            out.push((status, answer));
        }
        Ok(out)
    }

    /// What this gateway knows of each member from its calls to them.
    pub fn members(&self) -> &PeerBook {
        &self.book
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
        let body = serde_json::to_vec(q).unwrap_or_default();
        let local = || async {
            let grants = self
                .inbound
                .trust
                .current()
                .policy_for(&self.region)
                .map(CallerPolicy::grants);
            let part = answer_locally(node, q, grants, false).await;
            let found = PersonFound {
                found: part.found,
                fields: part.fields,
            };
            Ok::<_, std::convert::Infallible>((part.status, Some(found)))
        };
        let asked = Ask {
            regions,
            path: PERSON_PATH,
            request_id,
            body: &body,
        };
        let parts = match self.ask::<PersonAnswer, _, _, _>(asked, local).await {
            Ok(parts) => parts,
            Err(never) => match never {},
        };
        let answers = parts
            .into_iter()
            .map(|(status, found)| {
                let found = found.unwrap_or_default();
                PersonRegion {
                    status,
                    found: found.found,
                    fields: found.fields,
                }
            })
            .collect();
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
        let body = serde_json::to_vec(&QueryRequest {
            regions: Vec::new(),
            ..q.clone()
        })
        .unwrap_or_default();
        let local = || async {
            let started = std::time::Instant::now();
            let answer = crate::query::local::answer(node.local(), q, node.config.k).await?;
            let status = RegionStatus {
                region: self.region.clone(),
                status: Answered::Ok,
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                receipt: None,
                detail: None,
                unreachable_since: None,
                as_of: data_as_of(&node.config.data_dir, answer.as_of.applied_offset),
            };
            Ok::<_, QueryError>((status, Some(answer)))
        };
        let asked = Ask {
            regions: &q.regions,
            path: QUERY_PATH,
            request_id,
            body: &body,
        };
        let parts = self.ask::<FederatedAnswer, _, _, _>(asked, local).await?;
        let (statuses, answers): (Vec<RegionStatus>, Vec<Option<QueryAnswer>>) =
            parts.into_iter().unzip();
        let answers: Vec<QueryAnswer> = answers.into_iter().flatten().collect();
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

impl Federation {
    /// Searches vacancies across `q.query.regions` (`["all"]` = every member): this region's
    /// index in-process, the others over `/v1/federation/vacancies/search` with signatures
    /// (only the criteria and the cursor travel), each under the deadline; the pages are merged
    /// in rank order. Audits the outcome (`ok` or `partial`) for `actor` with every region's
    /// status and receipt.
    pub async fn search_vacancies(
        &self,
        node: &web::Data<Node>,
        q: &crate::matching::Checked,
        request_id: &str,
        actor: &Actor,
    ) -> Result<VacancySearchAnswer, crate::matching::IndexError> {
        let body = serde_json::to_vec(&crate::matching::SearchQuery {
            regions: Vec::new(),
            ..q.query.clone()
        })
        .unwrap_or_default();
        let local = || async {
            let started = std::time::Instant::now();
            let hits = crate::matching::search_blocking(node.vacancies.clone(), q.clone()).await?;
            let status = RegionStatus {
                region: self.region.clone(),
                status: Answered::Ok,
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                receipt: None,
                detail: None,
                unreachable_since: None,
                as_of: data_as_of(&node.config.data_dir, node.state.as_of().applied_offset),
            };
            Ok::<_, crate::matching::IndexError>((status, Some(hits)))
        };
        let asked = Ask {
            regions: &q.query.regions,
            path: SEARCH_PATH,
            request_id,
            body: &body,
        };
        let parts = self.ask::<SearchPage, _, _, _>(asked, local).await?;
        let mut statuses = Vec::with_capacity(parts.len());
        let mut pages = Vec::with_capacity(parts.len());
        for (status, hits) in parts {
            if let Some(mut hits) = hits {
                // A region speaks for itself only.
                hits.iter_mut()
                    .for_each(|h| h.region = status.region.clone());
                pages.push(hits);
            }
            statuses.push(status);
        }
        let complete = statuses.iter().all(|s| s.status == Answered::Ok);
        let (hits, next_cursor) = crate::matching::query::merge_pages(pages, q.limit);
        let mut event = AuditEvent::new(
            self.region.clone(),
            request_id,
            actor.clone(),
            Action::VacancySearch,
            if complete {
                Outcome::Ok
            } else {
                Outcome::Partial
            },
        );
        event.dataset = Some("vacancy".into());
        event.query_digest = Some(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &body,
        )));
        event.counts.insert("hits".into(), hits.len() as u64);
        event.peer_receipts = peer_receipts(&statuses);
        let receipt = crate::access::audit(node, event).await.ok();
        Ok(VacancySearchAnswer {
            hits,
            next_cursor,
            complete,
            regions: statuses,
            receipt,
        })
    }
}

/// The answer of a vacancy search: one page of hits in rank order, merged across the regions
/// asked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VacancySearchAnswer {
    /// Hits, best first.
    pub hits: Vec<crate::matching::VacancyHit>,
    /// Pass as `cursor` for the next page; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Whether every region asked answered `ok`.
    pub complete: bool,
    /// Every region asked, with status, latency and receipt.
    pub regions: Vec<RegionStatus>,
    /// Receipt of this gateway's own audit entry for the search.
    pub receipt: Option<crate::access::AuditReceipt>,
}

impl Reply for SearchPage {
    type Answer = Vec<crate::matching::VacancyHit>;
    fn receipt(&self) -> Option<crate::access::AuditReceipt> {
        Some(self.receipt.clone())
    }
    fn as_of(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.data_as_of
    }
    fn into_answer(self) -> Vec<crate::matching::VacancyHit> {
        self.hits
    }
}

/// What a fan-out asks of every region.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Regions named by the request: `["all"]` or none = every member.
    pub regions: &'a [String],
    /// Federation path on each peer (e.g. `/v1/federation/query`).
    pub path: &'a str,
    /// Request id, propagated.
    pub request_id: &'a str,
    /// JSON body, signed per peer.
    pub body: &'a [u8],
}

/// A peer's typed answer to a fan-out: the per-region answer it carries, the receipt of the
/// peer's audit entry, and the time of its data if it states it.
pub trait Reply: serde::de::DeserializeOwned {
    /// What is kept of a region's answer.
    type Answer;
    /// The receipt of the peer's audit entry.
    fn receipt(&self) -> Option<crate::access::AuditReceipt>;
    /// The time of the peer's data, if it states it.
    fn as_of(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
    /// The per-region answer.
    fn into_answer(self) -> Self::Answer;
}

impl Reply for FederatedAnswer {
    type Answer = QueryAnswer;
    fn receipt(&self) -> Option<crate::access::AuditReceipt> {
        Some(self.receipt.clone())
    }
    fn as_of(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.data_as_of
    }
    fn into_answer(self) -> QueryAnswer {
        self.answer
    }
}

/// What one region holds of a person (its part of a lookup, without the status).
#[derive(Debug, Clone, Default)]
pub struct PersonFound {
    /// Whether the region holds any record of the person.
    pub found: bool,
    /// What it holds, minimised by its policy for this gateway.
    pub fields: Option<crate::query::person::PersonFields>,
}

impl Reply for PersonAnswer {
    type Answer = PersonFound;
    fn receipt(&self) -> Option<crate::access::AuditReceipt> {
        Some(self.receipt.clone())
    }
    fn into_answer(self) -> PersonFound {
        PersonFound {
            found: self.found,
            fields: self.fields,
        }
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
    let size = checkpoint_size(&body);
    let started = std::time::Instant::now();
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
    .await;
    let now = chrono::Utc::now();
    let answer = match answer {
        Ok(a) => {
            // A signed refusal (e.g. 409 with the witness's size) is an answer too.
            fed.book
                .record(region, Answered::Ok, None, a.latency, None, now);
            if let (200, Some(size)) = (a.status, size) {
                fed.book.record_checkpoint(region, size, now);
            }
            a
        }
        Err(e) => {
            let detail = e.to_string();
            fed.book.record(
                region,
                e.status_label(),
                Some(&detail),
                started.elapsed(),
                None,
                now,
            );
            return Err(detail);
        }
    };
    Ok(WitnessResponse {
        status: answer.status,
        body: String::from_utf8_lossy(&answer.body).into_owned(),
    })
}

/// Tree size of the checkpoint in an add-checkpoint body (`old N`, proof lines, a blank line,
/// then the checkpoint note: origin, size, root).
fn checkpoint_size(body: &str) -> Option<u64> {
    let (_, checkpoint) = body.split_once("\n\n")?;
    checkpoint.lines().nth(1)?.parse().ok()
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
