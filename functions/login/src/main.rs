use lambda_http::Error;
use shared::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Built once and kept for the life of the container.
    let app: &'static App = Box::leak(Box::new(App::from_env(login::NEEDS).await?));
    app.warm_up(false);
    shared::runtime::run(move |req| login::handle(app, req)).await
}
