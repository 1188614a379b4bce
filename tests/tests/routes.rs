//! The local routes of `cargo lambda watch` (`[workspace.metadata.lambda.watch.router]` in the
//! root Cargo.toml, what `dev/run` serves) against template.yaml, the source of truth: for every
//! function the template deploys, the same (method, path) pairs, method for method. A function
//! crate the template does not deploy yet must have the design's routes (docs: README's Routes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (method, path) pairs.
type Routes = BTreeSet<(String, String)>;

/// The design's routes, by function crate.
const DESIGN: &[(&str, &str, &str)] = &[
    ("login", "GET", "/api/login"),
    ("callback", "GET", "/api/callback"),
    ("session", "GET", "/api/session"),
    ("refresh", "POST", "/api/refresh"),
    ("logout", "GET", "/api/logout"),
    ("logout", "POST", "/api/logout"),
    ("profile", "GET", "/dashboard/profile"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn route(method: &str, path: &str) -> (String, String) {
    (method.to_ascii_uppercase(), path.to_owned())
}

/// The crates in functions/ (binary name == directory name).
fn function_crates() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions"))
        .expect("read functions/")
        .map(|entry| entry.expect("functions/ entry"))
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

fn design() -> BTreeMap<String, Routes> {
    let mut by_function: BTreeMap<String, Routes> = BTreeMap::new();
    for (function, method, path) in DESIGN {
        by_function
            .entry((*function).to_owned())
            .or_default()
            .insert(route(method, path));
    }
    by_function
}

/// `[workspace.metadata.lambda.watch.router]`: `"/path" = "function"` (every method, written
/// here as `ANY`, as API Gateway does) or `"/path" = [{ method = "GET", function = "name" }, ...]`.
fn router() -> BTreeMap<String, Routes> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml is TOML");
    let router = manifest
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("lambda"))
        .and_then(|l| l.get("watch"))
        .and_then(|w| w.get("router"))
        .and_then(toml::Value::as_table)
        .expect("Cargo.toml has a [workspace.metadata.lambda.watch.router] table");
    let mut by_function: BTreeMap<String, Routes> = BTreeMap::new();
    for (path, target) in router {
        let mut add = |function: &str, method: &str| {
            let fresh = by_function
                .entry(function.to_owned())
                .or_default()
                .insert(route(method, path));
            assert!(fresh, "router: {method} {path} is listed twice");
        };
        match target {
            toml::Value::String(function) => add(function, "ANY"),
            toml::Value::Array(entries) => {
                let mut methods = BTreeSet::new();
                for entry in entries {
                    let field = |name| {
                        entry
                            .get(name)
                            .and_then(toml::Value::as_str)
                            .unwrap_or_else(|| panic!("router {path}: an entry without {name}"))
                    };
                    let method = field("method").to_ascii_uppercase();
                    // watch keeps the last function for a repeated method: a silent override.
                    assert!(
                        methods.insert(method.clone()),
                        "router {path}: {method} twice"
                    );
                    add(field("function"), &method);
                }
            }
            other => panic!("router {path}: unsupported value {other:?}"),
        }
    }
    by_function
}

/// template.yaml's HttpApi routes, by the crate each function builds
/// (`Metadata.BuildProperties.Binary`, else the last component of `CodeUri`).
fn template() -> BTreeMap<String, Routes> {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("read template.yaml");
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("template is YAML");
    let mut by_function = BTreeMap::new();
    let resources = template["Resources"]
        .as_mapping()
        .expect("template.yaml has Resources");
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().unwrap_or_default();
        let function = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .or_else(|| {
                resource["Properties"]["CodeUri"]
                    .as_str()?
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
            })
            .unwrap_or_else(|| panic!("{id}: no BuildProperties.Binary or CodeUri"))
            .to_owned();
        let mut routes = Routes::new();
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let properties = &event["Properties"];
            let method = properties["Method"].as_str().unwrap_or("ANY");
            let path = properties["Path"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: an HttpApi event without a Path"));
            routes.insert(route(method, path));
        }
        assert!(
            by_function.insert(function.clone(), routes).is_none(),
            "two template functions build {function}"
        );
    }
    by_function
}

#[test]
fn the_router_serves_every_function_crate_and_only_those() {
    let crates = function_crates();
    let routed: BTreeSet<String> = router().into_keys().collect();
    assert_eq!(
        routed, crates,
        "[workspace.metadata.lambda.watch.router] must route to exactly the crates in functions/"
    );
}

#[test]
fn the_router_has_template_yaml_routes_for_every_deployed_function() {
    let router = router();
    let template = template();
    assert!(
        !template.is_empty(),
        "template.yaml deploys no AWS::Serverless::Function"
    );
    for (function, routes) in &template {
        assert_eq!(
            router.get(function),
            Some(routes),
            "{function}: the router's (method, path) pairs differ from template.yaml's HttpApi events"
        );
    }
}

#[test]
fn functions_not_in_template_yaml_yet_have_the_designed_routes() {
    let router = router();
    let template = template();
    let design = design();
    for function in function_crates() {
        if template.contains_key(&function) {
            continue; // checked against the template, the source of truth
        }
        assert_eq!(
            router.get(&function),
            design.get(&function),
            "{function}: not in template.yaml yet, and the router's routes are not the design's"
        );
    }
}

#[test]
fn routing_keys_are_well_formed() {
    for routes in router().values() {
        for (method, path) in routes {
            assert!(
                ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"]
                    .contains(&method.as_str()),
                "{method} {path}: unknown method"
            );
            assert!(
                path.starts_with('/') && !path.contains('?') && !path.ends_with('/'),
                "{method} {path}: a route is an absolute path without a query or trailing slash"
            );
        }
    }
}
