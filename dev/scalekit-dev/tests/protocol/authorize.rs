//! `/oauth/authorize` and the sign-in page.

use reqwest::StatusCode;
use scalekit_dev::{DevScalekit, DevScalekitOptions, Endpoint};

use crate::common::*;

#[tokio::test]
async fn sign_in_redirects_back_with_a_code_and_the_exact_state() {
    let sk = DevScalekit::start().await.expect("start");

    let page = get(&authorize_url(&sk, &[])).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let page = text(page).await;
    for user in DevScalekit::users() {
        assert!(page.contains(&format!("id=\"user-{}\"", user.id)), "{page}");
    }
    assert!(page.contains("id=\"cancel\""));

    let response = post_sign_in(&sk, &[("pending", &pending_of(&page)), ("user", "usr_bob")]).await;
    let location = location(&response);
    let params = redirect_params(&response);
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(params["state"], STATE);
    assert!(params["code"].len() >= 40);
    assert_eq!(sk.requests(Endpoint::Authorize), 1);
}

#[tokio::test]
async fn state_is_omitted_when_none_was_sent() {
    let sk = DevScalekit::start().await.expect("start");
    let page = text(get(&authorize_url(&sk, &[("state", "")])).await).await;
    let response = post_sign_in(&sk, &[("pending", &pending_of(&page)), ("user", "usr_bob")]).await;
    let params = redirect_params(&response);
    assert!(params.contains_key("code"));
    assert!(!params.contains_key("state"));
}

#[tokio::test]
async fn a_user_with_several_organizations_picks_one() {
    let sk = DevScalekit::start().await.expect("start");
    let page = text(get(&authorize_url(&sk, &[])).await).await;
    let pending = pending_of(&page);

    let picker = post_sign_in(&sk, &[("pending", &pending), ("user", "usr_alice")]).await;
    assert_eq!(picker.status(), StatusCode::OK);
    let picker = text(picker).await;
    assert!(picker.contains("id=\"org-org_acme\""), "{picker}");
    assert!(picker.contains("id=\"org-org_globex\""), "{picker}");

    let response = post_sign_in(
        &sk,
        &[
            ("pending", &pending),
            ("user", "usr_alice"),
            ("organization", "org_globex"),
        ],
    )
    .await;
    let code = redirect_params(&response)["code"].clone();
    let (status, tokens) = exchange(&sk, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let (_, access) = decode(tokens["access_token"].as_str().expect("access token"));
    assert_eq!(access["oid"], "org_globex");
    assert_eq!(access["roles"], serde_json::json!(["member"]));
}

#[tokio::test]
async fn organization_id_selects_the_organization_unless_select_account_is_asked() {
    let sk = DevScalekit::start().await.expect("start");

    let code = code_for(&sk, "usr_alice", None, &[("organization_id", "org_acme")]).await;
    let (_, tokens) = exchange(&sk, &code, VERIFIER).await;
    let (_, id) = decode(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id["oid"], "org_acme");

    let page = text(
        get(&authorize_url(
            &sk,
            &[
                ("organization_id", "org_acme"),
                ("prompt", "select_account"),
            ],
        ))
        .await,
    )
    .await;
    let picker = post_sign_in(
        &sk,
        &[("pending", &pending_of(&page)), ("user", "usr_alice")],
    )
    .await;
    assert_eq!(picker.status(), StatusCode::OK);
    assert!(text(picker).await.contains("id=\"org-org_globex\""));
}

#[tokio::test]
async fn connection_id_routes_to_its_organization_and_unknown_ones_fail() {
    let sk = DevScalekit::start().await.expect("start");
    let code = code_for(
        &sk,
        "usr_alice",
        None,
        &[("connection_id", "conn_dev_org_globex")],
    )
    .await;
    let (_, tokens) = exchange(&sk, &code, VERIFIER).await;
    let (_, id) = decode(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id["oid"], "org_globex");
    assert_eq!(id["amr"], serde_json::json!(["conn_dev_org_globex"]));

    let response = get(&authorize_url(&sk, &[("connection_id", "conn_nope")])).await;
    assert_eq!(redirect_params(&response)["error"], "invalid_connection_id");
    let response = get(&authorize_url(&sk, &[("organization_id", "org_nope")])).await;
    assert_eq!(
        redirect_params(&response)["error"],
        "invalid_organization_id"
    );
}

#[tokio::test]
async fn a_non_member_of_the_requested_organization_is_denied() {
    let sk = DevScalekit::start().await.expect("start");
    let page = text(get(&authorize_url(&sk, &[("organization_id", "org_acme")])).await).await;
    let response = post_sign_in(&sk, &[("pending", &pending_of(&page)), ("user", "usr_bob")]).await;
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], STATE);
}

#[tokio::test]
async fn prompt_none_answers_login_required() {
    let sk = DevScalekit::start().await.expect("start");
    let response = get(&authorize_url(&sk, &[("prompt", "none")])).await;
    let params = redirect_params(&response);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], STATE);
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn invalid_parameters_are_redirected_as_invalid_request() {
    let sk = DevScalekit::start().await.expect("start");
    for overrides in [
        &[("prompt", "consent")][..],
        &[("scope", "profile email")],
        &[("response_type", "token")],
        &[("code_challenge_method", "plain")],
        &[("code_challenge", "short")],
    ] {
        let response = get(&authorize_url(&sk, overrides)).await;
        let params = redirect_params(&response);
        assert_eq!(params["error"], "invalid_request", "{overrides:?}");
        assert_eq!(params["state"], STATE);
        assert!(!params["error_description"].is_empty());
    }
}

#[tokio::test]
async fn unknown_client_or_redirect_uri_never_redirects() {
    let sk = DevScalekit::start_with(DevScalekitOptions {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..DevScalekitOptions::default()
    })
    .await
    .expect("start");
    for overrides in [
        &[("client_id", "skc_other")][..],
        &[("client_id", "")],
        &[("redirect_uri", "http://evil.test/api/callback")],
        &[("redirect_uri", "")],
    ] {
        let response = get(&authorize_url(&sk, overrides)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{overrides:?}");
        assert!(response.headers().get("location").is_none());
        assert!(text(response).await.contains("<html"));
    }
    let repeated = format!(
        "{}&redirect_uri=http%3A%2F%2Fevil.test%2F",
        authorize_url(&sk, &[])
    );
    assert_eq!(get(&repeated).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn garbage_input_gets_a_4xx_never_a_crash() {
    let sk = DevScalekit::start().await.expect("start");
    let url = sk.url();
    for path in [
        "/oauth/authorize",
        "/oauth/authorize?%ff%fe=%00&client_id=%E2%28%A1",
        "/oidc/logout?id_token_hint=a.b.c.d&post_logout_redirect_uri=%zz",
        "/oidc/logout?id_token_hint=...",
        "/dev/idp-initiated",
    ] {
        let status = get(&format!("{url}{path}")).await.status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    for body in ["", "pending", "\u{0}\u{1}%%%", "pending=&user="] {
        let response = client()
            .post(format!("{url}/dev/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body:?}");
    }
    let response = client()
        .post(format!("{url}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%&&==")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The server is still up.
    assert_eq!(jwks(&sk).await.len(), 1);
}

#[tokio::test]
async fn cancel_redirects_with_access_denied() {
    let sk = DevScalekit::start().await.expect("start");
    let page = text(get(&authorize_url(&sk, &[])).await).await;
    let response = post_sign_in(&sk, &[("pending", &pending_of(&page)), ("cancel", "1")]).await;
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], STATE);
}

#[tokio::test]
async fn a_pending_sign_in_is_single_use_and_bad_forms_get_400() {
    let sk = DevScalekit::start().await.expect("start");
    let page = text(get(&authorize_url(&sk, &[])).await).await;
    let pending = pending_of(&page);
    let first = post_sign_in(&sk, &[("pending", &pending), ("user", "usr_bob")]).await;
    assert_eq!(first.status(), StatusCode::FOUND);
    let again = post_sign_in(&sk, &[("pending", &pending), ("user", "usr_bob")]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    let page = text(get(&authorize_url(&sk, &[])).await).await;
    let pending = pending_of(&page);
    for form in [
        &[("pending", "nope"), ("user", "usr_bob")][..],
        &[("user", "usr_bob")],
        &[("pending", &pending), ("user", "usr_mallory")],
        &[
            ("pending", &pending),
            ("user", "usr_bob"),
            ("organization", "org_acme"),
        ],
    ] {
        let response = post_sign_in(&sk, form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{form:?}");
    }
}

#[tokio::test]
async fn login_hint_is_escaped_on_the_sign_in_page() {
    let sk = DevScalekit::start().await.expect("start");
    let hint = "<script>alert('x')</script>\"><img src=x>";
    let page = text(get(&authorize_url(&sk, &[("login_hint", hint)])).await).await;
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page
        .contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&gt;&lt;img src=x&gt;"));
}

#[tokio::test]
async fn login_hint_and_domain_narrow_the_users() {
    let sk = DevScalekit::start().await.expect("start");
    let page = text(get(&authorize_url(&sk, &[("login_hint", "Carol@acme.test")])).await).await;
    assert!(page.contains("id=\"user-usr_carol\""));
    assert!(!page.contains("id=\"user-usr_alice\""));

    let page = text(get(&authorize_url(&sk, &[("domain", "acme.test")])).await).await;
    assert!(page.contains("id=\"user-usr_carol\"") && page.contains("id=\"user-usr_alice\""));
    assert!(!page.contains("id=\"user-usr_bob\""));
}
