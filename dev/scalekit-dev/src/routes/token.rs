//! `POST /oauth/token`: authorization_code, refresh_token and client_credentials grants,
//! client_secret_post. Redeeming a code starts a sign-in at the IdP.

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{endless_json, json_response, oauth_error, Params};
use crate::jwt::b64;
use crate::state::{now, Shared};
use crate::tokens::{client_credentials_response, new_refresh_token, token_response};
use crate::Endpoint;

pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let slow = shared.state().faults.token_slow_response;
    let response = answer(&shared, &headers, &body).await;
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    response
}

async fn answer(shared: &Arc<Shared>, headers: &HeaderMap, body: &Bytes) -> Response {
    shared.count(Endpoint::Token);
    let faults = shared.state().faults.clone();
    if let Some(delay) = faults.token_delay {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, body)) = &faults.token_status {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_response(status, body);
    }
    if faults.token_endless_body {
        return endless_json("{\"access_token\":\"");
    }
    if faults.token_not_json {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>oops</html>",
        )
            .into_response();
    }

    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return invalid_request("the body must be application/x-www-form-urlencoded");
    }
    let form = Params::parse(body);
    if form.repeated().is_some() {
        return invalid_request("a parameter was repeated");
    }
    if !client_authenticated(shared, &form) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    match form.get("grant_type") {
        Some("authorization_code") => authorization_code(shared, &form),
        Some("refresh_token") => refresh_token(shared, &form),
        Some("client_credentials") => {
            let body = client_credentials_response(shared, &mut shared.state());
            json_response(StatusCode::OK, &body)
        }
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials",
        ),
        None => invalid_request("grant_type is required"),
    }
}

fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn client_authenticated(shared: &Shared, form: &Params) -> bool {
    let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret")) else {
        return false;
    };
    let expected = shared.state().client_secret;
    id == shared.client_id
        && verify_slices_are_equal(secret.as_bytes(), expected.as_bytes()).is_ok()
}

fn authorization_code(shared: &Shared, form: &Params) -> Response {
    let Some(code) = form.get("code") else {
        return invalid_request("code is required");
    };
    let mut st = shared.state();
    // The code is spent by the first attempt, successful or not.
    let Some(issued) = st.codes.remove(code) else {
        if let Some(session) = st.used_codes.get(code).cloned() {
            st.end_sign_ins(|s| s.session_id == session);
            st.revoke_session(&session);
            return invalid_grant("the authorization code was already used");
        }
        return invalid_grant("the authorization code is invalid or expired");
    };
    st.used_codes
        .insert(code.to_owned(), issued.grant.session_id.clone());
    if now() >= issued.expires_at {
        return invalid_grant("the authorization code expired");
    }
    if form.get("redirect_uri") != Some(issued.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri does not match the authorization request");
    }
    match (&issued.code_challenge, form.get("code_verifier")) {
        (None, None) => {}
        (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => {}
        (Some(_), Some(_)) => return invalid_grant("code_verifier does not match code_challenge"),
        (Some(_), None) => return invalid_grant("code_verifier is required"),
        // OAuth 2.0 Security BCP §2.1.1: a verifier without a challenge is a PKCE downgrade.
        (None, Some(_)) => {
            return invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            )
        }
    }
    let offline = issued.grant.scope.split(' ').any(|s| s == "offline_access");
    st.start_sign_in(&issued.grant, now());
    let body = token_response(shared, &mut st, &issued.grant, offline);
    json_response(StatusCode::OK, &body)
}

/// RFC 7636 §4.1 verifier syntax, then §4.6 S256 comparison.
fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = b64(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    well_formed && verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

fn refresh_token(shared: &Shared, form: &Params) -> Response {
    let Some(token) = form.get("refresh_token") else {
        return invalid_request("refresh_token is required");
    };
    let mut st = shared.state();
    let grant = match st.refresh_tokens.get_mut(token) {
        None => return invalid_grant("the refresh token is invalid or revoked"),
        Some(stored) if stored.used => return invalid_grant("the refresh token was already used"),
        Some(stored) => {
            // Rotation without a grace period: this token is spent now.
            stored.used = true;
            stored.grant.clone()
        }
    };
    let mut body: Value = token_response(shared, &mut st, &grant, false);
    body["refresh_token"] = Value::String(new_refresh_token(&mut st, &grant));
    json_response(StatusCode::OK, &body)
}
