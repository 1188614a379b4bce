//! Load without loss: hundreds of complete logins at once through the real handlers, against
//! moto and the dev Scalekit server, each ending with exactly one session row.

use std::sync::Arc;

use flow_tests::browser::{body_text, location};
use flow_tests::{Browser, Stack};
use shared::secret::SessionId;
use shared::session::cookies::SESSION_COOKIE;
use shared::session::session_key;
use tokio::sync::Semaphore;

use crate::support::sign_in;

const LOGINS: usize = 300;
/// Concurrent Lambda containers of each function.
const CONTAINERS: usize = 8;
/// Requests in flight at once.
const IN_FLIGHT: usize = 48;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_concurrent_logins_each_create_exactly_one_session() {
    let stack = Arc::new(Stack::start().await);
    let containers: Arc<Vec<_>> = Arc::new(
        (0..CONTAINERS)
            .map(|_| (stack.app(login::NEEDS), stack.app(callback::NEEDS)))
            .collect(),
    );
    let users = ["usr_bob", "usr_carol"];
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..LOGINS {
        let (stack, containers, permits) = (stack.clone(), containers.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore");
            let (login_app, callback_app) = &containers[i % CONTAINERS];
            let mut browser = Browser::new();
            let response = sign_in(
                &stack,
                login_app,
                callback_app,
                &mut browser,
                users[i % 2],
                None,
            )
            .await;
            assert_eq!(
                response.status(),
                302,
                "login {i}: {}",
                body_text(&response)
            );
            assert_eq!(location(&response), "/dashboard/profile");
            session_key(&SessionId::new(
                browser.get(SESSION_COOKIE).expect("session cookie"),
            ))
        });
    }
    let mut keys = Vec::with_capacity(LOGINS);
    while let Some(result) = tasks.join_next().await {
        keys.push(result.expect("a login task panicked"));
    }
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
}
