// The authorizer's future (runtime, identify, session check, refresh) nests deeper than the default
// query limit when the compiler computes its layout.
#![recursion_limit = "256"]

use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use lambda_http::Error;
use shared::App;

// One request at a time per container: a single-threaded runtime spends less CPU per invocation.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Built once and kept for the life of the container; the signing keys are fetched now, so a
    // warm decision makes no network call but the session read.
    let app: &'static App = Box::leak(Box::new(App::from_env(authorizer::NEEDS).await?));
    app.warm_up();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<authorizer::AuthorizerEvent>| {
            authorizer::handle(app, event.payload)
        },
    ))
    .await
}
