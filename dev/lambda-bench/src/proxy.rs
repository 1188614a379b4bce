//! A TCP proxy on 127.0.0.1 in front of a stand-in (moto, the dev Scalekit server) that counts
//! AWS API calls by their `X-Amz-Target` header (DynamoDB and Secrets Manager both use the JSON
//! protocol, where every request names its operation there) and can black-hole the service:
//! connections are accepted but never answered, as a stalled network path looks to a client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Whether the proxy forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Connections are forwarded.
    Open,
    /// Connections are accepted and held: nothing is read, nothing is answered.
    Blackhole,
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    mode: watch::Sender<Mode>,
    stall_held: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
}

const NEEDLE: &[u8] = b"\r\nx-amz-target:";

/// Finds `X-Amz-Target` header values in a client's byte stream, across read boundaries.
#[derive(Default)]
struct Scanner {
    buf: Vec<u8>,
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

impl Scanner {
    fn feed(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(chunk);
        let mut found = Vec::new();
        let mut start = 0;
        loop {
            let Some(i) = find_ignore_case(&self.buf[start..], NEEDLE) else {
                start = start.max(self.buf.len().saturating_sub(NEEDLE.len()));
                break;
            };
            let value_start = start + i + NEEDLE.len();
            match find_ignore_case(&self.buf[value_start..], b"\r\n") {
                Some(j) => {
                    let value = String::from_utf8_lossy(&self.buf[value_start..value_start + j]);
                    found.push(value.trim().to_owned());
                    start = value_start + j;
                }
                None => {
                    start += i;
                    break;
                }
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > 8192 {
            // A header line this long is not one we look for.
            let cut = self.buf.len() - NEEDLE.len();
            self.buf.drain(..cut);
        }
        found
    }
}

impl Proxy {
    /// Binds a port now (so its URL can be configured before the target exists).
    pub async fn bind() -> std::io::Result<(TcpListener, String)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        Ok((listener, url))
    }

    /// A proxy on a new port to `target`, open.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let (listener, url) = Self::bind().await?;
        Ok(Self::serve(listener, url, target))
    }

    /// Serves `listener` (from [`Proxy::bind`]) as a proxy to `target`, open.
    pub fn serve(listener: TcpListener, url: String, target: SocketAddr) -> Proxy {
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let (mode, mode_rx) = watch::channel(Mode::Open);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let stall_held = Arc::new(AtomicBool::new(false));
        let proxy = Proxy {
            url,
            counts: counts.clone(),
            mode,
            stall_held: stall_held.clone(),
            shutdown,
        };
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stop.changed() => return,
                };
                let Ok((inbound, _)) = accepted else { continue };
                let held = *mode_rx.borrow() == Mode::Blackhole;
                let mut mode = mode_rx.clone();
                let mut stop = shutdown_rx.clone();
                let counts = counts.clone();
                let stall_held = stall_held.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = connection(inbound, target, held, &mut mode, &stall_held, &counts) => {}
                        _ = stop.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Operation name (`PutItem`, `GetSecretValue`, ...) → requests seen so far.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.counts.lock().expect("counts lock").clone()
    }

    /// Opens or black-holes the service. Connections accepted while black-holed are forwarded
    /// once it opens (a stall that ends), unless [`Proxy::stall_held_forever`] was set.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections accepted while black-holed stay unanswered even after the service opens
    /// (packets lost for good: only a client timeout and a new connection recover).
    pub fn stall_held_forever(&self, stall: bool) {
        self.stall_held.store(stall, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

async fn connection(
    mut inbound: TcpStream,
    target: SocketAddr,
    held: bool,
    mode: &mut watch::Receiver<Mode>,
    stall_held: &AtomicBool,
    counts: &Mutex<BTreeMap<String, usize>>,
) {
    if held {
        let _ = mode.wait_for(|m| *m == Mode::Open).await;
        if stall_held.load(Ordering::Acquire) {
            std::future::pending::<()>().await;
        }
    }
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (mut client_read, mut client_write) = inbound.split();
    let (mut server_read, mut server_write) = outbound.split();
    let upstream = async {
        let mut scanner = Scanner::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for target in scanner.feed(&buf[..n]) {
                let operation = target.rsplit('.').next().unwrap_or(&target).to_owned();
                *counts
                    .lock()
                    .expect("counts lock")
                    .entry(operation)
                    .or_default() += 1;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

#[cfg(test)]
mod tests {
    use super::Scanner;

    #[test]
    fn targets_are_found_across_reads_and_in_any_case() {
        let mut scanner = Scanner::default();
        let request = b"POST / HTTP/1.1\r\nhost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\ncontent-length: 2\r\n\r\n{}POST / HTTP/1.1\r\nx-amz-target: secretsmanager.GetSecretValue\r\n\r\n";
        let mut found = Vec::new();
        for chunk in request.chunks(7) {
            found.extend(scanner.feed(chunk));
        }
        assert_eq!(
            found,
            ["DynamoDB_20120810.PutItem", "secretsmanager.GetSecretValue"]
        );
    }
}
