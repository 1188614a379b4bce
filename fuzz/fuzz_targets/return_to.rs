//! `return_to` validation: whatever is accepted stays on this site, even after the browser
//! strips tabs and newlines and decodes percent-escapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::return_to::safe_return_to;

fuzz_target!(|value: &str| {
    if let Some(path) = safe_return_to(value) {
        let browser_view: String = path.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        assert!(browser_view.starts_with('/'));
        assert!(!browser_view.starts_with("//") && !browser_view.starts_with("/\\"));
        assert!(!browser_view.contains('\\'));
        assert!(!path.chars().any(char::is_control));
    }
});
