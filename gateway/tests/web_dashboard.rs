//! The dashboard module served by a real actix app: every asset is embedded and served with the
//! right type, cache policy and a strict Content-Security-Policy; demo tokens are only served
//! where the demo registered them; nothing in the assets points outside the gateway.

use actix_web::http::header;
use actix_web::{test, web, App};
use pes_gateway::web::{
    asset_version, configure, shell_csp, DemoGateway, DemoToken, DemoTokens, ASSETS,
};

fn header_str<'a>(res: &'a actix_web::dev::ServiceResponse, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
}

#[actix_web::test]
async fn shell_is_html_with_strict_csp_and_revalidates() {
    let app = test::init_service(App::new().configure(configure)).await;
    for path in ["/", "/ui/", "/ui"] {
        let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(header_str(&res, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header_str(&res, "cache-control"), "no-cache");
        let csp = header_str(&res, "content-security-policy").to_string();
        assert_eq!(csp, shell_csp());
        for must in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(csp.contains(must), "CSP lacks {must}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(header_str(&res, "x-content-type-options"), "nosniff");
        let etag = header_str(&res, "etag").to_string();
        let body = test::read_body(res).await;
        let html = std::str::from_utf8(&body).unwrap();
        assert!(html.contains("公共就业服务联邦网关"));
        assert!(!html.contains("{{"), "unreplaced placeholder");

        let again = test::call_service(
            &app,
            test::TestRequest::get()
                .uri(path)
                .insert_header((header::IF_NONE_MATCH, etag))
                .to_request(),
        )
        .await;
        assert_eq!(again.status(), 304);
    }
}

#[actix_web::test]
async fn every_asset_is_served_with_its_type_and_versioned_urls_are_immutable() {
    let app = test::init_service(App::new().configure(configure)).await;
    let shell = test::read_body(
        test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await,
    )
    .await;
    let shell = String::from_utf8(shell.to_vec()).unwrap();
    for a in ASSETS {
        let url = format!("/ui/{}?v={}", a.name, asset_version(a));
        assert!(
            !a.linked || shell.contains(&url),
            "shell does not link {url}"
        );
        let res = test::call_service(&app, test::TestRequest::get().uri(&url).to_request()).await;
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(header_str(&res, "content-type"), a.content_type);
        assert_eq!(
            header_str(&res, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(header_str(&res, "content-security-policy").starts_with("default-src 'none'"));
        assert_eq!(test::read_body(res).await.as_ref(), a.body);

        // The same file under a stale or missing version must revalidate, not stick for a year.
        let stale = format!("/ui/{}?v=0000000000000000", a.name);
        let res = test::call_service(&app, test::TestRequest::get().uri(&stale).to_request()).await;
        assert_eq!(header_str(&res, "cache-control"), "no-cache");
    }
    let res = test::call_service(
        &app,
        test::TestRequest::get().uri("/ui/nope.js").to_request(),
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(header_str(&res, "content-type"), "application/problem+json");
}

#[actix_web::test]
async fn assets_reference_nothing_outside_the_gateway_and_use_no_html_sinks() {
    let mut texts: Vec<(&str, String)> = ASSETS
        .iter()
        .map(|a| (a.name, String::from_utf8(a.body.to_vec()).unwrap()))
        .collect();
    texts.push(("index.html", pes_gateway::web::INDEX_HTML.to_string()));
    for (name, text) in &texts {
        // The SVG namespace is an identifier, not a fetch.
        let cleaned = text.replace("http://www.w3.org/2000/svg", "");
        for bad in [
            "http://",
            "https://",
            "//cdn",
            "@import",
            "fonts.googleapis",
        ] {
            assert!(!cleaned.contains(bad), "{name} contains {bad}");
        }
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!text.contains(sink), "{name} uses {sink}");
        }
    }
}

#[actix_web::test]
async fn demo_tokens_are_served_only_when_the_demo_registered_them() {
    let app = test::init_service(App::new().configure(configure)).await;
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/ui/demo/tokens.json")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 404);

    let tokens = DemoTokens {
        tokens: vec![DemoToken {
            role: "analyst".into(),
            region: "440000".into(),
            sub: "analyst@440000".into(),
            token: "eyJ.test.token".into(),
        }],
        gateways: vec![DemoGateway {
            region: "440000".into(),
            url: "http://127.0.0.1:8441".into(),
        }],
    };
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(tokens))
            .configure(configure),
    )
    .await;
    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/ui/demo/tokens.json")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header_str(&res, "cache-control"), "no-store");
    let v: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(v["tokens"][0]["role"], "analyst");
    assert_eq!(v["tokens"][0]["token"], "eyJ.test.token");
    assert_eq!(v["gateways"][0]["url"], "http://127.0.0.1:8441");
}
