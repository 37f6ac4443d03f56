//! The web dashboard: national overview, supply and demand, key groups, region health, the
//! caseworker's person lookup and the auditor's view with in-browser proof verification.
//!
//! Every asset is compiled into the binary (`include_str!`/`include_bytes!`); nothing is fetched
//! from a CDN and no external font is used. The pages are plain HTML, CSS and JavaScript with no
//! build step; charts are inline SVG drawn by `dashboard.js`.
//!
//! | route | answer | cache |
//! |---|---|---|
//! | `GET /`, `GET /ui/` | the dashboard shell (`index.html`, CSS inlined for first paint) | `no-cache` + `ETag` |
//! | `GET /ui/<asset>?v=<hash>` | scripts and the icon | one year, `immutable` |
//! | `GET /ui/demo/tokens.json` | demo sign-in tokens, only when [`DemoTokens`] is app data | `no-store` |
//!
//! The pages take the federation from `GET /v1/federation/members` (the signed trust list as
//! this gateway serves it), so they work the same against a plain `pesgw serve` with a pasted
//! token; the demo tokens only fill the sign-in page's role picker. Every federated page says
//! how many regions answered, names each missing one (why, since when), marks its totals
//! partial and shows the time of each region's data.
//!
//! Every answer carries a strict Content-Security-Policy: scripts only from this origin, the one
//! inline stylesheet allowed by its SHA-256 hash, connections only to this origin, no frames, no
//! forms posting elsewhere, and Trusted Types enforced so the scripts cannot use HTML sinks.
//!
//! The shell references each script as `/ui/<name>?v=<first 16 hex of its SHA-256>`, so a new
//! binary changes the URL and browsers may cache assets for a year without going stale.

mod assets;

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

pub use assets::{Asset, ASSETS, INDEX_HTML};

/// Sign-in tokens that `pesgw demo` hands to the dashboard's role picker.
///
/// Registered as `web::Data<DemoTokens>` only when the config's `[ui] demo_tokens` names a
/// file, which only `pesgw demo` writes. Without it `/ui/demo/tokens.json` answers 404, so real
/// deployments never expose tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DemoTokens {
    /// One token per role the demo offers.
    pub tokens: Vec<DemoToken>,
    /// The gateways of the demo federation, for scripts. The dashboard takes the federation
    /// (regions, names, status) from `GET /v1/federation/members`, never from this list.
    pub gateways: Vec<DemoGateway>,
}

impl DemoTokens {
    /// Reads the file named by `[ui] demo_tokens` (written by `pesgw demo`).
    pub fn load(path: &std::path::Path) -> std::io::Result<DemoTokens> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("[ui] demo_tokens {}: {e}", path.display()),
            )
        })?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::other(format!("[ui] demo_tokens {}: {e}", path.display())))
    }
}

/// One ready-made demo token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoToken {
    /// Role (`analyst`, `caseworker`, `auditor`, `admin`).
    pub role: String,
    /// Region the token is valid for.
    pub region: String,
    /// Token subject.
    pub sub: String,
    /// The bearer token (EdDSA JWT).
    pub token: String,
}

/// One gateway of the demo federation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoGateway {
    /// GB/T 2260 province code.
    pub region: String,
    /// Base URL, e.g. `http://127.0.0.1:8441`.
    pub url: String,
}

/// Registers the dashboard routes (`/`, `/ui/`, `/ui/{asset}`, `/ui/demo/tokens.json`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/", "/ui", "/ui/"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(shell))
                .route(web::head().to(shell)),
        );
    }
    cfg.service(web::resource("/ui/demo/tokens.json").route(web::get().to(demo_tokens)))
        .service(web::resource("/ui/{name}").route(web::get().to(asset)));
}

/// The shell with asset URLs versioned, its ETag, and the CSP that admits its inline style.
struct Shell {
    html: String,
    etag: String,
    csp: String,
}

fn sha256(bytes: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, bytes)
}

/// The `?v=` suffix of an asset: the first 16 hex digits of its SHA-256.
pub fn asset_version(a: &Asset) -> String {
    hex::encode(&sha256(a.body).as_ref()[..8])
}

/// Content-Security-Policy for a page whose only inline style is `style`.
fn csp_for(style: &str) -> String {
    let style_hash = B64.encode(sha256(style.as_bytes()).as_ref());
    format!(
        "default-src 'none'; script-src 'self'; style-src 'sha256-{style_hash}'; \
         img-src 'self' data:; connect-src 'self'; font-src 'none'; object-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
         require-trusted-types-for 'script'; trusted-types 'none'"
    )
}

/// The CSP of answers that are not the shell (assets, tokens): nothing may run in them.
const CSP_NONE: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

fn shell_parts() -> &'static Shell {
    static SHELL: OnceLock<Shell> = OnceLock::new();
    SHELL.get_or_init(|| {
        let mut html = assets::INDEX_HTML.to_string();
        for a in ASSETS {
            html = html.replace(
                &format!("{{{{{}}}}}", a.name),
                &format!("/ui/{}?v={}", a.name, asset_version(a)),
            );
        }
        let style = inline_style(&html).unwrap_or_default().to_string();
        let etag = format!(
            "\"{}\"",
            hex::encode(&sha256(html.as_bytes()).as_ref()[..8])
        );
        Shell {
            csp: csp_for(&style),
            html,
            etag,
        }
    })
}

/// The text between the shell's single `<style>` and `</style>`.
fn inline_style(html: &str) -> Option<&str> {
    let start = html.find("<style>")? + "<style>".len();
    let end = html[start..].find("</style>")? + start;
    Some(&html[start..end])
}

/// The Content-Security-Policy the shell is served with.
pub fn shell_csp() -> &'static str {
    &shell_parts().csp
}

fn security_headers(res: &mut HttpResponse, csp: &str) {
    let h = res.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(header::HeaderName::from_static(name), v);
        }
    };
    set("content-security-policy", csp);
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "no-referrer");
    set("cross-origin-opener-policy", "same-origin");
    set("cross-origin-resource-policy", "same-origin");
    set("x-frame-options", "DENY");
}

fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

async fn shell(req: HttpRequest) -> HttpResponse {
    let s = shell_parts();
    let mut res = if not_modified(&req, &s.etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(s.html.clone())
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&s.etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    security_headers(&mut res, &s.csp);
    res
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(a) = ASSETS.iter().find(|a| a.name == name.as_str()) else {
        let mut res = Problem::not_found("not-found", "no such dashboard asset").error_response();
        security_headers(&mut res, CSP_NONE);
        return res;
    };
    let version = asset_version(a);
    let etag = format!("\"{version}\"");
    // Only the versioned URL may be cached for long: an unversioned one must revalidate.
    let versioned = req.query_string() == format!("v={version}");
    let mut res = if not_modified(&req, &etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok().content_type(a.content_type).body(a.body)
    };
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    security_headers(&mut res, CSP_NONE);
    res
}

async fn demo_tokens(req: HttpRequest) -> HttpResponse {
    let mut res = match req.app_data::<web::Data<DemoTokens>>() {
        Some(t) => HttpResponse::Ok().json(t.get_ref()),
        None => Problem::not_found(
            "not-found",
            "demo tokens exist only on gateways started by `pesgw demo`",
        )
        .error_response(),
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(&mut res, CSP_NONE);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_references_every_asset_by_version_and_keeps_no_placeholder() {
        let s = shell_parts();
        for a in ASSETS.iter().filter(|a| a.linked) {
            let url = format!("/ui/{}?v={}", a.name, asset_version(a));
            assert!(s.html.contains(&url), "shell does not link {url}");
        }
        assert!(
            !s.html.contains("{{"),
            "unreplaced placeholder in the shell"
        );
    }

    #[test]
    fn csp_admits_exactly_the_inline_style() {
        let s = shell_parts();
        let style = inline_style(&s.html).expect("shell has an inline style");
        assert!(style.len() > 100);
        let want = B64.encode(sha256(style.as_bytes()).as_ref());
        assert!(s.csp.contains(&format!("style-src 'sha256-{want}'")));
        assert!(!s.csp.contains("unsafe"));
    }
}
