//! The AWS SDK clients every function uses: one SDK configuration (timeouts, retries) and a cap
//! on every answer's body, so a broken endpoint or proxy answering without end costs bounded
//! memory, not the function's.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::body::SdkBody;
use http_body_util::Limited;

/// The largest AWS answer read. A DynamoDB item is at most 400 KB and a secret at most 64 KiB, so
/// no answer this product asks for comes near it.
pub const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// The AWS SDK configuration: region, credentials and `AWS_ENDPOINT_URL` from the environment;
/// timeouts well inside the function's own, and the SDK's standard retries (jittered backoff,
/// three attempts) for throttling and transient faults.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// A DynamoDB client with the body cap.
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(BodyCap(MAX_RESPONSE_BODY))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A Secrets Manager client with the body cap.
pub fn secrets_manager(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .interceptor(BodyCap(MAX_RESPONSE_BODY))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// Wraps each answer's body before the SDK reads it: past the cap the read fails ("length limit
/// exceeded") and the SDK reports a response error, as it does for a connection that breaks.
#[derive(Debug)]
struct BodyCap(usize);

impl Intercept for BodyCap {
    fn name(&self) -> &'static str {
        "BodyCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let response = context.response_mut();
        let body = response.take_body();
        *response.body_mut() = SdkBody::from_body_1_x(Limited::new(body, self.0));
        Ok(())
    }
}
