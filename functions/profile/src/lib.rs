//! `GET /dashboard/profile`: the page the seed lands on after login. Server-rendered, every
//! dynamic value escaped; signed-out visitors are sent to sign in and brought back here.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http::{self, escape_html, PagePolicy};
use shared::session::{authenticate, Refresh, SessionError, SignedIn};
use shared::{failures, App};

/// Reads sessions and may refresh them.
pub const NEEDS: Needs = Needs {
    client_secret: true,
    session_table: true,
    signing_keys: true,
    ..Needs::NONE
};

/// Where a signed-out visitor goes.
pub const LOGIN_REDIRECT: &str = "/api/login?return_to=/dashboard/profile";

/// Handles one request. Expected failures are responses, never `Err`.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    match authenticate(app, &req, Refresh::IfNeeded).await {
        Ok(signed_in) => {
            let nonce = http::script_nonce();
            let policy = PagePolicy {
                // Sign-out posts to /api/logout, which redirects to Scalekit's logout.
                form_targets: &[app.scalekit.environment_url()],
                script_nonce: Some(&nonce),
            };
            let page = render(&signed_in, &nonce);
            let mut response = http::html_with_policy(StatusCode::OK, page, &policy);
            signed_in.apply_cookies(&mut response);
            response
        }
        Err(error) => {
            let mut response = match &error {
                SessionError::SignedOut => http::redirect(LOGIN_REDIRECT),
                SessionError::Unavailable(cause) => {
                    let api = failures::session_unavailable(cause);
                    http::html(api.status, http::error_page(api.code, api.message))
                }
            };
            error.apply_cookies(&mut response);
            response
        }
    }
}

fn row(label: &str, id: &str, value: Option<&str>) -> String {
    let value = value.filter(|v| !v.is_empty()).unwrap_or("—");
    format!(
        "<tr><th>{label}</th><td id=\"{id}\">{}</td></tr>",
        escape_html(value)
    )
}

/// The "Call the API" panel: the example backend's routes behind the authorizer, called from
/// the browser with its session cookie, as a team's own pages would call their routes.
const API_PANEL: &str = "<section id=\"api-panel\"><h2>Call the API</h2>\
    <p>Your own routes behind the authorizer: <code>/api/me</code> for anyone signed in, \
    <code>/api/admin</code> for the role <code>admin</code>.</p>\
    <p><button type=\"button\" id=\"call-me\" data-call=\"/api/me\" data-out=\"me-result\">GET /api/me</button>\
    <button type=\"button\" id=\"call-admin\" data-call=\"/api/admin\" data-out=\"admin-result\">GET /api/admin</button></p>\
    <pre id=\"me-result\"></pre><pre id=\"admin-result\"></pre></section>";

/// Fills a `<pre>` with each call's status and body (as text: never HTML).
const API_PANEL_SCRIPT: &str = "for (const button of document.querySelectorAll('[data-call]')) {\
    button.addEventListener('click', async () => {\
      const out = document.getElementById(button.dataset.out);\
      out.textContent = '...';\
      const response = await fetch(button.dataset.call, {credentials: 'same-origin', headers: {accept: 'application/json'}});\
      out.textContent = response.status + ' ' + await response.text();\
      out.dataset.status = String(response.status);\
    });\
  }";

fn render(signed_in: &SignedIn, nonce: &str) -> String {
    let user = &signed_in.user;
    let roles = signed_in.access.roles.join(", ");
    let organization = signed_in
        .access
        .organization_id
        .as_deref()
        .or(user.organization_id.as_deref());
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your profile</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
         th{{text-align:left;padding-right:1rem}}td,th{{padding:.3rem 0}}button,a.button{{margin-top:1.5rem;margin-right:.5rem}}</style>\
         </head><body><h1 id=\"greeting\">Hello, {name}</h1><table>{email}{org}{roles}{user_id}</table>\
         <p><a class=\"button\" id=\"switch-organization\" href=\"/api/login?prompt=select_account&amp;return_to=/dashboard/profile\">Switch organization</a></p>\
         <form method=\"post\" action=\"/api/logout\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form>\
         {API_PANEL}<script nonce=\"{nonce}\">{API_PANEL_SCRIPT}</script>\
         </body></html>",
        name = escape_html(user.display_name()),
        email = row("Email", "email", user.email.as_deref()),
        org = row("Organization", "organization", organization),
        roles = row("Roles", "roles", Some(&roles)),
        user_id = row("User id", "user-id", Some(&user.id)),
    )
}
