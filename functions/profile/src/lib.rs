//! `GET /dashboard/profile`: the page the seed lands on after login. Server-rendered, every
//! dynamic value escaped; signed-out visitors are sent to sign in and brought back here.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::config::Needs;
use shared::http::{self, escape_html, PagePolicy};
use shared::session::{authenticate, Refresh, SessionError, SignedIn};
use shared::token_calls::organization_name;
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
            let organization = organization_of(&signed_in);
            let organization_name = match organization {
                Some(id) => organization_name(app, id).await,
                None => None,
            };
            let page = render(&signed_in, organization_name.as_deref(), &nonce);
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

/// The page's look: a few rules, inline (the page's CSP allows inline styles, no other origin).
const STYLE: &str = "\
:root{--ink:#1f2330;--muted:#667085;--line:#e4e7ec;--brand:#3f51d7;--danger:#b42318;--card:#fff;--bg:#f5f6f8}\
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--ink);background:var(--bg)}\
header{background:var(--card);border-bottom:1px solid var(--line)}\
.bar{max-width:52rem;margin:0 auto;padding:.8rem 1.2rem;display:flex;align-items:center;gap:1rem}\
.brand{font-weight:700;letter-spacing:-.01em}.bar .who{margin-left:auto;color:var(--muted)}\
main{max-width:52rem;margin:1.5rem auto;padding:0 1.2rem;display:grid;gap:1.2rem}\
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.2rem 1.4rem}\
h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:0 0 .8rem}\
table{border-collapse:collapse}th{text-align:left;color:var(--muted);font-weight:500;padding:.25rem 1.5rem .25rem 0}td{padding:.25rem 0}\
.actions{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:1rem}.actions form{margin:0}\
button,a.button{font:inherit;border:1px solid var(--line);background:var(--card);color:var(--ink);border-radius:8px;padding:.4rem .9rem;cursor:pointer;text-decoration:none;display:inline-block}\
button.primary{background:var(--brand);border-color:var(--brand);color:#fff}button.danger{color:var(--danger);border-color:#f4c7c3}\
button:disabled{opacity:.5;cursor:default}\
ul.sessions{list-style:none;margin:0;padding:0}li.session{display:flex;flex-wrap:wrap;align-items:center;gap:.3rem .8rem;padding:.7rem 0;border-top:1px solid var(--line)}\
li.session:first-child{border-top:0}li.session .meta{color:var(--muted);font-size:.9rem;flex-basis:100%}\
li.session button{margin-left:auto}.badge{font-size:.75rem;background:#eef0fd;color:var(--brand);border-radius:999px;padding:.05rem .55rem}\
.note{color:var(--muted);font-size:.9rem}pre{background:#f8f9fb;border:1px solid var(--line);border-radius:8px;padding:.6rem;white-space:pre-wrap;word-break:break-all;margin:.6rem 0 0}pre:empty{display:none}";

/// The "Call the API" panel: the example backend's routes behind the authorizer, called from
/// the browser with its session cookie, as a team's own pages would call their routes.
const API_PANEL: &str = "<section id=\"api-panel\"><h2>Call the API</h2>\
    <p class=\"note\">Your own routes behind the authorizer: <code>/api/me</code> for anyone signed in, \
    <code>/api/admin</code> for the role <code>admin</code>.</p>\
    <div class=\"actions\"><button type=\"button\" id=\"call-me\" data-call=\"/api/me\" data-out=\"me-result\">GET /api/me</button>\
    <button type=\"button\" id=\"call-admin\" data-call=\"/api/admin\" data-out=\"admin-result\">GET /api/admin</button></div>\
    <pre id=\"me-result\"></pre><pre id=\"admin-result\"></pre></section>";

/// The session list, filled by the script from `GET /api/sessions`.
const SESSIONS_PANEL: &str = "<section id=\"sessions-panel\"><h2>Your sessions</h2>\
    <p class=\"note\">Everywhere you are signed in. Signing out a device ends its session here and now.</p>\
    <ul class=\"sessions\" id=\"sessions\"></ul><p class=\"note\" id=\"sessions-status\" role=\"status\"></p>\
    <div class=\"actions\"><button type=\"button\" class=\"danger\" id=\"sign-out-everywhere\">Sign out everywhere</button></div></section>";

/// The page's behaviour: the session list (every value set as text, never HTML), its sign-out
/// buttons, and the API panel. Same-origin requests only (CSP `connect-src 'self'`).
const SCRIPT: &str = r#"
const json = {credentials: 'same-origin', headers: {accept: 'application/json'}};
const status = document.getElementById('sessions-status');
const ago = (seconds) => {
  const d = Math.max(0, Date.now() / 1000 - seconds);
  if (d < 90) return 'just now';
  if (d < 5400) return Math.round(d / 60) + ' minutes ago';
  if (d < 129600) return Math.round(d / 3600) + ' hours ago';
  return Math.round(d / 86400) + ' days ago';
};
const element = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};
async function end(url) {
  const response = await fetch(url, {...json, method: 'DELETE'});
  if (!response.ok) status.textContent = 'That did not work (' + response.status + '). Please try again.';
  return response.ok;
}
function row(session) {
  const item = element('li', 'session');
  item.id = 'session-' + session.id;
  item.dataset.current = String(session.current);
  item.append(element('strong', '', session.device));
  if (session.current) item.append(element('span', 'badge', 'This device'));
  const button = element('button', 'end-session', 'Sign out');
  button.type = 'button';
  button.addEventListener('click', async () => {
    button.disabled = true;
    if (await end('/api/sessions/' + encodeURIComponent(session.id))) {
      if (session.current) { location.href = '/dashboard/profile'; return; }
      await loadSessions();
    } else {
      button.disabled = false;
    }
  });
  item.append(button);
  const meta = [session.organizationName || session.organizationId, 'signed in ' + ago(session.createdAt), 'last active ' + ago(session.lastSeenAt)];
  item.append(element('span', 'meta', meta.filter(Boolean).join(' · ')));
  return item;
}
async function loadSessions() {
  const list = document.getElementById('sessions');
  const response = await fetch('/api/sessions', json);
  if (!response.ok) { status.textContent = 'Your sessions could not be loaded (' + response.status + ').'; return; }
  const {sessions} = await response.json();
  list.replaceChildren(...sessions.map(row));
  list.dataset.count = String(sessions.length);
}
document.getElementById('sign-out-everywhere').addEventListener('click', async (event) => {
  event.target.disabled = true;
  if (await end('/api/sessions')) { location.href = '/dashboard/profile'; return; }
  // A failed attempt may have signed the other devices out here first: show what is left.
  await loadSessions();
  event.target.disabled = false;
});
for (const button of document.querySelectorAll('[data-call]')) {
  button.addEventListener('click', async () => {
    const out = document.getElementById(button.dataset.out);
    out.textContent = '...';
    const response = await fetch(button.dataset.call, json);
    out.textContent = response.status + ' ' + await response.text();
    out.dataset.status = String(response.status);
  });
}
loadSessions();
"#;

/// The organization signed in to: the access token's, else the ID token's.
fn organization_of(signed_in: &SignedIn) -> Option<&str> {
    signed_in
        .access
        .organization_id
        .as_deref()
        .or(signed_in.user.organization_id.as_deref())
}

fn render(signed_in: &SignedIn, organization_name: Option<&str>, nonce: &str) -> String {
    let user = &signed_in.user;
    let roles = signed_in.access.roles.join(", ");
    let organization = match (organization_name, organization_of(signed_in)) {
        (Some(name), Some(id)) => format!(
            "<tr><th>Organization</th><td><span id=\"organization-name\">{}</span> \
             <code class=\"note\" id=\"organization\">{}</code></td></tr>",
            escape_html(name),
            escape_html(id)
        ),
        (_, id) => row("Organization", "organization", id),
    };
    let name = escape_html(user.display_name());
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your profile</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\
         <header><div class=\"bar\"><span class=\"brand\">Your app</span><span class=\"who\">{name}</span></div></header>\
         <main><section id=\"profile\"><h1 id=\"greeting\">Hello, {name}</h1><table>{email}{org}{roles}{user_id}</table>\
         <div class=\"actions\"><a class=\"button\" id=\"switch-organization\" href=\"/api/login?prompt=select_account&amp;return_to=/dashboard/profile\">Switch organization</a>\
         <form method=\"post\" action=\"/api/logout\"><button type=\"submit\" class=\"primary\" id=\"sign-out\">Sign out</button></form></div></section>\
         {SESSIONS_PANEL}{API_PANEL}</main><script nonce=\"{nonce}\">{SCRIPT}</script>\
         </body></html>",
        email = row("Email", "email", user.email.as_deref()),
        org = organization,
        roles = row("Roles", "roles", Some(&roles)),
        user_id = row("User id", "user-id", Some(&user.id)),
    )
}
