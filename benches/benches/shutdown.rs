//! Shutdown benchmark: what a graceful shutdown costs beyond the work it waits for.
//!
//! Cases (criterion `iter_custom`; every iteration's time is also kept here for the summary):
//! * `shutdown/coordinator_idle` - `ShutdownCoordinator::shutdown_and_wait(None)` with nothing
//!   in flight: from the call to the report (all three phases, no teardown task);
//! * `shutdown/coordinator_in_flight` - [`IN_FLIGHT`] guards of one task class, each released by
//!   its own task on a 2-worker tokio runtime after [`REQUEST`]; `shutdown_and_wait(None)` is
//!   called once they are all registered. Measured: the time from the last release (the end of
//!   the longest request, taken just before its guard drops) to the report, i.e. the extra
//!   time beyond the longest request;
//! * `shutdown/runtime_in_flight` - the same through `rt_core::Runtime`: an owned runtime
//!   (2 workers, 1 compute thread), one graceful endpoint, [`IN_FLIGHT`] requests counted with
//!   `EndpointContext::begin_request` and released after [`REQUEST`]; the extra time of
//!   `Runtime::shutdown_and_wait(None)` beyond the longest request (phase 2 ends only when the
//!   endpoint has drained and its serve future has returned);
//! * `shutdown/signal_to_exit` - a process running `rt_core::Worker` with nothing in flight
//!   (the `shutdown_probe` binary of this package) gets `SIGTERM` once it has printed `ready`;
//!   measured: from the `kill` to the moment the child has been reaped. Its exit code must
//!   be 0.
//!
//! The slow cases take about two iterations per sample (flat sampling, a sample size of 20,
//! 10 with `RT_BENCH_QUICK=1`). Medians and p99 of the individual iterations are printed and,
//! when `RT_BENCH_JSONL` names a file, appended to it as one line with a `"shutdown"` section
//! (`cargo xtask bench shutdown` merges it into `target/xtask/bench-summary.json`).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rt_benches::{append_jsonl, json_line, percentile, quick};
use rt_core::config::RuntimeConfig;
use rt_core::EndpointContext;
use rt_shutdown::{ShutdownCoordinator, ShutdownOptions};
use tokio::runtime::Runtime as Tokio;

/// Requests in flight when the shutdown starts.
const IN_FLIGHT: usize = 100;
/// How long each of them runs.
const REQUEST: Duration = Duration::from_millis(20);
/// The process the signal case starts (built by cargo before the benches of this package).
const PROBE: &str = env!("CARGO_BIN_EXE_shutdown_probe");

/// Every iteration's nanoseconds, by case.
static SAMPLES: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn keep(case: &'static str, d: Duration) -> Duration {
    SAMPLES
        .lock()
        .unwrap()
        .entry(case)
        .or_default()
        .push(d.as_nanos() as f64);
    d
}

/// `(median, p99)` of a case's iterations, in nanoseconds.
fn stats(case: &str) -> (f64, f64) {
    let mut v = SAMPLES
        .lock()
        .unwrap()
        .get(case)
        .cloned()
        .unwrap_or_default();
    (percentile(&mut v, 50.0), percentile(&mut v, 99.0))
}

/// Nanoseconds since `base`, for `AtomicU64::fetch_max`.
fn since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One idle shutdown: from the call to the report.
fn coordinator_idle(rt: &Tokio) -> Duration {
    let coordinator = ShutdownCoordinator::new(ShutdownOptions::default());
    rt.block_on(async {
        let start = Instant::now();
        let report = coordinator.shutdown_and_wait(None).await;
        let elapsed = start.elapsed();
        assert!(report.is_clean(), "{report}");
        elapsed
    })
}

/// One shutdown with [`IN_FLIGHT`] requests of [`REQUEST`]: the time from the last release to
/// the report.
fn coordinator_in_flight(rt: &Tokio) -> Duration {
    let coordinator = ShutdownCoordinator::new(ShutdownOptions::default());
    let class = coordinator.tracker().task_class("request");
    let base = Instant::now();
    let last_release = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        for _ in 0..IN_FLIGHT {
            let guard = class.register().expect("register before the shutdown");
            let last = Arc::clone(&last_release);
            tokio::spawn(async move {
                tokio::time::sleep(REQUEST).await;
                last.fetch_max(since(base), Ordering::SeqCst);
                drop(guard);
            });
        }
        let report = coordinator.shutdown_and_wait(None).await;
        let end = since(base);
        assert!(report.is_clean(), "{report}");
        Duration::from_nanos(end.saturating_sub(last_release.load(Ordering::SeqCst)))
    })
}

/// The same through an owned `rt_core::Runtime` and one graceful endpoint.
fn runtime_in_flight() -> Duration {
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(1)
        .build()
        .expect("small runtime config");
    let runtime = rt_core::Runtime::from_config(config).expect("owned runtime");
    let mut context: Option<EndpointContext> = None;
    let endpoint = runtime
        .endpoint("bench")
        .start(|ctx| {
            context = Some(ctx.clone());
            async move {
                ctx.cancelled().await;
                Ok::<(), std::convert::Infallible>(())
            }
        })
        .expect("start the endpoint");
    let ctx = context.expect("the endpoint's context");
    let base = Instant::now();
    let last_release = Arc::new(AtomicU64::new(0));
    for _ in 0..IN_FLIGHT {
        let guard = ctx.begin_request().expect("accepting before the shutdown");
        let last = Arc::clone(&last_release);
        runtime.primary().spawn(async move {
            tokio::time::sleep(REQUEST).await;
            last.fetch_max(since(base), Ordering::SeqCst);
            drop(guard);
        });
    }
    let report = runtime.primary().block_on(runtime.shutdown_and_wait(None));
    let end = since(base);
    assert!(report.is_clean(), "{report}");
    assert_eq!(endpoint.in_flight(), 0);
    drop((ctx, endpoint));
    drop(runtime);
    Duration::from_nanos(end.saturating_sub(last_release.load(Ordering::SeqCst)))
}

/// Starts the probe, waits for `ready`, sends `SIGTERM`: the time until the child is reaped.
fn signal_to_exit() -> Duration {
    let mut child = Command::new(PROBE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {PROBE}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read the probe's stdout");
    assert_eq!(line.trim(), "ready", "the probe did not report ready");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits in i32"));
    let start = Instant::now();
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    let status = child.wait().expect("wait for the probe");
    let elapsed = start.elapsed();
    assert_eq!(status.code(), Some(0), "probe exit status: {status}");
    elapsed
}

/// A slow case: a few iterations per sample, whatever each one costs in wall time.
fn slow(c: &mut Criterion, name: &'static str, samples: usize, mut once: impl FnMut() -> Duration) {
    // Three untimed runs warm up and tell how long one iteration takes in wall time (set-up
    // included), which is what criterion plans with: a target of two iterations per sample
    // (criterion's own estimate comes from one warm-up iteration).
    let mut wall: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            once();
            start.elapsed().as_nanos() as f64
        })
        .collect();
    let estimate = percentile(&mut wall, 50.0);
    let target = Duration::from_nanos((estimate * 2.0 * samples as f64) as u64);
    let mut group = c.benchmark_group("shutdown");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(samples)
        .warm_up_time(Duration::from_nanos(1))
        .measurement_time(target);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| keep(name, once())).sum())
    });
    group.finish();
}

fn main() {
    let q = quick();
    let samples = if q { 10 } else { 20 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("shutdown");
        let (warm, measure, size) = if q { (100, 300, 30) } else { (500, 1_500, 100) };
        group
            .sample_size(size)
            .warm_up_time(Duration::from_millis(warm))
            .measurement_time(Duration::from_millis(measure));
        group.bench_function("coordinator_idle", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| keep("coordinator_idle", coordinator_idle(&rt)))
                    .sum()
            })
        });
        group.finish();
    }
    slow(&mut c, "coordinator_in_flight", samples, || {
        coordinator_in_flight(&rt)
    });
    slow(&mut c, "runtime_in_flight", samples, runtime_in_flight);
    slow(&mut c, "signal_to_exit", samples, signal_to_exit);
    c.final_summary();

    let (idle, idle_p99) = stats("coordinator_idle");
    let (extra, extra_p99) = stats("coordinator_in_flight");
    let (rt_extra, rt_extra_p99) = stats("runtime_in_flight");
    let (exit, exit_p99) = stats("signal_to_exit");
    let ms = |ns: f64| ns / 1e6;
    println!(
        "shutdown: idle coordinator {:.1} us (p99 {:.1} us); {IN_FLIGHT} in flight x {REQUEST:?}: \
         extra beyond the longest request {:.3} ms (p99 {:.3} ms), through Runtime {:.3} ms \
         (p99 {:.3} ms); SIGTERM to exit {:.2} ms (p99 {:.2} ms)",
        idle / 1e3,
        idle_p99 / 1e3,
        ms(extra),
        ms(extra_p99),
        ms(rt_extra),
        ms(rt_extra_p99),
        ms(exit),
        ms(exit_p99),
    );
    let line = json_line(
        "shutdown",
        &[
            ("signal_to_exit_ns", exit),
            ("signal_to_exit_p99_ns", exit_p99),
            ("coordinator_idle_ns", idle),
            ("coordinator_idle_p99_ns", idle_p99),
            ("extra_beyond_longest_ns", extra),
            ("extra_beyond_longest_p99_ns", extra_p99),
            ("runtime_extra_beyond_longest_ns", rt_extra),
            ("runtime_extra_beyond_longest_p99_ns", rt_extra_p99),
            ("in_flight", IN_FLIGHT as f64),
            ("request_ms", REQUEST.as_secs_f64() * 1e3),
        ],
    );
    println!("{line}");
    append_jsonl(&line).expect("append to RT_BENCH_JSONL");
}
