//! Load without loss: hundreds of complete logins at once through the real handlers, against
//! moto and the dev Scalekit server, spread over several containers of each function; each
//! session is then refreshed by two tabs racing on two other containers. Every login ends
//! signed in as its own user with exactly one session row, refreshed exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flow_tests::browser::{body_text, location};
use flow_tests::{Browser, Stack};
use scalekit_dev::Endpoint;
use shared::redacted::SessionId;
use shared::session::cookies::SESSION_COOKIE;
use shared::session::session_key;
use tokio::sync::Semaphore;

use crate::call;
use crate::support::{sign_in_on, Container};

const LOGINS: usize = 300;
/// Concurrent Lambda containers of each function.
const CONTAINERS: usize = 8;
/// Requests in flight at once.
const IN_FLIGHT: usize = 48;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_concurrent_logins_and_racing_refreshes_lose_and_mix_up_nothing() {
    let stack = Arc::new(Stack::start().await);
    let containers: Arc<Vec<_>> =
        Arc::new((0..CONTAINERS).map(|_| Container::of(&stack)).collect());
    let users = ["usr_bob", "usr_carol"];
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let busy_answers = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..LOGINS {
        let (stack, containers, permits) = (stack.clone(), containers.clone(), permits.clone());
        let busy_answers = busy_answers.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            let on = |offset: usize| &containers[(i + offset) % CONTAINERS];
            let user = users[i % 2];
            let mut browser = Browser::new();
            let response = sign_in_on(&stack, on(0), &mut browser, user, None).await;
            assert_eq!(
                response.status(),
                302,
                "login {i}: {}",
                body_text(&response)
            );
            assert_eq!(location(&response), "/dashboard/profile");
            let key = session_key(&SessionId::new(
                browser.get(SESSION_COOKIE).expect("session cookie"),
            ));

            // Two tabs of this browser refresh at once, on two other containers: one spends the
            // refresh token, the other adopts its result (or, past its wait, answers busy and
            // keeps the session).
            let mut other_tab = browser.clone();
            let (first, second) = tokio::join!(
                async {
                    call!(
                        refresh::handle,
                        &on(1).refresh,
                        browser,
                        "refresh-signed-in"
                    )
                },
                async {
                    call!(
                        refresh::handle,
                        &on(2).refresh,
                        other_tab,
                        "refresh-signed-in"
                    )
                },
            );
            for (tab, response) in [(1, &first), (2, &second)] {
                let busy = response.status() == 503 && body_text(response).contains("session_busy");
                if busy {
                    busy_answers.fetch_add(1, Ordering::Relaxed);
                }
                assert!(
                    response.status() == 204 || busy,
                    "login {i}, tab {tab}: {} {}",
                    response.status(),
                    body_text(response)
                );
            }
            for (tab, browser) in [(1, &mut browser), (2, &mut other_tab)] {
                let response = call!(
                    session::handle,
                    &on(3).session,
                    browser,
                    "session-signed-in"
                );
                assert_eq!(
                    response.status(),
                    200,
                    "login {i}, tab {tab}: {}",
                    body_text(&response)
                );
                let body: serde_json::Value =
                    serde_json::from_str(&body_text(&response)).expect("session JSON");
                assert_eq!(body["user"]["id"], user, "login {i}, tab {tab}: {body}");
            }
            key
        });
    }
    let mut keys = Vec::with_capacity(LOGINS);
    while let Some(result) = tasks.join_next().await {
        keys.push(result.expect("a login task panicked"));
    }
    eprintln!(
        "{LOGINS} logins and {} racing refreshes over {CONTAINERS} containers of each function: \
         {} refreshes answered busy (session kept)",
        2 * LOGINS,
        busy_answers.load(Ordering::Relaxed)
    );
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), LOGINS, "every login has its own session");

    let mut stored: Vec<String> = stack
        .session_items()
        .await
        .iter()
        .map(|item| item["id"].as_s().expect("id").clone())
        .collect();
    stored.sort();
    assert_eq!(
        stored, keys,
        "exactly one row per login, none lost, none extra"
    );
    // Tabs that overlapped share one refresh; tabs that did not each made their own. Either way
    // every call to the token endpoint is one stored version: none wasted, no token spent twice.
    let versions: Vec<u64> = stack.sessions().await.iter().map(|r| r.version).collect();
    assert!(versions.iter().all(|v| (2..=3).contains(v)), "{versions:?}");
    let refreshes: u64 = versions.iter().map(|v| v - 1).sum();
    assert_eq!(
        stack.idp.requests(Endpoint::Token) as u64,
        LOGINS as u64 + refreshes,
        "one code exchange per login and one token call per stored refresh"
    );
    eprintln!(
        "{refreshes} refreshes stored for {} racing requests",
        2 * LOGINS
    );
}
