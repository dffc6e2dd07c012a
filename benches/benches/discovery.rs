//! Discovery benchmark, against a real etcd on loopback (feature `discovery` of this package:
//! rt-discovery's `etcd` backend; `cargo xtask bench` turns it on when `etcd` and `protoc` are
//! found, and says so when they are not).
//!
//! The etcd server is started by this binary on free loopback ports with a temporary data
//! directory and stopped by its pid (the fixture of rt-discovery's tests, included from
//! `crates/rt-discovery/tests/common/etcd_server.rs`). Without the `etcd` binary it prints
//! `SKIPPED` and measures nothing. Cases (every sample kept; p50 and p99 reported):
//!
//! * `register` - a worker registers an endpoint (the moment it starts accepting) until a
//!   router's watching client lists it; then the worker deregisters explicitly until the
//!   client no longer lists it (`deregister_explicit`).
//! * `shutdown` - a fresh worker runtime with discovery and one registration; from
//!   `Runtime::shutdown()` (what SIGTERM calls) until the router's client no longer lists it.
//!   Also the drain step's own time from the shutdown report (`discovery: deregister`).
//! * `crash` - a child process (this binary, re-executed) registers under a 2 s lease and is
//!   killed with SIGKILL at a spread of moments against its renewals; from the kill until the
//!   router's client no longer lists it, against the TTL.
//! * `keepalive` - a worker on an owned runtime (2 primary workers, 2 compute threads) with a
//!   2 s lease while every primary worker and compute thread spins; the lateness of the
//!   keep-alive sends against their schedule (the keep-alive runs on the secondary runtime).
//!
//! `RT_BENCH_QUICK=1` shortens every case. With `RT_BENCH_JSONL`, one line with a
//! `"discovery"` section is appended.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

#[path = "../../crates/rt-discovery/tests/common/etcd_server.rs"]
mod etcd_server;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_server::EtcdServer;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rt_benches::{append_jsonl, json_line, percentile, quick};
use rt_core::config::RuntimeConfig;
use rt_core::Runtime;
use rt_discovery::{
    Discovery, DiscoverySettings, EndpointId, EtcdBackend, InstanceClient, InstanceId, Transport,
    DEREGISTER_STEP,
};
use tokio::time::timeout;

/// The child's lease TTL in the crash case, and the worker's in the keep-alive case.
const SHORT_TTL: u64 = 2;
/// The variable that turns this binary into the crash case's child worker.
const CHILD_VAR: &str = "RT_DISCOVERY_BENCH_CHILD";
/// Any single wait of this bench.
const WAIT: Duration = Duration::from_secs(10);

fn settings(url: &str, prefix: &str, ttl: u64) -> DiscoverySettings {
    let config = RuntimeConfig::builder()
        .discovery_backend("etcd")
        .discovery_etcd_endpoints(url)
        .discovery_advertise_host("127.0.0.1")
        .discovery_prefix(prefix)
        .discovery_lease_ttl_secs(ttl)
        .discovery_connect_timeout_secs(5)
        .build()
        .unwrap();
    DiscoverySettings::from_config_with_env(&config, |_| None).unwrap()
}

async fn discovery(runtime: &Runtime, s: &DiscoverySettings) -> Discovery {
    let backend = EtcdBackend::connect(s, tokio::time::Instant::now() + WAIT)
        .await
        .unwrap();
    Discovery::with_backend(runtime, Arc::new(backend), s.clone())
        .await
        .unwrap()
}

/// A runtime on the current tokio runtime, no compute pool.
fn runtime_here() -> Runtime {
    let config = RuntimeConfig::builder()
        .compute_threads(0)
        .graceful_shutdown_timeout_secs(30)
        .teardown_timeout_secs(5)
        .build()
        .unwrap();
    Runtime::from_handle_with_config(tokio::runtime::Handle::current(), config).unwrap()
}

fn ep() -> EndpointId {
    EndpointId::new("bench", "backend", "generate").unwrap()
}

fn transport() -> Transport {
    Transport::Http("http://127.0.0.1:9/v1/rpc/generate".into())
}

/// Waits until `client` lists `id` (`present`) or no longer lists it.
async fn until_listed(client: &InstanceClient, id: InstanceId, present: bool) {
    let mut list = client.subscribe();
    timeout(
        WAIT,
        list.wait_for(|l| l.list().iter().any(|i| i.id == id) == present),
    )
    .await
    .expect("the client's list changed within the wait")
    .unwrap();
}

/// The section's figures, in the order they were measured.
struct Figures(Vec<(&'static str, f64)>);

impl Figures {
    /// Adds the p50 and p99 of `samples` (nanoseconds) under `keys` and prints them.
    fn spread(&mut self, keys: [&'static str; 2], label: &str, samples: &[f64]) {
        let mut s = samples.to_vec();
        let (p50, p99) = (percentile(&mut s, 50.0), percentile(&mut s, 99.0));
        println!(
            "discovery: {label:<56} p50 {:>9.3} ms  p99 {:>9.3} ms  ({} samples)",
            p50 / 1e6,
            p99 / 1e6,
            samples.len()
        );
        self.0.push((keys[0], p50));
        self.0.push((keys[1], p99));
    }
}

async fn registration(url: &str, rounds: usize, out: &mut Figures) {
    let prefix = format!("bench/{}-register/", std::process::id());
    let s = settings(url, &prefix, 10);
    let (worker_rt, router_rt) = (runtime_here(), runtime_here());
    let worker = discovery(&worker_rt, &s).await;
    let router = discovery(&router_rt, &s).await;
    let client = router.client(ep());
    timeout(WAIT, client.subscribe().wait_for(|l| l.is_synced()))
        .await
        .unwrap()
        .unwrap();
    let id = worker.instance_id();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let reg = worker.register(ep(), transport()).await.unwrap();
        until_listed(&client, id, true).await;
        up.push(t.elapsed().as_nanos() as f64);
        let t = Instant::now();
        reg.deregister().await.unwrap();
        until_listed(&client, id, false).await;
        down.push(t.elapsed().as_nanos() as f64);
    }
    out.spread(
        ["register_p50_ns", "register_p99_ns"],
        "registration visible to a watching client",
        &up,
    );
    out.spread(
        ["deregister_p50_ns", "deregister_p99_ns"],
        "Registration::deregister visible to the client",
        &down,
    );
    worker_rt.shutdown_and_wait(Some(WAIT)).await;
    router_rt.shutdown_and_wait(Some(WAIT)).await;
}

async fn shutdown(url: &str, rounds: usize, out: &mut Figures) {
    let prefix = format!("bench/{}-shutdown/", std::process::id());
    let s = settings(url, &prefix, 10);
    let router_rt = runtime_here();
    let router = discovery(&router_rt, &s).await;
    let client = router.client(ep());
    let (mut seen, mut step) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let worker_rt = runtime_here();
        let worker = discovery(&worker_rt, &s).await;
        let _reg = worker.register(ep(), transport()).await.unwrap();
        let id = worker.instance_id();
        until_listed(&client, id, true).await;
        let t = Instant::now();
        worker_rt.shutdown();
        until_listed(&client, id, false).await;
        seen.push(t.elapsed().as_nanos() as f64);
        let report = worker_rt.shutdown_and_wait(Some(WAIT)).await;
        assert!(report.is_clean(), "{report}");
        let took = report
            .drain_steps
            .iter()
            .find(|s| s.name == DEREGISTER_STEP)
            .expect("the report lists the deregistration step")
            .took;
        step.push(took.as_nanos() as f64);
    }
    out.spread(
        ["shutdown_p50_ns", "shutdown_p99_ns"],
        "shutdown() (SIGTERM) to removal seen by the client",
        &seen,
    );
    out.spread(
        ["drain_step_p50_ns", "drain_step_p99_ns"],
        "  the drain step's time in the shutdown report",
        &step,
    );
    router_rt.shutdown_and_wait(Some(WAIT)).await;
}

/// The crash case's child: registers under a short lease, prints `REGISTERED`, waits to be
/// killed (at most a minute).
fn child(spec: &str) {
    let (url, prefix) = spec.split_once(' ').unwrap();
    let runtime = Runtime::from_config(
        RuntimeConfig::builder()
            .num_worker_threads(1)
            .compute_threads(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    let s = settings(url, prefix, SHORT_TTL);
    runtime.primary().block_on(async {
        let d = discovery(&runtime, &s).await;
        let _reg = d.register(ep(), transport()).await.unwrap();
        println!("REGISTERED {}", d.instance_id().0);
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

async fn crash(url: &str, rounds: usize, out: &mut Figures) {
    let prefix = format!("bench/{}-crash/", std::process::id());
    let s = settings(url, &prefix, 10);
    let router_rt = runtime_here();
    let router = discovery(&router_rt, &s).await;
    let client = router.client(ep());
    let mut gone = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_VAR, format!("{url} {prefix}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = timeout(WAIT, line).await.unwrap().unwrap().unwrap();
        let id = InstanceId(
            line.trim()
                .strip_prefix("REGISTERED ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("child said {line:?}")),
        );
        until_listed(&client, id, true).await;
        // Spread the kill over a renewal period (TTL/3 = 667 ms) after a few renewals.
        let offset = 1_000 + (round as u64 * 211) % 667;
        tokio::time::sleep(Duration::from_millis(offset)).await;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        kill(pid, Signal::SIGKILL).unwrap();
        let t = Instant::now();
        until_listed(&client, id, false).await;
        gone.push(t.elapsed().as_nanos() as f64);
        let _ = child.wait();
    }
    let mut sorted = gone.clone();
    let max = percentile(&mut sorted, 100.0);
    let p50 = percentile(&mut sorted, 50.0);
    println!(
        "discovery: {:<56} p50 {:>9.3} ms  max {:>9.3} ms  ({} samples, TTL {SHORT_TTL} s)",
        "kill -9 to removal seen by the client",
        p50 / 1e6,
        max / 1e6,
        gone.len()
    );
    out.0.push(("crash_p50_ns", p50));
    out.0.push(("crash_max_ns", max));
    out.0.push((
        "crash_ttl_ns",
        Duration::from_secs(SHORT_TTL).as_nanos() as f64,
    ));
    router_rt.shutdown_and_wait(Some(WAIT)).await;
}

/// Spins the calling thread until `until`.
fn spin(until: Instant) {
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn keepalive(url: &str, load: Duration, out: &mut Figures) {
    let prefix = format!("bench/{}-keepalive/", std::process::id());
    let s = settings(url, &prefix, SHORT_TTL);
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(2)
        .build()
        .unwrap();
    let runtime = Runtime::from_config(config).unwrap();
    let worker = runtime.secondary().block_on(discovery(&runtime, &s));
    let until = Instant::now() + load;
    for _ in 0..2 {
        runtime.primary().spawn(async move { spin(until) });
        let rt = runtime.clone();
        runtime
            .primary()
            .spawn(async move { rt.compute(move || spin(until)).await });
    }
    std::thread::sleep(load + Duration::from_millis(200));
    let m = worker.metrics();
    println!(
        "discovery: {:<56} p50 {:>9.3} ms  p99 {:>9.3} ms  ({} renewals, max {:?})",
        "keep-alive lateness, primary runtime and pool saturated",
        m.keep_alive_lateness_p50.as_secs_f64() * 1e3,
        m.keep_alive_lateness_p99.as_secs_f64() * 1e3,
        m.lease_renewals,
        m.keep_alive_lateness_max
    );
    out.0.push((
        "keepalive_late_p50_ns",
        m.keep_alive_lateness_p50.as_nanos() as f64,
    ));
    out.0.push((
        "keepalive_late_p99_ns",
        m.keep_alive_lateness_p99.as_nanos() as f64,
    ));
    out.0.push(("keepalive_renewals", m.lease_renewals as f64));
    let report = runtime
        .secondary()
        .block_on(runtime.shutdown_and_wait(Some(WAIT)));
    assert!(report.is_clean(), "{report}");
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_VAR) {
        child(&spec);
        return;
    }
    let Some(server) = EtcdServer::start() else {
        println!(
            "discovery bench SKIPPED: no etcd server binary (`cargo xtask setup` installs it)"
        );
        return;
    };
    let url = server.url();
    let quick = quick();
    let (rounds, crashes, load) = if quick {
        (50, 3, Duration::from_secs(4))
    } else {
        (300, 8, Duration::from_secs(15))
    };
    let mut out = Figures(Vec::new());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        registration(&url, rounds, &mut out).await;
        shutdown(&url, rounds / 2, &mut out).await;
        crash(&url, crashes, &mut out).await;
    });
    drop(tokio);
    keepalive(&url, load, &mut out);
    drop(server);
    append_jsonl(&json_line("discovery", &out.0)).unwrap();
}
