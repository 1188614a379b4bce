//! `template.yaml` against the code: one SAM function per crate in `functions/`, each with the
//! routes below, an environment that sets what its crate's `NEEDS` requires and nothing it does
//! not read, and IAM statements that grant exact actions on exactly the resources it is given.
//! cfn-lint and `sam validate --lint` (run by `dev/test`) check the template against AWS; this
//! checks it against us.

use std::collections::{BTreeMap, BTreeSet};

use flow_tests::template::{
    all_strings, always_set, entries, environment, functions, references, resource_type, root,
    str_of, template,
};
use serde_yaml_ng::Value;
use shared::config::Needs;

/// Every function crate, its `NEEDS` (`None`: a team's own function, which reads nothing of
/// ours) and its routes. Adding a crate to `functions/` means adding its function to
/// template.yaml and its line here (and `<name> = { path = ... }` to the dev-dependencies of
/// tests/Cargo.toml).
const FUNCTIONS: &[(&str, Option<Needs>, Routes)] = &[
    ("login", Some(login::NEEDS), &[("GET", "/api/login")]),
    (
        "callback",
        Some(callback::NEEDS),
        &[("GET", "/api/callback")],
    ),
    ("session", Some(session::NEEDS), &[("GET", "/api/session")]),
    ("refresh", Some(refresh::NEEDS), &[("POST", "/api/refresh")]),
    (
        "logout",
        Some(logout::NEEDS),
        &[("GET", "/api/logout"), ("POST", "/api/logout")],
    ),
    (
        "profile",
        Some(profile::NEEDS),
        &[("GET", "/dashboard/profile")],
    ),
    ("authorizer", Some(authorizer::NEEDS), &[]),
    (
        "backchannel-logout",
        Some(backchannel_logout::NEEDS),
        &[("POST", "/api/backchannel-logout")],
    ),
    (
        "webhook",
        Some(webhook::NEEDS),
        &[("POST", "/api/scalekit/webhook")],
    ),
    (
        "sessions",
        Some(sessions::NEEDS),
        &[
            ("GET", "/api/sessions"),
            ("DELETE", "/api/sessions"),
            ("DELETE", "/api/sessions/{id}"),
        ],
    ),
    (
        "example-backend",
        None,
        &[("GET", "/api/me"), ("GET", "/api/admin")],
    ),
];

/// (method, path) pairs.
type Routes = &'static [(&'static str, &'static str)];

#[test]
fn every_function_crate_is_deployed_once_and_listed_here() {
    let template = template();
    let deployed: BTreeSet<String> = functions(&template).into_keys().collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .expect("read functions/")
        .map(|entry| entry.expect("functions/ entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = FUNCTIONS
        .iter()
        .map(|(name, ..)| name.to_string())
        .collect();
    assert_eq!(
        deployed, crates,
        "template.yaml must have exactly one function per crate in functions/"
    );
    assert_eq!(
        listed, crates,
        "FUNCTIONS in tests/tests/template.rs must list every crate in functions/"
    );
}

/// `sam build` runs `cargo lambda build --release --bin <name>` once per function; Cargo.toml's
/// `[workspace.metadata.lambda.build]` makes each of those one build of every function binary, so
/// the first does the work and the others find theirs built. A function missing from its
/// `packages` fails `sam build` (no such binary in the selected packages); one listed there but
/// not deployed is built for nothing.
#[test]
fn sam_build_builds_every_function_binary_in_one_cargo_invocation() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let section = manifest
        .split("[workspace.metadata.lambda.build]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("Cargo.toml has a [workspace.metadata.lambda.build] section");
    assert!(
        section.lines().any(|line| line.trim() == "bins = true"),
        "[workspace.metadata.lambda.build] must set bins = true"
    );
    let packages: BTreeSet<String> = section
        .split("packages = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("[workspace.metadata.lambda.build] lists packages = [...]")
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    let template = template();
    let deployed: BTreeSet<String> = functions(&template).into_keys().collect();
    assert_eq!(
        packages, deployed,
        "[workspace.metadata.lambda.build] packages must be exactly the deployed functions"
    );
    for (id, resource) in entries(&template["Resources"]) {
        if str_of(&resource["Type"]) == "AWS::Serverless::Function" {
            assert_eq!(
                str_of(&resource["Metadata"]["BuildMethod"]),
                "rust-cargolambda",
                "{}: built by cargo lambda like the others",
                str_of(id)
            );
        }
    }
}

#[test]
fn every_function_runs_with_what_its_crate_needs_and_nothing_else() {
    let template = template();
    let functions = functions(&template);
    for (name, needs, _) in FUNCTIONS {
        let (id, function) = functions
            .get(*name)
            .unwrap_or_else(|| panic!("no function in template.yaml builds {name}"));
        let environment = environment(&template, function);
        let Some(needs) = needs else {
            assert!(
                environment.is_empty(),
                "{id} is a team's own function: it reads none of our variables, so gets none"
            );
            continue;
        };
        let reads = needs.variables();
        for variable in environment.keys() {
            assert!(
                reads.contains(variable),
                "{id} sets {variable}, which {name}::NEEDS does not read"
            );
        }
        // Deployed secrets come from Secrets Manager, never as plain text in the function's
        // configuration; the value forms are for local runs.
        let mut required = vec![
            ("SCALEKIT_ENVIRONMENT_URL", None),
            ("SCALEKIT_CLIENT_ID", None),
            ("SESSION_SECRET_ARN", Some("AWS::SecretsManager::Secret")),
        ];
        if needs.client_secret {
            required.push((
                "SCALEKIT_CLIENT_SECRET_ARN",
                Some("AWS::SecretsManager::Secret"),
            ));
        }
        if needs.session_table {
            required.push(("SESSION_TABLE", Some("AWS::DynamoDB::Table")));
        }
        if needs.webhook_secret {
            required.push((
                "SCALEKIT_WEBHOOK_SECRET_ARN",
                Some("AWS::SecretsManager::Secret"),
            ));
        }
        for (variable, resource) in required {
            let value = environment
                .get(variable)
                .filter(|value| always_set(value))
                .unwrap_or_else(|| panic!("{id} needs {variable} ({name}::NEEDS)"));
            if let Some(wanted) = resource {
                let mut refs = BTreeSet::new();
                references(value, &mut refs);
                assert!(
                    refs.len() == 1 && resource_type(&template, refs.first().unwrap()) == wanted,
                    "{id}: {variable} must be a !Ref to one of this template's {wanted}"
                );
            }
        }
        for plain in [
            "SESSION_SECRET",
            "SCALEKIT_CLIENT_SECRET",
            "SCALEKIT_WEBHOOK_SECRET",
        ] {
            assert!(
                !environment.contains_key(plain),
                "{id} sets {plain}: deploy secrets as {plain}_ARN"
            );
        }
    }
}

#[test]
fn routes_are_the_designed_ones() {
    let template = template();
    let functions = functions(&template);
    for (name, _, routes) in FUNCTIONS {
        let (id, function) = functions
            .get(*name)
            .unwrap_or_else(|| panic!("no function in template.yaml builds {name}"));
        let mut found = Vec::new();
        for (event, spec) in entries(&function["Properties"]["Events"]) {
            let event = str_of(event);
            assert_eq!(spec["Type"], "HttpApi", "{id}.{event}: only HttpApi events");
            let properties = &spec["Properties"];
            let mut api = BTreeSet::new();
            references(&properties["ApiId"], &mut api);
            assert!(
                api.len() == 1
                    && resource_type(&template, api.first().unwrap()) == "AWS::Serverless::HttpApi",
                "{id}.{event}: ApiId must be a !Ref to the template's HttpApi"
            );
            found.push((
                str_of(&properties["Method"]).to_ascii_uppercase(),
                str_of(&properties["Path"]).to_owned(),
            ));
        }
        found.sort();
        let mut expected: Vec<(String, String)> = routes
            .iter()
            .map(|(method, path)| (method.to_string(), path.to_string()))
            .collect();
        expected.sort();
        assert_eq!(found, expected, "routes of {id}");
    }
}

#[test]
fn policies_grant_exact_actions_on_exactly_the_functions_resources() {
    let template = template();
    let known: BTreeSet<&str> = entries(&template["Resources"])
        .chain(entries(&template["Parameters"]))
        .map(|(name, _)| str_of(name))
        .collect();
    for (id, function) in functions(&template).into_values() {
        let mut granted = BTreeSet::new();
        for policy in function["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            // Inline documents only: a managed policy or a SAM policy template grants more than
            // the code calls.
            let statements = policy["Statement"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{id}: every policy must be an inline Statement list"));
            for statement in statements {
                let (mut actions, mut resources) = (Vec::new(), Vec::new());
                all_strings(&statement["Action"], &mut actions);
                all_strings(&statement["Resource"], &mut resources);
                assert!(
                    !actions.is_empty() && actions.iter().all(|a| !a.contains('*')),
                    "{id}: actions must be named exactly, got {actions:?}"
                );
                assert!(
                    !resources.is_empty() && resources.iter().all(|r| !r.contains('*')),
                    "{id}: resources must be named exactly, got {resources:?}"
                );
                references(&statement["Resource"], &mut granted);
            }
        }
        // What the policies name is exactly what the environment hands the function.
        let mut given = BTreeSet::new();
        for value in environment(&template, function).values() {
            references(value, &mut given);
        }
        given.retain(|name| template["Resources"].get(name).is_some());
        assert_eq!(
            granted, given,
            "{id}: resources granted vs resources configured"
        );
        // cfn-lint does not check references inside SAM function properties.
        let mut used = BTreeSet::new();
        references(&function["Properties"], &mut used);
        references(&template["Globals"], &mut used);
        for name in used {
            assert!(
                known.contains(name.as_str()) || name.starts_with("AWS::"),
                "{id} refers to {name}, which the template does not define"
            );
        }
    }
}

#[test]
fn the_route_policies_parse_and_name_only_routes_behind_the_authorizer() {
    let template = template();
    let functions = functions(&template);
    let (id, authorizer) = &functions["authorizer"];
    let text = str_of(&authorizer["Properties"]["Environment"]["Variables"]["ROUTE_POLICIES"]);
    let policies = shared::access::RoutePolicies::parse(text)
        .unwrap_or_else(|e| panic!("{id}: ROUTE_POLICIES: {e}"));
    let mut protected = BTreeSet::new();
    for (_, function) in functions.values() {
        for (_, event) in entries(&function["Properties"]["Events"]) {
            let properties = &event["Properties"];
            if properties["Auth"]["Authorizer"]
                .as_str()
                .is_some_and(|a| a != "NONE")
            {
                protected.insert(format!(
                    "{} {}",
                    str_of(&properties["Method"]).to_ascii_uppercase(),
                    str_of(&properties["Path"])
                ));
            }
        }
    }
    for route in policies.routes() {
        assert!(
            protected.contains(route),
            "ROUTE_POLICIES names {route}, which is no route behind the authorizer"
        );
    }
    assert_eq!(
        policies.for_route("GET /api/admin"),
        shared::access::Require::role("admin"),
        "the example's admin route requires the role admin"
    );
}

#[test]
fn alarms_notify_a_topic_and_watch_what_the_code_emits_and_every_function() {
    use shared::metrics::{Count, Dependency};
    let template = template();
    let resources = &template["Resources"];
    let alarms: Vec<(&str, &Value)> = entries(resources)
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, r)| (str_of(id), r))
        .collect();
    let names: BTreeSet<&str> = alarms.iter().map(|(id, _)| *id).collect();
    for expected in [
        "Api5xxAlarm",
        "CallbackRefusalsAlarm",
        "ScalekitErrorsAlarm",
        "DynamoDbThrottlesAlarm",
        "LambdaErrorsAlarm",
        "LambdaThrottlesAlarm",
    ] {
        assert!(names.contains(expected), "{expected} missing");
    }
    for (id, alarm) in &alarms {
        assert_eq!(
            alarm["Condition"], "CreateAlarms",
            "{id}: EnableAlarms turns it off"
        );
        let mut notified = BTreeSet::new();
        references(&alarm["Properties"]["AlarmActions"], &mut notified);
        assert!(
            notified.contains("AlarmTopic") && notified.contains("AlarmTopicArn"),
            "{id} notifies the alarm topic (the stack's, or the one given)"
        );
    }
    // The custom metrics the alarms watch are the ones shared::metrics writes, by name and
    // dimension, in the alarm that is about them.
    let watches = |alarm: &str, metric: &str, dimension: &str, value: &str| {
        let properties = &resources[alarm]["Properties"];
        let mut stats: Vec<&Value> = vec![properties];
        if let Some(queries) = properties["Metrics"].as_sequence() {
            stats.extend(queries.iter().map(|q| &q["MetricStat"]["Metric"]));
        }
        stats.iter().any(|stat| {
            stat["MetricName"] == metric
                && stat["Dimensions"].as_sequence().is_some_and(|dimensions| {
                    dimensions
                        .iter()
                        .any(|d| d["Name"] == dimension && d["Value"] == value)
                })
        })
    };
    assert!(watches(
        "CallbackRefusalsAlarm",
        Count::Logins.name(),
        "Outcome",
        "refused"
    ));
    for dependency in [
        Dependency::ScalekitToken,
        Dependency::ScalekitKeys,
        Dependency::ScalekitApi,
    ] {
        assert!(
            watches(
                "ScalekitErrorsAlarm",
                "DependencyErrors",
                "Dependency",
                dependency.name()
            ),
            "{}",
            dependency.name()
        );
    }
    // Every function's errors and throttles are watched (a new function cannot be forgotten).
    for kind in ["LambdaErrorsAlarm", "LambdaThrottlesAlarm"] {
        let mut watched = BTreeSet::new();
        references(&resources[kind]["Properties"]["Metrics"], &mut watched);
        for (_, (id, _)) in functions(&template) {
            assert!(watched.contains(&id), "{kind} does not watch {id}");
        }
    }
}

#[test]
fn access_logs_are_json_with_a_retention_and_never_carry_queries_headers_or_cookies() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let settings = &api["AccessLogSettings"];
    let mut destination = BTreeSet::new();
    references(&settings["DestinationArn"], &mut destination);
    assert_eq!(
        destination.into_iter().collect::<Vec<_>>(),
        ["AccessLogGroup"]
    );
    let group = &template["Resources"]["AccessLogGroup"];
    assert_eq!(group["Type"], "AWS::Logs::LogGroup");
    assert!(
        !group["Properties"]["RetentionInDays"].is_null(),
        "a retention"
    );
    let format: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(str_of(&settings["Format"])).expect("the format is JSON");
    for field in [
        "requestId",
        "method",
        "routeKey",
        "path",
        "status",
        "latencyMs",
    ] {
        assert!(
            !format[field].is_null(),
            "{field} missing from the access log"
        );
    }
    let text = str_of(&settings["Format"]).to_ascii_lowercase();
    for forbidden in [
        "$request.",
        "querystring",
        "cookie",
        "header",
        "$context.identity.user",
        "authorization",
    ] {
        assert!(
            !text.contains(forbidden),
            "{forbidden} in the access log format"
        );
    }
}

#[test]
fn every_function_writes_its_metrics_into_the_stacks_namespace() {
    let template = template();
    for (name, needs, _) in FUNCTIONS {
        if needs.is_none() {
            continue;
        }
        let (id, function) = &functions(&template)[*name];
        let value = &function["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"];
        let Value::Tagged(tagged) = value else {
            panic!("{id}: METRICS_NAMESPACE must be !Sub ScalekitLogin/${{AWS::StackName}}");
        };
        assert_eq!(
            str_of(&tagged.value),
            "ScalekitLogin/${AWS::StackName}",
            "{id}"
        );
    }
}

#[test]
fn sessions_are_found_by_index_and_no_function_may_scan_the_table() {
    use shared::session::{ORGANIZATION_INDEX, SCALEKIT_SESSION_INDEX, USER_INDEX};
    let template = template();
    let table = &template["Resources"]["SessionTable"]["Properties"];
    let indexes: BTreeMap<&str, &str> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|index| {
            let keys = index["KeySchema"].as_sequence().expect("KeySchema");
            assert_eq!(keys.len(), 1, "{index:?}: keyed by one hint");
            (
                str_of(&index["IndexName"]),
                str_of(&keys[0]["AttributeName"]),
            )
        })
        .collect();
    assert_eq!(
        indexes,
        BTreeMap::from([
            (USER_INDEX, "uid"),
            (SCALEKIT_SESSION_INDEX, "sid"),
            (ORGANIZATION_INDEX, "oid"),
        ]),
        "every lookup the code makes has its index"
    );
    // A table scan reads every session of every user: no function needs one, so none may.
    for (id, function) in functions(&template).into_values() {
        let mut actions = Vec::new();
        all_strings(&function["Properties"]["Policies"], &mut actions);
        assert!(
            !actions.contains(&"dynamodb:Scan"),
            "{id} may scan the session table"
        );
    }
}

#[test]
fn a_replay_markers_lease_outlasts_every_invocation_of_scalekits_receivers() {
    let template = template();
    let functions = functions(&template);
    for binary in ["backchannel-logout", "webhook"] {
        let (id, function) = &functions[binary];
        let timeout = function["Properties"]["Timeout"]
            .as_i64()
            .or_else(|| template["Globals"]["Function"]["Timeout"].as_i64())
            .expect("a Timeout");
        assert!(
            timeout < shared::session::MARKER_LEASE_SECS,
            "{id}: a delivery racing one that runs {timeout} s would not be a duplicate"
        );
    }
}
