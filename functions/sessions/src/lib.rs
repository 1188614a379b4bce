//! The signed-in user's own sessions (devices), for the profile page and the user's own tools:
//!
//! - `GET /api/sessions`: `200 {"sessions": [{"id", "current", "createdAt", "lastSeenAt",
//!   "organizationId", "organizationName", "userAgent", "device"}]}`, newest first (the name when
//!   Scalekit's Organizations API gives one); `id` is an opaque handle (never the
//!   cookie value or the table key);
//! - `DELETE /api/sessions/{id}`: ends one of the caller's sessions (`204`; a handle that is not
//!   the caller's: `404`, and nothing changes); ending the current one signs this browser out;
//! - `DELETE /api/sessions`: ends every other session of the user here, asks Scalekit to revoke
//!   every session of the user (a client-credentials token, the client-secret rotation retry),
//!   then ends this one too (`204`, this browser signed out). If Scalekit fails, the other
//!   devices are signed out here all the same, this browser stays signed in and the answer says
//!   Scalekit failed (`502`/`504`): try again.
//!
//! Same-site only: a cross-site request gets `403 cross_site_request`.

mod device;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};
use shared::config::Needs;
use shared::http::{self, ApiError};
use shared::scalekit::unix_now;
use shared::session::cookies::sign_out_browser;
use shared::session::{
    authenticate, end_sessions, session_of, sessions_of, Ending, Refresh, SessionError,
    SessionRecord, SignedIn, Unavailable,
};
use shared::token_calls::{organization_names, with_client_secret, TokenCallError};
use shared::{failures, App};

/// Reads and ends sessions; calls Scalekit's Sessions API with the client secret.
pub const NEEDS: Needs = Needs {
    client_secret: true,
    session_table: true,
    signing_keys: true,
    ..Needs::NONE
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match answer(app, &req).await {
        Ok(response) => response,
        Err(Failed::Api(error)) => error.to_response(&req),
        Err(Failed::Session(error)) => error.to_response(&req),
    }
}

enum Failed {
    Api(ApiError),
    Session(SessionError),
}

impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

async fn answer(app: &App, req: &Request) -> Result<Response<Body>, Failed> {
    let origin = http::require_origin(req, &app.config.app_origins)?;
    http::refuse_cross_site(req, &origin)?;
    let handle = req
        .path_parameters_ref()
        .and_then(|params| params.first("id"))
        .map(str::to_owned);
    let method = req.method().clone();
    if !matches!(method, Method::GET | Method::DELETE)
        || (method == Method::GET && handle.is_some())
    {
        return Err(failures::METHOD_NOT_ALLOWED.into());
    }
    let signed_in = authenticate(app, req, Refresh::IfNeeded)
        .await
        .map_err(Failed::Session)?;
    let mut response = match (method, handle) {
        (Method::GET, _) => list(app, &signed_in).await?,
        (_, Some(handle)) => end_one(app, &signed_in, &handle).await?,
        (_, None) => end_all(app, &signed_in).await?,
    };
    signed_in.apply_cookies(&mut response);
    Ok(response)
}

fn unavailable(cause: shared::session::Unavailable) -> Failed {
    Failed::Api(failures::session_unavailable(&cause))
}

async fn list(app: &App, signed_in: &SignedIn) -> Result<Response<Body>, Failed> {
    let sessions = sessions_of(app, &signed_in.record.user_id, unix_now())
        .await
        .map_err(unavailable)?;
    let names = organization_names(
        app,
        sessions.iter().filter_map(|r| r.organization_id.as_deref()),
    )
    .await;
    let listed: Vec<Value> = sessions
        .iter()
        .map(|record| {
            let name = record
                .organization_id
                .as_deref()
                .and_then(|id| names.get(id).cloned().flatten());
            describe(record, name, record.key == signed_in.record.key)
        })
        .collect();
    Ok(http::json(StatusCode::OK, &json!({ "sessions": listed })))
}

fn describe(record: &SessionRecord, organization_name: Option<String>, current: bool) -> Value {
    json!({
        "id": record.handle(),
        "current": current,
        "createdAt": record.created_at,
        "lastSeenAt": record.last_seen_at,
        "organizationId": record.organization_id,
        "organizationName": organization_name,
        "userAgent": record.user_agent,
        "device": device::describe(record.user_agent.as_deref()),
    })
}

async fn end_one(app: &App, signed_in: &SignedIn, handle: &str) -> Result<Response<Body>, Failed> {
    let record = session_of(app, &signed_in.record.user_id, handle, unix_now())
        .await
        .map_err(unavailable)?;
    let Some(record) = record else {
        return Err(failures::SESSION_NOT_FOUND.into());
    };
    app.sessions()
        .delete(&record.key)
        .await
        .map_err(|e| Failed::Api(failures::store(&e)))?;
    let current = record.key == signed_in.record.key;
    tracing::info!(outcome = "session_ended_by_user", current);
    let mut response = http::no_content();
    if current {
        sign_out_browser(&mut response);
    }
    Ok(response)
}

async fn end_all(app: &App, signed_in: &SignedIn) -> Result<Response<Body>, Failed> {
    let user_id = &signed_in.record.user_id;
    // The other devices lose their sessions here at once, whatever Scalekit's state (while
    // Scalekit has not revoked, one could still sign in again through Scalekit's session); this
    // browser's stays until Scalekit has revoked too, so that the user can try again.
    let others = Ending::UserExcept {
        user_id: user_id.clone(),
        kept: signed_in.record.key.clone(),
    };
    let ended_first = end_sessions(app, &others).await.map_err(unavailable)?;
    let revoked = with_client_secret(app.client_secret(), |secret| async move {
        app.scalekit.revoke_user_sessions(&secret, user_id).await
    })
    .await
    .map_err(|error| {
        tracing::warn!(
            outcome = "signed_out_everywhere_here_only",
            ended = ended_first
        );
        Failed::Api(match error {
            TokenCallError::Secret(e) => failures::secrets(&e),
            TokenCallError::Idp(e) => failures::idp(&e),
        })
    })?;
    // This session by its key: the index may not show a session made moments ago.
    app.sessions()
        .delete(&signed_in.record.key)
        .await
        .map_err(|error| unavailable(Unavailable::Store(error)))?;
    let ended = ended_first + 1;
    tracing::info!(
        outcome = "signed_out_everywhere",
        ended,
        revoked_at_scalekit = revoked
    );
    let mut response = http::no_content();
    sign_out_browser(&mut response);
    Ok(response)
}
