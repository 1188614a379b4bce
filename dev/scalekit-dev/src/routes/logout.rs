//! `GET /oidc/logout`: RP-initiated logout.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{error_page, html, redirect, with_query, Params};
use crate::jwt::verify_rs256;
use crate::pages;
use crate::state::Shared;
use crate::Endpoint;

pub(crate) async fn logout(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    shared.count(Endpoint::Logout);
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes());
    if params.repeated().is_some() {
        return error_page("Invalid logout request", "A parameter was repeated.");
    }
    let post_logout = params.get("post_logout_redirect_uri");
    if let Some(uri) = post_logout {
        let absolute_http = url::Url::parse(uri)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        if !absolute_http {
            return error_page(
                "Invalid logout request",
                "post_logout_redirect_uri must be an absolute http(s) URL.",
            );
        }
    }
    if let Some(hint) = params.get("id_token_hint") {
        let keys = shared.state().keys.clone();
        // An expired ID token is a normal hint at logout, so only the signature is checked.
        let Ok(claims) = verify_rs256(hint, keys.iter().map(|k| k.as_ref())) else {
            return error_page(
                "Invalid logout request",
                "id_token_hint was not issued by this environment.",
            );
        };
        // The Scalekit session ends, and as Scalekit does for every logout, whoever initiated
        // it, the apps hear of it: a back-channel logout token and a user.logout webhook, sent
        // in the background (the browser is not kept waiting for them).
        if let Some(ended) = claims["sid"]
            .as_str()
            .and_then(|sid| crate::sessions::end_sign_in(&shared, sid))
        {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                crate::delivery::deliver(&shared, &ended).await;
            });
        }
    }
    match post_logout {
        Some(uri) => match with_query(uri, &[("state", params.get("state"))]) {
            Some(location) => redirect(&location),
            None => error_page(
                "Invalid logout request",
                "post_logout_redirect_uri is invalid.",
            ),
        },
        None => html(StatusCode::OK, pages::signed_out()),
    }
}
