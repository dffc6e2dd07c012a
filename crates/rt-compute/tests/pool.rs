//! ComputePool: construction, every async method, execute_sync, metrics, panics, cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use rayon::prelude::*;
use rt_compute::{ComputeConfig, ComputeError, ComputePool};
use rt_config::{MAX_THREAD_PREFIX_LEN, MIN_STACK_SIZE};

mod common;

use common::{pool_of as pool, thread_name};

/// Builds a pool from `config`, expecting the refusal; returns the refused key and message.
fn refused(config: ComputeConfig) -> (String, String) {
    // The same verdict as rt-config's own check, carried as the source.
    let direct = config.validate().unwrap_err();
    match ComputePool::new(config).unwrap_err() {
        ComputeError::InvalidConfig { source } => {
            assert_eq!(source, direct);
            let err = ComputeError::InvalidConfig { source };
            let chained = std::error::Error::source(&err).map(ToString::to_string);
            assert_eq!(chained, Some(direct.to_string()));
            (direct.key().unwrap().to_owned(), err.to_string())
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

fn with(f: impl FnOnce(&mut ComputeConfig)) -> ComputeConfig {
    let mut config = ComputeConfig::default();
    f(&mut config);
    config
}

#[test]
fn invalid_configs_are_refused_with_rt_configs_error() {
    let (key, msg) = refused(with(|c| c.num_threads = Some(0)));
    assert_eq!(key, "num_threads");
    assert!(msg.contains("from 1 to 1024"), "{msg}");

    let (key, msg) = refused(with(|c| c.stack_size = Some(MIN_STACK_SIZE - 1)));
    assert_eq!(key, "stack_size");
    assert!(msg.contains("128 KiB"), "{msg}");

    let (key, _) = refused(with(|c| c.bridge_spin_us = 1001));
    assert_eq!(key, "bridge_spin_us");

    // Thread-name prefixes follow rt-config's rule: 1 to 32 of A-Z a-z 0-9 - _ .
    // Stricter than the pool's own old check, which took any non-empty string without NUL of
    // up to 32 bytes: spaces, slashes and non-ASCII letters are now refused too.
    let too_long = "p".repeat(MAX_THREAD_PREFIX_LEN + 1);
    for prefix in [
        "",
        "compute\0x",
        "cpu pool",
        "a/b",
        "r\u{e9}seau",
        too_long.as_str(),
    ] {
        let (key, msg) = refused(with(|c| c.thread_prefix = prefix.to_owned()));
        assert_eq!(key, "thread_prefix", "{prefix:?}");
        assert!(msg.contains("A-Z, a-z, 0-9"), "{msg}");
    }

    // The edges of every range are accepted.
    let ok = ComputePool::new(ComputeConfig {
        num_threads: Some(1),
        stack_size: Some(MIN_STACK_SIZE),
        thread_prefix: "p".repeat(MAX_THREAD_PREFIX_LEN),
        bridge_spin_us: 1000,
        ..ComputeConfig::default()
    })
    .unwrap();
    assert_eq!(ok.num_threads(), 1);
    let ok = ComputePool::new(with(|c| c.thread_prefix = "cpu-pool_v2.0".to_owned())).unwrap();
    assert_eq!(ok.config().thread_prefix, "cpu-pool_v2.0");
}

#[test]
fn defaults_follow_the_config() {
    let pool = ComputePool::with_defaults().unwrap();
    let expected = ComputeConfig::default().resolved_num_threads();
    assert!((2..=16).contains(&expected));
    assert_eq!(pool.num_threads(), expected);
    assert_eq!(pool.config(), &ComputeConfig::default());
    assert!(format!("{pool:?}").contains("num_threads"));
}

#[test]
fn threads_are_named_with_the_prefix_and_pinning_is_harmless() {
    let pool = ComputePool::new(ComputeConfig {
        num_threads: Some(2),
        thread_prefix: "crunch".to_owned(),
        pin_threads: true,
        ..ComputeConfig::default()
    })
    .unwrap();
    // Both threads at once: a barrier of 2 inside a broadcast.
    let barrier = Barrier::new(2);
    let names: HashSet<String> = pool
        .rayon_pool()
        .broadcast(|_| {
            barrier.wait();
            thread_name()
        })
        .into_iter()
        .collect();
    let expected: HashSet<String> = ["crunch-0", "crunch-1"].map(String::from).into();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn execute_runs_on_a_pool_thread() {
    let pool = pool(2);
    let name = pool.execute(thread_name).await.unwrap();
    assert!(name.starts_with("compute-"), "{name}");
}

#[tokio::test]
async fn install_runs_parallel_iterators_on_this_pool() {
    let pool = pool(2);
    let names: HashSet<String> = pool
        .install(|| {
            (0..64)
                .into_par_iter()
                .map(|_| thread_name())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n.starts_with("compute-")), "{names:?}");
}

#[tokio::test]
async fn execute_scoped_waits_for_all_spawned_tasks() {
    let pool = pool(2);
    let out = pool
        .execute_scoped(|scope| {
            let (tx, rx) = mpsc::channel();
            for i in 0..10 {
                let tx = tx.clone();
                scope.spawn(move |_| tx.send(i).unwrap());
            }
            drop(tx);
            rx
        })
        .await
        .unwrap();
    let mut got: Vec<i32> = out.try_iter().collect();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn execute_scoped_reports_a_panicking_task() {
    let pool = pool(2);
    let err = pool
        .execute_scoped(|scope| scope.spawn(|_| panic!("scoped boom")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ComputeError::Panicked {
            message: "scoped boom".into()
        }
    );
}

#[tokio::test]
async fn join_runs_both_sides_in_parallel() {
    let pool = pool(2);
    // Each side waits for the other: only completes if they run at the same time.
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
    let (a, b) = pool
        .join(
            move || {
                b1.wait();
                1
            },
            move || {
                b2.wait();
                "b"
            },
        )
        .await
        .unwrap();
    assert_eq!((a, b), (1, "b"));
    let err = pool.join(|| 1, || panic!("right side")).await.unwrap_err();
    assert_eq!(err.to_string(), "compute job panicked: right side");
}

#[tokio::test]
async fn parallel_map_keeps_order() {
    let pool = pool(2);
    let out = pool
        .parallel_map((0..1000u32).collect(), |x| x * 2)
        .await
        .unwrap();
    assert_eq!(out, (0..1000u32).map(|x| x * 2).collect::<Vec<_>>());
    let empty: Vec<u32> = pool.parallel_map(Vec::new(), |x: u32| x).await.unwrap();
    assert!(empty.is_empty());
    let err = pool
        .parallel_map(
            vec![1, 2, 3],
            |x: i32| if x == 2 { panic!("item {x}") } else { x },
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "compute job panicked: item 2");
}

#[tokio::test]
async fn parallel_batch_returns_one_result_per_batch() {
    let pool = pool(2);
    let out = pool
        .parallel_batch((0..10u32).collect(), 4, |b: &[u32]| b.to_vec())
        .await
        .unwrap();
    assert_eq!(out, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    let err = pool
        .parallel_batch(vec![1u8], 0, |b: &[u8]| b.len())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ComputeError::InvalidArgument {
            name: "batch_size",
            ..
        }
    ));
    assert!(err.to_string().contains("at least 1"));
}

#[test]
fn execute_sync_blocks_and_catches_panics() {
    let pool = pool(2);
    assert!(pool
        .execute_sync(thread_name)
        .unwrap()
        .starts_with("compute-"));
    // It may borrow from the caller.
    let data = [1, 2, 3];
    assert_eq!(pool.execute_sync(|| data.iter().sum::<i32>()).unwrap(), 6);
    let err = pool.execute_sync(|| panic!("sync boom")).unwrap_err();
    assert_eq!(
        err,
        ComputeError::Panicked {
            message: "sync boom".into()
        }
    );
    // Nested: from a pool thread it runs in place.
    let outer = pool.execute_sync(|| {
        let inner = pool.execute_sync(thread_name).unwrap();
        (thread_name(), inner)
    });
    let (outer, inner) = outer.unwrap();
    assert_eq!(outer, inner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_come_back_as_errors_and_the_pool_keeps_its_threads() {
    let pool = pool(2);
    for i in 0..10 {
        let err = pool
            .execute(move || -> u32 { panic!("job {i} failed") })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("compute job panicked: job {i} failed")
        );
    }
    let err = pool
        .execute(|| std::panic::panic_any(42u8))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ComputeError::Panicked {
            message: "<non-string panic payload>".into()
        }
    );
    // Both threads still exist and run jobs at the same time.
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
    let (a, b) = tokio::join!(
        pool.execute(move || {
            b1.wait();
            thread_name()
        }),
        pool.execute(move || {
            b2.wait();
            thread_name()
        })
    );
    assert_ne!(a.unwrap(), b.unwrap());
    assert_eq!(pool.metrics().tasks_panicked, 11);
}

/// Occupies every thread of `pool` until the returned sender is dropped; returns once they
/// are all busy.
fn occupy(pool: &ComputePool) -> mpsc::Sender<()> {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let started = Arc::new(Barrier::new(pool.num_threads() + 1));
    for _ in 0..pool.num_threads() {
        let (rx, started) = (Arc::clone(&release_rx), Arc::clone(&started));
        pool.rayon_pool().spawn(move || {
            started.wait();
            let _ = rx.lock().unwrap().recv();
        });
    }
    started.wait();
    release_tx
}

/// Polls `fut` exactly once.
async fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = fut => Some(out),
        () = std::future::ready(()) => None,
    }
}

#[tokio::test]
async fn dropping_the_future_before_the_job_starts_skips_it() {
    let pool = pool(2);
    let ran = Arc::new(AtomicBool::new(false));
    let release = occupy(&pool);

    let r = Arc::clone(&ran);
    let mut fut = Box::pin(pool.execute(move || r.store(true, Ordering::SeqCst)));
    assert!(poll_once(&mut fut).await.is_none(), "the pool is busy");
    assert_eq!(pool.metrics().queue_depth, 1);
    drop(fut);

    // A future that is never polled submits nothing.
    let r = Arc::clone(&ran);
    drop(pool.execute(move || r.store(true, Ordering::SeqCst)));

    drop(release);
    // Jobs start in submission order: once a later job has run, the dropped one was seen.
    pool.execute(|| ()).await.unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
    let _ = tokio::join!(
        pool.execute(move || b1.wait()),
        pool.execute(move || b2.wait())
    );
    assert!(!ran.load(Ordering::SeqCst), "a cancelled job ran");
    let m = pool.metrics();
    assert_eq!(m.tasks_skipped, 1);
    assert_eq!(m.queue_depth, 0);
}

/// A result that reports where it is dropped.
struct Tell(mpsc::Sender<String>);
impl Drop for Tell {
    fn drop(&mut self) {
        let _ = self.0.send(thread_name());
    }
}

#[tokio::test]
async fn a_started_job_finishes_and_its_result_is_dropped() {
    let pool = pool(2);
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (dropped_tx, dropped_rx) = mpsc::channel();
    let mut fut = Box::pin(pool.execute(move || {
        started_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        Tell(dropped_tx)
    }));
    assert!(poll_once(&mut fut).await.is_none());
    started_rx.recv().unwrap();
    drop(fut);
    go_tx.send(()).unwrap();
    let dropped_on = tokio::task::spawn_blocking(move || dropped_rx.recv().unwrap())
        .await
        .unwrap();
    assert!(dropped_on.starts_with("compute-"), "{dropped_on}");
    assert_eq!(pool.metrics().tasks_skipped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_jobs_activity_and_durations() {
    let pool = pool(2);
    let m = pool.metrics();
    assert_eq!((m.tasks_total, m.tasks_active, m.queue_depth), (0, 0, 0));
    assert_eq!(m.num_threads, 2);

    // One slow job (over 100 ms) and one quick one.
    pool.execute(|| std::thread::sleep(Duration::from_millis(101)))
        .await
        .unwrap();
    pool.execute(|| ()).await.unwrap();
    let m = pool.metrics();
    assert_eq!(m.tasks_total, 2);
    assert_eq!(m.slow_tasks, 1);
    assert!(m.max_duration >= Duration::from_millis(101));
    assert!(m.avg_duration >= Duration::from_micros(50_500));
    assert!(m.avg_duration <= m.max_duration);

    // Active and queued, observed while the threads are held.
    let release = occupy(&pool);
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let mut queued = Box::pin(pool.execute(move || {
        started_tx.send(()).unwrap();
        go_rx.recv().unwrap();
    }));
    assert!(poll_once(&mut queued).await.is_none());
    let m = pool.metrics();
    assert_eq!(m.queue_depth, 1);
    drop(release);
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    let m = pool.metrics();
    assert_eq!((m.tasks_active, m.queue_depth), (1, 0));
    go_tx.send(()).unwrap();
    queued.await.unwrap();
    let m = pool.metrics();
    assert_eq!((m.tasks_total, m.tasks_active), (3, 0));

    let line = m.to_string();
    for part in [
        "threads=2",
        "tasks_total=3",
        "active=0",
        "queued=0",
        "slow(>100ms)=1",
    ] {
        assert!(line.contains(part), "{line}");
    }
}

#[test]
fn bridge_works_without_spinning() {
    let pool = ComputePool::new(ComputeConfig {
        num_threads: Some(2),
        bridge_spin_us: 0,
        ..ComputeConfig::default()
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let total: u64 = rt.block_on(async {
        let mut total = 0;
        for i in 0..200u64 {
            total += pool.execute(move || i).await.unwrap();
        }
        total
    });
    assert_eq!(total, 199 * 200 / 2);
}

#[test]
fn many_concurrent_jobs_all_complete() {
    let pool = Arc::new(pool(2));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let sum: u64 = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..2000u64 {
            let p = Arc::clone(&pool);
            set.spawn(async move { p.execute(move || i).await.unwrap() });
        }
        let mut sum = 0;
        while let Some(r) = set.join_next().await {
            sum += r.unwrap();
        }
        sum
    });
    assert_eq!(sum, 1999 * 2000 / 2);
    assert_eq!(pool.metrics().tasks_total, 2000);
}
