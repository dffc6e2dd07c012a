//! End-to-end: the real `demo-service` binary on ephemeral loopback ports, real signals.
//!
//! Every wait is on an event (an output line, a counter of the service, an exit) and bounded
//! by a generous timeout, so that a broken service fails the test instead of hanging it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rt_demo::client;
use rt_demo::process::Stream;
use rt_demo::protocol::{ErrorBody, WorkRequest, WorkResponse};
use rt_demo::DemoError;

mod common;

use common::{ready_service, service, stats, wait_until, EVENT};

fn work(http: SocketAddr, cpu_ms: u64, wait_ms: u64) -> Result<client::Response, DemoError> {
    let body = WorkRequest { cpu_ms, wait_ms }.to_json();
    client::post_json(http, "/work", &body, Duration::from_secs(60))
}

/// Two distinct ports outside the ephemeral range that are free now (so that no other
/// test's port-0 bind can take them in the meantime).
fn free_fixed_ports() -> (u16, u16) {
    let start = 20_000 + (std::process::id() % 5_000) as u16;
    let held: Vec<TcpListener> = (start..30_000)
        .chain(20_000..start)
        .filter_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
        .take(2)
        .collect();
    let port = |i: usize| held[i].local_addr().expect("local addr").port();
    (port(0), port(1))
}

#[test]
fn sigterm_with_200_in_flight_completes_every_admitted_request() {
    const N: usize = 200;
    let (mut svc, addrs) = ready_service(&[]);
    let status = addrs.status.expect("status address");

    let clients: Vec<_> = (0..N)
        .map(|_| thread::spawn(move || work(addrs.http, 1, 3_000)))
        .collect();
    wait_until("200 requests admitted", || {
        stats(addrs.http).admitted == N as u64
    });
    let before = stats(addrs.http);
    assert!(
        before.in_flight > 0,
        "nothing in flight at SIGTERM: {before:?}"
    );

    let sigterm = Instant::now();
    svc.signal(Signal::SIGTERM).expect("SIGTERM");

    // Readiness turns 503 during the drain.
    wait_until("/health to answer 503", || {
        client::get(status, "/health", EVENT).is_ok_and(|r| r.status == 503)
    });
    // Phase 1 has started: a new request gets 503 (listener still open during the drain) or a
    // refused connection (listener closed), never admission.
    let mut saw_503 = 0;
    for _ in 0..20 {
        match work(addrs.http, 1, 1) {
            Ok(r) => {
                assert_eq!(
                    r.status,
                    503,
                    "late request: {:?}",
                    String::from_utf8_lossy(&r.body)
                );
                let e: ErrorBody = r.json().expect("JSON error body");
                assert_eq!(e.error, "shutting_down");
                saw_503 += 1;
            }
            Err(e) => assert!(e.is_refusal(), "late request: {e}"),
        }
    }
    assert!(saw_503 > 0, "no 503 during a drain of 3 s requests");

    for c in clients {
        let r = c
            .join()
            .expect("client thread")
            .expect("admitted request answered");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let w: WorkResponse = r.json().expect("work response");
        assert_eq!(w.wait_ms, 3_000);
    }
    let exit = svc.wait_exit(EVENT).expect("exit after the drain");
    assert_eq!(exit.code(), 0, "{}", svc.output_text());
    assert!(exit.at > sigterm);
    let report = svc.report().expect("shutdown-report line");
    assert_eq!(report.outcome, "clean");
    assert_eq!(report.requests.admitted, N as u64);
    assert_eq!(report.requests.completed, N as u64);
    assert_eq!(report.requests.refused, saw_503);
    let phases = report.phases.expect("phases");
    assert!(!phases.deadline_hit);
}

#[test]
fn request_longer_than_the_deadline_exits_70_naming_the_endpoint() {
    let (mut svc, addrs) = ready_service(&[("DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT", "2")]);
    let long = thread::spawn(move || work(addrs.http, 1, 10_000));
    wait_until("the long request in flight", || {
        stats(addrs.http).in_flight == 1
    });

    let sigterm = Instant::now();
    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    let exit = svc.wait_exit(EVENT).expect("exit");
    let took = exit.at.saturating_duration_since(sigterm);
    let output = svc.output_text();
    assert_eq!(exit.code(), 70, "{output}");
    assert!(
        took <= Duration::from_secs(4),
        "exit after {took:?} (deadline 2 s)\n{output}"
    );
    assert!(
        took >= Duration::from_millis(1_900),
        "exit after {took:?}, before the deadline"
    );
    // The log (and the report) name the endpoint that was still busy.
    assert!(
        svc.lines()
            .iter()
            .any(|l| l.stream == Stream::Stderr && l.text.contains("endpoint work")),
        "{output}"
    );
    let report = svc.report().expect("shutdown-report line");
    assert_eq!(report.outcome, "deadline_exceeded");
    let phases = report.phases.expect("phases");
    assert!(phases.deadline_hit);
    assert!(
        phases
            .still_active
            .iter()
            .any(|s| s.starts_with("endpoint work")),
        "{phases:?}"
    );
    // The cut-off request got no 200.
    let r = long.join().expect("client thread");
    assert!(r.as_ref().map_or(true, |r| r.status != 200), "{r:?}");
}

#[test]
fn sigint_during_the_drain_forces_exit_130() {
    let (mut svc, addrs) = ready_service(&[]);
    let _long = thread::spawn(move || work(addrs.http, 1, 10_000));
    wait_until("the long request in flight", || {
        stats(addrs.http).in_flight == 1
    });

    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    svc.wait_for_line("the drain to start", EVENT, |l| {
        l.stream == Stream::Stderr && l.text.contains("draining")
    })
    .expect("drain log line");
    let sigint = Instant::now();
    svc.signal(Signal::SIGINT).expect("SIGINT");
    let exit = svc.wait_exit(EVENT).expect("exit");
    let took = exit.at.saturating_duration_since(sigint);
    assert_eq!(exit.code(), 130, "{}", svc.output_text());
    assert!(
        took < Duration::from_secs(2),
        "exit 130 only after {took:?}"
    );
}

#[test]
fn invalid_worker_threads_exits_before_binding_anything() {
    for bad in ["abc", "0"] {
        let (http_port, status_port) = free_fixed_ports();
        let (http, status) = (http_port.to_string(), status_port.to_string());
        let mut svc = service(&[
            ("DYN_RUNTIME_NUM_WORKER_THREADS", bad),
            ("DYN_HTTP_PORT", &http),
            ("DYN_SYSTEM_PORT", &status),
        ]);
        let exit = svc.wait_exit(EVENT).expect("exit");
        let output = svc.output_text();
        assert_ne!(exit.code(), 0, "{output}");
        assert!(
            output.contains("DYN_RUNTIME_NUM_WORKER_THREADS"),
            "{output}"
        );
        assert!(output.contains(bad), "{output}");
        assert!(
            !output.contains("listening on") && !output.contains("status on"),
            "{output}"
        );
        // Neither port was ever bound: both are still free.
        for port in [http_port, status_port] {
            TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("port {port} not free after the exit: {e}"));
        }
    }
}

#[test]
fn malformed_body_gets_400_and_the_service_keeps_serving() {
    let (mut svc, addrs) = ready_service(&[]);
    for (body, code) in [
        ("{not json", "malformed_body"),
        (
            r#"{"cpu_ms": 1, "wait_ms": 1, "extra": true}"#,
            "malformed_body",
        ),
        (r#"{"cpu_ms": -5}"#, "malformed_body"),
        (r#"{"cpu_ms": 99999999}"#, "out_of_range"),
    ] {
        let r = client::post_json(addrs.http, "/work", body, EVENT).expect("answer");
        assert_eq!(r.status, 400, "{body}");
        let e: ErrorBody = r.json().expect("JSON error body");
        assert_eq!(e.error, code, "{body}: {}", e.detail);
        assert!(!e.detail.is_empty());
    }
    let r = work(addrs.http, 2, 5).expect("answer");
    assert_eq!(r.status, 200);
    let w: WorkResponse = r.json().expect("work response");
    assert!(w.cpu_us >= 2_000, "{w:?}");
    assert!(w.wait_us >= 5_000, "{w:?}");
    assert!(w.compute_thread.starts_with("compute"), "{w:?}");

    svc.signal(Signal::SIGTERM).expect("SIGTERM");
    let exit = svc.wait_exit(EVENT).expect("exit");
    assert_eq!(exit.code(), 0, "{}", svc.output_text());
    let report = svc.report().expect("shutdown-report line");
    assert_eq!(report.requests.bad_request, 4);
    assert_eq!(report.requests.completed, 1);
}
