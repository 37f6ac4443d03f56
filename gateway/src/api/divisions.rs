//! `GET /v1/divisions?parent=<code>`: the current children of a GB/T 2260 division (the
//! provinces without `parent`), with their Chinese names, level and, for county-level
//! divisions, their kind. The dashboard names divisions with it and marks rural counties.
//!
//! The list is public reference data (the code list the schemas crate embeds), so reading it is
//! not audited; it still takes a token of this region (any role), like every `/v1` route, so
//! the route adds nothing an anonymous caller can probe.
//!
//! County kinds follow the numbering rule of GB/T 2260 for county-level codes under a
//! prefecture (the last two digits): `01`–`20` are districts (市辖区), `81`–`99` county-level
//! cities (县级市), the rest counties, autonomous counties and banners (县、自治县、旗), which
//! the dashboard treats as rural or remote. A name ending in 区 is a district whatever its
//! number (some newer districts are numbered above 20).

use actix_web::{web, HttpRequest, HttpResponse};
use pes_schemas::codes::{all_divisions, current_division, Division, DivisionLevel};
use serde::{Deserialize, Serialize};

use crate::api::{authenticate, State};
use crate::audit::Action;
use crate::auth::Role;
use crate::problem::Problem;

/// Query string of `GET /v1/divisions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DivisionsParams {
    /// A current 6-digit division code; without it, the provincial-level divisions.
    pub parent: Option<String>,
}

/// Level of a division on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Province, autonomous region, municipality or SAR.
    Province,
    /// Prefecture-level.
    Prefecture,
    /// County-level.
    County,
}

/// Kind of a county-level division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CountyKind {
    /// 市辖区: an urban district.
    District,
    /// 县级市: a county-level city.
    CountyCity,
    /// 县、自治县、旗: a county, counted as rural or remote.
    County,
}

/// One division.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DivisionEntry {
    /// 6-digit GB/T 2260 code.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// Level.
    pub level: Level,
    /// For county-level divisions: district, county-level city or county.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<CountyKind>,
    /// Whether the dashboard marks it rural or remote (a county-level division of kind `county`).
    pub rural: bool,
}

/// The answer of `GET /v1/divisions`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Divisions {
    /// The division asked for (absent for the provincial list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<DivisionEntry>,
    /// Its current children, in code order.
    pub children: Vec<DivisionEntry>,
}

/// The kind of a county-level division by its code and name (module docs).
pub fn county_kind(code: &str, name: &str) -> CountyKind {
    let n: u32 = code.get(4..6).and_then(|s| s.parse().ok()).unwrap_or(0);
    if name.ends_with('区') || (1..=20).contains(&n) {
        CountyKind::District
    } else if (81..=99).contains(&n) {
        CountyKind::CountyCity
    } else {
        CountyKind::County
    }
}

fn entry(d: &Division) -> DivisionEntry {
    let (level, kind) = match d.level {
        DivisionLevel::Province => (Level::Province, None),
        DivisionLevel::Prefecture => (Level::Prefecture, None),
        DivisionLevel::County => (Level::County, Some(county_kind(d.code, d.name))),
    };
    DivisionEntry {
        code: d.code.to_string(),
        name: d.name.to_string(),
        level,
        kind,
        rural: kind == Some(CountyKind::County),
    }
}

/// The current children of `parent` (the provinces for `None`); `None` if `parent` is not a
/// current division.
pub fn children_of(parent: Option<&str>) -> Option<Divisions> {
    let parent = match parent {
        None => None,
        Some(code) => Some(current_division(code)?),
    };
    let children = all_divisions()
        .iter()
        .filter(|d| !d.retired)
        .filter(|d| match parent {
            None => d.level == DivisionLevel::Province,
            Some(p) => d.parent == Some(p.code),
        })
        .map(entry)
        .collect();
    Some(Divisions {
        parent: parent.map(entry),
        children,
    })
}

/// Lists a division's children. Any role of this region; not audited (public reference data).
#[utoipa::path(get, path = "/v1/divisions", tag = "query", operation_id = "list_divisions",
    description = "The current children of a GB/T 2260 division (the provinces without \
        `parent`): code, Chinese name, level and, for county-level divisions, whether it is a \
        district (市辖区), a county-level city or a county (marked rural). Any role of this region; \
        public reference data, not audited.",
    params(DivisionsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The children", body = Divisions),
        (status = 400, description = "`parent` is not a 6-digit code", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token or a bad one", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token of another region", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`parent` is not a current division", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    req: HttpRequest,
    node: State,
    params: web::Query<DivisionsParams>,
) -> Result<HttpResponse, Problem> {
    authenticate(&node, &req, &Role::ALL, Action::QueryAggregate).await?;
    let parent = params.parent.as_deref().filter(|p| !p.is_empty());
    if let Some(p) = parent {
        if p.len() != 6 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Problem::bad_request(
                "bad-division",
                "parent: a GB/T 2260 code is 6 digits",
            ));
        }
    }
    let answer = children_of(parent).ok_or_else(|| {
        Problem::not_found(
            "unknown-division",
            "parent is not a current GB/T 2260 division",
        )
    })?;
    let mut res = HttpResponse::Ok().json(answer);
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
    fn county_kinds_follow_the_numbering_rule() {
        assert_eq!(county_kind("440103", "荔湾区"), CountyKind::District);
        assert_eq!(county_kind("440183", "增城市"), CountyKind::CountyCity);
        assert_eq!(county_kind("440825", "徐闻县"), CountyKind::County);
        // A district numbered above 20 is still a district by its name.
        assert_eq!(county_kind("440126", "某某区"), CountyKind::District);
    }

    #[test]
    fn provinces_and_children_come_from_the_code_list() {
        let top = children_of(None).expect("provinces");
        assert!(top
            .children
            .iter()
            .any(|d| d.code == "440000" && d.name == "广东省"));
        assert!(top.children.iter().all(|d| d.level == Level::Province));
        let gd = children_of(Some("440000")).expect("Guangdong");
        assert!(gd.children.iter().any(|d| d.code == "440100"));
        assert!(gd.children.iter().all(|d| d.level == Level::Prefecture));
        let gz = children_of(Some("440100")).expect("Guangzhou");
        assert!(!gz.children.is_empty());
        assert!(gz
            .children
            .iter()
            .all(|d| d.level == Level::County && d.kind.is_some()));
        assert!(children_of(Some("999999")).is_none());
    }
}
