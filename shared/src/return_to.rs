//! Open-redirect defence: where the browser may be sent after login.

/// Longest return path accepted. It is stored in the login's transaction cookie, and a few of
/// those must fit in a request under the header limits (ours 8 KiB, API Gateway's 10 KiB).
pub const MAX_LEN: usize = 512;

/// Accepts `value` only as a same-site relative path (`/dashboard?tab=1`), rejecting anything a
/// browser could read as another origin: `//host`, `/\host`, schemes, whitespace and control
/// characters (browsers strip tabs and newlines inside URLs), percent-encoded forms of these, and
/// any character RFC 3986 does not allow unencoded in a path, query or fragment.
pub fn safe_return_to(value: &str) -> Option<&str> {
    (value.len() <= MAX_LEN
        && value.bytes().all(is_url_byte)
        && is_safe_path(value)
        && is_safe_path(&percent_decode(value)))
    .then_some(value)
}

/// Unreserved, sub-delims, `:`, `@`, `/`, `?`, `#` and `%` (of percent-encodings).
fn is_url_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?#%".contains(&byte)
}

/// Starts with one `/`, and has no backslash or control character (browsers read `\` as `/`
/// and drop tabs and newlines, which would turn `/\t/evil` into `//evil`).
fn is_safe_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !path.chars().any(|c| c == '\\' || c.is_control())
}

/// One level of percent-decoding, lossy: enough to see what an encoded value hides.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_site_paths_are_accepted() {
        for ok in [
            "/",
            "/dashboard/profile",
            "/a?b=c&d=%20e",
            "/a#frag",
            "/@user",
            "/a/../b",
        ] {
            assert_eq!(safe_return_to(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn anything_that_can_leave_the_site_is_rejected() {
        let bad = [
            "",
            "dashboard",
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "https://evil.com",
            "javascript:alert(1)",
            "/\t/evil.com",
            "/\n/evil.com",
            "/a\r\nSet-Cookie:x=y",
            "%2F%2Fevil.com",
            "/%2F/evil.com",
            "/%2fevil.com",
            "/%5Cevil.com",
            "/%09/evil.com",
            "/%0d%0aLocation:x",
            " /x",
            "/x y",
            "/\u{0}",
        ];
        for value in bad {
            assert_eq!(safe_return_to(value), None, "{value:?}");
        }
        assert_eq!(safe_return_to(&format!("/{}", "a".repeat(MAX_LEN))), None);
        let longest = format!("/{}", "a".repeat(MAX_LEN - 1));
        assert_eq!(safe_return_to(&longest), Some(longest.as_str()));
    }

    proptest! {
        #[test]
        fn accepted_values_never_start_a_network_path(value in "\\PC{0,64}") {
            if let Some(path) = safe_return_to(&value) {
                prop_assert!(path.starts_with('/'));
                prop_assert!(!path.starts_with("//") && !path.starts_with("/\\"));
                let decoded = percent_decode(path);
                prop_assert!(!decoded.starts_with("//") && !decoded.contains('\\'));
            }
        }
    }
}
