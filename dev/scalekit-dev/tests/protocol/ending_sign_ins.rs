//! Ending a sign-in at the IdP: the back-channel logout token, the signed `user.logout` webhook,
//! and the helpers that mint and sign them for negative tests.

use std::io::ErrorKind;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use scalekit_dev::{DevScalekit, DevScalekitOptions, SignedWebhook, DEV_WEBHOOK_SECRET};
use serde_json::{json, Value};

use crate::common::*;

const BACKCHANNEL_LOGOUT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The Standard Webhooks signature of `webhook` under `secret`, computed here from scratch:
/// HMAC-SHA256 keyed with the base64 after `whsec_`, over `id.timestamp.body`.
fn expected_signature(secret: &str, webhook: &SignedWebhook) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let content = format!("{}.{}.{}", webhook.id, webhook.timestamp, webhook.body);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), content.as_bytes());
    format!("v1,{}", STANDARD.encode(tag.as_ref()))
}

fn sid_of(tokens: &Value) -> String {
    let (_, claims) = decode(tokens["id_token"].as_str().expect("id_token"));
    claims["sid"].as_str().expect("sid").to_owned()
}

/// `YYYY-MM-DDTHH:MM:SS` with an optional fraction, then `Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && text.ends_with('Z')
}

#[tokio::test]
async fn ending_a_sign_in_revokes_it_and_mints_a_verifiable_logout_token() {
    let sk = DevScalekit::start().await.expect("start");
    let tokens = login(&sk, "usr_bob", None).await;
    let other = login(&sk, "usr_bob", None).await;
    let sid = sid_of(&tokens);

    let ended = sk.end_sign_in(&sid).expect("an active sign-in");
    assert_eq!(ended.sign_in.session_id, sid);
    assert_eq!(ended.sign_in.user_id, "usr_bob");
    assert_eq!(ended.sign_in.organization_id.as_deref(), Some("org_globex"));
    let remaining: Vec<String> = sk.sign_ins().into_iter().map(|s| s.session_id).collect();
    assert_eq!(remaining, [sid_of(&other)]);
    let (status, body) = refresh(&sk, tokens["refresh_token"].as_str().expect("rt")).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );

    let token = &ended.logout_token;
    assert!(verifies(&sk, token).await);
    let (header, claims) = decode(token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "kid": sk.current_kid(), "typ": "logout+jwt"})
    );
    let mut names: Vec<&String> = claims.as_object().expect("claims").keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["aud", "events", "exp", "iat", "iss", "jti", "sid", "sub"]
    );
    assert_eq!(claims["iss"], sk.url());
    assert_eq!(claims["aud"], json!([sk.client_id()]));
    assert_eq!(claims["sid"], sid);
    assert_eq!(claims["sub"], "usr_bob");
    assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT: {} }));
    let iat = claims["iat"].as_u64().expect("iat");
    assert!(iat.abs_diff(now()) <= 5);
    assert_eq!(claims["exp"].as_u64().expect("exp") - iat, 120);
    assert!(!claims["jti"].as_str().expect("jti").is_empty());
    assert!(sk.issued_secrets().contains(token));

    assert_eq!(sk.end_sign_in(&sid), None, "already ended");
    assert_eq!(sk.end_sign_in("ses_unknown"), None);
    let again = sk.end_sign_in(&sid_of(&other)).expect("the other sign-in");
    assert_ne!(decode(&again.logout_token).1["jti"], claims["jti"]);
}

#[tokio::test]
async fn the_user_logout_webhook_is_scalekit_s_envelope_signed_with_the_webhook_secret() {
    let sk = DevScalekit::start().await.expect("start");
    assert_eq!(sk.webhook_secret(), DEV_WEBHOOK_SECRET);
    let sid = sid_of(&login(&sk, "usr_alice", Some("org_acme")).await);
    let ended = sk.end_sign_in(&sid).expect("ended");

    let webhook = &ended.webhook;
    assert!(webhook.id.starts_with("msg_"));
    assert!(webhook.timestamp.abs_diff(now()) <= 5);
    assert_eq!(
        webhook.signature,
        expected_signature(DEV_WEBHOOK_SECRET, webhook)
    );
    assert_eq!(
        webhook.headers(),
        [
            ("webhook-id", webhook.id.clone()),
            ("webhook-timestamp", webhook.timestamp.to_string()),
            ("webhook-signature", webhook.signature.clone()),
        ]
    );

    let event: Value = serde_json::from_str(&webhook.body).expect("JSON body");
    assert_eq!(event["spec_version"], "1");
    let id = event["id"].as_str().expect("id");
    assert!(id.starts_with("evt_") && id.len() <= 32, "{id}");
    assert_eq!(event["type"], "user.logout");
    assert_eq!(event["object"], "User");
    assert_eq!(event["display_name"], "User Logout");
    assert_eq!(event["environment_id"], "env_dev");
    assert_eq!(event["organization_id"], "org_acme");
    let occurred_at = event["occurred_at"].as_str().expect("occurred_at");
    assert!(is_rfc3339_utc(occurred_at), "{occurred_at}");

    let user = &event["data"]["user"];
    assert_eq!(user["id"], "usr_alice");
    assert_eq!(user["email"], "alice@acme.test");
    assert_eq!(user["user_profile"]["name"], "Alice Anderson");
    let session = &event["data"]["user_session"];
    assert_eq!(session["session_id"], sid);
    assert_eq!(session["user_id"], "usr_alice");
    assert_eq!(session["organization_id"], "org_acme");
    assert_eq!(session["authenticated_organizations"], json!(["org_acme"]));
    assert_eq!(session["status"], "REVOKED");
    for field in ["created_at", "updated_at", "logout_at"] {
        let value = session[field].as_str().expect(field);
        assert!(is_rfc3339_utc(value), "{field}: {value}");
    }
}

#[tokio::test]
async fn a_configured_webhook_secret_signs_and_bad_settings_are_refused() {
    let secret = format!("whsec_{}", STANDARD.encode(b"another dev secret"));
    let sk = DevScalekit::start_with(DevScalekitOptions {
        webhook_secret: secret.clone(),
        ..DevScalekitOptions::default()
    })
    .await
    .expect("start");
    assert_eq!(sk.webhook_secret(), secret);
    let sid = sid_of(&login(&sk, "usr_carol", None).await);
    let webhook = sk.end_sign_in(&sid).expect("ended").webhook;
    assert_eq!(webhook.signature, expected_signature(&secret, &webhook));
    assert_ne!(
        webhook.signature,
        expected_signature(DEV_WEBHOOK_SECRET, &webhook)
    );

    let debug = format!("{:?}", DevScalekitOptions::default());
    assert!(!debug.contains(DEV_WEBHOOK_SECRET) && debug.contains("webhook_secret"));

    for opts in [
        DevScalekitOptions {
            webhook_secret: "not-a-whsec".to_owned(),
            ..DevScalekitOptions::default()
        },
        DevScalekitOptions {
            webhook_secret: "whsec_***".to_owned(),
            ..DevScalekitOptions::default()
        },
        DevScalekitOptions {
            backchannel_logout_uri: Some("/api/backchannel-logout".to_owned()),
            ..DevScalekitOptions::default()
        },
        DevScalekitOptions {
            webhook_url: Some("ftp://app.test/hooks".to_owned()),
            ..DevScalekitOptions::default()
        },
    ] {
        let error = DevScalekit::start_with(opts.clone())
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{opts:?}");
    }
}

#[tokio::test]
async fn any_event_can_be_built_and_signed_for_a_test() {
    let sk = DevScalekit::start().await.expect("start");
    let body = DevScalekit::webhook_event(
        "user.organization_membership_deleted",
        json!({"organization": {"id": "org_acme"}, "user": {"id": "usr_carol"}}),
        Some("org_acme"),
    );
    let event: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(event["type"], "user.organization_membership_deleted");
    assert_eq!(event["object"], "OrgMembership");
    assert_eq!(
        event["display_name"],
        "User Organization Membership Deleted"
    );
    assert_eq!(event["organization_id"], "org_acme");
    assert_eq!(event["data"]["user"]["id"], "usr_carol");
    assert_eq!(event["spec_version"], "1");
    assert_eq!(event["environment_id"], "env_dev");

    let stale = sk.sign_webhook_at(&body, 1_000);
    assert_eq!(stale.timestamp, 1_000);
    assert_eq!(stale.body, body);
    assert_eq!(
        stale.signature,
        expected_signature(DEV_WEBHOOK_SECRET, &stale)
    );
    let fresh = sk.sign_webhook(&body);
    assert!(fresh.timestamp.abs_diff(now()) <= 5);
    assert_ne!(fresh.id, stale.id);
    assert_eq!(
        fresh.signature,
        expected_signature(DEV_WEBHOOK_SECRET, &fresh)
    );

    let deleted: Value = serde_json::from_str(&DevScalekit::webhook_event(
        "organization.deleted",
        json!({"id": "org_globex"}),
        None,
    ))
    .expect("JSON");
    assert_eq!(
        (&deleted["object"], &deleted["display_name"]),
        (&json!("Organization"), &json!("Organization Deleted"))
    );
    assert!(deleted.get("organization_id").is_none());
}

#[tokio::test]
async fn logout_tokens_can_be_minted_with_patched_claims_and_headers() {
    let sk = DevScalekit::start().await.expect("start");
    let token = sk.mint_logout_token(json!({"sid": "ses_1", "sub": "usr_bob"}));
    assert!(verifies(&sk, &token).await);
    let (header, claims) = decode(&token);
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(
        (&claims["sid"], &claims["sub"]),
        (&json!("ses_1"), &json!("usr_bob"))
    );
    assert_eq!(claims["events"], json!({ BACKCHANNEL_LOGOUT: {} }));
    assert!(claims.get("nonce").is_none());

    let bad =
        sk.mint_logout_token(json!({"sid": null, "sub": "usr_bob", "events": null, "nonce": "n"}));
    let (_, claims) = decode(&bad);
    assert!(claims.get("sid").is_none() && claims.get("events").is_none());
    assert_eq!(claims["nonce"], "n");
    assert!(verifies(&sk, &bad).await);

    let untyped = sk.mint_logout_token_with_header(json!({"typ": null}), json!({"sid": "ses_1"}));
    let (header, _) = decode(&untyped);
    assert_eq!(header, json!({"alg": "RS256", "kid": sk.current_kid()}));
    assert!(verifies(&sk, &untyped).await);
    let unknown_key =
        sk.mint_logout_token_with_header(json!({"kid": "snk_other"}), json!({"sid": "ses_1"}));
    assert!(!verifies(&sk, &unknown_key).await);
}
