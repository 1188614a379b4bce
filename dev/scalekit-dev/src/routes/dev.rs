//! `/dev` helper pages: the demo directory, the active sign-ins (which can be ended at the IdP)
//! and IdP-initiated login links.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{error_page, html, redirect, with_query, Params};
use crate::pages::{self, Receivers};
use crate::state::Shared;
use crate::{delivery, sessions};

fn receivers(shared: &Shared) -> Receivers<'_> {
    Receivers {
        backchannel_logout_uri: shared.backchannel_logout_uri.as_deref(),
        webhook_url: shared.webhook_url.as_deref(),
    }
}

pub(crate) async fn index(State(shared): State<Arc<Shared>>) -> Response {
    let sign_ins = shared.state().sign_ins.clone();
    html(
        StatusCode::OK,
        pages::dev_index(
            &shared.client_id,
            &shared.redirect_uris,
            &sign_ins,
            &receivers(&shared),
        ),
    )
}

/// `POST /dev/sign-ins/{session_id}/end`: ends the sign-in at the IdP, delivers the logout token
/// and the webhook, and shows what happened.
pub(crate) async fn end_sign_in(
    State(shared): State<Arc<Shared>>,
    Path(session_id): Path<String>,
) -> Response {
    let Some(ended) = sessions::end_sign_in(&shared, &session_id) else {
        return html(
            StatusCode::NOT_FOUND,
            pages::error(
                "Unknown sign-in",
                "This sign-in has already ended, or never existed.",
            ),
        );
    };
    let delivery = delivery::deliver(&shared, &ended).await;
    html(
        StatusCode::OK,
        pages::sign_in_ended(&ended, &delivery, &receivers(&shared)),
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
