//! `GET /api/login`: starts the authorization-code flow (also Scalekit's *Initiate Login URL*).
//!
//! Generates a fresh `state`, `nonce` and PKCE verifier, seals them into a per-login cookie and
//! redirects to Scalekit. Routing parameters are validated and passed on; an `idp_initiated_login`
//! token is verified and turned into a fresh SP-initiated login. No network call on a warm start.

mod params;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http::{self, ApiError};
use shared::metrics::{self, Count};
use shared::scalekit::{pkce_challenge, unix_now, AuthorizationRequest, AuthorizationSecrets};
use shared::session::cookies::{expired_cookie, SESSION_COOKIE};
use shared::session::{transactions_to_evict, Transaction};
use shared::{failures, App};

pub use params::LoginParams;

/// Login seals the transaction with the session secret and never calls the token endpoint.
pub const NEEDS: Needs = Needs {
    client_secret: false,
    session_table: false,
    ..Needs::NONE
};

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match login(app, &req).await {
        Ok(response) => {
            // A redirect to Scalekit starts a login; a confirmation page (a cross-site link in a
            // signed-in browser) only asks.
            let outcome = if response.status().is_redirection() {
                "started"
            } else {
                "confirmation_asked"
            };
            metrics::count(Count::Logins, outcome, None);
            response
        }
        Err(error) => {
            tracing::info!(outcome = "login_refused", code = error.code);
            metrics::refusal(Count::Logins, &error);
            error.to_response(&req)
        }
    }
}

async fn login(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let mut params = LoginParams::from_request(req)?;
    if let Some(code) = &params.error {
        // Scalekit can send errors to the initiate-login URL too.
        return Err(failures::idp_redirect_error(code));
    }
    let origin = http::require_origin(req, &app.config.app_origins)?;
    if http::is_cross_site(req, &origin) && http::request_cookie(req, SESSION_COOKIE).is_some() {
        // Another site started this login in a browser that is signed in here: with an IdP that
        // signs in without a prompt, it would replace the user's session with another account's
        // (login CSRF). The user's own click on this same-site form goes on.
        tracing::info!(
            outcome = "login_confirmation",
            reason = "cross-site while signed in"
        );
        return Ok(http::html_with_form_targets(
            StatusCode::OK,
            confirmation_page(&params, &app.config.post_login_redirect),
            &[app.scalekit.environment_url()],
        ));
    }
    if let Some(token) = params.idp_initiated_login.take() {
        match app.scalekit.verify_idp_initiated_login(&token).await {
            Ok(claims) => params.apply_idp_initiated(claims),
            Err(reason) => tracing::warn!(%reason, "ignoring invalid idp_initiated_login"),
        }
    }
    let keys = app
        .session_keys
        .get()
        .await
        .map_err(|e| failures::secrets(&e))?;

    let transaction = Transaction {
        secrets: AuthorizationSecrets::new_random(),
        return_to: params.return_to.clone(),
        created_at: unix_now(),
    };
    let challenge = pkce_challenge(&transaction.secrets.pkce_verifier);
    let url = app.scalekit.authorization_url(
        &format!("{origin}/api/callback"),
        &AuthorizationRequest {
            scopes: &[],
            state: Some(transaction.secrets.state.secret()),
            nonce: Some(transaction.secrets.nonce.secret()),
            login_hint: params.login_hint.as_deref(),
            domain_hint: params.domain_hint.as_deref(),
            connection_id: params.connection_id.as_deref(),
            organization_id: params.organization_id.as_deref(),
            code_challenge: Some(&challenge),
            provider: params.provider.as_deref(),
            prompt: params.prompt,
        },
    );
    let mut response = http::redirect(&url);
    for name in transactions_to_evict(
        &http::request_cookies(req),
        &keys.transaction,
        transaction.created_at,
    ) {
        http::set_cookie(&mut response, &expired_cookie(name));
    }
    http::set_cookie(&mut response, &transaction.to_cookie(&keys.transaction));
    tracing::info!(
        outcome = "login_started",
        organization = params.organization_id.as_deref(),
        connection = params.connection_id.as_deref()
    );
    Ok(response)
}

/// A page whose one form repeats this login as a same-site request, and a link back to the app
/// (`POST_LOGIN_REDIRECT`); every value is escaped.
fn confirmation_page(params: &LoginParams, stay: &str) -> String {
    let fields: String = params
        .to_query_pairs()
        .into_iter()
        .map(|(name, value)| {
            format!(
                r#"<input type="hidden" name="{name}" value="{}">"#,
                http::escape_html(value)
            )
        })
        .collect();
    http::page(
        "Sign in again?",
        &format!(
            concat!(
                r#"<h1>Sign in again?</h1><p>You are already signed in. A link on another site asked "#,
                r#"to start a new sign-in, which may switch you to another account.</p>"#,
                r#"<form method="get" action="/api/login">{fields}"#,
                r#"<button type="submit" id="continue-sign-in">Continue to sign in</button></form>"#,
                r#"<p><a href="{stay}">Stay signed in</a></p>"#
            ),
            fields = fields,
            stay = http::escape_html(stay)
        ),
    )
}
