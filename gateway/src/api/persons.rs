//! `POST /v1/persons/lookup` (caseworkers): a person looked up across regions by ID number or
//! person_key, with a purpose and a legal basis.
//!
//! An ID number is hashed to the person_key here, at the first gateway, with the federation
//! linkage key; it never leaves this gateway, and never reaches a log or an audit entry (refusals
//! about it say what is wrong without repeating it). Each region answers with the fields its
//! trust-list policy for this gateway allows; this gateway audits the outcome with every
//! region's receipt.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::query::actor_of;
use crate::api::{authenticate, refuse, Detail, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::federation::lookup::{answer_locally, finish, PersonLookupAnswer};
use crate::federation::node::Federation;
use crate::problem::Problem;
use crate::query::person::{self, PersonQuery};

/// Body of `POST /v1/persons/lookup`: exactly one of `id_number` and `person_key`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// GB 11643 ID number (18 characters, or 15 legacy); hashed here, never forwarded.
    #[serde(default)]
    pub id_number: Option<String>,
    /// Pseudonymous person key, when the caller already has it.
    #[serde(default)]
    pub person_key: Option<String>,
    /// Purpose (must be allowed by the caseworker's token and by each region's policy).
    #[serde(default)]
    pub purpose: Option<String>,
    /// Legal basis, audited at every region asked.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// Regions to ask (`["all"]` or absent: every member; without federation: this region).
    #[serde(default)]
    pub regions: Option<Vec<String>>,
}

const ACTION: Action = Action::PersonLookup;

/// Looks a person up. Caseworkers only; a missing purpose or legal basis, a malformed
/// identifier or a purpose the token does not allow is refused with problem+json and audited.
#[utoipa::path(post, path = "/v1/persons/lookup", tag = "persons",
    description = "Look a person up across regions by `id_number` or `person_key`, with a \
        purpose and a legal basis (role `caseworker`); each region's fields are minimised by its \
        policy for this gateway.",
    security(("bearer" = [])),
    request_body(content = LookupRequest, example = json!({
        "id_number": "11010519491231002X",
        "purpose": "case_management",
        "legal_basis": "就业服务与就业管理规定 第六十二条"
    })),
    responses(
        (status = 200, description = "Every region asked, with what it holds", body = PersonLookupAnswer),
        (status = 400, description = "Malformed body, bad identifier, missing purpose or legal basis, or no member region", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a caseworker of this region, or the purpose is not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit log is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn lookup(
    req: HttpRequest,
    body: web::Bytes,
    node: State,
    fed: Option<web::Data<Federation>>,
) -> Result<HttpResponse, Problem> {
    let auth = authenticate(&node, &req, &[Role::Caseworker], ACTION).await?;
    // Parsed here rather than by the JSON extractor: serde's messages may quote the values,
    // and a value here may be an ID number.
    let body: LookupRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let p = Problem::bad_request(
                "malformed-json",
                format!(
                    "body must be a JSON object {{id_number | person_key, purpose, legal_basis, regions?}} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            );
            return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await);
        }
    };
    let person_key = match person_key_of(&node, &body.id_number, &body.person_key) {
        Ok((pk, _)) => pk,
        Err(p) => return Err(refuse(&node, &req, ACTION, Some(&auth), p, Detail::new()).await),
    };
    let q = PersonQuery {
        person_key,
        purpose: body.purpose.clone().unwrap_or_default(),
        legal_basis: body.legal_basis.clone().unwrap_or_default(),
    };
    let detail = Detail::new()
        .person_key(&q.person_key)
        .purpose(&body.purpose);
    if let Some(p) = basis_refusal(&auth, &q.purpose, &q.legal_basis) {
        return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
    }
    let request_id = crate::api::request_id(&req);
    let actor = actor_of(&auth);
    let answer = match fed {
        Some(fed) => {
            let regions = body.regions.unwrap_or_default();
            if let Err(e) = fed.check_regions(&regions) {
                let p = crate::api::query::no_member_problem(&e);
                return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
            }
            fed.person_lookup(&node, &q, &regions, &request_id, &actor)
                .await?
        }
        None => {
            let own = node.config.region.clone();
            if body
                .regions
                .as_ref()
                .is_some_and(|r| r.iter().any(|x| x != &own && x != "all"))
            {
                let p = Problem::bad_request(
                    "federation-not-configured",
                    "this gateway has no [federation] section: ask without `regions`",
                );
                return Err(refuse(&node, &req, ACTION, Some(&auth), p, detail).await);
            }
            // No trust list: this gateway's own answer, with no protected field.
            let local = answer_locally(&node, &q, None, true).await;
            finish(&node, &q, vec![local], &request_id, &actor).await?
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// The person_key of a request that gives exactly one of an ID number (hashed here with the
/// linkage key; returned too, parsed) and a person_key. Refusals never repeat the value.
pub(crate) fn person_key_of(
    node: &crate::node::Node,
    id_number: &Option<String>,
    person_key: &Option<String>,
) -> Result<(String, Option<pes_schemas::id_number::IdNumber>), Problem> {
    match (id_number, person_key) {
        (Some(id), None) => match pes_schemas::id_number::IdNumber::parse(id) {
            Ok(id) => Ok((node.keyer.key(&id), Some(id))),
            Err(e) => Err(Problem::bad_request(
                "bad-id-number",
                format!("the ID number is not valid ({})", e.code()),
            )),
        },
        (None, Some(pk)) if pes_schemas::person_key::is_well_formed(pk) => Ok((pk.clone(), None)),
        (None, Some(_)) => Err(Problem::bad_request(
            "bad-person-key",
            "person_key must be 43 characters of base64url",
        )),
        _ => Err(Problem::bad_request(
            "bad-identifier",
            "give exactly one of id_number and person_key",
        )),
    }
}

/// Why a request about a person is refused for its purpose or legal basis: both required, the
/// legal basis at most [`person::MAX_LEGAL_BASIS`] characters, the purpose allowed by the token.
pub(crate) fn basis_refusal(
    auth: &crate::auth::Authenticated,
    purpose: &str,
    legal_basis: &str,
) -> Option<Problem> {
    if purpose.trim().is_empty() {
        Some(Problem::bad_request(
            "missing-purpose",
            "a purpose is required",
        ))
    } else if legal_basis.trim().is_empty() {
        Some(Problem::bad_request(
            "missing-legal-basis",
            "a legal basis is required",
        ))
    } else if legal_basis.chars().count() > person::MAX_LEGAL_BASIS {
        Some(Problem::bad_request(
            "bad-legal-basis",
            "the legal basis is longer than 200 characters",
        ))
    } else if !auth.allows_purpose(purpose) {
        Some(Problem::forbidden(
            "the caseworker's token does not allow this purpose",
        ))
    } else {
        None
    }
}
