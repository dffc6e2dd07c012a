//! Observability benchmark: what the per-endpoint metrics and a JSON log line per request
//! cost the HTTP edge.
//!
//! Cases (a plain `main`, like the `http` bench: a throughput run is one long measurement):
//! * metrics and request ids on vs off - two `rt_http::serve` servers on one owned
//!   `rt_core::Runtime` (2 workers, no compute pool), the same router (`GET /` answered
//!   `hello`), one with [`ServeOptions::endpoint_metrics`] and [`ServeOptions::request_ids`]
//!   on (every request's outcome, duration histogram and bytes recorded in its endpoint's
//!   `dyn_runtime_endpoint_*` series; its request id taken or made, returned, and its span
//!   opened), one with both off. The
//!   load generator (`rt_benches::load`, its own 2-worker tokio runtime, [`CONNECTIONS`]
//!   keep-alive connections with one request at a time each) measures each for the same time
//!   per round, the order alternating round by round. Reported: the medians over the rounds
//!   of the requests per second of each, of each round's ratio `on / off` (target >= 0.97),
//!   and of the server CPU time per request (`rt-primary-*` threads, the scheduler's own
//!   counters) of each.
//! * a JSON log line per request - the metrics-on server, whose handler writes one `info`
//!   event per request, under a global `tracing-subscriber` (JSON lines, one `write` to
//!   `/dev/null` per line), with the filter reloaded between `off` and `info` round by round.
//!   Reported: the median extra server CPU time per request with the line (`info` minus
//!   `off`), and the throughput ratio.
//!
//! `RT_BENCH_QUICK=1` shortens the rounds. When `RT_BENCH_JSONL` names a file, one line with an
//! `"observability"` section is appended to it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use rt_benches::load::{load, Segment};
use rt_benches::{append_jsonl, json_line, percentile, quick};
use rt_http::ServeOptions;
use tokio::net::TcpListener;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

/// Keep-alive connections of each measurement (the `http` bench's).
const CONNECTIONS: usize = 64;

fn median(mut v: Vec<f64>) -> f64 {
    percentile(&mut v, 50.0)
}

/// Two segments of one round: (first, second) by the case's meaning.
type Round = (Segment, Segment);

/// Measures `a` and `b` for `round` each, `rounds` times, the order alternating.
fn rounds(
    client: &tokio::runtime::Runtime,
    rounds: usize,
    round: Duration,
    mut before: impl FnMut(bool),
    a: SocketAddr,
    b: SocketAddr,
    label: &str,
) -> Vec<Round> {
    let mut out = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let order = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let (mut first, mut second) = (None, None);
        for is_a in order {
            before(is_a);
            let segment = client.block_on(load(if is_a { a } else { b }, CONNECTIONS, round));
            assert!(segment.requests > 0, "{label}: nothing answered in a round");
            if is_a {
                first = Some(segment);
            } else {
                second = Some(segment);
            }
        }
        let (x, y) = (first.expect("measured"), second.expect("measured"));
        println!(
            "observability {label} round {}: {:.0} vs {:.0} req/s (ratio {:.3}), cpu {:.2} vs {:.2} us/req",
            r + 1,
            x.rps,
            y.rps,
            x.rps / y.rps,
            x.cpu_ns / 1e3,
            y.cpu_ns / 1e3
        );
        out.push((x, y));
    }
    out
}

fn main() {
    let q = quick();
    let (n_rounds, round, warm) = if q {
        (12, Duration::from_millis(250), Duration::from_millis(300))
    } else {
        (30, Duration::from_millis(500), Duration::from_secs(1))
    };

    // Off until a logging round turns it on; one JSON line per event, written to /dev/null.
    let sink = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let (filter, level) = reload::Layer::new(LevelFilter::OFF);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(Mutex::new(sink)),
        )
        .init();

    let runtime = rt_benches::server_runtime().expect("server runtime");
    let router = Router::new().route(
        "/",
        get(|| async {
            tracing::info!(target: "bench", route = "/", status = 200u16, "request served");
            "hello"
        }),
    );
    let (on, off) = runtime.primary().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let on = rt_http::serve(
            &runtime,
            "metrics-on",
            listener,
            router.clone(),
            ServeOptions::default(),
        )
        .expect("serve");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let off = rt_http::serve(
            &runtime,
            "metrics-off",
            listener,
            router,
            ServeOptions::default()
                .with_endpoint_metrics(false)
                .with_request_ids(false),
        )
        .expect("serve");
        (on, off)
    });
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    client.block_on(load(on.local_addr(), CONNECTIONS, warm));
    client.block_on(load(off.local_addr(), CONNECTIONS, warm));

    let metrics = rounds(
        &client,
        n_rounds,
        round,
        |_| {},
        on.local_addr(),
        off.local_addr(),
        "metrics on/off",
    );
    let set_level = |info: bool| {
        level
            .modify(|f| {
                *f = if info {
                    LevelFilter::INFO
                } else {
                    LevelFilter::OFF
                }
            })
            .expect("reload the filter");
    };
    let logging = rounds(
        &client,
        n_rounds,
        round,
        set_level,
        on.local_addr(),
        on.local_addr(),
        "json log line on/off",
    );
    set_level(false);
    let report = runtime
        .primary()
        .block_on(runtime.shutdown_coordinator().shutdown_and_wait(None));
    assert!(report.is_clean(), "{report}");
    let counted = runtime.metrics().render().expect("metrics text");
    assert!(
        counted
            .contains(r#"dyn_runtime_endpoint_requests_total{endpoint="metrics-on",outcome="ok"}"#),
        "the metrics-on server counted nothing"
    );

    let ratio = median(metrics.iter().map(|(a, b)| a.rps / b.rps).collect());
    let rps_on = median(metrics.iter().map(|(a, _)| a.rps).collect());
    let rps_off = median(metrics.iter().map(|(_, b)| b.rps).collect());
    let cpu_on = median(metrics.iter().map(|(a, _)| a.cpu_ns).collect());
    let cpu_off = median(metrics.iter().map(|(_, b)| b.cpu_ns).collect());
    let cpu_metrics = median(metrics.iter().map(|(a, b)| a.cpu_ns - b.cpu_ns).collect());
    let log_ratio = median(logging.iter().map(|(a, b)| a.rps / b.rps).collect());
    let log_cpu = median(logging.iter().map(|(a, b)| a.cpu_ns - b.cpu_ns).collect());
    let log_p50 = median(logging.iter().map(|(a, b)| a.p50_ns - b.p50_ns).collect());
    println!(
        "observability: metrics on {rps_on:.0} req/s vs off {rps_off:.0} req/s, ratio {ratio:.3} \
         (target >= 0.97); server cpu per request {:.2} vs {:.2} us (metrics cost {:.0} ns); a \
         JSON log line per request: {:.0} ns of server cpu per request, throughput ratio {log_ratio:.3}",
        cpu_on / 1e3,
        cpu_off / 1e3,
        cpu_metrics,
        log_cpu
    );
    let line = json_line(
        "observability",
        &[
            ("metrics_ratio", ratio),
            ("metrics_on_rps", rps_on),
            ("metrics_off_rps", rps_off),
            ("metrics_on_cpu_per_request_ns", cpu_on),
            ("metrics_off_cpu_per_request_ns", cpu_off),
            ("metrics_cpu_cost_per_request_ns", cpu_metrics),
            ("log_line_cpu_cost_per_request_ns", log_cpu),
            ("log_line_p50_cost_ns", log_p50),
            ("log_line_ratio", log_ratio),
            ("connections", CONNECTIONS as f64),
            ("rounds", n_rounds as f64),
            ("round_ms", round.as_secs_f64() * 1e3),
        ],
    );
    println!("{line}");
    append_jsonl(&line).expect("append to RT_BENCH_JSONL");
}
