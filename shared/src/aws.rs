//! The AWS SDK clients every function uses: one SDK configuration (timeouts, retries), a cap on
//! every answer's body, so a broken endpoint or proxy answering without end costs bounded memory,
//! not the function's, and every operation timed for the dependency metrics.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::metrics::{self, Dependency};
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
        .http_client(crate::tls::aws_http_client())
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
        .interceptor(Timed(Dependency::DynamoDb))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A Secrets Manager client with the body cap.
pub fn secrets_manager(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .interceptor(BodyCap(MAX_RESPONSE_BODY))
        .interceptor(Timed(Dependency::SecretsManager))
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

/// Times each operation (all its attempts, as the caller waits for them) for the dependency
/// metrics. An operation the service answered is a success for the dependency, even when the
/// answer is an error (a failed condition is how a race is decided; throttling has its own AWS
/// metric); one that was never answered (timeout, connection, an unreadable answer) is an error.
#[derive(Debug)]
struct Timed(Dependency);

/// When the operation started, kept in its configuration bag.
#[derive(Debug, Clone, Copy)]
struct Started(std::time::Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Timed {
    fn name(&self) -> &'static str {
        "Timed"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        cfg.interceptor_state()
            .store_put(Started(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if let Some(Started(started)) = cfg.load::<Started>() {
            let succeeded = match context.output_or_error() {
                Some(Ok(_)) => true,
                Some(Err(error)) => error.is_operation_error(),
                None => false,
            };
            metrics::dependency(self.0, started.elapsed(), succeeded);
        }
        Ok(())
    }
}
