//! `GET` and `POST /api/logout`: ends the session here (record deleted, every cookie expired) and
//! at Scalekit (302 to `ENV/oidc/logout` with `id_token_hint` and an absolute
//! `post_logout_redirect_uri`). Works when the session is already gone.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http::{self, ApiError};
use shared::redacted::{IdToken, SessionId};
use shared::session::cookies::{sign_out_browser, SESSION_COOKIE};
use shared::session::{session_key, StoreError};
use shared::{failures, App};

/// Reads and deletes sessions; never calls the token endpoint.
pub const NEEDS: Needs = Needs {
    client_secret: false,
    session_table: true,
    ..Needs::NONE
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let origin = match http::require_origin(&req, &app.config.app_origins) {
        Ok(origin) => origin,
        Err(error) => return error.to_response(&req),
    };
    if req.method() == Method::POST {
        if let Err(error) = http::refuse_cross_site(&req, &origin) {
            return error.to_response(&req);
        }
    } else if http::is_cross_site(&req, &origin) {
        // A link on another site: ending the session (and Clear-Site-Data, which wipes the
        // cookies of every app on the registrable domain) takes the user's own click here.
        tracing::info!(outcome = "logout_confirmation", reason = "cross-site GET");
        return http::html_with_form_targets(
            StatusCode::OK,
            confirmation_page(),
            &[app.scalekit.environment_url()],
        );
    }
    let id_token = match end_local_session(app, &req).await {
        Ok(id_token) => id_token,
        // The record may live on: the browser keeps its cookies so that it can try again.
        Err(error) => return logout_failed(&req, app, &failures::logout_failed(&error)),
    };
    let after = post_logout_url(&origin, &app.config.post_logout_redirect);
    tracing::info!(outcome = "logged_out", had_session = id_token.is_some());
    let mut response = http::redirect(&app.scalekit.logout_url(
        id_token.as_ref(),
        Some(&after),
        None,
    ));
    sign_out_browser(&mut response);
    response
}

/// Deletes the session record, returning its ID token for Scalekit's logout.
async fn end_local_session(app: &App, req: &Request) -> Result<Option<IdToken>, ApiError> {
    let Some(session_id) = http::request_cookie(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let sessions = app.sessions();
    let keys = app
        .session_keys
        .get()
        .await
        .map_err(|e| failures::secrets(&e))?;
    let record_key = session_key(&SessionId::new(session_id));
    let id_token = match sessions.load(&record_key, &keys.tokens).await {
        Ok(record) => record.map(|r| r.id_token),
        Err(StoreError::Corrupt(_)) => None,
        Err(error) => return Err(failures::store(&error)),
    };
    sessions
        .delete(&record_key)
        .await
        .map_err(|e| failures::store(&e))?;
    Ok(id_token)
}

/// Asks the user to confirm a sign-out that a link on another site started.
fn confirmation_page() -> String {
    sign_out_page(
        "Sign out?",
        "A link on another site asked to sign you out. You are still signed in.",
        "Sign out",
    )
}

/// The failed logout: a browser gets a page whose button posts the logout again.
fn logout_failed(req: &Request, app: &App, error: &ApiError) -> Response<Body> {
    if !http::wants_html(req) {
        return error.to_response(req);
    }
    http::html_with_form_targets(
        error.status,
        sign_out_page("You are still signed in", error.message, "Try again"),
        &[app.scalekit.environment_url()],
    )
}

/// A small page with one same-site POST to `/api/logout`; `text` is static, never input.
fn sign_out_page(heading: &str, text: &str, button: &str) -> String {
    let [escaped_heading, text, button] = [heading, text, button].map(http::escape_html);
    http::page(
        heading,
        &format!(
            concat!(
                r#"<h1>{heading}</h1><p>{text}</p>"#,
                r#"<form method="post" action="/api/logout"><button type="submit" id="sign-out">{button}</button></form>"#
            ),
            heading = escaped_heading,
            text = text,
            button = button
        ),
    )
}

/// `POST_LOGOUT_REDIRECT` made absolute: Scalekit requires an absolute, registered URL.
fn post_logout_url(origin: &str, configured: &str) -> String {
    if configured.starts_with('/') {
        format!("{origin}{configured}")
    } else {
        configured.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_post_logout_redirects_are_made_absolute() {
        assert_eq!(
            post_logout_url("https://app.example.com", "/"),
            "https://app.example.com/"
        );
        assert_eq!(
            post_logout_url("https://a.b", "https://c.d/bye"),
            "https://c.d/bye"
        );
    }
}
