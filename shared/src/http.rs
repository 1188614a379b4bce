//! Building Lambda HTTP responses and reading requests.

use cookie::Cookie;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::config::AppOrigins;
use crate::failures;
use crate::session::cookies::{expired_cookie, parse_cookie_header};
use crate::session::is_transaction_cookie_name;

/// Headers every auth response carries: never cached, never sniffed, no referrer leaks.
fn secure_builder(status: StatusCode) -> lambda_http::http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
}

/// A 302 to `location`. Every location this product builds is a serialised URL or a checked
/// path; one that still cannot be a header value is a bug, answered with a 500, never a panic.
pub fn redirect(location: &str) -> Response<Body> {
    let Ok(location) = HeaderValue::from_str(location) else {
        tracing::error!("redirect location is not a valid header value");
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({ "error": "internal_error" }),
        );
    };
    secure_builder(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .body(Body::Empty)
        .expect("static headers are valid")
}

/// A JSON response.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    secure_builder(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body.to_string()))
        .expect("static headers are valid")
}

/// An HTML page; the caller escapes every dynamic part with [`escape_html`].
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    html_with_policy(status, page, &PagePolicy::default())
}

/// An HTML page whose forms may also lead to `origins`: CSP's `form-action` applies to the
/// redirects that follow a form post too (sign-out posts here, then redirects to Scalekit).
pub fn html_with_form_targets(
    status: StatusCode,
    page: String,
    origins: &[&str],
) -> Response<Body> {
    let policy = PagePolicy {
        form_targets: origins,
        ..PagePolicy::default()
    };
    html_with_policy(status, page, &policy)
}

/// What a page may do beyond showing itself: its Content-Security-Policy.
#[derive(Debug, Default, Clone, Copy)]
pub struct PagePolicy<'a> {
    /// Origins its forms (and the redirects after them) may lead to, besides this one.
    pub form_targets: &'a [&'a str],
    /// Runs only the inline scripts carrying this nonce (fresh per response), which may fetch
    /// from this origin alone.
    pub script_nonce: Option<&'a str>,
}

/// A fresh nonce for [`PagePolicy::script_nonce`].
pub fn script_nonce() -> String {
    crate::crypto::random_token(16)
}

/// An HTML page under `policy`.
pub fn html_with_policy(
    status: StatusCode,
    page: String,
    policy: &PagePolicy<'_>,
) -> Response<Body> {
    let mut form_action = String::from("'self'");
    for origin in policy.form_targets {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    let scripts = match policy.script_nonce {
        Some(nonce) => format!("; script-src 'nonce-{nonce}'; connect-src 'self'"),
        None => String::new(),
    };
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'{scripts}"
    );
    secure_builder(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        )
        .body(Body::Text(page))
        .expect("static headers are valid")
}

/// A 204.
pub fn no_content() -> Response<Body> {
    secure_builder(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("static headers are valid")
}

/// An error with a stable machine-readable `code`: JSON `{error, error_description}` for API
/// clients, a small page for browsers. `message` is ours, never request input.
pub fn error(req: &Request, status: StatusCode, code: &str, message: &str) -> Response<Body> {
    if wants_html(req) {
        html(status, error_page(code, message))
    } else {
        json(
            status,
            &serde_json::json!({ "error": code, "error_description": message }),
        )
    }
}

/// An expected failure of a request: its status, a stable code and a message of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `invalid_state`.
    pub code: &'static str,
    /// Human-readable explanation; never contains request input.
    pub message: &'static str,
}

impl ApiError {
    /// An error with this status, code and message.
    pub const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
        }
    }

    /// 400 Bad Request.
    pub const fn bad_request(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 Unauthorized.
    pub const fn unauthorized(code: &'static str, message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// The response for this error: JSON, or a page for browsers.
    pub fn to_response(&self, req: &Request) -> Response<Body> {
        error(req, self.status, self.code, self.message)
    }
}

/// A minimal, self-contained page for a failed sign-in, with a way to start again.
pub fn error_page(code: &str, message: &str) -> String {
    page(
        "Sign-in problem",
        &format!(
            "<h1>That did not work</h1><p>{}</p><p><code>{}</code></p>\
             <p><a href=\"/api/login\">Try again</a></p>",
            escape_html(message),
            escape_html(code)
        ),
    )
}

/// The shell every page of this product shares: `title` is escaped here, `body` is HTML whose
/// dynamic parts the caller has escaped with [`escape_html`].
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto\">\
         {body}</body></html>",
        escape_html(title)
    )
}

/// Whether the client prefers an HTML page (a browser navigation) to JSON.
pub fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// Adds a `Set-Cookie` header (appended: lambda_http moves each into the HTTP API's `cookies`).
pub fn set_cookie(response: &mut Response<Body>, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The request's cookies as name/value pairs.
pub fn request_cookies(req: &Request) -> Vec<(&str, &str)> {
    parse_cookie_header(
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes),
    )
}

/// The value of one cookie.
pub fn request_cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    request_cookies(req)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A query parameter that must appear at most once (a repeated `state` or `code` is never
/// legitimate); an empty value counts as absent.
pub fn query_param(req: &Request, name: &str) -> Result<Option<String>, ApiError> {
    let values = req
        .query_string_parameters_ref()
        .and_then(|p| p.all(name))
        .unwrap_or_default();
    match values.as_slice() {
        [] => Ok(None),
        [value] => Ok(Some(value.to_string()).filter(|v| !v.is_empty())),
        _ => Err(failures::REPEATED_PARAMETER),
    }
}

/// The body of a `POST` of at most `max` bytes, or the answer for another method (`405`) or a
/// larger body (`413`): for the receivers of Scalekit's calls.
pub fn post_body(req: &Request, max: usize) -> Result<&[u8], ApiError> {
    if req.method() != lambda_http::http::Method::POST {
        return Err(failures::POST_ONLY);
    }
    let body = req.body().as_ref();
    if body.len() > max {
        return Err(failures::BODY_TOO_LARGE);
    }
    Ok(body)
}

/// [`public_origin`], or the `400 invalid_host` to answer when there is none.
pub fn require_origin(req: &Request, configured: &AppOrigins) -> Result<String, ApiError> {
    public_origin(req, configured).ok_or(failures::INVALID_HOST)
}

/// Refuses a state-changing request from another site ([`is_cross_site`]) with a `403`.
pub fn refuse_cross_site(req: &Request, origin: &str) -> Result<(), ApiError> {
    if is_cross_site(req, origin) {
        tracing::warn!(outcome = "refused", reason = "cross-site request");
        return Err(failures::CROSS_SITE_REQUEST);
    }
    Ok(())
}

/// Whether a state-changing request comes from another site. Defence in depth on top of
/// `SameSite=Lax`. Browsers that send Fetch Metadata are judged by `Sec-Fetch-Site` alone (pages
/// cannot forge it, and under `Referrer-Policy: no-referrer` a same-origin form post carries
/// `Origin: null`); older ones by `Origin`. Clients that send neither (curl, servers) carry no
/// browser's cookies.
pub fn is_cross_site(req: &Request, origin: &str) -> bool {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    match header("sec-fetch-site") {
        Some(site) => site != "same-origin" && site != "none",
        None => header("origin").is_some_and(|o| o != origin),
    }
}

/// Largest single header (a `Cookie` header included) and query string accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Refuses requests whose headers or query string are larger than any this product produces:
/// 431 or 414, before any parsing, lookup or crypto is spent on them.
fn check_size(req: &Request) -> Result<(), ApiError> {
    let oversized_header = req
        .headers()
        .iter()
        .any(|(name, value)| name.as_str().len() + value.len() > MAX_HEADER_BYTES);
    if oversized_header {
        return Err(failures::HEADER_TOO_LARGE);
    }
    if req
        .uri()
        .query()
        .is_some_and(|q| q.len() > MAX_HEADER_BYTES)
    {
        return Err(failures::URI_TOO_LONG);
    }
    Ok(())
}

/// The answer to a request over the size limits, or `None`. A too-large request is most often a
/// browser whose cookies piled up, so the `431` also expires every login transaction cookie the
/// request carried: the next request fits again (the session cookies are kept).
pub fn reject_oversized(req: &Request) -> Option<Response<Body>> {
    let error = check_size(req).err()?;
    let mut response = error.to_response(req);
    if error.status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
        for (name, _) in request_cookies(req) {
            if is_transaction_cookie_name(name) {
                set_cookie(&mut response, &expired_cookie(name));
            }
        }
    }
    Some(response)
}

/// The public origin of the app for this request, as [`AppOrigins`] says: the one configured
/// origin; among several, the one the request's `Host` names; without any, derived from the
/// `Host` (API Gateway sets it to the domain the request reached it by). `None` when the host is
/// missing, not a plain host name (a forged header cannot inject into redirect URIs), or not one
/// of several configured origins.
pub fn public_origin(req: &Request, configured: &AppOrigins) -> Option<String> {
    let host = || {
        let host = req.headers().get(header::HOST)?.to_str().ok()?;
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        valid.then_some(host)
    };
    match configured.as_slice() {
        [only] => Some(only.clone()),
        [] => origin_of_host(req, host()?),
        several => {
            let host = host()?;
            several
                .iter()
                .find(|origin| {
                    origin
                        .split_once("://")
                        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
                })
                .cloned()
        }
    }
}

/// `https://{host}`, or `http://` for a loopback host unless forwarded as https.
fn origin_of_host(req: &Request, host: &str) -> Option<String> {
    let loopback = host == "localhost"
        || host.starts_with("localhost:")
        || host == "127.0.0.1"
        || host.starts_with("127.0.0.1:");
    let scheme = match req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("http") if loopback => "http",
        Some(_) => "https",
        None if loopback => "http",
        None => "https",
    };
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_that_cannot_be_a_header_is_a_500_not_a_panic() {
        assert_eq!(redirect("/dashboard").status(), StatusCode::FOUND);
        assert_eq!(
            redirect("/a\r\nSet-Cookie: x=y").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn html_escaping_covers_markup_and_attribute_quotes() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;"
        );
    }

    fn request_with(headers: &[(&str, &str)]) -> Request {
        let mut builder = lambda_http::http::Request::builder().uri("/api/login");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn origins(list: &[&str]) -> AppOrigins {
        AppOrigins(list.iter().map(|o| o.to_string()).collect())
    }

    #[test]
    fn with_several_origins_the_host_must_be_one_of_them() {
        let several = origins(&[
            "https://app.example.com",
            "https://preview.example.com:8443",
        ]);
        let cases = [
            ("app.example.com", Some("https://app.example.com")),
            ("APP.example.com", Some("https://app.example.com")),
            (
                "preview.example.com:8443",
                Some("https://preview.example.com:8443"),
            ),
            ("preview.example.com", None),
            ("evil.example", None),
            ("abc.execute-api.eu-west-1.amazonaws.com", None),
        ];
        for (host, expected) in cases {
            let req = request_with(&[("host", host)]);
            assert_eq!(public_origin(&req, &several).as_deref(), expected, "{host}");
        }
        assert_eq!(public_origin(&request_with(&[]), &several), None);
        assert_eq!(
            require_origin(&request_with(&[("host", "evil.example")]), &several),
            Err(failures::INVALID_HOST)
        );
    }

    #[test]
    fn origin_comes_from_configuration_or_a_plain_host() {
        let none = AppOrigins::default();
        let req = request_with(&[("host", "abc.execute-api.eu-west-1.amazonaws.com")]);
        assert_eq!(
            public_origin(&req, &none).as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            public_origin(&req, &origins(&["https://app.example.com"])).as_deref(),
            Some("https://app.example.com")
        );
        let local = request_with(&[("host", "localhost:3000")]);
        assert_eq!(
            public_origin(&local, &none).as_deref(),
            Some("http://localhost:3000")
        );
        let forced_http = request_with(&[("host", "example.com"), ("x-forwarded-proto", "http")]);
        assert_eq!(
            public_origin(&forced_http, &none).as_deref(),
            Some("https://example.com")
        );
        for bad in ["evil.com/path", "evil.com@x", "a b", ""] {
            assert_eq!(
                public_origin(&request_with(&[("host", bad)]), &none),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn cross_site_posts_are_recognised_by_origin_or_fetch_metadata() {
        let origin = "https://app.example.com";
        assert!(!is_cross_site(&request_with(&[]), origin));
        assert!(!is_cross_site(
            &request_with(&[("origin", origin), ("sec-fetch-site", "same-origin")]),
            origin
        ));
        assert!(is_cross_site(
            &request_with(&[("origin", "https://evil.example")]),
            origin
        ));
        assert!(is_cross_site(&request_with(&[("origin", "null")]), origin));
        assert!(is_cross_site(
            &request_with(&[("sec-fetch-site", "cross-site")]),
            origin
        ));
        assert!(is_cross_site(
            &request_with(&[("sec-fetch-site", "same-site")]),
            origin
        ));
    }

    #[test]
    fn oversized_headers_and_queries_are_refused() {
        let big = "a".repeat(MAX_HEADER_BYTES + 1);
        let err = check_size(&request_with(&[("cookie", &big)])).unwrap_err();
        assert_eq!(err.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let long_query = lambda_http::http::Request::builder()
            .uri(format!("/api/login?x={big}"))
            .body(Body::Empty)
            .unwrap();
        assert_eq!(
            check_size(&long_query).unwrap_err().status,
            StatusCode::URI_TOO_LONG
        );
        assert!(check_size(&request_with(&[("cookie", "a=b")])).is_ok());
    }

    #[test]
    fn errors_are_json_for_apis_and_escaped_html_for_browsers() {
        let api = error(
            &request_with(&[]),
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "msg <b>",
        );
        assert_eq!(api.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(api.headers()[header::CACHE_CONTROL], "no-store");
        let browser = error(
            &request_with(&[("accept", "text/html")]),
            StatusCode::BAD_REQUEST,
            "c",
            "msg <b>",
        );
        let Body::Text(page) = browser.body() else {
            panic!("text body")
        };
        assert!(page.contains("msg &lt;b&gt;"), "{page}");
    }
}
