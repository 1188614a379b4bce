//! `GET /api/callback`: finishes the login Scalekit redirected back from.
//!
//! Order matters: the `state` is checked against this browser's transaction cookie before
//! anything reaches Scalekit; then the code is exchanged with the PKCE verifier, the ID token is
//! fully verified (nonce included), and only then is a session written and its cookies set.

use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http::{self, query_param, ApiError};
use shared::metrics::{self, Count};
use shared::redacted::{AuthorizationCode, SessionId};
use shared::scalekit::{unix_now, CodeTokens};
use shared::secret_cache::Unsealed;
use shared::session::cookies::{access_token_cookie, build_cookie, expired_cookie, SESSION_COOKIE};
use shared::session::{
    new_session_id, session_key, transaction_cookie_name, SessionRecord, Transaction,
    TransactionError,
};
use shared::token_calls::{with_client_secret, TokenCallError};
use shared::{failures, App};

/// The callback exchanges codes and writes sessions.
pub const NEEDS: Needs = Needs {
    client_secret: true,
    session_table: true,
    signing_keys: true,
    ..Needs::NONE
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let state = query_param(&req, "state").ok().flatten();
    match callback(app, &req, state.as_deref()).await {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(outcome = "callback_refused", code = error.code);
            metrics::refusal(Count::Logins, &error);
            let mut response = error.to_response(&req);
            if let Some(state) = state {
                // The transaction is spent whatever went wrong: a retry must start a new login.
                http::set_cookie(
                    &mut response,
                    &expired_cookie(&transaction_cookie_name(&state)),
                );
            }
            response
        }
    }
}

async fn callback(
    app: &App,
    req: &Request,
    state: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    if let Some(error) = query_param(req, "error")? {
        return Err(failures::idp_redirect_error(&error));
    }
    if let (Some(token), None) = (
        query_param(req, "idp_initiated_login")?,
        query_param(req, "code")?,
    ) {
        // Older Scalekit set-ups deliver IdP-initiated logins to the redirect URI.
        let mut url = String::from("/api/login?idp_initiated_login=");
        url.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
        return Ok(http::redirect(&url));
    }
    let (Some(state), Some(code)) = (state, query_param(req, "code")?) else {
        return Err(failures::CALLBACK_INCOMPLETE);
    };
    let cookies = http::request_cookies(req);
    let opened = app
        .session_keys
        .unseal(|keys| {
            let opened = Transaction::from_cookies(&cookies, state, &keys.transaction, unix_now());
            let unknown = matches!(opened, Err(TransactionError::UnknownKey));
            std::future::ready((!unknown).then_some(opened))
        })
        .await
        .map_err(|e| failures::secrets(&e))?;
    let (transaction, keys) = match opened {
        Unsealed::Opened(transaction, keys) => {
            (transaction.map_err(|e| failures::transaction(&e))?, keys)
        }
        Unsealed::UnknownKey { fresh: false } => return Err(failures::secret_rotating()),
        Unsealed::UnknownKey { fresh: true } => {
            return Err(failures::transaction(&TransactionError::Unreadable))
        }
    };

    let origin = http::require_origin(req, &app.config.app_origins)?;
    let redirect_uri = format!("{origin}/api/callback");
    let tokens = exchange(
        app,
        &AuthorizationCode::new(code),
        &redirect_uri,
        &transaction,
    )
    .await?;
    let id_token = &tokens.id_token;
    let claims = app
        .scalekit
        .verify_id_token(id_token, Some(&transaction.secrets.nonce))
        .await
        .map_err(|e| failures::token(&e))?;

    let sessions = app.sessions();
    let session_id = new_session_id();
    let user_agent = req
        .headers()
        .get(lambda_http::http::header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok());
    let record = SessionRecord::new_login(
        &session_id,
        &claims,
        &tokens,
        user_agent,
        unix_now(),
        app.session_lifetime_secs(),
    );
    sessions
        .create(&record, &keys.tokens, app.idle_timeout_secs())
        .await
        .map_err(|e| failures::store(&e))?;
    end_previous_session(app, req).await;
    metrics::count(Count::Logins, "completed", None);
    tracing::info!(outcome = "session_created", user = %claims.user.id, organization = claims.user.organization_id.as_deref());

    let destination = transaction
        .return_to
        .as_deref()
        .unwrap_or(&app.config.post_login_redirect);
    let mut response = http::redirect(destination);
    http::set_cookie(
        &mut response,
        &session_cookie(&session_id, app.session_lifetime_secs()),
    );
    http::set_cookie(
        &mut response,
        &access_token_cookie(tokens.access_token.secret(), tokens.expires_in as i64),
    );
    http::set_cookie(
        &mut response,
        &expired_cookie(&transaction_cookie_name(state)),
    );
    Ok(response)
}

fn session_cookie(id: &SessionId, lifetime_secs: i64) -> cookie::Cookie<'static> {
    build_cookie(SESSION_COOKIE, id.secret(), lifetime_secs)
}

/// Exchanges the code (re-reading a rotated client secret once, see [`with_client_secret`]).
async fn exchange(
    app: &App,
    code: &AuthorizationCode,
    redirect_uri: &str,
    transaction: &Transaction,
) -> Result<CodeTokens, ApiError> {
    let secrets = app.client_secret();
    let verifier = &transaction.secrets.pkce_verifier;
    with_client_secret(secrets, |secret| async move {
        app.scalekit
            .exchange_code(&secret, code, redirect_uri, verifier)
            .await
    })
    .await
    .map_err(|error| match error {
        TokenCallError::Secret(e) => failures::secrets(&e),
        TokenCallError::Idp(e) => failures::idp(&e),
    })
}

/// A new login replaces the browser's previous session (organization switch, re-login): its
/// record is deleted so it cannot be used again. Best effort: the new session is already stored.
async fn end_previous_session(app: &App, req: &Request) {
    let (Some(previous), Some(sessions)) =
        (http::request_cookie(req, SESSION_COOKIE), &app.sessions)
    else {
        return;
    };
    let key = session_key(&SessionId::new(previous));
    if let Err(error) = sessions.delete(&key).await {
        tracing::warn!(%error, "previous session not deleted");
    }
}
