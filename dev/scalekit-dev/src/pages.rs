//! The HTML pages. Every value that came from a request goes through [`escape`].

use std::fmt::Write;

use crate::delivery::Delivery;
use crate::sessions::{EndedSignIn, SignIn};
use crate::time::rfc3339;
use crate::users::{find_user, organization_name, DemoUser, ORGS, USERS};

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Scalekit (dev)</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
         button{{display:block;width:100%;margin:.4rem 0;padding:.6rem;text-align:left;font-size:1rem}}\
         .note{{color:#555}} code{{word-break:break-all}}</style></head>\
         <body><h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title),
    )
}

/// A page for a request that cannot be answered with a redirect.
pub(crate) fn error(title: &str, message: &str) -> String {
    layout(title, &format!("<p>{}</p>", escape(message)))
}

/// What the sign-in page tells the user about the authorization request.
#[derive(Default)]
pub(crate) struct SignInContext<'a> {
    pub(crate) login_hint: Option<&'a str>,
    pub(crate) domain: Option<&'a str>,
    pub(crate) organization_id: Option<&'a str>,
    pub(crate) provider: Option<&'a str>,
    pub(crate) create: bool,
    pub(crate) no_match: bool,
}

/// The demo-user chooser. Buttons have stable ids (`user-<id>`, `cancel`) for browser tests.
pub(crate) fn sign_in(pending: &str, users: &[&DemoUser], ctx: &SignInContext<'_>) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p class=\"note\">Local development identity provider. Pick a demo user.</p>"
    );
    let mut note = |label: &str, value: Option<&str>| {
        if let Some(value) = value {
            let _ = write!(body, "<p>{label}: <code>{}</code></p>", escape(value));
        }
    };
    note("Login hint", ctx.login_hint);
    note("Domain", ctx.domain);
    note("Organization", ctx.organization_id);
    note("Provider", ctx.provider);
    if ctx.no_match {
        body.push_str("<p class=\"note\">No demo user matches the request; showing everyone.</p>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/dev/sign-in\">\
         <input type=\"hidden\" name=\"pending\" value=\"{}\">",
        escape(pending)
    );
    for user in users {
        let _ = write!(
            body,
            "<button type=\"submit\" name=\"user\" value=\"{id}\" id=\"user-{id}\">{name} &lt;{email}&gt;</button>",
            id = escape(user.id),
            name = escape(user.name),
            email = escape(user.email),
        );
    }
    body.push_str(
        "<button type=\"submit\" name=\"cancel\" value=\"1\" id=\"cancel\">Cancel</button></form>",
    );
    layout(
        if ctx.create {
            "Create account"
        } else {
            "Sign in"
        },
        &body,
    )
}

/// The organization switcher shown to users with several memberships.
pub(crate) fn pick_organization(pending: &str, user: &DemoUser, preselect: Option<&str>) -> String {
    let mut body = format!(
        "<p>Signed in as <strong>{}</strong>. Choose an organization.</p>\
         <form method=\"post\" action=\"/dev/sign-in\">\
         <input type=\"hidden\" name=\"pending\" value=\"{}\">\
         <input type=\"hidden\" name=\"user\" value=\"{}\">",
        escape(user.email),
        escape(pending),
        escape(user.id),
    );
    for (org_id, org_name, role) in user.memberships {
        let autofocus = if preselect == Some(*org_id) {
            " autofocus"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<button type=\"submit\" name=\"organization\" value=\"{id}\" id=\"org-{id}\"{autofocus}>{name} ({role})</button>",
            id = escape(org_id),
            name = escape(org_name),
            role = escape(role),
        );
    }
    body.push_str(
        "<button type=\"submit\" name=\"cancel\" value=\"1\" id=\"cancel\">Cancel</button></form>",
    );
    layout("Choose an organization", &body)
}

pub(crate) fn signed_out() -> String {
    layout(
        "You are signed out",
        "<p>You have been signed out of the dev identity provider.</p>",
    )
}

/// Where an ended sign-in is announced, as configured.
pub(crate) struct Receivers<'a> {
    pub(crate) backchannel_logout_uri: Option<&'a str>,
    pub(crate) webhook_url: Option<&'a str>,
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a URL path segment.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `Name <email>` of a demo user, else the user id; escaped.
fn user_label(user_id: &str) -> String {
    match find_user(user_id) {
        Some(user) => format!("{} &lt;{}&gt;", escape(user.name), escape(user.email)),
        None => format!("<code>{}</code>", escape(user_id)),
    }
}

/// `Name (id)` of an organization, else its id, or a dash; escaped.
fn organization_label(organization_id: Option<&str>) -> String {
    match organization_id {
        None => "—".to_owned(),
        Some(id) => match organization_name(id) {
            Some(name) => format!("{} (<code>{}</code>)", escape(name), escape(id)),
            None => format!("<code>{}</code>", escape(id)),
        },
    }
}

/// The "Active sign-ins" section: one row per sign-in with a button (`end-<session id>`) that
/// ends it at the IdP.
fn active_sign_ins(body: &mut String, sign_ins: &[SignIn], receivers: &Receivers<'_>) {
    body.push_str("<h2>Active sign-ins</h2><p class=\"note\">Ending a sign-in at the IdP revokes its refresh tokens, ");
    match receivers.backchannel_logout_uri {
        Some(uri) => {
            let _ = write!(
                body,
                "posts a back-channel logout token to <code>{}</code>",
                escape(uri)
            );
        }
        None => body.push_str("sends no logout token (no back-channel logout URI)"),
    }
    match receivers.webhook_url {
        Some(url) => {
            let _ = write!(
                body,
                " and a <code>user.logout</code> webhook to <code>{}</code>.</p>",
                escape(url)
            );
        }
        None => body.push_str(" and no webhook (no webhook URL).</p>"),
    }
    if sign_ins.is_empty() {
        body.push_str("<p id=\"no-sign-ins\">No active sign-ins.</p>");
        return;
    }
    body.push_str(
        "<table id=\"sign-ins\"><tr><th>user</th><th>organization</th><th>session</th>\
         <th>started</th><th></th></tr>",
    );
    for sign_in in sign_ins {
        let _ = write!(
            body,
            "<tr><td>{user}</td><td>{org}</td><td><code>{session}</code></td><td>{started}</td>\
             <td><form method=\"post\" action=\"/dev/sign-ins/{segment}/end\">\
             <button type=\"submit\" id=\"end-{session}\">End this sign-in at the IdP</button>\
             </form></td></tr>",
            user = user_label(&sign_in.user_id),
            org = organization_label(sign_in.organization_id.as_deref()),
            session = escape(&sign_in.session_id),
            started = rfc3339(sign_in.created_at),
            segment = escape(&path_segment(&sign_in.session_id)),
        );
    }
    body.push_str("</table>");
}

/// `/dev`: the demo directory, the active sign-ins and a form that mints IdP-initiated login
/// links.
pub(crate) fn dev_index(
    client_id: &str,
    redirect_uris: &[String],
    sign_ins: &[SignIn],
    receivers: &Receivers<'_>,
) -> String {
    let mut body = format!("<p>Client id: <code>{}</code></p>", escape(client_id));
    if redirect_uris.is_empty() {
        body.push_str("<p>Redirect URIs: any absolute http(s) URL.</p>");
    } else {
        body.push_str("<p>Redirect URIs:</p><ul>");
        for uri in redirect_uris {
            let _ = write!(body, "<li><code>{}</code></li>", escape(uri));
        }
        body.push_str("</ul>");
    }
    active_sign_ins(&mut body, sign_ins, receivers);
    body.push_str("<h2>Users</h2><table><tr><th>id</th><th>email</th><th>organizations</th></tr>");
    for user in &USERS {
        let orgs: Vec<String> = user
            .memberships
            .iter()
            .map(|(id, name, role)| format!("{} ({}, {})", escape(name), escape(id), escape(role)))
            .collect();
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(user.id),
            escape(user.email),
            orgs.join("; ")
        );
    }
    body.push_str(
        "</table><h2>IdP-initiated login</h2>\
         <form method=\"get\" action=\"/dev/idp-initiated\">\
         <p><label>Initiate login URL <input name=\"initiate_login_url\" size=\"40\" \
         placeholder=\"http://127.0.0.1:3000/api/login\" required></label></p>\
         <p><label>Organization <select name=\"organization_id\"><option value=\"\">(none)</option>",
    );
    for (id, name) in &ORGS {
        let _ = write!(
            body,
            "<option value=\"{id}\">{name}</option>",
            id = escape(id),
            name = escape(name)
        );
    }
    body.push_str(
        "</select></label></p>\
         <p><label>Connection id <input name=\"connection_id\" placeholder=\"conn_dev_org_acme\"></label></p>\
         <p><label>Login hint <input name=\"login_hint\" placeholder=\"alice@acme.test\"></label></p>\
         <p><label>Relay state <input name=\"relay_state\"></label></p>\
         <p><label><input type=\"checkbox\" name=\"go\" value=\"1\"> Follow the link now</label></p>\
         <p><button type=\"submit\" id=\"mint\">Mint link</button></p></form>",
    );
    layout("Scalekit dev server", &body)
}

/// One receiver's line on the "Sign-in ended" page.
fn delivery_line(
    body: &mut String,
    id: &str,
    what: &str,
    target: Option<&str>,
    outcome: Option<&Result<u16, String>>,
) {
    let _ = write!(body, "<li id=\"{id}\">{what}: ");
    match (target, outcome) {
        (Some(target), Some(Ok(status))) => {
            let _ = write!(
                body,
                "delivered to <code>{}</code>, HTTP {status}",
                escape(target)
            );
        }
        (Some(target), Some(Err(error))) => {
            let _ = write!(
                body,
                "not delivered to <code>{}</code>: {}",
                escape(target),
                escape(error)
            );
        }
        _ => body.push_str("not sent (not configured)"),
    }
    body.push_str("</li>");
}

/// What ending a sign-in at the IdP delivered.
pub(crate) fn sign_in_ended(
    ended: &EndedSignIn,
    delivery: &Delivery,
    receivers: &Receivers<'_>,
) -> String {
    let sign_in = &ended.sign_in;
    let mut body = format!(
        "<p>The sign-in of {user} in {org} (session <code>{session}</code>) has ended at the IdP; \
         its refresh tokens no longer work.</p><ul>",
        user = user_label(&sign_in.user_id),
        org = organization_label(sign_in.organization_id.as_deref()),
        session = escape(&sign_in.session_id),
    );
    delivery_line(
        &mut body,
        "backchannel-logout",
        "Back-channel logout token",
        receivers.backchannel_logout_uri,
        delivery.backchannel_logout.as_ref(),
    );
    delivery_line(
        &mut body,
        "webhook",
        &format!(
            "<code>user.logout</code> webhook <code>{}</code>",
            escape(&ended.webhook.id)
        ),
        receivers.webhook_url,
        delivery.webhook.as_ref(),
    );
    body.push_str("</ul><p><a href=\"/dev\" id=\"back\">Back to /dev</a></p>");
    layout("Sign-in ended", &body)
}

pub(crate) fn idp_initiated_link(link: &str) -> String {
    layout(
        "IdP-initiated login link",
        &format!(
            "<p><a id=\"idp-initiated-link\" href=\"{link}\">Sign in through the application</a></p>\
             <p><code>{link}</code></p><p class=\"note\">The token expires in 5 minutes.</p>",
            link = escape(link)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert(\"x\")</script>&'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;"
        );
    }

    #[test]
    fn sign_in_page_escapes_the_login_hint() {
        let ctx = SignInContext {
            login_hint: Some("<script>alert(1)</script>"),
            ..SignInContext::default()
        };
        let page = sign_in("p\"x", &[&USERS[0]], &ctx);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("value=\"p&quot;x\""));
        assert!(page.contains("id=\"user-usr_alice\""));
    }

    #[test]
    fn path_segments_keep_only_unreserved_characters() {
        assert_eq!(path_segment("ses_0a-Z.~"), "ses_0a-Z.~");
        assert_eq!(path_segment("a/b c\"<"), "a%2Fb%20c%22%3C");
    }

    #[test]
    fn the_dev_page_lists_sign_ins_escaped_with_an_end_button_each() {
        let sign_ins = [
            SignIn {
                session_id: "ses_1".to_owned(),
                user_id: "usr_alice".to_owned(),
                organization_id: Some("org_acme".to_owned()),
                created_at: 0,
            },
            SignIn {
                session_id: "ses_<x>".to_owned(),
                user_id: "usr_<script>".to_owned(),
                organization_id: None,
                created_at: 0,
            },
        ];
        let receivers = Receivers {
            backchannel_logout_uri: Some("http://app.test/bc?a=1&b=<2>"),
            webhook_url: None,
        };
        let page = dev_index("skc", &[], &sign_ins, &receivers);
        assert!(page.contains("Alice Anderson &lt;alice@acme.test&gt;"));
        assert!(page.contains("Acme Corp (<code>org_acme</code>)"));
        assert!(page.contains("1970-01-01T00:00:00Z"));
        assert!(page.contains("action=\"/dev/sign-ins/ses_1/end\""));
        assert!(page.contains("id=\"end-ses_1\""));
        assert!(page.contains("action=\"/dev/sign-ins/ses_%3Cx%3E/end\""));
        assert!(page.contains("id=\"end-ses_&lt;x&gt;\""));
        assert!(page.contains("<code>usr_&lt;script&gt;</code>"));
        assert!(page.contains("http://app.test/bc?a=1&amp;b=&lt;2&gt;"));
        assert!(!page.contains("<script>") && !page.contains("<x>"));
        assert!(dev_index("skc", &[], &[], &receivers).contains("No active sign-ins."));
    }
}
