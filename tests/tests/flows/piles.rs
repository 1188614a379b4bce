//! Abandoned logins do not pile up cookies: each `/api/login` sets a transaction cookie, and a
//! browser that starts logins it never finishes (closed tabs, back buttons, bookmarks of the IdP
//! page) must still be able to sign in, under our 8 KiB header cap and API Gateway's 10 KiB.

use flow_tests::browser::set_cookies;
use flow_tests::browser::{body_text, location};
use flow_tests::{events, Browser};
use shared::session::cookies::{SESSION_COOKIE, TRANSACTION_COOKIE_PREFIX};

use crate::support::TestApp;

/// A deep link as long as a stored return path may be.
fn long_return_to() -> String {
    format!("/dashboard/reports?filter={}", "x".repeat(480))
}

fn transaction_cookies(browser: &Browser) -> usize {
    browser
        .names()
        .iter()
        .filter(|name| name.starts_with(TRANSACTION_COOKIE_PREFIX))
        .count()
}

fn cookie_header_len(browser: &Browser) -> usize {
    browser.cookies().join("; ").len()
}

#[tokio::test]
async fn a_browser_with_a_dozen_abandoned_logins_still_signs_in() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();
    let query = format!("return_to={}", long_return_to());
    for _ in 0..12 {
        app.start_login(&mut browser, &query).await;
        assert!(transaction_cookies(&browser) <= 3, "{:?}", browser.names());
    }
    assert!(
        cookie_header_len(&browser) < 4096,
        "{}",
        cookie_header_len(&browser)
    );

    let authorize = app.start_login(&mut browser, &query).await;
    let back = app.at_idp(&authorize, "usr_bob", None);
    let response = app.finish_login(&mut browser, &back).await;
    assert_eq!(response.status(), 302, "{}", body_text(&response));
    assert_eq!(location(&response), long_return_to());
    assert!(browser.get(SESSION_COOKIE).is_some());
}

#[tokio::test]
async fn the_three_newest_logins_stay_completable_and_an_older_one_is_evicted() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new();
    let mut started = Vec::new();
    for tab in 0..4 {
        let authorize = app
            .start_login(&mut browser, &format!("return_to=/tab/{tab}"))
            .await;
        started.push(app.at_idp(&authorize, "usr_bob", None));
        // One second apart, as tabs are: the transaction's clock has a one-second grain.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    assert_eq!(transaction_cookies(&browser), 3);

    // The newest three finish in any order; the first was evicted when the fourth started.
    for tab in [2, 3, 1] {
        let response = app.finish_login(&mut browser, &started[tab]).await;
        assert_eq!(
            response.status(),
            302,
            "tab {tab}: {}",
            body_text(&response)
        );
        assert_eq!(location(&response), format!("/tab/{tab}"));
    }
    let response = app.finish_login(&mut browser, &started[0]).await;
    assert_eq!(response.status(), 400);
    assert!(body_text(&response).contains("missing_transaction"));
}

#[tokio::test]
async fn a_too_large_request_clears_the_transaction_cookies_so_the_next_one_works() {
    let app = TestApp::spawn().await;
    // A pile left by an older version (or by cookies set in another way): too many to send.
    let mut pile: Vec<String> = (0..10)
        .map(|i| format!("{TRANSACTION_COOKIE_PREFIX}{i:016}={}", "v".repeat(900)))
        .collect();
    pile.push("theme=dark".to_owned());
    let mut event = events::load("login-plain");
    events::set_cookies(&mut event, &pile);
    let request = events::to_request(&event);
    let response = shared::runtime::serve(&|r| login::handle(&app.login, r), request).await;
    assert_eq!(response.status(), 431, "{}", body_text(&response));

    let mut browser = Browser::new();
    for cookie in &pile {
        let (name, value) = cookie.split_once('=').expect("pair");
        browser.set(name, value);
    }
    browser.absorb(&response);
    assert_eq!(browser.names(), ["theme"], "only ours are cleared");
    app.start_login(&mut browser, "").await;
}

#[tokio::test]
async fn a_return_path_longer_than_a_transaction_may_store_is_refused_with_a_clear_error() {
    let app = TestApp::spawn().await;
    let mut event = events::load("login-plain");
    events::set_query(&mut event, &format!("return_to=/{}", "a".repeat(512)));
    let response = login::handle(&app.login, events::to_request(&event)).await;
    assert_eq!(response.status(), 400, "{}", body_text(&response));
    assert!(body_text(&response).contains("invalid_return_to"));
    assert!(set_cookies(&response).is_empty());
}
