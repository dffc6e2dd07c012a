//! HTTP benchmark: what serving a router through `rt_http::serve` costs against plain
//! `axum::serve` on the same router and the same runtime shape.
//!
//! Cases (a plain `main`, no criterion: a throughput run is one long measurement, not many
//! small iterations):
//! * throughput - both servers listen on 127.0.0.1 at once, in this process, on one owned
//!   `rt_core::Runtime` (2 workers, no compute pool); `GET /` answered `hello`. The load
//!   generator, on its own 2-worker tokio runtime in this process, keeps [`CONNECTIONS`]
//!   HTTP/1.1 keep-alive connections busy with one request at a time each (no pipelining: raw
//!   tokio TCP, a request written, its answer read to the end of its `content-length`). A
//!   round measures each server for the same time, the order alternating round by round so
//!   that drift on a small machine cancels; reported: the medians over the rounds of the
//!   requests per second, of each round's ratio `rt_http / axum`, and of each round's p50 and
//!   p99 latency (from the request's write to its answer's last byte), and of the CPU time
//!   the server's runtime threads (`rt-primary-*`) spent per request (from the scheduler's
//!   own counters: a figure that noise from other processes on a small machine moves far
//!   less than requests per second);
//! * memory per in-flight request - the `http_probe` binary of this package (the same
//!   router, either server, nothing else in the process) gets [`IN_FLIGHT`] connections, each
//!   with one request that the handler holds until the bench calls `/release`. Reported: its
//!   peak resident set (`VmHWM`) once all are held, less its resident set (`VmRSS`) after a
//!   warm-up and before the first held connection, divided by [`IN_FLIGHT`]. Both processes
//!   raise their open-file limit to hold the sockets and stop with a clear message when the
//!   hard limit is too low. Every held request must be answered `200` after the release.
//!
//! `RT_BENCH_QUICK=1` shortens the rounds (and measures memory once per server instead of
//! three times). When `RT_BENCH_JSONL` names a file, one line with an `"http"` section is
//! appended to it (`cargo xtask bench http` merges it into `target/xtask/bench-summary.json`).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rt_benches::load::{connect, exchange, load, read_response, request, Segment};
use rt_benches::{append_jsonl, json_line, percentile, quick, raise_nofile};
use rt_core::CancellationToken;
use rt_http::ServeOptions;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::runtime::Runtime as Tokio;
use tokio::task::JoinSet;

/// Keep-alive connections of the throughput case.
const CONNECTIONS: usize = 64;
/// Requests held at once in the memory case.
const IN_FLIGHT: usize = 10_000;
/// Connections being opened at once in the memory case (below the listener's backlog).
const CONNECTING: usize = 256;
/// How long the memory case waits for the held requests, and then for their answers.
const MEMORY_WAIT: Duration = Duration::from_secs(120);
/// The server process of the memory case.
const PROBE: &str = env!("CARGO_BIN_EXE_http_probe");

/// The two servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    RtHttp,
    Axum,
}

impl Server {
    fn probe_arg(self) -> &'static str {
        match self {
            Server::RtHttp => "rt-http",
            Server::Axum => "axum",
        }
    }
}

/// The throughput case: `(rt_http, axum)` segments of each round.
fn throughput(rounds: usize, round: Duration, warm: Duration) -> Vec<(Segment, Segment)> {
    let runtime = rt_benches::server_runtime().expect("server runtime");
    let router = Router::new().route("/", get(|| async { "hello" }));
    let axum_stop = CancellationToken::new();
    let (ours, theirs, axum_task) = runtime.primary().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ours = rt_http::serve(
            &runtime,
            "bench-http",
            listener,
            router.clone(),
            ServeOptions::default(),
        )
        .expect("rt_http::serve");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let theirs = listener.local_addr().expect("local address");
        let stop = axum_stop.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        (ours, theirs, task)
    });
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let addr = |s: Server| match s {
        Server::RtHttp => ours.local_addr(),
        Server::Axum => theirs,
    };
    client.block_on(load(addr(Server::RtHttp), CONNECTIONS, warm));
    client.block_on(load(addr(Server::Axum), CONNECTIONS, warm));
    let mut results = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let order = if r % 2 == 0 {
            [Server::RtHttp, Server::Axum]
        } else {
            [Server::Axum, Server::RtHttp]
        };
        let mut rt_http = None;
        let mut axum = None;
        for s in order {
            let segment = client.block_on(load(addr(s), CONNECTIONS, round));
            assert!(segment.requests > 0, "{s:?} answered nothing in a round");
            match s {
                Server::RtHttp => rt_http = Some(segment),
                Server::Axum => axum = Some(segment),
            }
        }
        let (a, b) = (rt_http.expect("measured"), axum.expect("measured"));
        println!(
            "http round {}: rt_http {:.0} req/s (p50 {:.1} us, p99 {:.1} us, cpu {:.2} us/req), \
             axum {:.0} req/s (p50 {:.1} us, p99 {:.1} us, cpu {:.2} us/req), ratio {:.3}",
            r + 1,
            a.rps,
            a.p50_ns / 1e3,
            a.p99_ns / 1e3,
            a.cpu_ns / 1e3,
            b.rps,
            b.p50_ns / 1e3,
            b.p99_ns / 1e3,
            b.cpu_ns / 1e3,
            a.rps / b.rps
        );
        results.push((a, b));
    }
    drop(client);
    let report = runtime
        .primary()
        .block_on(runtime.shutdown_coordinator().shutdown_and_wait(None));
    assert!(report.is_clean(), "{report}");
    assert!(
        ours.is_stopped(),
        "rt_http server still running after the shutdown"
    );
    axum_stop.cancel();
    runtime
        .primary()
        .block_on(axum_task)
        .expect("axum task")
        .expect("axum::serve");
    results
}

/// `VmRSS` and `VmHWM` (peak) of process `pid`, in bytes.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The probe process, stopped by its pid when dropped.
struct Probe {
    child: Child,
}

impl Probe {
    /// Starts the probe for `server`; returns it and its port once it prints `ready`.
    fn start(server: Server) -> (Self, u16) {
        let mut child = Command::new(PROBE)
            .args([server.probe_arg(), &IN_FLIGHT.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PROBE}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let probe = Probe { child };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the probe's stdout");
        let port = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the probe did not report `ready <port>`: {line:?}"));
        (probe, port)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET` on a fresh connection; its status and body.
async fn get_once(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = connect(addr).await?;
    let mut buf = Vec::new();
    let status = exchange(&mut stream, &mut buf, &request(path)).await?;
    let body = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|end| String::from_utf8_lossy(&buf[end + 4..]).into_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Peak resident bytes per held request of one probe run.
fn memory(client: &Tokio, server: Server) -> f64 {
    let (probe, port) = Probe::start(server);
    let pid = probe.child.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let per_request = client.block_on(async {
        // Warm-up: the runtime's threads and the allocator have served requests.
        let mut warm = JoinSet::new();
        for _ in 0..CONNECTIONS {
            warm.spawn(async move {
                let mut stream = connect(addr).await.expect("connect to the probe");
                let mut buf = Vec::new();
                for _ in 0..20 {
                    let status = exchange(&mut stream, &mut buf, &request("/"))
                        .await
                        .expect("warm-up request");
                    assert_eq!(status, 200);
                }
            });
        }
        while let Some(joined) = warm.join_next().await {
            joined.expect("warm-up task");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (baseline, _) = rss(pid);

        // IN_FLIGHT connections, each with one request the handler holds.
        let hold = request("/hold");
        let mut connecting = JoinSet::new();
        let mut held = Vec::with_capacity(IN_FLIGHT);
        for _ in 0..IN_FLIGHT {
            if connecting.len() >= CONNECTING {
                held.push(
                    connecting
                        .join_next()
                        .await
                        .expect("a task")
                        .expect("connect"),
                );
            }
            let hold = hold.clone();
            connecting.spawn(async move {
                let mut stream = connect(addr).await.expect("connect to the probe");
                stream.write_all(&hold).await.expect("send /hold");
                stream
            });
        }
        while let Some(joined) = connecting.join_next().await {
            held.push(joined.expect("connect"));
        }
        let start = Instant::now();
        loop {
            let (status, body) = get_once(addr, "/held").await.expect("GET /held");
            assert_eq!(status, 200);
            if body.trim().parse::<usize>().ok() == Some(IN_FLIGHT) {
                break;
            }
            assert!(
                start.elapsed() < MEMORY_WAIT,
                "{server:?}: only {body} of {IN_FLIGHT} requests held after {MEMORY_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (now, peak) = rss(pid);

        let (status, _) = get_once(addr, "/release").await.expect("GET /release");
        assert_eq!(status, 200);
        let mut answers = JoinSet::new();
        for mut stream in held {
            answers.spawn(async move {
                let mut buf = Vec::new();
                read_response(&mut stream, &mut buf).await
            });
        }
        let answered = tokio::time::timeout(MEMORY_WAIT, async {
            let mut ok = 0usize;
            while let Some(joined) = answers.join_next().await {
                if matches!(joined, Ok(Ok(200))) {
                    ok += 1;
                }
            }
            ok
        })
        .await
        .expect("the held requests answered in time");
        assert_eq!(
            answered, IN_FLIGHT,
            "{server:?}: held requests not answered 200"
        );
        println!(
            "http memory {server:?}: baseline {:.1} MiB, {IN_FLIGHT} held: {:.1} MiB (peak {:.1} \
             MiB): {:.0} bytes per in-flight request",
            baseline as f64 / 1048576.0,
            now as f64 / 1048576.0,
            peak as f64 / 1048576.0,
            peak.saturating_sub(baseline) as f64 / IN_FLIGHT as f64
        );
        peak.saturating_sub(baseline) as f64 / IN_FLIGHT as f64
    });
    drop(probe);
    per_request
}

fn median(mut v: Vec<f64>) -> f64 {
    percentile(&mut v, 50.0)
}

fn main() {
    let q = quick();
    if let Err(message) = raise_nofile((IN_FLIGHT + 256) as u64) {
        eprintln!("http bench: {message}");
        std::process::exit(1);
    }
    let (rounds, round, warm, reps) = if q {
        (
            16,
            Duration::from_millis(250),
            Duration::from_millis(300),
            1,
        )
    } else {
        (30, Duration::from_millis(500), Duration::from_secs(1), 3)
    };

    let results = throughput(rounds, round, warm);
    let rps_rt = median(results.iter().map(|(a, _)| a.rps).collect());
    let rps_axum = median(results.iter().map(|(_, b)| b.rps).collect());
    let ratio = median(results.iter().map(|(a, b)| a.rps / b.rps).collect());
    let p50_rt = median(results.iter().map(|(a, _)| a.p50_ns).collect());
    let p99_rt = median(results.iter().map(|(a, _)| a.p99_ns).collect());
    let p50_axum = median(results.iter().map(|(_, b)| b.p50_ns).collect());
    let p99_axum = median(results.iter().map(|(_, b)| b.p99_ns).collect());
    let cpu_rt = median(results.iter().map(|(a, _)| a.cpu_ns).collect());
    let cpu_axum = median(results.iter().map(|(_, b)| b.cpu_ns).collect());
    let cpu_ratio = median(results.iter().map(|(a, b)| a.cpu_ns / b.cpu_ns).collect());

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let mut mem_rt = Vec::new();
    let mut mem_axum = Vec::new();
    for r in 0..reps {
        let order = if r % 2 == 0 {
            [Server::RtHttp, Server::Axum]
        } else {
            [Server::Axum, Server::RtHttp]
        };
        for s in order {
            let bytes = memory(&client, s);
            match s {
                Server::RtHttp => mem_rt.push(bytes),
                Server::Axum => mem_axum.push(bytes),
            }
        }
    }
    let mem_rt = median(mem_rt);
    let mem_axum = median(mem_axum);

    println!(
        "http: {CONNECTIONS} keep-alive connections, median of {rounds} rounds of {round:?}: \
         rt_http {rps_rt:.0} req/s vs axum {rps_axum:.0} req/s, ratio {ratio:.3} (target >= \
         0.95); p50/p99 rt_http {:.1}/{:.1} us, axum {:.1}/{:.1} us; server CPU per request \
         rt_http {:.2} us, axum {:.2} us, ratio {cpu_ratio:.3}; memory per in-flight request at \
         {IN_FLIGHT}: rt_http {mem_rt:.0} B, axum {mem_axum:.0} B",
        p50_rt / 1e3,
        p99_rt / 1e3,
        p50_axum / 1e3,
        p99_axum / 1e3,
        cpu_rt / 1e3,
        cpu_axum / 1e3,
    );
    let line = json_line(
        "http",
        &[
            ("ratio_vs_axum", ratio),
            ("rt_http_rps", rps_rt),
            ("axum_rps", rps_axum),
            ("rt_http_p50_ns", p50_rt),
            ("rt_http_p99_ns", p99_rt),
            ("axum_p50_ns", p50_axum),
            ("axum_p99_ns", p99_axum),
            ("rt_http_cpu_per_request_ns", cpu_rt),
            ("axum_cpu_per_request_ns", cpu_axum),
            ("cpu_ratio_vs_axum", cpu_ratio),
            ("memory_per_in_flight_bytes", mem_rt),
            ("axum_memory_per_in_flight_bytes", mem_axum),
            ("memory_ratio_vs_axum", mem_rt / mem_axum),
            ("connections", CONNECTIONS as f64),
            ("rounds", rounds as f64),
            ("round_ms", round.as_secs_f64() * 1e3),
            ("in_flight", IN_FLIGHT as f64),
        ],
    );
    println!("{line}");
    append_jsonl(&line).expect("append to RT_BENCH_JSONL");
}
