//! `GET` and `POST /api/logout`: ends the session here (record deleted, every cookie expired) and
//! at Scalekit (302 to `ENV/oidc/logout` with `id_token_hint` and an absolute
//! `post_logout_redirect_uri`). Works when the session is already gone.

use lambda_http::http::{HeaderValue, Method};
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http::{self, ApiError};
use shared::secret::{IdToken, SessionId};
use shared::session::cookies::{session_cookie_removals, SESSION_COOKIE};
use shared::session::{session_key, StoreError};
use shared::{failures, App};

/// Reads and deletes sessions; never calls the token endpoint.
pub const NEEDS: Needs = Needs {
    client_secret: false,
    session_table: true,
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if let Err(error) = http::check_size(&req) {
        return error.to_response(&req);
    }
    let origin = match http::require_origin(&req, app.config.app_base_url.as_deref()) {
        Ok(origin) => origin,
        Err(error) => return error.to_response(&req),
    };
    if req.method() == Method::POST {
        if let Err(error) = http::refuse_cross_site(&req, &origin) {
            return error.to_response(&req);
        }
    }
    let mut response = match end_local_session(app, &req).await {
        Ok(id_token) => {
            let after = post_logout_url(&origin, &app.config.post_logout_redirect);
            tracing::info!(outcome = "logged_out", had_session = id_token.is_some());
            http::redirect(
                &app.scalekit
                    .logout_url(id_token.as_ref(), Some(&after), None),
            )
        }
        Err(error) => error.to_response(&req),
    };
    // The browser forgets the session either way.
    for cookie in session_cookie_removals() {
        http::set_cookie(&mut response, &cookie);
    }
    response
        .headers_mut()
        .insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
    response
}

/// Deletes the session record, returning its ID token for Scalekit's logout.
async fn end_local_session(app: &App, req: &Request) -> Result<Option<IdToken>, ApiError> {
    let Some(session_id) = http::request_cookie(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let sessions = app
        .sessions
        .as_ref()
        .expect("NEEDS.session_table builds the store");
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
