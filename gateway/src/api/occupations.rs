//! `GET /v1/occupations?codes=<code>,<code>…`: the names of codes of the 2022 occupational
//! classification (职业分类大典), with their level and the groups above them. The dashboard's
//! caseworker cards name desired occupations with it.
//!
//! Like `GET /v1/divisions`, this is public reference data (the code list the schemas crate
//! embeds): reading it is not audited, and it still takes a token of this region (any role).

use actix_web::{web, HttpRequest, HttpResponse};
use pes_schemas::codes::{occupation, Occupation, OccupationLevel};
use serde::{Deserialize, Serialize};

use crate::api::{authenticate, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::problem::Problem;

/// Most codes one request may name (a page of cards needs a few dozen).
pub const MAX_CODES: usize = 200;

/// Query string of `GET /v1/occupations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OccupationsParams {
    /// Comma-separated codes (`X`, `X-XX`, `X-XX-XX` or `X-XX-XX-XX`), at most 200.
    pub codes: String,
}

/// Level of a code in the classification (schema `CodeLevel`: `Level` is the division one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeLevel {
    /// 大类.
    Major,
    /// 中类.
    Middle,
    /// 小类.
    Minor,
    /// 细类 (职业): an occupation.
    Occupation,
}

/// One named code.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OccupationEntry {
    /// The code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// Level.
    pub level: CodeLevel,
    /// The groups above it, major group first: code and name.
    pub groups: Vec<(String, String)>,
}

/// The answer of `GET /v1/occupations`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Occupations {
    /// The codes that are in the classification, in the order asked.
    pub known: Vec<OccupationEntry>,
    /// The codes that are not.
    pub unknown: Vec<String>,
}

fn entry(o: &Occupation) -> OccupationEntry {
    let mut groups = Vec::new();
    let mut up = o.parent;
    while let Some(p) = up.and_then(occupation) {
        groups.push((p.code.to_string(), p.name.to_string()));
        up = p.parent;
    }
    groups.reverse();
    OccupationEntry {
        code: o.code.to_string(),
        name: o.name.to_string(),
        level: match o.level {
            OccupationLevel::Major => CodeLevel::Major,
            OccupationLevel::Middle => CodeLevel::Middle,
            OccupationLevel::Minor => CodeLevel::Minor,
            OccupationLevel::Occupation => CodeLevel::Occupation,
        },
        groups,
    }
}

/// The entries of `codes` (comma-separated; blanks and repeats skipped).
pub fn lookup(codes: &str) -> Occupations {
    let mut out = Occupations {
        known: Vec::new(),
        unknown: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for c in codes.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if !seen.insert(c) {
            continue;
        }
        match occupation(c) {
            Some(o) => out.known.push(entry(o)),
            None => out.unknown.push(c.to_string()),
        }
    }
    out
}

/// Names occupation codes. Any role of this region; not audited (public reference data).
#[utoipa::path(get, path = "/v1/occupations", tag = "query", operation_id = "name_occupations",
    description = "Names of codes of the 2022 occupational classification, with their level and \
        the groups above them; codes not in the classification are listed as unknown. Any role \
        of this region; public reference data, not audited.",
    params(OccupationsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The names", body = Occupations),
        (status = 400, description = "More than 200 codes, or a code of more than 16 characters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token of another region", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    req: HttpRequest,
    node: State,
    params: web::Query<OccupationsParams>,
) -> Result<HttpResponse, Problem> {
    authenticate(&node, &req, &Role::ALL, Action::QueryAggregate).await?;
    let codes: Vec<&str> = params.codes.split(',').collect();
    if codes.len() > MAX_CODES {
        return Err(Problem::bad_request(
            "too-many-codes",
            format!("codes: at most {MAX_CODES} codes per request"),
        ));
    }
    if codes.iter().any(|c| c.trim().len() > 16) {
        return Err(Problem::bad_request(
            "bad-occupation",
            "codes: an occupation code is at most 10 characters (X-XX-XX-XX)",
        ));
    }
    let mut res = HttpResponse::Ok().json(lookup(&params.codes));
    // The list changes only with a new binary: browsers may keep it for an hour.
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_occupation_comes_with_its_groups_and_unknown_codes_are_listed() {
        let a = lookup("4-02-07-08, 9-99-99-99,4-02-07-08,4");
        assert_eq!(a.unknown, vec!["9-99-99-99".to_string()]);
        assert_eq!(a.known.len(), 2);
        let courier = &a.known[0];
        assert_eq!(
            (courier.name.as_str(), courier.level),
            ("快递员", CodeLevel::Occupation)
        );
        let codes: Vec<&str> = courier.groups.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(codes, ["4", "4-02", "4-02-07"]);
        assert_eq!(a.known[1].level, CodeLevel::Major);
        assert!(a.known[1].groups.is_empty());
    }
}
