//! `/dev` helper pages: the demo directory and IdP-initiated login links.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{error_page, html, redirect, with_query, Params};
use crate::pages;
use crate::state::Shared;

pub(crate) async fn index(State(shared): State<Arc<Shared>>) -> Response {
    html(
        StatusCode::OK,
        pages::dev_index(&shared.client_id, &shared.redirect_uris),
    )
}

pub(crate) async fn idp_initiated(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or("").as_bytes());
    let Some(initiate_login_url) = params.get("initiate_login_url").filter(|uri| {
        url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
    }) else {
        return error_page(
            "Invalid request",
            "initiate_login_url must be an absolute http(s) URL.",
        );
    };
    let token = crate::mint_idp_initiated(
        &shared,
        params.get("organization_id"),
        params.get("connection_id"),
        params.get("login_hint"),
        params.get("relay_state"),
    );
    let Some(link) = with_query(initiate_login_url, &[("idp_initiated_login", Some(&token))])
    else {
        return error_page("Invalid request", "initiate_login_url is invalid.");
    };
    if params.get("go") == Some("1") {
        redirect(&link)
    } else {
        html(StatusCode::OK, pages::idp_initiated_link(&link))
    }
}
