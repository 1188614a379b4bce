//! What a request presents to prove who is calling: the browser session's cookies, or an
//! `Authorization: Bearer` access token. Read the same way from an HTTP request and from an API
//! Gateway authorizer event.

use lambda_http::http::{header, HeaderMap, HeaderValue};
use lambda_http::Request;

use crate::session::cookies::{parse_cookie_header, ACCESS_TOKEN_COOKIE, SESSION_COOKIE};

/// The caller's credentials, borrowed from the request.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The session cookie's value.
    pub session_id: Option<&'a str>,
    /// The `accessToken` cookie's value (a cache of the record's access token).
    pub access_cookie: Option<&'a str>,
    /// The token of `Authorization: Bearer <token>`.
    pub bearer: Option<&'a str>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |present: bool| if present { "[redacted]" } else { "none" };
        f.debug_struct("Credentials")
            .field("session_id", &shown(self.session_id.is_some()))
            .field("access_cookie", &shown(self.access_cookie.is_some()))
            .field("bearer", &shown(self.bearer.is_some()))
            .finish()
    }
}

impl<'a> Credentials<'a> {
    /// From an HTTP request (lambda_http joins the HTTP API's `cookies` into `Cookie`).
    pub fn of_request(req: &'a Request) -> Self {
        Self::read(
            req.headers()
                .get_all(header::COOKIE)
                .iter()
                .map(HeaderValue::as_bytes),
            req.headers(),
        )
    }

    /// From an authorizer event: its `cookies` array and its headers.
    pub fn of_event(cookies: &'a [String], headers: &'a HeaderMap) -> Self {
        let cookie_headers = headers
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes);
        Self::read(
            cookies.iter().map(String::as_bytes).chain(cookie_headers),
            headers,
        )
    }

    fn read(cookies: impl Iterator<Item = &'a [u8]>, headers: &'a HeaderMap) -> Self {
        let pairs = parse_cookie_header(cookies);
        // The first of a repeated name, as browsers send the most specific cookie first.
        let cookie = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| *value)
                .filter(|value| !value.is_empty())
        };
        Self {
            session_id: cookie(SESSION_COOKIE),
            access_cookie: cookie(ACCESS_TOKEN_COOKIE),
            bearer: bearer_token(headers),
        }
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`, the scheme case-insensitive. Any other
/// scheme (Basic, a malformed header) is no Bearer token; several `Authorization` headers are
/// ambiguous and count as none.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn an_authorizer_event_yields_the_same_credentials_as_the_request() {
        let cookies = vec![
            "theme=dark".to_owned(),
            format!("{SESSION_COOKIE}=sid-1"),
            format!("{ACCESS_TOKEN_COOKIE}=at-1"),
        ];
        let none = HeaderMap::new();
        let credentials = Credentials::of_event(&cookies, &none);
        assert_eq!(credentials.session_id, Some("sid-1"));
        assert_eq!(credentials.access_cookie, Some("at-1"));
        assert_eq!(credentials.bearer, None);
        assert!(!format!("{credentials:?}").contains("sid-1"));
    }

    #[test]
    fn only_a_single_well_formed_bearer_header_counts() {
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Headers, Option<&str>)] = &[
            (&[("authorization", "Bearer abc")], Some("abc")),
            (&[("authorization", "bearer  abc ")], Some("abc")),
            (&[("authorization", "Basic dXNlcjpwYXNz")], None),
            (&[("authorization", "Bearer")], None),
            (&[("authorization", "Bearer ")], None),
            (&[("authorization", "Bearerabc")], None),
            (
                &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
                None,
            ),
            (&[], None),
        ];
        for (pairs, expected) in cases {
            let map = headers(pairs);
            assert_eq!(bearer_token(&map), *expected, "{pairs:?}");
        }
    }
}
