//! `POST /api/refresh`: rotates the current session's tokens now. 204 with the new
//! `accessToken` cookie, or 401. Cross-site POSTs are refused.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http::{self, ApiError};
use shared::session::{authenticate, Refresh, SessionError};
use shared::App;

/// Reads and rotates sessions.
pub const NEEDS: Needs = Needs {
    client_secret: true,
    session_table: true,
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if let Some(response) = http::reject_oversized(&req) {
        return response;
    }
    if req.method() != Method::POST {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Use POST.",
        )
        .to_response(&req);
    }
    let same_site = http::require_origin(&req, app.config.app_base_url.as_deref())
        .and_then(|origin| http::refuse_cross_site(&req, &origin));
    if let Err(error) = same_site {
        return error.to_response(&req);
    }
    match authenticate(app, &req, Refresh::Now).await {
        Ok(signed_in) => {
            let mut response = http::no_content();
            signed_in.apply_cookies(&mut response);
            response
        }
        Err(error) => {
            let api = match &error {
                SessionError::SignedOut => {
                    ApiError::unauthorized("unauthenticated", "You are not signed in.")
                }
                SessionError::Unavailable(api) => api.clone(),
            };
            let mut response = api.to_response(&req);
            error.apply_cookies(&mut response);
            response
        }
    }
}
