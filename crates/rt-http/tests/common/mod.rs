//! Helpers shared by the rt-http tests: a runtime, a router, a raw HTTP/1.1 client.
#![allow(dead_code, unreachable_pub, clippy::expect_used)]

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use rt_core::config::RuntimeConfig;
use rt_core::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on any single client wait.
pub const CLIENT_WAIT: Duration = Duration::from_secs(15);

pub fn runtime() -> Runtime {
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(0)
        .build()
        .expect("valid test config");
    Runtime::from_config(config).expect("runtime")
}

/// `/health`, `GET /work/N` (waits N ms), `POST /echo` (the body back), `/panic`.
pub fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/work/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "done"
            }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
}

/// A parsed answer.
#[derive(Debug, Default)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Reads one answer (head, then `content-length` bytes, or to the end). `None` when the
/// connection ended before a complete head.
pub async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(CLIENT_WAIT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let mut answer = Answer {
        status,
        head,
        body: String::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = tokio::time::timeout(CLIENT_WAIT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    answer.body = String::from_utf8_lossy(&body).into_owned();
    Some(answer)
}

/// One request on a fresh connection (`connection: close`). `None`: no answer.
pub async fn request(addr: std::net::SocketAddr, raw: String) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.write_all(raw.as_bytes()).await.ok()?;
    read_answer(&mut stream).await
}

pub fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
}

/// Polls `condition` every 2 ms, at most `CLIENT_WAIT`.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + CLIENT_WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
