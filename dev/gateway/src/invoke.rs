//! Invoking functions through `cargo lambda watch`'s Lambda `Invoke` API.

use std::time::Duration;

use serde_json::Value;

use crate::gateway::{Invocation, Invoke, InvokeError};

/// `POST {base}/2015-03-31/functions/{name}/invocations`, as `cargo lambda invoke` does.
pub struct WatchInvoker {
    base: String,
    http: reqwest::Client,
}

impl WatchInvoker {
    /// Invokes through the emulator at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Result<Self, reqwest::Error> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            // A function's first request builds and starts it: allow for that.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()?,
        })
    }
}

impl Invoke for WatchInvoker {
    fn invoke<'a>(&'a self, function: &'a str, event: Value) -> Invocation<'a> {
        Box::pin(async move {
            let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
            let response = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(event.to_string())
                .send()
                .await
                .map_err(|e| InvokeError(format!("{function}: {e}")))?;
            let status = response.status();
            let function_error = response.headers().contains_key("x-amz-function-error");
            let body = response
                .bytes()
                .await
                .map_err(|e| InvokeError(format!("{function}: {e}")))?;
            let answer: Value = serde_json::from_slice(&body)
                .map_err(|_| InvokeError(format!("{function}: answered {status} with no JSON")))?;
            let reported_error =
                answer.get("errorType").is_some() && answer.get("errorMessage").is_some();
            if !status.is_success() || function_error || reported_error {
                return Err(InvokeError(format!(
                    "{function}: {status} {}",
                    answer
                        .get("errorMessage")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                )));
            }
            Ok(answer)
        })
    }
}
