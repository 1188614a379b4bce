//! A front for moto that keeps its clients' connections alive, as AWS's endpoints do.
//!
//! moto answers every request with `Connection: close`, so each SDK call against it pays a new
//! TCP connection (connect, a new hyper connection task, the pool's bookkeeping): about 150 µs of
//! the caller's CPU per call, which a function in AWS pays once per container. The front reads
//! each request of a kept-alive client connection, sends it to moto on a connection of its own,
//! and answers the client without `Connection: close`. It runs on a thread of its own, so its
//! work is in neither the functions' process CPU nor the in-process handler's thread CPU.
//!
//! Requests must carry `Content-Length` (the AWS SDK's JSON requests do); a request it cannot
//! frame closes the client's connection, which the SDK reports and retries like any broken one.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The largest request or response head read.
const MAX_HEAD: usize = 64 * 1024;

/// Starts the front to `target` on its own thread; returns its URL.
pub fn start(target: SocketAddr) -> Result<String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("bind the keep-alive front")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("the keep-alive front's runtime")?;
    std::thread::Builder::new()
        .name("keep-alive-front".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(serve(client, target));
                }
            })
        })
        .context("the keep-alive front's thread")?;
    Ok(url)
}

/// Serves one client connection, one request at a time, until it closes or breaks.
async fn serve(mut client: TcpStream, target: SocketAddr) {
    let _ = client.set_nodelay(true);
    let mut pending = Vec::new();
    while let Some(request) = read_request(&mut client, &mut pending).await {
        let Some(response) = exchange(target, &request).await else {
            return;
        };
        if client.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// Sends `request` to `target` on a new connection; returns the answer, made keep-alive. The
/// answer is complete once its `Content-Length` bytes are in: waiting for moto to close the
/// connection as well would add its request logging and teardown (milliseconds) to every call.
async fn exchange(target: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut upstream = TcpStream::connect(target).await.ok()?;
    let _ = upstream.set_nodelay(true);
    upstream.write_all(request).await.ok()?;
    let response = read_message(&mut upstream, &mut Vec::new(), Message::Response).await?;
    kept_alive(&response)
}

/// What [`read_message`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Message {
    /// A request: its body is `Content-Length` bytes, none without it; a chunked one is refused.
    Request,
    /// An answer: its body is `Content-Length` bytes, or everything until the connection closes.
    Response,
}

/// Reads one request (through [`Message::Request`]) from a client connection, keeping any bytes
/// past it in `pending`.
async fn read_request(client: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    read_message(client, pending, Message::Request).await
}

/// Reads one message from `stream`, keeping any bytes past it in `pending`. `None` when the
/// stream closed or broke first, or the message cannot be framed.
async fn read_message(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
    kind: Message,
) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    let (head_len, body_len) = loop {
        if let Some(head_len) = head_length(pending) {
            let head = std::str::from_utf8(&pending[..head_len]).ok()?;
            let length = header(head, "content-length");
            let body_len = match (length, kind) {
                (Some(value), _) => Some(value.parse().ok()?),
                (None, Message::Request) if header(head, "transfer-encoding").is_some() => {
                    return None
                }
                (None, Message::Request) => Some(0),
                (None, Message::Response) => None,
            };
            break (head_len, body_len);
        }
        if pending.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&chunk[..n]);
    };
    let Some(body_len) = body_len else {
        stream.read_to_end(pending).await.ok()?;
        return Some(std::mem::take(pending));
    };
    while pending.len() < head_len + body_len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&chunk[..n]);
    }
    Some(pending.drain(..head_len + body_len).collect())
}

/// The length of the head (through the blank line), once it is all in `bytes`.
fn head_length(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|end| end + 4)
}

/// The value of header `name` (lower case) in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// moto's whole answer (it closed the connection after it) as a kept-alive one: without
/// `Connection`, with `Content-Length` when moto sent none. `None` for an answer without a head.
fn kept_alive(response: &[u8]) -> Option<Vec<u8>> {
    let head_len = head_length(response)?;
    let head = std::str::from_utf8(&response[..head_len - 2]).ok()?;
    let body = &response[head_len..];
    let mut out = Vec::with_capacity(response.len() + 32);
    for line in head.split("\r\n").filter(|line| !line.is_empty()) {
        let name = line.split_once(':').map(|(name, _)| name.trim());
        if name.is_some_and(|name| name.eq_ignore_ascii_case("connection")) {
            continue;
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if header(head, "content-length").is_none() && header(head, "transfer-encoding").is_none() {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closing_answer_becomes_a_kept_alive_one() {
        let answer = b"HTTP/1.1 200 OK\r\nServer: Werkzeug\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(
            kept_alive(answer).unwrap(),
            b"HTTP/1.1 200 OK\r\nServer: Werkzeug\r\nContent-Length: 2\r\n\r\n{}"
        );
        let unframed = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\":1}";
        assert_eq!(
            kept_alive(unframed).unwrap(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
        );
        assert!(kept_alive(b"no head").is_none());
    }

    #[tokio::test]
    async fn requests_on_one_client_connection_each_reach_the_target_on_a_new_one() {
        // A target that, like moto, answers one request per connection with `Connection: close`,
        // and here does not even close it: the front must pass the answer on by its length.
        let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target_addr = target.local_addr().unwrap();
        tokio::spawn(async move {
            let mut served = 0;
            let mut held = Vec::new();
            while let Ok((mut stream, _)) = target.accept().await {
                served += 1;
                let mut pending = Vec::new();
                let request = read_request(&mut stream, &mut pending).await.unwrap();
                let body = format!("{}:{}", served, request.len());
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
                held.push(stream);
            }
        });
        let url = start(target_addr).unwrap();
        let mut client = TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .unwrap();
        let request = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
        let mut answers = Vec::new();
        for _ in 0..2 {
            client.write_all(request).await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = client.read(&mut buf).await.unwrap();
            answers.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let length = request.len();
        assert_eq!(
            answers,
            [
                format!("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n1:{length}"),
                format!("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n2:{length}"),
            ]
        );
    }
}
