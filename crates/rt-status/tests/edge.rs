//! The status server as an rt-http server: stalled clients on its port neither stop the probes
//! nor hold the teardown, and `/metrics` shows the HTTP edge metrics of every server added.
//! Real loopback sockets, ephemeral ports, bounded waits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use rt_core::config::{HealthStatus, RuntimeConfig};
use rt_core::Runtime;
use rt_http::ServeOptions;
use rt_status::{StatusOptions, StatusServer, DEFAULT_STATUS_SHUTDOWN_GRACE, TEARDOWN_NAME};

/// A safety net so that a broken server fails the test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Half the stalled clients send half a request line, half a complete head and half a body.
const STALLED: usize = 500;

fn runtime(teardown_secs: u64) -> Runtime {
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(0)
        .teardown_timeout_secs(teardown_secs)
        .system_host("127.0.0.1")
        .system_port(0)
        .system_starting_health_status(HealthStatus::Ready)
        .build()
        .unwrap();
    Runtime::from_config(config).unwrap()
}

/// One `GET` on a fresh connection: the status code and the whole answer.
fn get_path(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    (status, text)
}

/// Opens the stalled connections; they stay open as long as the returned streams live.
fn stall(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut stream = TcpStream::connect(addr).expect("connect a stalled client");
            let half: &[u8] = if i % 2 == 0 {
                b"GET /hea"
            } else {
                b"GET /health HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nhalf a body"
            };
            stream.write_all(half).expect("write half a request");
            stream
        })
        .collect()
}

/// Regression (issue 12, defect 2, status port): one stalled client made every shutdown wait
/// the full teardown bound and report "incomplete"; 500 made it worse. Now the probes answer
/// at once, and the teardown ends within the status server's shutdown grace.
#[test]
fn stalled_clients_neither_stop_the_probes_nor_hold_the_teardown() {
    // A teardown bound well above the grace: hitting it would be the defect.
    let runtime = runtime(5);
    let server = StatusServer::start(&runtime)
        .unwrap()
        .expect("system_port is set");
    let addr = server.local_addr();
    let stalled = stall(addr, STALLED);

    // The server has accepted them all. The half heads stay open (until the header read
    // timeout, 10 s); the half bodies are answered at once (no route reads a body) and closed.
    let deadline = Instant::now() + IO_TIMEOUT;
    while server.http_metrics().connections_accepted < STALLED as u64 {
        assert!(Instant::now() < deadline, "{:?}", server.http_metrics());
        std::thread::sleep(Duration::from_millis(10));
    }
    let metrics = server.http_metrics();
    assert!(
        metrics.connections_open >= STALLED as u64 / 2,
        "{metrics:?}"
    );
    for _ in 0..5 {
        let started = Instant::now();
        let (status, _) = get_path(addr, "/health");
        let took = started.elapsed();
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_millis(100),
            "/health took {took:?} with {STALLED} stalled clients"
        );
    }

    let started = Instant::now();
    let report = runtime.primary().block_on(runtime.shutdown_and_wait(None));
    let took = started.elapsed();
    assert!(report.is_clean(), "{report}");
    assert!(
        report.teardown_completed.iter().any(|t| t == TEARDOWN_NAME),
        "{report}"
    );
    assert!(
        took <= DEFAULT_STATUS_SHUTDOWN_GRACE + Duration::from_secs(1),
        "the shutdown took {took:?} with {STALLED} stalled clients on the status port"
    );
    assert!(server.is_stopped());
    drop(stalled);
}

#[test]
fn metrics_show_the_edge_metrics_of_every_added_server() {
    let runtime = runtime(5);
    let status = StatusServer::start_with(
        &runtime,
        StatusOptions::new("127.0.0.1", 0).with_serve_options(
            ServeOptions::default().with_shutdown_grace(Duration::from_secs(1)),
        ),
    )
    .unwrap();
    let rt = runtime.clone();
    let api = runtime.primary().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let router = Router::new().route("/hello", get(|| async { "hello" }));
        rt_http::serve(&rt, "api", listener, router, ServeOptions::default()).unwrap()
    });
    let api_addr = api.local_addr();
    assert_eq!(get_path(api_addr, "/hello").0, 200);
    assert_eq!(get_path(api_addr, "/nope").0, 404);
    // The client has its answers; the server closes its side a moment later.
    let deadline = Instant::now() + IO_TIMEOUT;
    while api.metrics().connections_open > 0 {
        assert!(Instant::now() < deadline, "{:?}", api.metrics());
        std::thread::sleep(Duration::from_millis(2));
    }
    status.add_http_server("api", &api);
    // Added again under the same name: replaced, one set of series.
    status.add_http_server("api", &api);

    let (code, text) = get_path(status.local_addr(), "/metrics");
    assert_eq!(code, 200, "{text}");
    for expected in [
        "# TYPE dyn_runtime_http_connections_accepted counter",
        r#"dyn_runtime_http_connections_accepted_total{server="api"} 2"#,
        r#"dyn_runtime_http_connections_open{server="api"} 0"#,
        r#"dyn_runtime_http_requests_admitted_total{server="api"} 2"#,
        r#"dyn_runtime_http_requests_refused_total{server="api"} 0"#,
        r#"dyn_runtime_http_requests_in_flight{server="api"} 0"#,
        r#"dyn_runtime_http_responses_total{server="api",class="2xx"} 1"#,
        r#"dyn_runtime_http_responses_total{server="api",class="4xx"} 1"#,
        r#"dyn_runtime_http_timeouts_total{server="api",kind="header"} 0"#,
        r#"dyn_runtime_http_timeouts_total{server="api",kind="shutdown_grace"} 0"#,
        r#"dyn_runtime_http_accept_paused_total{server="api"} 0"#,
        r#"dyn_runtime_http_connections_closed_unanswered_total{server="api"} 0"#,
        // The status server's own: this scrape is in flight while it is rendered.
        r#"dyn_runtime_http_requests_in_flight{server="status"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert_eq!(
        text.matches(r#"dyn_runtime_http_connections_accepted_total{server="api"}"#)
            .count(),
        1,
        "{text}"
    );
    // Counters end in `_total`, in one family per name.
    assert_eq!(
        text.matches("# TYPE dyn_runtime_http_responses counter")
            .count(),
        1
    );

    let report = runtime.primary().block_on(runtime.shutdown_and_wait(None));
    assert!(report.is_clean(), "{report}");
    assert!(api.is_stopped() && status.is_stopped());
    // The series stay with their last values after the servers stopped.
    let text = status.render_metrics().unwrap();
    assert!(
        text.contains(r#"dyn_runtime_http_connections_accepted_total{server="api"} 2"#),
        "{text}"
    );
    assert!(status.http_metrics().connections_accepted >= 1);
}
