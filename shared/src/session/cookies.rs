//! The cookies this product sets, with their attributes in one place.
//!
//! Every cookie is `Secure; HttpOnly; Path=/; SameSite=Lax`. Lax, not the seed's Strict: the
//! callback is a top-level navigation that starts on Scalekit's domain, and a Strict cookie is
//! not sent on it (nor on the landing it redirects to).

use cookie::{Cookie, SameSite};

/// The session id. `__Host-` makes the browser refuse it without `Secure`, with a `Domain`, or
/// on another path, so a sibling subdomain cannot plant or shadow it.
pub const SESSION_COOKIE: &str = "__Host-sk_session";
/// The access token, under the name the seed uses.
pub const ACCESS_TOKEN_COOKIE: &str = "accessToken";
/// Per-login transaction cookies are this prefix plus an id derived from the `state`.
pub const TRANSACTION_COOKIE_PREFIX: &str = "__Host-sk_txn_";
/// Lifetime of a login transaction, in seconds.
pub const TRANSACTION_MAX_AGE: i64 = 600;

/// A cookie with this product's attributes and the given lifetime.
pub fn build_cookie(name: &str, value: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age_secs.max(0)))
        .build()
}

/// A header that deletes the named cookie (same name, path and attributes, `Max-Age=0`).
pub fn expired_cookie(name: &str) -> Cookie<'static> {
    build_cookie(name, "", 0)
}

/// The `accessToken` cookie expires this long before the token does, as in the seed, so the
/// browser never sends a token about to lapse.
const ACCESS_TOKEN_COOKIE_MARGIN_SECS: i64 = 60;

/// The `accessToken` cookie for a token valid `expires_in` more seconds.
pub fn access_token_cookie(token: &str, expires_in: i64) -> Cookie<'static> {
    build_cookie(
        ACCESS_TOKEN_COOKIE,
        token,
        expires_in - ACCESS_TOKEN_COOKIE_MARGIN_SECS,
    )
}

/// Expires the session and access-token cookies.
pub fn session_cookie_removals() -> [Cookie<'static>; 2] {
    [
        expired_cookie(SESSION_COOKIE),
        expired_cookie(ACCESS_TOKEN_COOKIE),
    ]
}

/// Signs this browser out: expires the session cookies and asks it to clear this origin's cookies
/// (`Clear-Site-Data`), for an explicit sign-out.
pub fn sign_out_browser(response: &mut lambda_http::Response<lambda_http::Body>) {
    for cookie in session_cookie_removals() {
        crate::http::set_cookie(response, &cookie);
    }
    response.headers_mut().insert(
        "clear-site-data",
        lambda_http::http::HeaderValue::from_static("\"cookies\""),
    );
}

/// Parses `Cookie` header values into name/value pairs (lambda_http joins the HTTP API's
/// `cookies` array into one header with `; `). Malformed pairs are skipped.
///
/// Pair by pair, from the header's bytes: a pair that is not text (a sibling app on the same site
/// may set any bytes) is skipped, and hides none of the others.
pub fn parse_cookie_header<'a>(headers: impl Iterator<Item = &'a [u8]>) -> Vec<(&'a str, &'a str)> {
    headers
        .flat_map(|header| header.split(|&byte| byte == b';'))
        .filter_map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            let (name, value) = pair.trim().split_once('=')?;
            let name = name.trim();
            (!name.is_empty()).then(|| (name, value.trim().trim_matches('"')))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_every_protective_attribute() {
        let header = build_cookie(SESSION_COOKIE, "v", 100).to_string();
        for attribute in [
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=100",
        ] {
            assert!(header.contains(attribute), "{header} lacks {attribute}");
        }
        assert!(!header.contains("Domain"), "{header}");
        assert!(expired_cookie(SESSION_COOKIE)
            .to_string()
            .contains("Max-Age=0"));
    }

    #[test]
    fn access_token_cookie_expires_a_minute_early() {
        let header = access_token_cookie("jwt", 299).to_string();
        assert!(header.starts_with("accessToken=jwt;"), "{header}");
        assert!(header.contains("Max-Age=239"), "{header}");
        assert!(access_token_cookie("jwt", 30)
            .to_string()
            .contains("Max-Age=0"));
    }

    #[test]
    fn cookie_headers_are_split_leniently() {
        let pairs = parse_cookie_header(
            [
                &b"a=1; b=2;;c"[..],
                b"d = \"4\"",
                b"e=caf\xc3\xa9; bad=\xff\xfe; f=6",
            ]
            .into_iter(),
        );
        assert_eq!(
            pairs,
            [
                ("a", "1"),
                ("b", "2"),
                ("d", "4"),
                ("e", "caf\u{e9}"),
                ("f", "6")
            ],
            "a pair that is not text hides none of the others"
        );
    }
}
