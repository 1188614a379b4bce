//! The metric lines (CloudWatch Embedded Metric Format) the functions write as users sign in,
//! refresh, get authorized and are logged out by Scalekit: well-formed, counting what happened,
//! and never carrying a user id, organization id, token or code.

use flow_tests::gateway::request;
use flow_tests::logs;
use lambda_http::http::Method;
use scalekit_dev::DevScalekit;
use serde_json::{json, Value};

use crate::support::TestApp;

/// The parsed metric lines that count `metric` with these dimension values.
fn lines_with(metric: &str, values: &[(&str, &str)]) -> Vec<Value> {
    logs::metric_lines()
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .filter(|line| line.get(metric).is_some())
        .filter(|line| values.iter().all(|(name, value)| line[*name] == *value))
        .collect()
}

#[tokio::test]
async fn what_users_do_is_counted_in_embedded_metric_format_and_no_line_names_anyone() {
    let app = TestApp::spawn().await;
    let mut alice = app.signed_in("usr_alice", Some("org_acme")).await;
    let mut carol = app.signed_in_with_expired_access_token("usr_carol").await;
    let gateway = app.gateway();
    // An expired access token refreshed through the authorizer, a member refused a role.
    assert_eq!(
        request(&gateway, &mut carol, Method::GET, "/api/me", &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        request(&gateway, &mut carol, Method::GET, "/api/admin", &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        request(&gateway, &mut alice, Method::GET, "/api/admin", &[])
            .await
            .status(),
        200
    );
    // A refused callback, and a webhook Scalekit did not sign.
    let (refused, _) = app
        .login_with(Some(scalekit_dev::Misbehaviour::IdTokenClaims(
            json!({"nonce": "other"}),
        )))
        .await;
    assert_eq!(refused.status(), 502);
    let body = DevScalekit::webhook_event("user.login", json!({}), None);
    let mut forged = app.stack.idp.sign_webhook(&body);
    forged.signature = "v1,AAAA".into();
    assert_eq!(app.deliver_webhook(&forged).await.0, 401);

    // Lines from every test in this process are captured: each expected one is there...
    for (metric, values) in [
        ("Logins", vec![("Outcome", "started")]),
        ("Logins", vec![("Outcome", "completed")]),
        (
            "Logins",
            vec![("Outcome", "failed"), ("Reason", "invalid_id_token")],
        ),
        ("Refreshes", vec![("Outcome", "rotated")]),
        (
            "Authorizations",
            vec![("Outcome", "allowed"), ("Reason", "session")],
        ),
        (
            "Authorizations",
            vec![("Outcome", "denied"), ("Reason", "role")],
        ),
        (
            "Webhooks",
            vec![("Outcome", "refused"), ("Reason", "invalid_signature")],
        ),
        ("DependencyLatency", vec![("Dependency", "dynamodb")]),
        ("DependencyLatency", vec![("Dependency", "scalekit_token")]),
        ("DependencyLatency", vec![("Dependency", "secrets_manager")]),
    ] {
        assert!(
            !lines_with(metric, &values).is_empty(),
            "no {metric} line with {values:?}"
        );
    }
    // ...and every line is well-formed EMF whose dimensions are our constants.
    let constants = [
        "started",
        "completed",
        "refused",
        "failed",
        "confirmation_asked",
        "rotated",
        "adopted",
        "revoked",
        "busy",
        "allowed",
        "denied",
        "undecided",
        "ended",
        "replayed",
        "acted",
        "ignored",
        "duplicate",
    ];
    for line in logs::metric_lines() {
        let parsed: Value = serde_json::from_str(&line).expect("a JSON line");
        let definition = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert!(parsed["_aws"]["Timestamp"].as_u64().is_some(), "{line}");
        assert!(
            definition["Namespace"]
                .as_str()
                .is_some_and(|n| n.starts_with("ScalekitLogin")),
            "{line}"
        );
        for metric in definition["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("a name");
            assert!(parsed[name].is_number(), "{line}");
        }
        let dimensions = definition["Dimensions"].as_array().expect("dimensions");
        for dimension in dimensions
            .iter()
            .flat_map(|set| set.as_array().expect("a set"))
        {
            let value = parsed[dimension.as_str().unwrap()]
                .as_str()
                .expect("a value");
            assert!(
                value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "dimension {dimension} = {value} is not one of our constant codes: {line}"
            );
            if dimension == "Outcome" {
                assert!(constants.contains(&value), "{line}");
            }
        }
        for forbidden in ["usr_", "org_", "ses_", "eyJ"] {
            assert!(
                !line.contains(forbidden),
                "{forbidden} in a metric line: {line}"
            );
        }
    }
}
