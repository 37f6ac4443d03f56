//! A person lookup's answer: this region's own part (minimised by the grants it gives the
//! caller), each region's part with its status, and the audited whole, the same whether the
//! lookup came over the HTTP API alone or fanned out to the federation.

use std::time::Instant;

use actix_web::web;
use serde::{Deserialize, Serialize};

use crate::access::{audit, AuditReceipt};
use crate::audit::event::{Action, Actor, AuditEvent, Outcome};
use crate::federation::fanout::{Answered, RegionStatus};
use crate::node::Node;
use crate::problem::Problem;
use crate::query::person::{self, Grants, PersonFields, PersonQuery};

/// One region's part of a person lookup.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonRegion {
    /// Region, status (`ok`, `timeout`, `unreachable`, `denied`, `bad_signature`, `error`),
    /// latency, receipt of the region's audit entry, and why it did not answer.
    #[serde(flatten)]
    pub status: RegionStatus,
    /// Whether the region holds any record of the person.
    pub found: bool,
    /// What it holds, minimised by its policy for this gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<PersonFields>,
}

/// The answer of `POST /v1/persons/lookup`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonLookupAnswer {
    /// The person_key looked up (never the ID number).
    pub person_key: String,
    /// Whether every region asked answered `ok`.
    pub complete: bool,
    /// Every region asked.
    pub regions: Vec<PersonRegion>,
    /// Receipt of this gateway's own audit entry for the lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<AuditReceipt>,
}

/// This region's own part of a lookup, minimised by `policy`. With `checked` unset, the
/// policy's dataset and purpose are checked first (a refusal gives status `denied`).
pub async fn answer_locally(
    node: &web::Data<Node>,
    q: &PersonQuery,
    policy: Option<Grants>,
    checked: bool,
) -> PersonRegion {
    let started = Instant::now();
    let region = node.config.region.clone();
    let status = |status: Answered, detail: Option<String>| RegionStatus {
        region: region.clone(),
        status,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        receipt: None,
        detail,
        unreachable_since: None,
        as_of: None,
    };
    if !checked {
        if let Some((_, slug, _)) = person::refusal(q, policy.as_ref()) {
            return PersonRegion {
                status: status(Answered::Denied, Some(slug.into())),
                found: false,
                fields: None,
            };
        }
    }
    let n = node.clone();
    let pk = q.person_key.clone();
    let found =
        web::block(move || person::lookup(&*n.store, &n.data_key, &pk, policy.as_ref())).await;
    match found {
        Ok(Ok(fields)) => PersonRegion {
            status: status(Answered::Ok, None),
            found: fields.is_some(),
            fields,
        },
        Ok(Err(e)) => {
            tracing::error!(error = %e, "local person lookup failed");
            PersonRegion {
                status: status(Answered::Error, Some("internal".into())),
                found: false,
                fields: None,
            }
        }
        Err(_) => PersonRegion {
            status: status(Answered::Error, Some("internal".into())),
            found: false,
            fields: None,
        },
    }
}

/// Audits a finished lookup at this gateway (purpose, legal basis, person_key, every region's
/// receipt) and builds the answer.
pub async fn finish(
    node: &Node,
    q: &PersonQuery,
    regions: Vec<PersonRegion>,
    request_id: &str,
    actor: &Actor,
) -> Result<PersonLookupAnswer, Problem> {
    let statuses: Vec<RegionStatus> = regions.iter().map(|r| r.status.clone()).collect();
    let complete = statuses.iter().all(|s| s.status == Answered::Ok);
    let mut event = AuditEvent::new(
        node.config.region.clone(),
        request_id,
        actor.clone(),
        Action::PersonLookup,
        if complete {
            Outcome::Ok
        } else {
            Outcome::Partial
        },
    );
    event.dataset = Some("person".into());
    event.purpose = Some(q.purpose.clone());
    event.legal_basis = Some(q.legal_basis.clone());
    event.person_key = Some(q.person_key.clone());
    event.counts.insert(
        "found".into(),
        regions.iter().filter(|r| r.found).count() as u64,
    );
    event.peer_receipts = crate::federation::fanout::peer_receipts(&statuses);
    let receipt = audit(node, event).await?;
    Ok(PersonLookupAnswer {
        person_key: q.person_key.clone(),
        complete,
        regions,
        receipt: Some(receipt),
    })
}
