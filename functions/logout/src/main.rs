use lambda_http::{run, service_fn, Error};
use shared::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Built once and kept for the life of the container.
    let app: &'static App = Box::leak(Box::new(App::from_env(logout::NEEDS).await?));
    app.warm_up(false);
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(logout::handle(app, req).await)
    }))
    .await
}
