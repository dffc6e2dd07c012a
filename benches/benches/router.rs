//! Router benchmark: what sending through `rt_discovery::Router` costs against calling the
//! worker directly, in the same run, on loopback.
//!
//! One worker: a `RequestPlane` (endpoint `bench/worker/echo`, which answers its JSON body) on
//! an owned `rt_core::Runtime` (2 workers, no compute pool), registered in an in-process
//! discovery store (the memory backend: what is measured is the request path, not etcd).
//! Callers run on their own 2-worker tokio runtime. Cases, each alternating round by round
//! between the two ways of calling (so drift of the machine hits both alike):
//!
//! * **library** - the router in the caller's process (how a frontend uses it):
//!   `Router::send` + `Reply::bytes` against a direct `POST` to the worker's URL with the same
//!   hyper-util pooled client (`TCP_NODELAY`, HTTP/1.1). Latency with one caller in a closed
//!   loop (p50 and p99 per round; goal: the router adds at most 150 us at p50), throughput with
//!   [`CALLERS`] callers (goal: at least 0.8x direct).
//! * **hop** - a router process in between (the cluster demo's `demo-router`): an
//!   `rt_http::serve` gateway on its own owned runtime forwarding `POST /work` through the
//!   router, against the same client posting to the worker directly: latency and throughput
//!   as above, and throughput when the worker takes 10 ms per request (a wait), where the
//!   worker, not the CPU of one shared machine, bounds what a client gets. Reported, no goal:
//!   with answers at once, the added hop is a second HTTP server and client on the same cores.
//! * **rolling restart** - 3 workers (each its own owned runtime, discovery and request plane)
//!   behind a router, 16 callers with the demo's wait (100-800 ms per request), every worker
//!   shut down through its runtime's three phases and replaced in turn. Reported: sent,
//!   completed, errors, lost after sending, retries on another instance (goal: 0 errors).
//!
//! `RT_BENCH_QUICK=1` shortens the rounds. When `RT_BENCH_JSONL` names a file, one line with a
//! `"router"` section is appended to it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, Method, Request, StatusCode};
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rt_benches::{append_jsonl, json_line, percentile, quick};
use rt_core::config::RuntimeConfig;
use rt_core::Runtime;
use rt_discovery::{
    Discovery, DiscoverySettings, EndpointId, MemoryBackend, RequestPlane, RequestPlaneServer,
    Router, RouterSettings, RpcReply, RpcRequest,
};
use rt_http::ServeOptions;
use tokio::net::TcpListener;

/// Concurrent callers of the throughput rounds.
const CALLERS: usize = 32;
/// Workers and callers of the rolling restart (the cluster demo's: 3 workers, 16 clients).
const RESTART_WORKERS: usize = 3;
const RESTART_CALLERS: usize = 16;
/// The request body (the demo's request shape): answered at once.
const BODY: &str = r#"{"cpu_ms":0,"wait_ms":0,"note":"router bench"}"#;
/// The worker-bound case's body: the worker takes 10 ms (a wait) to answer it.
const BODY_10MS: &str = r#"{"cpu_ms":0,"wait_ms":10,"note":"router bench"}"#;

type Http = Client<HttpConnector, Full<Bytes>>;
type Call = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Bytes> + Send>> + Send + Sync>;

fn endpoint() -> EndpointId {
    EndpointId::new("bench", "worker", "echo").expect("valid endpoint id")
}

fn median(mut v: Vec<f64>) -> f64 {
    percentile(&mut v, 50.0)
}

/// The same pooled client the router uses.
fn http_client() -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// A `POST url` of `body` with the pooled client; the answer's body (checked to be the echo).
fn post_to(http: Http, url: String, body: &'static str) -> Call {
    Arc::new(move || {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            let request = Request::builder()
                .method(Method::POST)
                .uri(url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .expect("request");
            let response = http.request(request).await.expect("direct call answered");
            assert_eq!(response.status(), StatusCode::OK, "direct call");
            let echo = response
                .into_body()
                .collect()
                .await
                .expect("direct body")
                .to_bytes();
            assert_eq!(echo.as_ref(), body.as_bytes(), "the echo came back changed");
            echo
        })
    })
}

/// The same request sent through `router`.
fn routed(router: Router, body: &'static str) -> Call {
    Arc::new(move || {
        let router = router.clone();
        Box::pin(async move {
            let reply = router
                .send(Bytes::from_static(body.as_bytes()), None)
                .await
                .expect("routed call answered");
            assert!(reply.is_success(), "routed call: {}", reply.status());
            let echo = reply.bytes().await.expect("routed body");
            assert_eq!(echo.as_ref(), body.as_bytes(), "the echo came back changed");
            echo
        })
    })
}

/// `n` calls one after the other; each call's latency in nanoseconds.
async fn closed_loop(call: &Call, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        call().await;
        out.push(start.elapsed().as_nanos() as f64);
    }
    out
}

/// [`CALLERS`] callers in closed loops for `round`; calls per second.
async fn throughput(call: &Call, round: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (call, stop, done) = (Arc::clone(call), Arc::clone(&stop), Arc::clone(&done));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    call().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(round).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("caller task");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// One case's rounds: `(p50, p99)` of each way per round, and throughput of each per round.
struct Case {
    /// Per round: (through p50, direct p50, through p99, direct p99), nanoseconds.
    latency: Vec<(f64, f64, f64, f64)>,
    /// Per round: (through, direct) calls per second.
    rps: Vec<(f64, f64)>,
}

impl Case {
    fn p50(&self) -> (f64, f64, f64) {
        let through = median(self.latency.iter().map(|r| r.0).collect());
        let direct = median(self.latency.iter().map(|r| r.1).collect());
        let added = median(self.latency.iter().map(|r| r.0 - r.1).collect());
        (through, direct, added)
    }

    fn p99(&self) -> (f64, f64, f64) {
        let through = median(self.latency.iter().map(|r| r.2).collect());
        let direct = median(self.latency.iter().map(|r| r.3).collect());
        let added = median(self.latency.iter().map(|r| r.2 - r.3).collect());
        (through, direct, added)
    }

    fn rps(&self) -> (f64, f64, f64) {
        let through = median(self.rps.iter().map(|r| r.0).collect());
        let direct = median(self.rps.iter().map(|r| r.1).collect());
        let ratio = median(self.rps.iter().map(|r| r.0 / r.1).collect());
        (through, direct, ratio)
    }
}

/// `rounds` rounds of latency (`calls` each way) and of throughput (`round` each way), the
/// order alternating.
fn measure(
    callers: &tokio::runtime::Runtime,
    label: &str,
    through: &Call,
    direct: &Call,
    rounds: usize,
    calls: usize,
    round: Duration,
) -> Case {
    let mut case = Case {
        latency: Vec::with_capacity(rounds),
        rps: Vec::with_capacity(rounds),
    };
    for r in 0..rounds {
        let (t, d) = callers.block_on(async {
            if r % 2 == 0 {
                let t = closed_loop(through, calls).await;
                (t, closed_loop(direct, calls).await)
            } else {
                let d = closed_loop(direct, calls).await;
                (closed_loop(through, calls).await, d)
            }
        });
        let (mut t, mut d) = (t, d);
        let latency = (
            percentile(&mut t, 50.0),
            percentile(&mut d, 50.0),
            percentile(&mut t, 99.0),
            percentile(&mut d, 99.0),
        );
        let rps = callers.block_on(async {
            if r % 2 == 0 {
                let t = throughput(through, round).await;
                (t, throughput(direct, round).await)
            } else {
                let d = throughput(direct, round).await;
                (throughput(through, round).await, d)
            }
        });
        println!(
            "router {label} round {}: p50 {:.1} vs {:.1} us, p99 {:.1} vs {:.1} us, {:.0} vs {:.0} calls/s (ratio {:.3})",
            r + 1,
            latency.0 / 1e3,
            latency.1 / 1e3,
            latency.2 / 1e3,
            latency.3 / 1e3,
            rps.0,
            rps.1,
            rps.0 / rps.1
        );
        case.latency.push(latency);
        case.rps.push(rps);
    }
    case
}

/// The worker: the echo endpoint on a request plane, registered in `store`. A body with
/// `"wait_ms": N` is answered after N ms (the restart case's load).
fn worker(runtime: &Runtime, store: &MemoryBackend) -> (Discovery, RequestPlaneServer) {
    runtime.primary().block_on(async {
        let discovery = Discovery::with_backend(
            runtime,
            Arc::new(store.clone()),
            DiscoverySettings::default(),
        )
        .await
        .expect("worker discovery");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let plane = RequestPlane::new()
            .endpoint(endpoint(), |request: RpcRequest| async move {
                let wait = wait_ms(&request.body);
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Ok(RpcReply::raw_json(request.body))
            })
            .expect("one endpoint")
            .serve(runtime, &discovery, listener, ServeOptions::default())
            .await
            .expect("request plane");
        (discovery, plane)
    })
}

/// The `wait_ms` of a request body (0 when absent).
fn wait_ms(body: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["wait_ms"].as_u64())
        .unwrap_or(0)
}

/// What the rolling restart measured.
struct Restart {
    sent: u64,
    completed: u64,
    errors: u64,
    /// Errors after the request was sent (`Upstream`, `Timeout`): may have run, lost.
    lost: u64,
    retries: u64,
    took: Duration,
    first_error: Option<String>,
}

/// [`RESTART_WORKERS`] workers behind a router in this process, [`RESTART_CALLERS`] callers
/// with the demo's wait (100-800 ms), and every worker shut down (its runtime's three phases)
/// and replaced in turn, each once the router lists its successor.
fn rolling_restart(callers: &tokio::runtime::Runtime, caller_rt: &Runtime) -> Restart {
    let store = MemoryBackend::new();
    let mut fleet: Vec<(Runtime, Discovery, RequestPlaneServer)> = (0..RESTART_WORKERS)
        .map(|_| {
            let runtime = rt_benches::server_runtime().expect("server runtime");
            let (discovery, plane) = worker(&runtime, &store);
            (runtime, discovery, plane)
        })
        .collect();
    let (_discovery, router) = callers.block_on(router(caller_rt, &store));
    callers.block_on(async {
        let list = router.instances();
        let mut rx = list.subscribe();
        tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|i| i.list().len() == RESTART_WORKERS),
        )
        .await
        .expect("the router lists every worker")
        .expect("the list goes on");
    });
    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let tasks: Vec<_> = (0..RESTART_CALLERS)
        .map(|n| {
            let (router, stop, tallies, first_error) = (
                router.clone(),
                Arc::clone(&stop),
                Arc::clone(&tallies),
                Arc::clone(&first_error),
            );
            callers.spawn(async move {
                let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (n as u64 + 1);
                while !stop.load(Ordering::Relaxed) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let body = format!(r#"{{"wait_ms":{}}}"#, 100 + seed % 701);
                    tallies[0].fetch_add(1, Ordering::Relaxed);
                    // Err: what went wrong, and whether it was after sending (lost).
                    let outcome = match router.send(Bytes::from(body), None).await {
                        Ok(reply) if reply.is_success() => reply
                            .bytes()
                            .await
                            .map(|_| ())
                            .map_err(|e| (e.to_string(), true)),
                        Ok(reply) => Err((format!("answered {}", reply.status()), false)),
                        Err(error) => {
                            let lost = matches!(
                                error,
                                rt_discovery::DiscoveryError::Upstream { .. }
                                    | rt_discovery::DiscoveryError::Timeout { .. }
                            );
                            Err((error.to_string(), lost))
                        }
                    };
                    match outcome {
                        Ok(()) => {
                            tallies[1].fetch_add(1, Ordering::Relaxed);
                        }
                        Err((error, lost)) => {
                            tallies[2].fetch_add(1, Ordering::Relaxed);
                            if lost {
                                tallies[3].fetch_add(1, Ordering::Relaxed);
                            }
                            first_error.lock().unwrap().get_or_insert(error);
                        }
                    }
                }
            })
        })
        .collect();
    // Under load for a moment before the first restart.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    for slot in 0..RESTART_WORKERS {
        let (runtime, discovery, plane) = fleet.remove(slot);
        let old = plane.instance_id();
        stop_runtime(&runtime, "a restarted worker");
        drop((plane, discovery, runtime));
        let runtime = rt_benches::server_runtime().expect("server runtime");
        let (discovery, plane) = worker(&runtime, &store);
        let new = plane.instance_id();
        callers.block_on(async {
            let mut rx = router.instances().subscribe();
            tokio::time::timeout(
                Duration::from_secs(10),
                rx.wait_for(|i| {
                    let ids: Vec<_> = i.list().iter().map(|x| Some(x.id)).collect();
                    ids.contains(&new) && !ids.contains(&old)
                }),
            )
            .await
            .expect("the router lists the successor")
            .expect("the list goes on");
        });
        fleet.insert(slot, (runtime, discovery, plane));
    }
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    callers.block_on(async {
        for task in tasks {
            task.await.expect("caller task");
        }
    });
    for (runtime, _, _) in &fleet {
        stop_runtime(runtime, "a worker");
    }
    let first_error = first_error.lock().unwrap().take();
    Restart {
        sent: tallies[0].load(Ordering::Relaxed),
        completed: tallies[1].load(Ordering::Relaxed),
        errors: tallies[2].load(Ordering::Relaxed),
        lost: tallies[3].load(Ordering::Relaxed),
        retries: router.metrics().retries,
        took,
        first_error,
    }
}

/// A router over `store`'s instances of the endpoint, its discovery on `runtime`.
async fn router(runtime: &Runtime, store: &MemoryBackend) -> (Discovery, Router) {
    let discovery = Discovery::with_backend(
        runtime,
        Arc::new(store.clone()),
        DiscoverySettings::default(),
    )
    .await
    .expect("router discovery");
    let router = Router::new(discovery.client(endpoint()), RouterSettings::default());
    (discovery, router)
}

/// `POST /work` forwarded through the router: the gateway's whole job.
async fn forward(State(router): State<Router>, body: Bytes) -> (StatusCode, Bytes) {
    match router.send(body, None).await {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            match reply.bytes().await {
                Ok(bytes) => (status, bytes),
                Err(error) => (StatusCode::BAD_GATEWAY, Bytes::from(error.to_string())),
            }
        }
        Err(error) => (StatusCode::BAD_GATEWAY, Bytes::from(error.to_string())),
    }
}

/// The gateway process: an HTTP server forwarding through a router of its own.
fn gateway(runtime: &Runtime, store: &MemoryBackend) -> (Discovery, SocketAddr) {
    runtime.primary().block_on(async {
        let (discovery, router) = router(runtime, store).await;
        let app = axum::Router::new()
            .route("/work", post(forward))
            .with_state(router);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = rt_http::serve(runtime, "gateway", listener, app, ServeOptions::default())
            .expect("gateway");
        (discovery, server.local_addr())
    })
}

fn stop_runtime(runtime: &Runtime, what: &str) {
    let report = runtime
        .primary()
        .block_on(runtime.shutdown_coordinator().shutdown_and_wait(None));
    assert!(report.is_clean(), "{what}: {report}");
}

fn main() {
    let q = quick();
    let (rounds, calls, round, warm) = if q {
        (8, 500, Duration::from_millis(250), 500)
    } else {
        (20, 2000, Duration::from_millis(500), 3000)
    };
    let store = MemoryBackend::new();
    let worker_rt = rt_benches::server_runtime().expect("server runtime");
    let (_worker_discovery, plane) = worker(&worker_rt, &store);
    let url = format!("http://{}{}", plane.server().local_addr(), "/v1/rpc/echo");
    let gateway_rt = rt_benches::server_runtime().expect("server runtime");
    let (_gateway_discovery, gateway_addr) = gateway(&gateway_rt, &store);

    let callers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("callers' runtime");
    let caller_rt = Runtime::from_handle_with_config(
        callers.handle().clone(),
        RuntimeConfig::builder()
            .compute_threads(0)
            .stall_probe_interval_ms(0)
            .build()
            .expect("caller config"),
    )
    .expect("caller runtime");
    let (_caller_discovery, library) = callers.block_on(router(&caller_rt, &store));
    let http = http_client();
    let gateway_url = format!("http://{gateway_addr}/work");
    let direct = post_to(http.clone(), url.clone(), BODY);
    let through_library = routed(library.clone(), BODY);
    let through_hop = post_to(http.clone(), gateway_url.clone(), BODY);
    let direct_10ms = post_to(http.clone(), url, BODY_10MS);
    let through_hop_10ms = post_to(http, gateway_url, BODY_10MS);
    callers.block_on(async {
        for call in [&direct, &through_library, &through_hop] {
            closed_loop(call, warm).await;
        }
    });

    let lib = measure(
        &callers,
        "library",
        &through_library,
        &direct,
        rounds,
        calls,
        round,
    );
    let hop = measure(&callers, "hop", &through_hop, &direct, rounds, calls, round);
    let bound: Vec<(f64, f64)> = (0..rounds)
        .map(|r| {
            callers.block_on(async {
                let (t, d) = if r % 2 == 0 {
                    let t = throughput(&through_hop_10ms, round).await;
                    (t, throughput(&direct_10ms, round).await)
                } else {
                    let d = throughput(&direct_10ms, round).await;
                    (throughput(&through_hop_10ms, round).await, d)
                };
                println!(
                    "router hop, worker-bound round {}: {t:.0} vs {d:.0} calls/s (ratio {:.3})",
                    r + 1,
                    t / d
                );
                (t, d)
            })
        })
        .collect();
    let bound_ratio = median(bound.iter().map(|(t, d)| t / d).collect());
    let bound_rps = median(bound.iter().map(|(t, _)| *t).collect());
    let bound_direct_rps = median(bound.iter().map(|(_, d)| *d).collect());
    let metrics = library.metrics();
    assert_eq!(metrics.retries, 0, "a healthy worker refused: {metrics:?}");
    assert_eq!(metrics.failed, 0, "{metrics:?}");

    stop_runtime(&gateway_rt, "gateway");
    stop_runtime(&worker_rt, "worker");
    let restart = rolling_restart(&callers, &caller_rt);
    stop_runtime(&caller_rt, "callers");
    println!(
        "router rolling restart of {RESTART_WORKERS} workers under {RESTART_CALLERS} callers: \
         {} sent, {} completed, {} errors ({} lost after sending), {} retried on another \
         instance, {:.2} s{}",
        restart.sent,
        restart.completed,
        restart.errors,
        restart.lost,
        restart.retries,
        restart.took.as_secs_f64(),
        restart
            .first_error
            .as_deref()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default()
    );

    let (lib_p50, direct_p50, lib_added_p50) = lib.p50();
    let (lib_p99, direct_p99, lib_added_p99) = lib.p99();
    let (lib_rps, direct_rps, lib_ratio) = lib.rps();
    let (hop_p50, hop_direct_p50, hop_added_p50) = hop.p50();
    let (hop_p99, hop_direct_p99, hop_added_p99) = hop.p99();
    let (hop_rps, hop_direct_rps, hop_ratio) = hop.rps();
    println!(
        "router: library adds {:.1} us at p50 ({:.1} vs {:.1} us; goal <= 150 us), {:.1} us at \
         p99; throughput {lib_ratio:.3}x direct ({lib_rps:.0} vs {direct_rps:.0} calls/s; goal \
         >= 0.8x). A router process in between adds {:.1} us at p50, {:.1} us at p99; \
         throughput {hop_ratio:.3}x answering at once, {bound_ratio:.3}x when the worker \
         takes 10 ms.",
        lib_added_p50 / 1e3,
        lib_p50 / 1e3,
        direct_p50 / 1e3,
        lib_added_p99 / 1e3,
        hop_added_p50 / 1e3,
        hop_added_p99 / 1e3,
    );
    let line = json_line(
        "router",
        &[
            ("library_p50_ns", lib_p50),
            ("direct_p50_ns", direct_p50),
            ("library_added_p50_ns", lib_added_p50),
            ("library_p99_ns", lib_p99),
            ("direct_p99_ns", direct_p99),
            ("library_added_p99_ns", lib_added_p99),
            ("library_rps", lib_rps),
            ("direct_rps", direct_rps),
            ("library_ratio", lib_ratio),
            ("hop_p50_ns", hop_p50),
            ("hop_direct_p50_ns", hop_direct_p50),
            ("hop_added_p50_ns", hop_added_p50),
            ("hop_p99_ns", hop_p99),
            ("hop_direct_p99_ns", hop_direct_p99),
            ("hop_added_p99_ns", hop_added_p99),
            ("hop_rps", hop_rps),
            ("hop_direct_rps", hop_direct_rps),
            ("hop_ratio", hop_ratio),
            ("hop_10ms_rps", bound_rps),
            ("hop_10ms_direct_rps", bound_direct_rps),
            ("hop_10ms_ratio", bound_ratio),
            ("restart_sent", restart.sent as f64),
            ("restart_completed", restart.completed as f64),
            ("restart_errors", restart.errors as f64),
            ("restart_lost", restart.lost as f64),
            ("restart_retries", restart.retries as f64),
            ("restart_ns", restart.took.as_nanos() as f64),
            ("restart_workers", RESTART_WORKERS as f64),
            ("restart_callers", RESTART_CALLERS as f64),
            ("callers", CALLERS as f64),
            ("rounds", rounds as f64),
            ("calls_per_round", calls as f64),
            ("round_ms", round.as_secs_f64() * 1e3),
        ],
    );
    println!("{line}");
    append_jsonl(&line).expect("append to RT_BENCH_JSONL");
}
