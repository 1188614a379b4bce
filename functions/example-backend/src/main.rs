use lambda_http::Error;

// One request at a time per container: a single-threaded runtime spends less CPU per invocation.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    // Nothing to build: the authorizer in front of it has done the checking.
    shared::runtime::run(example_backend::handle).await
}
