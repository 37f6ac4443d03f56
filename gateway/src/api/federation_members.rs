//! `GET /v1/federation/members`: every member of the signed trust list in force, as this
//! gateway sees it: reachable or not (and since when, and why), its last answer and latency,
//! the last checkpoint cross-witnessing saw, and the time of its data. A gateway without
//! `[federation]` answers with itself alone. Any role of this region may read it; it is
//! audited like other reads.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Detail;
use crate::api::{audit, authenticate, event, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::federation::members::{data_as_of, CheckpointSeen, Failure, PeerHealth};
use crate::federation::node::Federation;
use crate::problem::Problem;
use crate::signed_note::VerifierKey;

/// Path of the members endpoint.
pub const PATH: &str = "/v1/federation/members";

/// Reading the federation's membership is an administrative read of this gateway.
const ACTION: Action = Action::Admin;

/// Whether a member answers, as far as this gateway knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reachable {
    /// Its last call was answered (or it is this gateway).
    Yes,
    /// Its calls fail (see `unreachable_since` and `last_failure`).
    No,
    /// Not called since this gateway started.
    Unknown,
}

/// One member of the federation.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberStatus {
    /// Region code.
    pub region: String,
    /// Display name from the trust list (absent without `[federation]`).
    pub name: Option<String>,
    /// Whether this member is the gateway answering.
    pub this_gateway: bool,
    /// Whether it answers.
    pub reachable: Reachable,
    /// Last time it gave a verified answer (a signed refusal counts).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_answer: Option<DateTime<Utc>>,
    /// First failure of the current run of failed calls; absent once it answers again.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub unreachable_since: Option<DateTime<Utc>>,
    /// The last failed call: when, how (`timeout`, `unreachable`, `denied`, `bad_signature`,
    /// `error`) and why. Kept after the member answers again.
    pub last_failure: Option<Failure>,
    /// Wall time of the latest call to it, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Latest checkpoint of this gateway's audit log that the member's witness cosigned.
    pub last_checkpoint: Option<CheckpointSeen>,
    /// Size of the member's audit log that this gateway's witness last cosigned (when this
    /// gateway runs a witness and the member has a log key).
    pub witnessed_size: Option<u64>,
    /// Time of the member's data (its last acknowledged push), as it last stated it; for this
    /// gateway, its own.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<DateTime<Utc>>,
}

/// The answer of `GET /v1/federation/members`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Members {
    /// Region of the gateway answering.
    pub region: String,
    /// Version of the signed trust list in force (absent without `[federation]`).
    pub trust_list_version: Option<u64>,
    /// When this answer was made.
    #[schema(value_type = String, format = DateTime)]
    pub generated_at: DateTime<Utc>,
    /// Every member, in trust-list order.
    pub members: Vec<MemberStatus>,
}

/// Lists the federation's members. Any role of this region; audited.
#[utoipa::path(get, path = "/v1/federation/members", tag = "admin", operation_id = "list_federation_members",
    description = "Every member of the trust list in force as this gateway sees it: \
        reachability, last answer, latency, last witnessed checkpoint and data time (any role of \
        this region). Without `[federation]`: this gateway alone.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The members", body = Members),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token of another region", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    req: HttpRequest,
    node: State,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &Role::ALL, ACTION).await?;
    let own_as_of = data_as_of(&node.config.data_dir, node.state.as_of().applied_offset);
    let answer = match &fed {
        Some(fed) => members_of(fed, own_as_of),
        None => Members {
            region: node.config.region.clone(),
            trust_list_version: None,
            generated_at: Utc::now(),
            members: vec![this_gateway(&node.config.region, None, own_as_of)],
        },
    };
    let detail = Detail::new().count("members", answer.members.len() as u64);
    audit(&node, event(&node, &req, ACTION, Some(&auth), 200, detail)).await?;
    Ok(HttpResponse::Ok().json(answer))
}

fn members_of(fed: &Federation, own_as_of: Option<DateTime<Utc>>) -> Members {
    let trust = fed.inbound().trust.current();
    let members = trust
        .members
        .iter()
        .map(|m| {
            if m.region == fed.region() {
                return this_gateway(&m.region, Some(m.name.clone()), own_as_of);
            }
            let witnessed_size = fed.witness().and_then(|w| {
                let key = VerifierKey::parse(m.log_key.as_deref()?).ok()?;
                Some(w.witnessed_size(key.name()))
            });
            let h: PeerHealth = fed.members().get(&m.region);
            MemberStatus {
                region: m.region.clone(),
                name: Some(m.name.clone()),
                this_gateway: false,
                reachable: match h.reachable() {
                    Some(true) => Reachable::Yes,
                    Some(false) => Reachable::No,
                    None => Reachable::Unknown,
                },
                last_answer: h.last_answer,
                unreachable_since: h.unreachable_since,
                last_failure: h.last_failure,
                latency_ms: h.latency_ms,
                last_checkpoint: h.last_checkpoint,
                witnessed_size,
                as_of: h.as_of,
            }
        })
        .collect();
    Members {
        region: fed.region().to_owned(),
        trust_list_version: Some(trust.version),
        generated_at: Utc::now(),
        members,
    }
}

fn this_gateway(region: &str, name: Option<String>, as_of: Option<DateTime<Utc>>) -> MemberStatus {
    MemberStatus {
        region: region.to_owned(),
        name,
        this_gateway: true,
        reachable: Reachable::Yes,
        last_answer: None,
        unreachable_since: None,
        last_failure: None,
        latency_ms: None,
        last_checkpoint: None,
        witnessed_size: None,
        as_of,
    }
}
