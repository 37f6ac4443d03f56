//! `/openapi.json` of a live gateway: every route the server registers is documented, with its
//! path parameters, the bearer scheme on the authenticated routes and problem+json answers; and
//! every documented route is served. The route list comes from the same macros that register
//! the routes ([`pes_gateway::api::ROUTES`], [`pes_gateway::audit::api::ROUTES`]), so a route
//! added without documentation fails here.
//!
//! CI also checks the document with openapi-spec-validator and schemathesis
//! (`tests/openapi/run.sh`).

use pes_testkit::{pesgw, TestGateway};
use serde_json::Value;

/// Served routes that are no part of the API document: none today. (The dashboard's `/` and
/// `/ui/*` pages are registered by `web::configure`, outside both route tables.)
const UNDOCUMENTED: &[(&str, &str)] = &[];

/// Error answers that are not problems: readiness answers its state either way, and a witness's
/// size mismatch is C2SP tlog-witness's plain `text/x.tlog.size`.
const NOT_PROBLEMS: &[(&str, &str)] = &[
    ("/readyz", "503"),
    ("/v1/audit/witness/add-checkpoint", "409"),
];

/// Routes answered without a token.
const OPEN: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];

fn served_routes() -> Vec<(&'static str, &'static str)> {
    pes_gateway::api::ROUTES
        .iter()
        .chain(pes_gateway::audit::api::ROUTES)
        .copied()
        .filter(|r| !UNDOCUMENTED.contains(r))
        .collect()
}

/// `{name}` segments of a path pattern.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_served_route_is_documented_with_parameters_security_and_problems() {
    let g = TestGateway::start(pesgw!());
    let res = g
        .http()
        .get(format!("{}/openapi.json", g.base))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "bearer scheme missing: {scheme}");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");

    let routes = served_routes();
    let mut ids = std::collections::HashSet::new();
    assert!(routes.len() >= 22, "route tables look empty: {routes:?}");
    for (method, path) in &routes {
        let op = &doc["paths"][path][method];
        assert!(
            op.is_object(),
            "{method} {path} is served but not documented"
        );
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            ids.insert(id),
            "{method} {path}: operationId `{id}` is not unique"
        );
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for name in path_params(path) {
            let p = params
                .iter()
                .find(|p| p["name"] == name && p["in"] == "path")
                .unwrap_or_else(|| panic!("{method} {path}: path parameter {name} undeclared"));
            assert_eq!(p["required"], true, "{method} {path}: {name} not required");
        }
        for p in params.iter().filter(|p| p["in"] == "path") {
            let name = p["name"].as_str().unwrap();
            assert!(
                path_params(path).contains(&name),
                "{method} {path}: declares path parameter {name} the path lacks"
            );
        }
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("200") || responses.contains_key("201"),
            "{method} {path}: no 200 or 201 answer"
        );
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if OPEN.contains(path) {
            assert!(!secured, "{method} {path} takes no token");
        } else {
            assert!(secured, "{method} {path}: bearer security missing");
            for status in ["401", "403"] {
                let problem = &responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path}: no {status} answer"))["content"]
                    ["application/problem+json"]["schema"]["$ref"];
                assert_eq!(
                    problem, "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
        // Every error answer documented is a problem, but for two answers defined elsewhere.
        for (status, r) in responses {
            if (status.starts_with('4') || status.starts_with('5'))
                && !NOT_PROBLEMS.contains(&(path, status.as_str()))
            {
                let content = r["content"].as_object().unwrap();
                assert!(
                    content.contains_key("application/problem+json"),
                    "{method} {path} {status}: not problem+json"
                );
            }
        }
    }

    // The document names no route the server does not serve.
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, routes.len(), "documented routes not served");

    // Every reference resolves (the old document's failure).
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "$ref {r} does not resolve"
        );
    }

    // Quarantined rows and their problems are counted apart (issue #13, atomic rows).
    let schemas = &doc["components"]["schemas"];
    for (schema, fields) in [
        ("IngestResponse", &["quarantined", "problems"][..]),
        ("RetryAnswer", &["quarantined", "problems"]),
        ("QuarantineList", &["rows", "problems", "items"]),
        ("QuarantineItem", &["row", "problems", "problem"]),
    ] {
        for field in fields {
            assert!(
                schemas[schema]["properties"][field].is_object(),
                "{schema}.{field} undocumented: {}",
                schemas[schema]
            );
        }
    }

    // Two Rust types of one name would share a schema (utoipa keeps the last): the division
    // and occupation levels must stay apart.
    let levels = |name: &str| -> Vec<String> {
        schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is not an enum: {}", schemas[name]))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(levels("Level").contains(&"province".to_string()));
    assert!(levels("CodeLevel").contains(&"occupation".to_string()));

    // Each route is really served: without a token the authenticated ones are refused, never
    // with the 404 of an unknown path or a 405.
    for (method, path) in &routes {
        // `1` for every path parameter: a valid number, an unknown id.
        let concrete: Vec<&str> = path
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect();
        let url = format!("{}{}", g.base, concrete.join("/"));
        let res = match *method {
            "get" => g.http().get(&url),
            "post" => g.http().post(&url),
            m => panic!("unexpected method {m}"),
        }
        .send()
        .unwrap();
        let status = res.status().as_u16();
        if OPEN.contains(path) {
            assert_eq!(status, 200, "{method} {path}");
        } else {
            // 401, or 400 where the body is read before the token (`POST /v1/query`'s JSON).
            assert!(
                matches!(status, 400 | 401),
                "{method} {path} answered {status}"
            );
        }
    }
}

/// What schemathesis found (`tests/openapi/run.sh`): bad input answered with a 4xx problem, not
/// a 5xx.
#[test]
fn bad_input_found_by_schemathesis_is_a_client_error() {
    let g = TestGateway::start(pesgw!());
    let admin = g.token(pes_gateway::auth::Role::Admin, &[], &[]);
    // An offset beyond 2^53 cannot be written into the audit event: it was a 503.
    let res = g
        .http()
        .post(format!(
            "{}/v1/admin/dead-letters/9223372036854775808/retry",
            g.base
        ))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let p: Value = res.json().unwrap();
    assert_eq!(
        p["type"],
        "https://pes.example/problems/unknown-dead-letter"
    );
}
