use lambda_http::Error;
use shared::App;

// One request at a time per container: a single-threaded runtime spends less CPU per invocation.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Built once and kept for the life of the container.
    let app: &'static App = Box::leak(Box::new(App::from_env(webhook::NEEDS).await?));
    app.warm_up();
    shared::runtime::run(move |req| webhook::handle(app, req)).await
}
