//! The routes of the HTTP API as the local gateway reads them from template.yaml (what `dev/run`
//! and the gateway flow tests serve, with the authorizer in front of the protected routes exactly
//! as API Gateway puts it) against the design's route table. The gateway reads the same
//! declarations SAM deploys, so the local stack and the deployed API cannot drift apart; this
//! keeps both equal to the design.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dev_gateway::Api;

/// The design's routes: function crate, method, path, authorizer (`None`: public).
const DESIGN: &[(&str, &str, &str, Option<&str>)] = &[
    ("login", "GET", "/api/login", None),
    ("callback", "GET", "/api/callback", None),
    ("session", "GET", "/api/session", None),
    ("refresh", "POST", "/api/refresh", None),
    ("logout", "GET", "/api/logout", None),
    ("logout", "POST", "/api/logout", None),
    ("profile", "GET", "/dashboard/profile", None),
    ("example-backend", "GET", "/api/me", Some("ScalekitSession")),
    (
        "example-backend",
        "GET",
        "/api/admin",
        Some("ScalekitSession"),
    ),
    (
        "backchannel-logout",
        "POST",
        "/api/backchannel-logout",
        None,
    ),
    ("webhook", "POST", "/api/scalekit/webhook", None),
    ("sessions", "GET", "/api/sessions", None),
    ("sessions", "DELETE", "/api/sessions", None),
    ("sessions", "DELETE", "/api/sessions/{id}", None),
];

fn api() -> Api {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    Api::from_template(&text, &BTreeMap::new()).expect("the gateway reads template.yaml")
}

type Table = BTreeSet<(String, String, String, Option<String>)>;

#[test]
fn the_gateway_serves_the_designed_routes_behind_the_designed_authorizers() {
    let served: Table = api()
        .routes
        .iter()
        .map(|r| {
            (
                r.function.clone(),
                r.method.clone(),
                r.path.clone(),
                r.authorizer.clone(),
            )
        })
        .collect();
    let designed: Table = DESIGN
        .iter()
        .map(|(f, m, p, a)| {
            (
                f.to_string(),
                m.to_string(),
                p.to_string(),
                a.map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(served, designed);
}

#[test]
fn the_authorizers_run_the_authorizer_function_uncached_unless_named_cached() {
    let api = api();
    let names: Vec<&str> = api.authorizers.keys().map(String::as_str).collect();
    assert_eq!(names, ["ScalekitSession", "ScalekitSessionCached"]);
    let uncached = &api.authorizers["ScalekitSession"];
    assert_eq!(uncached.function, "authorizer");
    assert_eq!(uncached.ttl_seconds, 0);
    assert!(
        uncached.headers.is_empty() && uncached.query_strings.is_empty() && uncached.context.is_empty(),
        "no identity sources: a request without cookies reaches the authorizer (403, not 401) and Bearer clients work"
    );
    let cached = &api.authorizers["ScalekitSessionCached"];
    assert_eq!(cached.function, "authorizer");
    assert_eq!(cached.ttl_seconds, 0, "caching is off by default");
    // A cached decision must be per caller and per route: keyed by the cookie and the route key,
    // never by the route alone (one user's decision served to everyone).
    assert_eq!(cached.headers, ["Cookie"]);
    assert_eq!(cached.context, ["routeKey"]);
    let on = BTreeMap::from([("AuthorizerCacheSeconds".to_owned(), "300".to_owned())]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    let api = Api::from_template(&text, &on).expect("parameter override");
    assert_eq!(api.authorizers["ScalekitSessionCached"].ttl_seconds, 300);
}
