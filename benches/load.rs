//! The load generator of the HTTP benches (`http`, `observability`): raw HTTP/1.1 over tokio
//! TCP, keep-alive connections with one request at a time each, latency per request and the
//! server threads' CPU time from the scheduler's own counters.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::percentile;

/// One server measured for one round.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// Requests answered in the round.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, write of the request to the last byte of its answer.
    pub p50_ns: f64,
    /// 99th percentile of the same.
    pub p99_ns: f64,
    /// CPU time of the server's runtime threads per request.
    pub cpu_ns: f64,
}

/// CPU time so far of this process's threads whose name starts with `prefix` (the
/// scheduler's own nanoseconds, `/proc/self/task/*/schedstat`).
pub fn threads_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A keep-alive `GET path` request.
pub fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").into_bytes()
}

/// Reads one answer (head and `content-length` body) into `buf`; returns its status.
pub async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<u16> {
    buf.clear();
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8"))?;
            let status = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("no status line"))?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or_else(|| bad("no content-length"))?;
            let total = end + 4 + length;
            while buf.len() < total {
                if stream.read_buf(buf).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            return Ok(status);
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// One request on a kept-alive connection; its status.
pub async fn exchange(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: &[u8],
) -> io::Result<u16> {
    stream.write_all(request).await?;
    read_response(stream, buf).await
}

/// Connects to `addr` with `TCP_NODELAY`.
pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `connections` keep-alive connections to `addr`, one `GET /` at a time each, for
/// `duration`; the CPU time counted is that of this process's `rt-primary-*` threads.
///
/// # Panics
///
/// When the server cannot be reached or answers anything but 200: a benchmark that cannot
/// run has nothing to report.
#[allow(clippy::expect_used)]
pub async fn load(addr: SocketAddr, connections: usize, duration: Duration) -> Segment {
    let req = request("/");
    let mut streams = Vec::with_capacity(connections);
    let mut buf = Vec::with_capacity(1024);
    for _ in 0..connections {
        let mut stream = connect(addr).await.expect("connect to the server");
        // One request before the clock starts: the connection's task exists on the server.
        let status = exchange(&mut stream, &mut buf, &req)
            .await
            .expect("warm-up");
        assert_eq!(status, 200);
        streams.push(stream);
    }
    let cpu_before = threads_cpu_ns(rt_core::Runtime::PRIMARY_THREAD_PREFIX);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for mut stream in streams {
        let req = req.clone();
        tasks.spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let mut latencies = Vec::with_capacity(65_536);
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                let status = exchange(&mut stream, &mut buf, &req)
                    .await
                    .expect("a request on a kept-alive connection");
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&buf));
                let t1 = Instant::now();
                if t1 > deadline {
                    break;
                }
                latencies.push(t1.duration_since(t0).as_nanos() as f64);
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.expect("a load task"));
    }
    let cpu = threads_cpu_ns(rt_core::Runtime::PRIMARY_THREAD_PREFIX).saturating_sub(cpu_before);
    let requests = all.len() as u64;
    Segment {
        requests,
        rps: requests as f64 / duration.as_secs_f64(),
        cpu_ns: cpu as f64 / requests.max(1) as f64,
        p50_ns: percentile(&mut all, 50.0),
        p99_ns: percentile(&mut all, 99.0),
    }
}
