//! `POST /api/refresh`: rotates the current session's tokens now. 204 with the new
//! `accessToken` cookie, or 401. Cross-site POSTs are refused.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http;
use shared::session::{authenticate, Refresh};
use shared::{failures, App};

/// Reads and rotates sessions.
pub const NEEDS: Needs = Needs {
    client_secret: true,
    session_table: true,
    signing_keys: true,
    ..Needs::NONE
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if req.method() != Method::POST {
        return failures::POST_ONLY.to_response(&req);
    }
    let same_site = http::require_origin(&req, &app.config.app_origins)
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
        Err(error) => error.to_response(&req),
    }
}
