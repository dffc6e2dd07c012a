//! Tracker benchmark: one guard's register + drop, the per-request cost of graceful-shutdown
//! tracking, against `tokio_util::task::TaskTracker::token` in the same run, uncontended and
//! with 2 threads hammering the same tracker.
//!
//! Cases:
//! * `rt_shutdown/class` - `TaskClass::register()` + drop (the name resolved once);
//! * `rt_shutdown/named` - `GracefulShutdownTracker::register_task(name)` + drop (map lookup);
//! * `tokio_util/token` - `TaskTracker::token()` + drop (the baseline).
//!
//! Every sample's time per operation is also kept here, and the medians give the ratio line
//! printed at the end: `tracker ratio uncontended: X.XXx, 2 threads: Y.YYx` (class / token;
//! the target is at most 1.2x). When `RT_BENCH_JSONL` names a file, the medians (ns per
//! register + drop) and the ratios are appended to it as one line with a `"tracker"` section
//! (`cargo xtask bench` merges it into `target/xtask/bench-summary.json`);
//! `RT_BENCH_QUICK=1` shortens the warm-up and the measurement.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark that cannot set up has nothing to report

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use rt_benches::{append_jsonl, json_line, percentile, quick};
use rt_shutdown::GracefulShutdownTracker;
use tokio_util::task::TaskTracker;

/// Per-sample nanoseconds per operation, by case id.
static SAMPLES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(id: &str, iters: u64, elapsed: Duration) -> Duration {
    if iters > 0 {
        let ns = elapsed.as_nanos() as f64 / iters as f64;
        SAMPLES
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default()
            .push(ns);
    }
    elapsed
}

fn median(id: &str) -> Option<f64> {
    let mut v = SAMPLES.lock().unwrap().get(id)?.clone();
    (!v.is_empty()).then(|| percentile(&mut v, 50.0))
}

/// Runs `op` `iters` times on this thread; the time it took.
fn alone(iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed()
}

/// Runs `op` `iters` times on each of 2 threads at once; the wall time from the common start
/// until both are done (so the time per operation as each thread sees it under contention).
fn two_threads(iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            barrier.wait();
            for _ in 0..iters {
                op();
            }
        });
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            op();
        }
        other.join().unwrap();
        start.elapsed()
    })
}

fn bench_tracker(c: &mut Criterion) {
    let tracker = GracefulShutdownTracker::new();
    let class = tracker.task_class("request");
    let task_tracker = TaskTracker::new();

    let by_class = || drop(black_box(class.register().unwrap()));
    let by_name = || drop(black_box(tracker.register_task("request").unwrap()));
    let by_token = || drop(black_box(task_tracker.token()));

    for mode in ["uncontended", "2 threads"] {
        let mut group = c.benchmark_group(format!("tracker/{mode}"));
        // Interleave the baseline between the two variants so that drift hits both sides.
        let id = format!("{mode}/rt_shutdown/class");
        group.bench_function("rt_shutdown/class", |b| {
            b.iter_custom(|iters| record(&id, iters, run(mode, iters, &by_class)))
        });
        let id = format!("{mode}/tokio_util/token");
        group.bench_function("tokio_util/token", |b| {
            b.iter_custom(|iters| record(&id, iters, run(mode, iters, &by_token)))
        });
        let id = format!("{mode}/rt_shutdown/named");
        group.bench_function("rt_shutdown/named", |b| {
            b.iter_custom(|iters| record(&id, iters, run(mode, iters, &by_name)))
        });
        group.finish();
    }
    assert_eq!(tracker.get_count(), 0);
}

fn run(mode: &str, iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    if mode == "uncontended" {
        alone(iters, op)
    } else {
        two_threads(iters, op)
    }
}

fn ratio(mode: &str, variant: &str) -> Option<f64> {
    Some(
        median(&format!("{mode}/rt_shutdown/{variant}"))?
            / median(&format!("{mode}/tokio_util/token"))?,
    )
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    if quick() {
        c = c
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(20);
    }
    bench_tracker(&mut c);
    c.final_summary();

    let fmt = |r: Option<f64>| r.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}x"));
    for mode in ["uncontended", "2 threads"] {
        println!(
            "tracker {mode}: median ns/op: class {}, named {}, TaskTracker token {}",
            median(&format!("{mode}/rt_shutdown/class"))
                .map_or("n/a".into(), |v| format!("{v:.2}")),
            median(&format!("{mode}/rt_shutdown/named"))
                .map_or("n/a".into(), |v| format!("{v:.2}")),
            median(&format!("{mode}/tokio_util/token")).map_or("n/a".into(), |v| format!("{v:.2}")),
        );
    }
    println!(
        "tracker ratio uncontended: {}, 2 threads: {} (TaskClass::register vs TaskTracker::token; target <= 1.20x)",
        fmt(ratio("uncontended", "class")),
        fmt(ratio("2 threads", "class")),
    );
    println!(
        "tracker ratio by name (register_task) uncontended: {}, 2 threads: {}",
        fmt(ratio("uncontended", "named")),
        fmt(ratio("2 threads", "named")),
    );

    let m = |mode: &str, case: &str| median(&format!("{mode}/{case}")).unwrap_or(f64::NAN);
    let r = |mode: &str, variant: &str| ratio(mode, variant).unwrap_or(f64::NAN);
    let line = json_line(
        "tracker",
        &[
            ("class_ns", m("uncontended", "rt_shutdown/class")),
            ("named_ns", m("uncontended", "rt_shutdown/named")),
            ("task_tracker_ns", m("uncontended", "tokio_util/token")),
            ("ratio_uncontended", r("uncontended", "class")),
            ("class_2t_ns", m("2 threads", "rt_shutdown/class")),
            ("named_2t_ns", m("2 threads", "rt_shutdown/named")),
            ("task_tracker_2t_ns", m("2 threads", "tokio_util/token")),
            ("ratio_2_threads", r("2 threads", "class")),
            ("named_ratio_uncontended", r("uncontended", "named")),
            ("named_ratio_2_threads", r("2 threads", "named")),
        ],
    );
    println!("{line}");
    append_jsonl(&line).expect("append to RT_BENCH_JSONL");
}
