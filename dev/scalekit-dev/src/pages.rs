//! The HTML pages. Every value that came from a request goes through [`escape`].

use std::fmt::Write;

use crate::users::{DemoUser, ORGS, USERS};

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

/// `/dev`: the demo directory and a form that mints IdP-initiated login links.
pub(crate) fn dev_index(client_id: &str, redirect_uris: &[String]) -> String {
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
}
