//! End-to-end, issue 12: the demo service's HTTP edge (rt-http) seen from outside. The real
//! `demo-service` binary on ephemeral loopback ports, real SIGTERM, raw sockets.
//!
//! `lost` is computed from the service's own counters in its final report line:
//! accepted connections − 2xx answers − 503s of the drain ([`ServiceStats::lost`]). Every
//! wait is bounded; every service is stopped by its pid (SIGTERM, or SIGKILL when a
//! [`ServiceProcess`] is dropped while it still runs). The tests of this file run one at a
//! time: some of them measure latencies and shutdown durations on a shared machine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rt_demo::client;
use rt_demo::process::{Addresses, ServiceProcess};
use rt_demo::protocol::{ErrorBody, WorkRequest, WorkResponse};

mod common;

use common::{stats, wait_until, EVENT};

/// The service's shutdown grace for connections without a complete request: rt-http's
/// default, which the service uses (`DYN_HTTP_SHUTDOWN_GRACE_SECS` is not set here).
const GRACE: Duration = rt_http::DEFAULT_SHUTDOWN_GRACE;

/// One test at a time (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Raises this process's open-file limit to its hard limit (the services it starts inherit
/// it): the tests hold thousands of sockets.
fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    }
    hard
}

/// Starts the service (with room for the 10,000 connections of
/// `many_in_flight_across_sigterm_lose_nothing`) and waits until `/health` says ready.
/// Returns the status address too.
fn ready_service() -> (ServiceProcess, Addresses, SocketAddr) {
    let (svc, addrs) = common::ready_service(&[("DYN_HTTP_MAX_CONNECTIONS", "12000")]);
    let status = addrs.status.expect("status server address");
    (svc, addrs, status)
}

fn work_request(cpu_ms: u64, wait_ms: u64) -> Vec<u8> {
    let body = WorkRequest { cpu_ms, wait_ms }.to_json();
    format!(
        "POST /work HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What one raw client saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// The connection was not made (the listener is closed).
    Refused,
    /// Connected, then closed or reset before any byte of an answer.
    Unanswered,
    /// An answer with this status.
    Status(u16),
}

/// Connects, waits `delay`, sends `raw`, reads the answer to the end.
fn exchange(addr: SocketAddr, delay: Duration, raw: &[u8]) -> Seen {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, EVENT) else {
        return Seen::Refused;
    };
    stream.set_read_timeout(Some(EVENT)).unwrap();
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    if stream.write_all(raw).is_err() {
        return Seen::Unanswered;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    match std::str::from_utf8(answer.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(status) => Seen::Status(status),
        None => Seen::Unanswered,
    }
}

/// Defect 1: clients that connect and send their request `delay` later, in a closed loop,
/// while the drain ends (the listener closes after the last admitted request): every
/// connection the service accepted got a 200 or a 503.
fn late_clients_round(delay: Duration) {
    const LONG: usize = 20;
    const LOOPERS: usize = 8;
    let (mut svc, addrs, status) = ready_service();
    let long: Vec<_> = (0..LONG)
        .map(|_| {
            let addr = addrs.http;
            thread::spawn(move || exchange(addr, Duration::ZERO, &work_request(1, 1_000)))
        })
        .collect();
    wait_until("the long requests admitted", || {
        stats(addrs.http).admitted == LONG as u64
    });
    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    // Phase 1 has taken effect (readiness turns 503 once the endpoint refuses admission):
    // from now on every new request is late.
    wait_until("/health to answer 503", || {
        client::get(status, "/health", EVENT).is_ok_and(|r| r.status == 503)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let seen_503 = Arc::new(AtomicU64::new(0));
    let seen_unanswered = Arc::new(AtomicU64::new(0));
    let loopers: Vec<_> = (0..LOOPERS)
        .map(|_| {
            let (stop, seen_503, seen_unanswered) = (
                Arc::clone(&stop),
                Arc::clone(&seen_503),
                Arc::clone(&seen_unanswered),
            );
            let addr = addrs.http;
            thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) && started.elapsed() < EVENT {
                    match exchange(addr, delay, &work_request(0, 0)) {
                        Seen::Status(503) => {
                            seen_503.fetch_add(1, Ordering::SeqCst);
                        }
                        Seen::Status(other) => panic!("a late request got {other}"),
                        Seen::Unanswered => {
                            seen_unanswered.fetch_add(1, Ordering::SeqCst);
                        }
                        // The listener is closed: the drain is over; keep trying (bounded)
                        // until the service has exited.
                        Seen::Refused => thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        })
        .collect();
    let exit = svc.wait_exit(EVENT).expect("exit after the drain");
    stop.store(true, Ordering::SeqCst);
    for looper in loopers {
        looper.join().expect("late client");
    }
    for request in long {
        assert_eq!(request.join().expect("long request"), Seen::Status(200));
    }
    let output = svc.output_text();
    assert_eq!(exit.code(), 0, "{output}");
    let report = svc.report().expect("shutdown-report line");
    let r = report.requests;
    assert_eq!(
        r.lost(),
        0,
        "delay {delay:?}: {} accepted connections got neither a 200 nor a 503: {r:?}\n{output}",
        r.lost()
    );
    // Every 503 the service counted reached a client, and the late clients did arrive
    // during the drain.
    let seen_503 = seen_503.load(Ordering::SeqCst);
    assert_eq!(r.refused, seen_503, "{r:?}");
    assert!(seen_503 > 0, "no late client arrived during the drain");
    eprintln!(
        "delay {delay:?}: {} connections accepted, {} 2xx, {} 503, lost {}; \
         {} closed unanswered before the service accepted them",
        r.connections,
        r.responses_2xx,
        r.refused,
        r.lost(),
        seen_unanswered.load(Ordering::SeqCst)
    );
}

#[test]
fn late_clients_while_the_drain_ends_are_never_lost() {
    let _serial = serial();
    for delay_ms in [0, 1, 2, 10] {
        late_clients_round(Duration::from_millis(delay_ms));
    }
}

/// Opens `n` stalled connections: half send half a request line, half a complete head and
/// half of the body it announces.
fn stall(addr: SocketAddr, n: usize, path: &str) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut stream = TcpStream::connect(addr).expect("connect a stalled client");
            stream.set_read_timeout(Some(EVENT)).unwrap();
            let half = if i % 2 == 0 {
                format!("POST {}", &path[..path.len() / 2])
            } else {
                format!(
                    "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
                     content-length: 100\r\n\r\n{{\"cpu_ms\":"
                )
            };
            stream
                .write_all(half.as_bytes())
                .expect("write half a request");
            stream
        })
        .collect()
}

/// A counter of the status server's `/metrics`.
fn scrape(status: SocketAddr, series: &str) -> Option<u64> {
    let text = client::get(status, "/metrics", EVENT).ok()?.body;
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Defect 2: 500 stalled connections on each port neither stop `/health` nor hold the
/// shutdown past the grace.
#[test]
fn stalled_clients_on_both_ports_neither_stop_health_nor_hold_the_shutdown() {
    const STALLED: usize = 500;
    let _serial = serial();
    raise_fd_limit();
    let (mut svc, addrs, status) = ready_service();
    let on_http = stall(addrs.http, STALLED, "/work");
    let on_status = stall(status, STALLED, "/health");
    wait_until(
        "the stalled connections accepted on the request port",
        || stats(addrs.http).connections >= STALLED as u64,
    );
    wait_until(
        "the stalled connections accepted on the status port",
        || {
            scrape(
                status,
                r#"dyn_runtime_http_connections_accepted_total{server="status"} "#,
            )
            .is_some_and(|n| n >= STALLED as u64)
        },
    );
    // The request server's metrics are on the status server's /metrics too.
    let open = scrape(
        status,
        r#"dyn_runtime_http_connections_open{server="work"} "#,
    );
    assert!(open.is_some_and(|n| n >= STALLED as u64), "{open:?}");

    for _ in 0..10 {
        let started = Instant::now();
        let health = client::get(status, "/health", EVENT).expect("/health");
        let took = started.elapsed();
        assert_eq!(health.status, 200);
        assert!(
            took < Duration::from_millis(100),
            "/health took {took:?} with {STALLED} stalled clients on each port"
        );
    }

    let sigterm = Instant::now();
    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    let exit = svc.wait_exit(EVENT).expect("exit");
    let took = exit.at.saturating_duration_since(sigterm);
    let output = svc.output_text();
    assert_eq!(exit.code(), 0, "{output}");
    assert!(
        took <= GRACE + Duration::from_secs(1),
        "exit {took:?} after SIGTERM, more than the grace {GRACE:?} + 1 s\n{output}"
    );
    let report = svc.report().expect("shutdown-report line");
    assert_eq!(report.outcome, "clean");
    // Nothing lost by the service's counts: each stalled client got a 503 at the grace.
    assert_eq!(report.requests.lost(), 0, "{:?}", report.requests);
    for mut stream in on_http {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(
            answer.starts_with(b"HTTP/1.1 503"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    drop(on_status);
}

/// Defect 3: a `POST /work` whose client shuts down its write side after the full request is
/// answered 200; one sent during the drain is answered 503.
#[test]
fn a_half_closed_post_work_is_answered() {
    let _serial = serial();
    let (mut svc, addrs, status) = ready_service();
    let http = addrs.http;
    let half_closed = move |cpu_ms, wait_ms| {
        let mut stream = TcpStream::connect(http).expect("connect");
        stream.set_read_timeout(Some(EVENT)).unwrap();
        stream.write_all(&work_request(cpu_ms, wait_ms)).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    let answer = half_closed(1, 20);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let work: WorkResponse = serde_json::from_str(body).expect("work response");
    assert_eq!(work.wait_ms, 20);

    // Across a SIGTERM: one in flight (half-closed) finishes with 200, a late one gets 503.
    let in_flight = thread::spawn(move || half_closed(1, 1_000));
    wait_until("the half-closed request admitted", || {
        stats(addrs.http).in_flight == 1
    });
    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    wait_until("/health to answer 503", || {
        client::get(status, "/health", EVENT).is_ok_and(|r| r.status == 503)
    });
    let late = half_closed(0, 0);
    assert!(late.starts_with("HTTP/1.1 503"), "{late}");
    let answer = in_flight.join().expect("client");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let exit = svc.wait_exit(EVENT).expect("exit");
    assert_eq!(exit.code(), 0, "{}", svc.output_text());
    let r = svc.report().expect("report").requests;
    assert_eq!(r.lost(), 0, "{r:?}");
    assert_eq!(r.completed, 2, "{r:?}");
}

/// Defect 8: `GET /work` answers 405 with `Allow: POST` and a JSON error body; an unknown
/// path answers 404 with one.
#[test]
fn get_work_is_405_with_allow_post_and_a_json_body() {
    let _serial = serial();
    let (mut svc, addrs, _) = ready_service();
    for (method, path, allow) in [
        ("GET", "/work", "POST"),
        ("PUT", "/work", "POST"),
        ("POST", "/stats", "GET, HEAD"),
    ] {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        let mut stream = TcpStream::connect(addrs.http).expect("connect");
        stream.set_read_timeout(Some(EVENT)).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
        assert!(
            head.starts_with("HTTP/1.1 405"),
            "{method} {path}: {answer}"
        );
        assert!(
            head.lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("allow: {allow}"))),
            "{method} {path}: {head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let error: ErrorBody = serde_json::from_str(body).expect("JSON error body");
        assert_eq!(error.error, "method_not_allowed");
        assert!(
            error.detail.contains(method) && error.detail.contains(allow),
            "{}",
            error.detail
        );
    }
    let missing = client::get(addrs.http, "/nope", EVENT).expect("answer");
    assert_eq!(missing.status, 404);
    let error: ErrorBody = missing.json().expect("JSON error body");
    assert_eq!(error.error, "not_found");
    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    assert_eq!(svc.wait_exit(EVENT).expect("exit").code(), 0);
}

/// The peak resident set of a process, from `/proc` (KiB).
fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Many requests in flight across SIGTERM: every one is answered 200, nothing is lost.
///
/// 10,000 in flight: above the default connection limit (4096), so the service runs with
/// `DYN_HTTP_MAX_CONNECTIONS=12000`. Each of the two processes needs one descriptor per
/// connection.
#[test]
fn many_in_flight_across_sigterm_lose_nothing() {
    const N: usize = 10_000;
    const WAIT_MS: u64 = 20_000;
    let _serial = serial();
    let hard = raise_fd_limit();
    assert!(
        hard > N as u64 + 200,
        "the open-file limit ({hard}) is too low for {N} connections"
    );
    let (mut svc, addrs, _) = ready_service();
    let rss_before = rss_kib(svc.pid());
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let raw = Arc::new(work_request(0, WAIT_MS));
    // At most this many connects at once: a burst of 10,000 SYNs overflows the listen queue and
    // the kernel's SYN retries (1 s, 3 s, 7 s...) would make admission take most of a minute.
    let connecting = Arc::new(tokio::sync::Semaphore::new(128));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let raw = Arc::clone(&raw);
            let connecting = Arc::clone(&connecting);
            let addr = addrs.http;
            clients.spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let permit = connecting.acquire_owned().await.ok()?;
                let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
                stream.write_all(&raw).await.ok()?;
                drop(permit);
                let mut answer = Vec::new();
                // Accepted connections wait in the kernel's queue until the service takes
                // them: the last of 10,000 may be admitted long after it was written.
                tokio::time::timeout(3 * EVENT, stream.read_to_end(&mut answer))
                    .await
                    .ok()?
                    .ok()?;
                std::str::from_utf8(answer.get(9..12)?)
                    .ok()?
                    .parse::<u16>()
                    .ok()
            })
        })
        .collect();
    let started = Instant::now();
    wait_until("every request admitted", || {
        stats(addrs.http).admitted == N as u64
    });
    let admitted_after = started.elapsed();
    let before = stats(addrs.http);
    let rss_peak = rss_kib(svc.pid());
    assert!(
        before.in_flight > 0,
        "nothing in flight at SIGTERM: {before:?}"
    );
    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    let statuses: Vec<Option<u16>> = clients.block_on(async move {
        let mut statuses = Vec::with_capacity(N);
        for task in tasks {
            statuses.push(task.await.ok().flatten());
        }
        statuses
    });
    let exit = svc.wait_exit(EVENT).expect("exit");
    let output = svc.output_text();
    assert_eq!(exit.code(), 0, "{output}");
    let ok = statuses.iter().filter(|s| **s == Some(200)).count();
    assert_eq!(ok, N, "answers other than 200: {:?}", {
        let mut other: Vec<_> = statuses.iter().filter(|s| **s != Some(200)).collect();
        other.dedup();
        other
    });
    let r = svc.report().expect("report").requests;
    assert_eq!(r.lost(), 0, "{r:?}");
    assert_eq!(r.completed, N as u64, "{r:?}");
    if let (Some(a), Some(b)) = (rss_before, rss_peak) {
        eprintln!(
            "{N} in flight (admitted after {admitted_after:?}, {} in flight at SIGTERM): \
             RSS {a} KiB -> {b} KiB, {:.1} KiB per in-flight request",
            before.in_flight,
            b.saturating_sub(a) as f64 / N as f64
        );
    }
}
