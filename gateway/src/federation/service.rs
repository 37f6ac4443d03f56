//! The federation endpoints of a regional gateway: `POST /v1/federation/query` (aggregates) and
//! `POST /v1/federation/person` (person lookup by person_key, minimised by the caller's policy).
//!
//! A peer's request is checked (mTLS member + `pes-fed-v1` signature), authorised by the trust
//! list policy for the calling member (dataset, purpose), answered from this region's records
//! with small cells suppressed at `max(policy k, local k)`, audited with the calling member and
//! the purpose, and signed. Refusals are audited too.
//!
//! Wiring (the federation listener is mTLS only):
//!
//! ```text
//! HttpServer::new(move || App::new().app_data(node.clone()).app_data(fed.clone())
//!         .configure(federation::service::configure))
//!     .on_connect(federation::tls::on_connect)          // before bind_rustls_0_23
//!     .bind_rustls_0_23(addr, server_config)?
//! ```

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use serde::{Deserialize, Serialize};

use super::inbound::{
    signed_response, unix_now, verify_inbound, FederationRequest, InboundContext,
};
use crate::access::{audit, event, AuditReceipt, Detail};
use crate::audit::event::{Action, Actor, AuditEvent};
use crate::federation::trust::CallerPolicy;
use crate::node::Node;
use crate::problem::{self, Problem};
use crate::query::person::{self, PersonFields, PersonQuery};
use crate::query::{QueryAnswer, QueryError, QueryRequest};

/// Path of the federated aggregate query.
pub const QUERY_PATH: &str = "/v1/federation/query";
/// Path of the federated person lookup.
pub const PERSON_PATH: &str = "/v1/federation/person";
/// Path of the federated vacancy search.
pub const SEARCH_PATH: &str = "/v1/federation/vacancies/search";

/// Registers the federation routes. Needs `web::Data<Node>` and `web::Data<InboundContext>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(QUERY_PATH).route(web::post().to(query)))
        .service(web::resource(PERSON_PATH).route(web::post().to(person)))
        .service(web::resource(SEARCH_PATH).route(web::post().to(search)));
}

/// A region's signed answer to a federated aggregate query.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FederatedAnswer {
    /// The local answer, suppressed at the source.
    #[serde(flatten)]
    pub answer: QueryAnswer,
    /// Receipt of the audit entry the serving region wrote for this request.
    pub receipt: AuditReceipt,
    /// Time of the serving region's data (its last acknowledged push), when it can state it.
    /// Absent from older gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub data_as_of: Option<chrono::DateTime<chrono::Utc>>,
}

async fn query(
    req: HttpRequest,
    body: web::Bytes,
    node: web::Data<Node>,
    fed: web::Data<InboundContext>,
) -> HttpResponse {
    let now = unix_now();
    let checked = match verify_inbound(&req, &body, &fed, now) {
        Ok(c) => c,
        Err(refusal) => return refuse_unverified(&req, &node, refusal).await,
    };
    match answer(&req, &body, &node, &fed, &checked).await {
        Ok(resp) => resp,
        Err(resp) => resp,
    }
}

/// Audits a request refused before the peer and its signature verified (as
/// [`Action::FederationServe`], whichever route was asked), and answers it.
async fn refuse_unverified(
    req: &HttpRequest,
    node: &Node,
    refusal: super::inbound::Refusal,
) -> HttpResponse {
    let peer = peer_hint(req);
    let ev = event(
        node,
        req,
        Action::FederationServe,
        None,
        refusal.status().as_u16(),
        Detail::new().problem(refusal.slug()),
    );
    // The region is only claimed by the certificate here, not verified.
    let ev = as_peer(ev, &peer, None);
    if audit(node, ev).await.is_err() {
        return unavailable();
    }
    refusal.to_response()
}

/// A region's signed answer to a person lookup.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonAnswer {
    /// The serving region.
    pub region: String,
    /// Whether it holds any record of the person.
    pub found: bool,
    /// What it holds, minimised by its policy for the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<PersonFields>,
    /// Receipt of the audit entry the serving region wrote for this lookup.
    pub receipt: AuditReceipt,
}

async fn person(
    req: HttpRequest,
    body: web::Bytes,
    node: web::Data<Node>,
    fed: web::Data<InboundContext>,
) -> HttpResponse {
    let checked = match verify_inbound(&req, &body, &fed, unix_now()) {
        Ok(c) => c,
        Err(refusal) => return refuse_unverified(&req, &node, refusal).await,
    };
    match answer_person(&req, &body, &node, &fed, &checked).await {
        Ok(resp) => resp,
        Err(resp) => resp,
    }
}

/// Serves a person lookup: checks the caller's policy (dataset `person`, purpose), reads the
/// person's records through the index, keeps only the protected fields the policy grants, and
/// audits the lookup with the calling member, purpose, legal basis and person_key.
async fn answer_person(
    req: &HttpRequest,
    body: &[u8],
    node: &web::Data<Node>,
    fed: &InboundContext,
    checked: &FederationRequest,
) -> Result<HttpResponse, HttpResponse> {
    let caller = checked.peer.region().to_owned();
    let policy = checked.trust.policy_for(&caller).map(CallerPolicy::grants);
    let q: Option<PersonQuery> = serde_json::from_slice(body).ok();
    let refused = match &q {
        None => Some((
            400,
            "malformed-json",
            "body must be {person_key, purpose, legal_basis}",
        )),
        Some(q) => person::refusal(q, policy.as_ref()),
    };
    let mut found = Ok(None);
    if let (Some(q), None) = (&q, refused) {
        let n = node.clone();
        let pk = q.person_key.clone();
        let pol = policy.clone();
        found = match web::block(move || person::lookup(&*n.store, &n.data_key, &pk, pol.as_ref()))
            .await
        {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "person lookup failed");
                Err(())
            }
            Err(_) => Err(()),
        };
    }
    let (status, slug, msg) = match (refused, &found) {
        (Some(r), _) => r,
        (None, Err(())) => (500, "internal", "the gateway failed"),
        (None, Ok(_)) => (200, "", ""),
    };
    let mut detail = Detail::new();
    if let Some(q) = &q {
        detail = detail.purpose(&q.purpose);
        // An ill-formed key could be anything (even an ID number sent by mistake): not audited.
        if pes_schemas::person_key::is_well_formed(&q.person_key) {
            detail = detail.person_key(&q.person_key);
        }
    }
    if let Ok(Some(f)) = &found {
        detail = detail.count("records", f.records);
    }
    if status != 200 {
        detail = detail.problem(slug);
    }
    let ev = event(node, req, Action::PersonLookup, None, status, detail);
    let mut ev = as_peer(ev, &caller, Some(&caller));
    ev.action = Action::PersonLookup;
    ev.dataset = Some("person".into());
    ev.legal_basis = q
        .as_ref()
        .filter(|q| !q.legal_basis.trim().is_empty())
        .map(|q| {
            q.legal_basis
                .chars()
                .take(person::MAX_LEGAL_BASIS)
                .collect()
        });
    let receipt = audit(node, ev).await.map_err(|_| unavailable())?;
    if status != 200 {
        return Err(problem_signed(fed, checked, status, slug, msg));
    }
    let fields = found.ok().flatten();
    let out = PersonAnswer {
        region: node.config.region.clone(),
        found: fields.is_some(),
        fields,
        receipt,
    };
    let json = serde_json::to_vec(&out).map_err(|_| unavailable())?;
    signed_response(
        &fed.key,
        &checked.signature,
        StatusCode::OK,
        "application/json",
        json,
        unix_now(),
    )
    .map_err(|_| unavailable())
}

async fn answer(
    req: &HttpRequest,
    body: &[u8],
    node: &web::Data<Node>,
    fed: &InboundContext,
    checked: &FederationRequest,
) -> Result<HttpResponse, HttpResponse> {
    let caller = checked.peer.region().to_owned();
    let q: QueryRequest = serde_json::from_slice(body)
        .map_err(|e| problem_signed(fed, checked, 400, "malformed-json", &e.to_string()))?;
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
    let mut detail = Detail::new()
        .purpose(&q.purpose)
        .dataset(&q.dataset)
        .query_sha256(digest);
    let policy = checked.trust.policy_for(&caller);
    let allowed = policy.is_some_and(|p| {
        p.datasets.contains(&q.dataset)
            && q.purpose
                .as_ref()
                .is_some_and(|pur| p.purposes.contains(pur))
    });
    let k = policy
        .map(|p| u64::from(p.k))
        .unwrap_or(0)
        .max(node.config.k);
    let (status, slug, result) = if !allowed {
        (403, "policy_denied", None)
    } else {
        match crate::query::local::answer(node.local(), &q, k).await {
            Ok(a) => (200, "", Some(Ok(a))),
            Err(e @ (QueryError::Store(_) | QueryError::ScanFailed)) => {
                tracing::error!(error = %e, "federated query failed");
                (500, "internal", Some(Err("the gateway failed".to_owned())))
            }
            Err(e) => (400, "bad-query", Some(Err(e.to_string()))),
        }
    };
    detail = detail.count("k", k);
    if status != 200 {
        detail = detail.problem(slug);
    }
    let ev = event(node, req, Action::FederationServe, None, status, detail);
    let ev = as_peer(ev, &caller, Some(&caller));
    let receipt = audit(node, ev).await.map_err(|_| unavailable())?;
    let answer = match result {
        Some(Ok(a)) => a,
        Some(Err(msg)) => return Err(problem_signed(fed, checked, status, slug, &msg)),
        None => {
            let msg = format!("policy for {caller} does not allow this dataset or purpose");
            return Err(problem_signed(fed, checked, status, slug, &msg));
        }
    };
    let data_as_of = super::members::data_as_of(&node.config.data_dir, answer.as_of.applied_offset);
    let out = FederatedAnswer {
        answer,
        receipt,
        data_as_of,
    };
    let json = serde_json::to_vec(&out).map_err(|_| unavailable())?;
    signed_response(
        &fed.key,
        &checked.signature,
        StatusCode::OK,
        "application/json",
        json,
        unix_now(),
    )
    .map_err(|_| unavailable())
}

/// A region's signed page of a federated vacancy search.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchPage {
    /// The serving region.
    pub region: String,
    /// Its hits after the cursor, in rank order, at most the query's limit.
    pub hits: Vec<crate::matching::VacancyHit>,
    /// Receipt of the audit entry the serving region wrote for this search.
    pub receipt: AuditReceipt,
    /// Time of the serving region's data (its last acknowledged push), when it can state it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub data_as_of: Option<chrono::DateTime<chrono::Utc>>,
}

async fn search(
    req: HttpRequest,
    body: web::Bytes,
    node: web::Data<Node>,
    fed: web::Data<InboundContext>,
) -> HttpResponse {
    let checked = match verify_inbound(&req, &body, &fed, unix_now()) {
        Ok(c) => c,
        Err(refusal) => return refuse_unverified(&req, &node, refusal).await,
    };
    match answer_search(&req, &body, &node, &fed, &checked).await {
        Ok(resp) => resp,
        Err(resp) => resp,
    }
}

/// Serves a peer's vacancy search. Vacancies are public data: any verified member may search,
/// whatever its aggregate policy. The body carries only criteria; the event is audited with the
/// calling member as an anonymous search (no user, no person).
async fn answer_search(
    req: &HttpRequest,
    body: &[u8],
    node: &web::Data<Node>,
    fed: &InboundContext,
    checked: &FederationRequest,
) -> Result<HttpResponse, HttpResponse> {
    use crate::matching::SearchQuery;
    let caller = checked.peer.region().to_owned();
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
    let parsed = serde_json::from_slice::<SearchQuery>(body)
        .map_err(|e| (400, "malformed-json", e.to_string()))
        .and_then(|q| q.check().map_err(|e| (400, e.slug(), e.to_string())));
    let result = match parsed {
        Err(e) => Err(e),
        Ok(q) => crate::matching::search_blocking(node.vacancies.clone(), q)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "federated vacancy search failed");
                (500, "internal", "the gateway failed".to_owned())
            }),
    };
    let mut detail = Detail::new().dataset("vacancy").query_sha256(digest);
    let status = match &result {
        Ok(hits) => {
            detail = detail.count("hits", hits.len() as u64);
            200
        }
        Err((status, slug, _)) => {
            detail = detail.problem(*slug);
            *status
        }
    };
    let ev = event(node, req, Action::VacancySearch, None, status, detail);
    let mut ev = as_peer(ev, &caller, Some(&caller));
    ev.action = Action::VacancySearch;
    let receipt = audit(node, ev).await.map_err(|_| unavailable())?;
    let hits = match result {
        Ok(h) => h,
        Err((status, slug, msg)) => return Err(problem_signed(fed, checked, status, slug, &msg)),
    };
    let applied = node.state.as_of().applied_offset;
    let out = SearchPage {
        region: node.config.region.clone(),
        hits,
        receipt,
        data_as_of: super::members::data_as_of(&node.config.data_dir, applied),
    };
    let json = serde_json::to_vec(&out).map_err(|_| unavailable())?;
    signed_response(
        &fed.key,
        &checked.signature,
        StatusCode::OK,
        "application/json",
        json,
        unix_now(),
    )
    .map_err(|_| unavailable())
}

/// A refusal after the signature verified: signed, so the caller can prove what it was told.
fn problem_signed(
    fed: &InboundContext,
    checked: &FederationRequest,
    status: u16,
    slug: &str,
    detail: &str,
) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    let body = Problem::federation_refused(code, slug, detail).to_json();
    signed_response(
        &fed.key,
        &checked.signature,
        code,
        problem::CONTENT_TYPE,
        body,
        unix_now(),
    )
    .unwrap_or_else(|_| unavailable())
}

/// Marks an event as served to a federation peer: `member` is set only once the peer verified.
pub(crate) fn as_peer(mut ev: AuditEvent, claimed: &str, member: Option<&str>) -> AuditEvent {
    ev.action = Action::FederationServe;
    ev.actor = Actor {
        sub: format!("peer:{claimed}"),
        role: "peer".into(),
        region: Some(claimed.to_owned()),
        peer_member: member.map(str::to_owned),
    };
    ev
}

/// 503 without `detail` or `Retry-After`: the audit log or the signer failed.
pub(crate) fn unavailable() -> HttpResponse {
    Problem::without_detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Temporarily unavailable",
    )
    .error_response()
}

/// The region named by the peer certificate, for auditing refusals (not yet verified).
pub(crate) fn peer_hint(req: &HttpRequest) -> String {
    super::tls::ConnectionIdentity::of(req)
        .ok()
        .map(|id| id.region)
        .unwrap_or_else(|| "unknown".into())
}
