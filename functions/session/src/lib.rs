//! `GET /api/session`: the signed-in user as JSON, or `401 {"error":"unauthenticated"}`.
//!
//! The access-token cookie is verified locally (cached signing keys, no call to Scalekit); when it
//! has expired the session's refresh token gets new tokens and a new `accessToken` cookie.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::config::Needs;
use shared::http;
use shared::session::{authenticate, Refresh, SessionError};
use shared::{failures, App};

/// Reads sessions and may refresh them.
pub const NEEDS: Needs = Needs {
    client_secret: true,
    session_table: true,
    signing_keys: true,
    ..Needs::NONE
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match authenticate(app, &req, Refresh::IfNeeded).await {
        Ok(signed_in) => {
            let mut response = http::json(
                StatusCode::OK,
                &json!({
                    "user": signed_in.user,
                    "organizationId": signed_in.access.organization_id,
                    "roles": signed_in.access.roles,
                    "permissions": signed_in.access.permissions,
                    "scopes": signed_in.access.scopes,
                    "accessTokenExpiresAt": signed_in.access.expires_at,
                }),
            );
            signed_in.apply_cookies(&mut response);
            response
        }
        Err(error) => {
            let mut response = match &error {
                // The seed's answer, without a description.
                SessionError::SignedOut => http::json(
                    failures::SIGNED_OUT.status,
                    &json!({"error": failures::SIGNED_OUT.code}),
                ),
                SessionError::Unavailable(cause) => {
                    let api = failures::session_unavailable(cause);
                    http::json(
                        api.status,
                        &json!({"error": api.code, "error_description": api.message}),
                    )
                }
            };
            error.apply_cookies(&mut response);
            response
        }
    }
}
