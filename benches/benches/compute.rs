//! Compute bridge benchmarks: a trivial job's round trip through this crate's bridge against
//! the reference's double hop, `tokio_rayon`'s `spawn_async`, `spawn_blocking` and inline; the
//! overhead on a 2 ms job; `parallel_map` against raw `par_iter`; 10,000 concurrent small jobs
//! against `spawn_blocking`.
//!
//! Two parts in one binary:
//! 1. a sampled run that times every job on its own (medians and p99), interleaving the
//!    variants so that they share the machine's state; its figures go to stdout and, when
//!    `RT_BENCH_JSONL` names a file, as one JSON line `{"bridge": {..}, ...}` appended to it
//!    (`cargo xtask bench` merges these lines into `target/xtask/bench-summary.json`);
//! 2. the same cases as criterion benchmarks (reports under `target/criterion`).
//!
//! `RT_BENCH_QUICK=1` shortens both parts (`cargo xtask bench --quick`);
//! `RT_BENCH_SKIP_CRITERION` (set to anything) runs part 1 alone.

#![allow(clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::future::Future;
use std::hint::black_box;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rayon::prelude::*;
use rt_benches::{append_jsonl, json_line, percentile, quick};
use rt_compute::{ComputeConfig, ComputePool};
use tokio::runtime::Runtime;
use tokio_rayon::AsyncThreadPool;

/// Threads of the compute pool and of every baseline pool (the default size on 2 cores).
const POOL_THREADS: usize = 2;
/// Concurrent jobs of the saturation case.
const SATURATION_JOBS: usize = 10_000;

/// Deterministic CPU work: `iters` rounds of xorshift.
fn work(seed: u64, iters: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn trivial() -> u64 {
    black_box(1u64) + 1
}

struct Setup {
    rt: Runtime,
    pool: Arc<ComputePool>,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config = ComputeConfig {
        num_threads: Some(POOL_THREADS),
        ..ComputeConfig::default()
    };
    let pool = Arc::new(ComputePool::new(config).expect("compute pool"));
    // The double hop goes through Rayon's global pool first: give it the same size.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(POOL_THREADS)
        .build_global();
    Setup { rt, pool }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bridge {
    Ours,
    DoubleHop,
    TokioRayon,
    SpawnBlocking,
    Inline,
}

const BRIDGES: [Bridge; 5] = [
    Bridge::Ours,
    Bridge::DoubleHop,
    Bridge::TokioRayon,
    Bridge::SpawnBlocking,
    Bridge::Inline,
];

impl Bridge {
    fn name(self) -> &'static str {
        match self {
            Bridge::Ours => "ours",
            Bridge::DoubleHop => "double_hop",
            Bridge::TokioRayon => "tokio_rayon",
            Bridge::SpawnBlocking => "spawn_blocking",
            Bridge::Inline => "inline",
        }
    }
}

/// One round trip of a trivial job through `how`.
async fn round_trip(how: Bridge, pool: &Arc<ComputePool>) -> u64 {
    match how {
        Bridge::Ours => pool.execute(trivial).await.expect("job"),
        Bridge::DoubleHop => {
            let p = Arc::clone(pool);
            tokio_rayon::spawn(move || p.rayon_pool().install(trivial)).await
        }
        Bridge::TokioRayon => pool.rayon_pool().spawn_async(trivial).await,
        Bridge::SpawnBlocking => tokio::task::spawn_blocking(trivial).await.expect("job"),
        Bridge::Inline => trivial(),
    }
}

/// Runs `n` round trips through `how` on a tokio worker; returns the time of each (ns).
/// Inline is too fast to time one by one: each of its samples is the mean of 1000 calls.
fn sample_bridge(s: &Setup, how: Bridge, n: usize) -> Vec<f64> {
    let pool = Arc::clone(&s.pool);
    s.rt.block_on(async move {
        tokio::spawn(async move {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                if how == Bridge::Inline {
                    let t = Instant::now();
                    for _ in 0..1000 {
                        black_box(round_trip(how, &pool).await);
                    }
                    out.push(t.elapsed().as_nanos() as f64 / 1000.0);
                } else {
                    let t = Instant::now();
                    black_box(round_trip(how, &pool).await);
                    out.push(t.elapsed().as_nanos() as f64);
                }
            }
            out
        })
        .await
        .expect("sampling task")
    })
}

/// Median and p99 of the samples.
fn stats(mut v: Vec<f64>) -> (f64, f64) {
    (percentile(&mut v, 50.0), percentile(&mut v, 99.0))
}

/// Iterations of [`work`] that take about `target` on this machine.
fn calibrate(target: Duration) -> u64 {
    let mut iters = 1_000u64;
    loop {
        let t = Instant::now();
        black_box(work(1, iters));
        let e = t.elapsed();
        if e >= Duration::from_millis(1) {
            return (iters as f64 * target.as_secs_f64() / e.as_secs_f64()) as u64;
        }
        iters *= 4;
    }
}

fn time_async<F>(rt: &Runtime, fut: F) -> Duration
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let t = Instant::now();
            black_box(fut.await);
            t.elapsed()
        })
        .await
        .expect("timed task")
    })
}

async fn saturate_ours(pool: Arc<ComputePool>, iters: u64) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..SATURATION_JOBS as u64 {
        let p = Arc::clone(&pool);
        set.spawn(async move { p.execute(move || work(i, iters)).await });
    }
    while let Some(r) = set.join_next().await {
        black_box(r.expect("task").expect("job"));
    }
}

async fn saturate_spawn_blocking(iters: u64) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..SATURATION_JOBS as u64 {
        set.spawn(async move { tokio::task::spawn_blocking(move || work(i, iters)).await });
    }
    while let Some(r) = set.join_next().await {
        black_box(r.expect("task").expect("job"));
    }
}

struct Workloads {
    large_iters: u64,
    small_iters: u64,
    map_items: Vec<u64>,
    map_iters: u64,
}

fn workloads() -> Workloads {
    Workloads {
        large_iters: calibrate(Duration::from_millis(2)),
        small_iters: calibrate(Duration::from_micros(2)),
        map_items: (0..4096).collect(),
        map_iters: calibrate(Duration::from_micros(2)),
    }
}

/// Part 1: the sampled run behind the summary.
fn summary(s: &Setup, w: &Workloads) {
    let q = quick();
    let (rounds, per_round) = if q { (10, 1_000) } else { (30, 2_000) };
    eprintln!("bridge: {rounds} rounds x {per_round} jobs per variant, interleaved");
    // Warm up every path (threads started, caches hot).
    for how in BRIDGES {
        sample_bridge(s, how, 2_000);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); BRIDGES.len()];
    for _ in 0..rounds {
        for (i, how) in BRIDGES.iter().enumerate() {
            samples[i].extend(sample_bridge(s, *how, per_round));
        }
    }
    let bridge: Vec<(Bridge, f64, f64)> = BRIDGES
        .iter()
        .zip(samples)
        .map(|(how, v)| {
            let (m, p) = stats(v);
            (*how, m, p)
        })
        .collect();
    let get = |b: Bridge| {
        bridge
            .iter()
            .find(|x| x.0 == b)
            .map_or((f64::NAN, f64::NAN), |x| (x.1, x.2))
    };

    // Large job: 2 ms of work, inline vs through the bridge, interleaved.
    let n_large = if q { 60 } else { 200 };
    let iters = w.large_iters;
    let (mut inline_l, mut ours_l, mut floor_l) = (Vec::new(), Vec::new(), Vec::new());
    // The machine's floor for any offload of this job: the same 2 ms handed to a plain std
    // thread over a channel and answered back (two wake-ups of threads idle for the job's
    // length; no runtime, no pool).
    let (ping, pings) = std::sync::mpsc::channel::<u64>();
    let (pong_tx, pong) = std::sync::mpsc::channel::<u64>();
    let echo = std::thread::spawn(move || {
        for n in pings {
            if pong_tx.send(work(7, n)).is_err() {
                break;
            }
        }
    });
    for _ in 0..n_large {
        let t = Instant::now();
        black_box(work(7, iters));
        inline_l.push(t.elapsed().as_nanos() as f64);
        let t = Instant::now();
        ping.send(iters).expect("echo thread");
        black_box(pong.recv().expect("echo thread"));
        floor_l.push(t.elapsed().as_nanos() as f64);
        let p = Arc::clone(&s.pool);
        ours_l.push(
            time_async(
                &s.rt,
                async move { p.execute(move || work(7, iters)).await },
            )
            .as_nanos() as f64,
        );
    }
    drop(ping);
    echo.join().expect("echo thread");
    let (inline_large, _) = stats(inline_l);
    let (ours_large, _) = stats(ours_l);
    let (plain_thread, _) = stats(floor_l);
    let overhead_pct = (ours_large - inline_large) / inline_large * 100.0;

    // parallel_map vs raw par_iter on the same pool.
    let n_map = if q { 30 } else { 100 };
    let (mut raw_m, mut ours_m) = (Vec::new(), Vec::new());
    for _ in 0..n_map {
        let items = w.map_items.clone();
        let it = w.map_iters;
        let t = Instant::now();
        let r: Vec<u64> = s
            .pool
            .rayon_pool()
            .install(|| items.into_par_iter().map(|x| work(x, it)).collect());
        black_box(r);
        raw_m.push(t.elapsed().as_nanos() as f64);
        let items = w.map_items.clone();
        let p = Arc::clone(&s.pool);
        ours_m.push(
            time_async(&s.rt, async move {
                p.parallel_map(items, move |x| work(x, it)).await
            })
            .as_nanos() as f64,
        );
    }
    let (raw_map, _) = stats(raw_m);
    let (ours_map, _) = stats(ours_m);

    // Saturation: 10,000 concurrent small jobs.
    let n_sat = if q { 5 } else { 15 };
    let small = w.small_iters;
    let (mut ours_s, mut sb_s) = (Vec::new(), Vec::new());
    for _ in 0..n_sat {
        ours_s.push(time_async(&s.rt, saturate_ours(Arc::clone(&s.pool), small)).as_nanos() as f64);
        sb_s.push(time_async(&s.rt, saturate_spawn_blocking(small)).as_nanos() as f64);
    }
    let (ours_sat, _) = stats(ours_s);
    let (sb_sat, _) = stats(sb_s);

    let (ours, ours_p99) = get(Bridge::Ours);
    let (dh, dh_p99) = get(Bridge::DoubleHop);
    let (tr, tr_p99) = get(Bridge::TokioRayon);
    let (sb, sb_p99) = get(Bridge::SpawnBlocking);
    let (inl, inl_p99) = get(Bridge::Inline);
    let sections: [(&str, &[(&str, f64)]); 4] = [
        (
            "bridge",
            &[
                ("ours_ns", ours),
                ("ours_p99_ns", ours_p99),
                ("double_hop_ns", dh),
                ("double_hop_p99_ns", dh_p99),
                ("tokio_rayon_ns", tr),
                ("tokio_rayon_p99_ns", tr_p99),
                ("spawn_blocking_ns", sb),
                ("spawn_blocking_p99_ns", sb_p99),
                ("inline_ns", inl),
                ("inline_p99_ns", inl_p99),
                ("ratio_vs_double_hop", ours / dh),
                ("ratio_vs_tokio_rayon", ours / tr),
                ("ratio_vs_spawn_blocking", ours / sb),
            ],
        ),
        (
            "large_job",
            &[
                ("inline_ns", inline_large),
                ("ours_ns", ours_large),
                ("overhead_pct", overhead_pct),
                ("plain_thread_ns", plain_thread),
                (
                    "plain_thread_overhead_pct",
                    (plain_thread - inline_large) / inline_large * 100.0,
                ),
            ],
        ),
        (
            "parallel_map",
            &[
                ("par_iter_ns", raw_map),
                ("ours_ns", ours_map),
                ("ratio_vs_par_iter", raw_map / ours_map),
            ],
        ),
        (
            "saturation",
            &[
                ("jobs", SATURATION_JOBS as f64),
                ("ours_ns", ours_sat),
                ("spawn_blocking_ns", sb_sat),
                ("ratio_vs_spawn_blocking", ours_sat / sb_sat),
            ],
        ),
    ];
    for (section, fields) in sections {
        let line = json_line(section, fields);
        println!("{line}");
        append_jsonl(&line).expect("append to RT_BENCH_JSONL");
    }
}

/// Part 2: the criterion benchmarks.
fn criterion_benches(c: &mut Criterion, s: &Setup, w: &Workloads) {
    let mut g = c.benchmark_group("bridge_round_trip");
    for how in BRIDGES {
        g.bench_function(how.name(), |b| {
            b.iter_custom(|iters| {
                let pool = Arc::clone(&s.pool);
                time_async(&s.rt, async move {
                    for _ in 0..iters {
                        black_box(round_trip(how, &pool).await);
                    }
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("large_job_2ms");
    let iters = w.large_iters;
    g.bench_function("inline", |b| b.iter(|| work(7, iters)));
    g.bench_function("ours", |b| {
        b.iter_custom(|n| {
            let p = Arc::clone(&s.pool);
            time_async(&s.rt, async move {
                for _ in 0..n {
                    black_box(p.execute(move || work(7, iters)).await.expect("job"));
                }
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("parallel_map");
    let it = w.map_iters;
    g.bench_function("par_iter", |b| {
        b.iter(|| {
            let items = w.map_items.clone();
            s.pool.rayon_pool().install(|| {
                items
                    .into_par_iter()
                    .map(|x| work(x, it))
                    .collect::<Vec<_>>()
            })
        })
    });
    g.bench_function("ours", |b| {
        b.iter_custom(|n| {
            let p = Arc::clone(&s.pool);
            let items = w.map_items.clone();
            time_async(&s.rt, async move {
                for _ in 0..n {
                    let v = items.clone();
                    black_box(p.parallel_map(v, move |x| work(x, it)).await.expect("job"));
                }
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("saturation_10k");
    g.sample_size(10);
    let small = w.small_iters;
    g.bench_function("ours", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| time_async(&s.rt, saturate_ours(Arc::clone(&s.pool), small)))
                .sum()
        })
    });
    g.bench_function("spawn_blocking", |b| {
        b.iter_custom(|n| {
            (0..n)
                .map(|_| time_async(&s.rt, saturate_spawn_blocking(small)))
                .sum()
        })
    });
    g.finish();
}

fn main() {
    let s = setup();
    let w = workloads();
    summary(&s, &w);
    if std::env::var_os("RT_BENCH_SKIP_CRITERION").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    if quick() {
        c = c
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(700))
            .sample_size(10);
    }
    criterion_benches(&mut c, &s, &w);
    c.final_summary();
}
