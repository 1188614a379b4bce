//! What one DynamoDB `GetItem` costs through the AWS SDK, and what each SDK setting changes:
//! `cargo bench -p shared --bench aws_sdk`.
//!
//! The authorizer's session decision and the callback spend most of their CPU in one SDK call
//! (`./dev/bench`, "by step" rows). Here the same call goes to a stand-in on 127.0.0.1 that
//! answers every request at once on a kept-alive connection, all on one current-thread runtime
//! as in the functions, so the differences between the variants are the SDK's own work:
//!
//! - `product`: the clients the functions use (`shared::aws`): timeouts, standard retries, the
//!   body cap and the metrics interceptor;
//! - `without_our_interceptors`: the same configuration without the body cap and the metrics
//!   line (what ours cost: `product` minus this);
//! - `stalled_stream_protection_off`: `without_our_interceptors` with the SDK's throughput
//!   monitor on bodies turned off;
//! - `retries_off`: `without_our_interceptors` with no retry strategy (no retry token bucket, a
//!   single attempt).

use std::hint::black_box;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// A session record's size and shape, roughly: the key, the sealed tokens and the expiry.
fn item_body() -> String {
    let sealed = "A".repeat(1200);
    format!(
        r#"{{"Item":{{"id":{{"S":"session#0123456789abcdef0123456789abcdef"}},"data":{{"B":"{sealed}"}},"expires_at":{{"N":"1796480000"}},"version":{{"N":"3"}}}}}}"#
    )
}

/// Answers every HTTP/1.1 request on the connection with `body`, keeping it alive.
async fn answer(mut stream: TcpStream, body: &'static str) {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: bench\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buffer = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        // One request: headers, then content-length bytes of body.
        let (head_end, content_length) = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|value| value.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        while buffer.len() < head_end + content_length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        buffer.drain(..head_end + content_length);
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Starts the stand-in on `runtime`; returns its URL.
fn stand_in(runtime: &Runtime) -> String {
    let body: &'static str = Box::leak(item_body().into_boxed_str());
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind the stand-in");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, body));
        }
    });
    url
}

fn get_item(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = stand_in(&runtime);
    // SAFETY of set_var: single-threaded here, before any client exists.
    std::env::set_var("AWS_ENDPOINT_URL", &url);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDBENCH");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench-secret");
    shared::metrics::set_writer(|_line| {});
    let sdk = runtime.block_on(shared::aws::sdk_config());

    let variants: [(&str, aws_sdk_dynamodb::Client); 4] = [
        ("product", shared::aws::dynamodb(&sdk)),
        (
            "without_our_interceptors",
            aws_sdk_dynamodb::Client::new(&sdk),
        ),
        (
            "stalled_stream_protection_off",
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                    .build(),
            ),
        ),
        (
            "retries_off",
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .retry_config(RetryConfig::disabled())
                    .build(),
            ),
        ),
    ];
    let mut group = c.benchmark_group("dynamodb_get_item");
    for (name, client) in &variants {
        group.bench_function(*name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let output = client
                        .get_item()
                        .table_name("sessions")
                        .key("id", AttributeValue::S("session#bench".to_owned()))
                        .consistent_read(true)
                        .send()
                        .await
                        .expect("the stand-in answers");
                    black_box(output.item.map(|item| item.len()))
                })
            })
        });
    }
    group.finish();
}

criterion_group!(aws_sdk, get_item);
criterion_main!(aws_sdk);
