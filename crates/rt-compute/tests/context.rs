//! Thread-local context, the tier macros in both forms on both runtime flavours, and
//! spawn_compute.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::sync::Arc;

mod common;

use common::{pool, thread_name};
use rt_compute::{
    clear_context, compute_large, compute_medium, compute_small, get_pool, has_compute_context,
    initialize_block_permits, initialize_context, spawn_compute, spawn_compute_on,
    try_acquire_block_permit, ComputeError, ComputePool,
};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Semaphore;

const WORKER: &str = "async-worker";

fn boom(msg: &'static str) {
    std::panic::panic_any(msg)
}

fn on_pool(name: &str) -> bool {
    name.starts_with("compute-")
}

/// A runtime whose threads carry `pool` and `permits` from `on_thread_start`.
fn runtime(multi: bool, pool: &Arc<ComputePool>, permits: usize) -> Runtime {
    let (p, s) = (Arc::clone(pool), Arc::new(Semaphore::new(permits)));
    let mut b = if multi {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        Builder::new_current_thread()
    };
    b.thread_name(WORKER)
        .on_thread_start(move || initialize_context(Arc::clone(&p), Arc::clone(&s)))
        .build()
        .unwrap()
}

/// Runs `fut` on a worker thread of `rt` (for current-thread: the `block_on` thread, which
/// gets the context installed first).
fn run_on<F>(rt: &Runtime, pool: &Arc<ComputePool>, permits: usize, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    if rt.handle().runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
        initialize_context(Arc::clone(pool), Arc::new(Semaphore::new(permits)));
        let out = rt.block_on(fut);
        clear_context();
        out
    } else {
        rt.block_on(async move { tokio::spawn(fut).await.unwrap() })
    }
}

#[test]
fn context_install_read_and_clear() {
    assert!(!has_compute_context());
    assert!(get_pool().is_none());
    assert!(try_acquire_block_permit().is_none());

    let pool = pool();
    let permits = Arc::new(Semaphore::new(1));
    initialize_context(Arc::clone(&pool), Arc::clone(&permits));
    assert!(has_compute_context());
    assert!(Arc::ptr_eq(&get_pool().unwrap(), &pool));
    let first = try_acquire_block_permit().expect("one permit");
    assert!(try_acquire_block_permit().is_none(), "only one permit");
    drop(first);
    assert!(try_acquire_block_permit().is_some(), "returned on drop");

    // Another thread has its own (empty) context.
    std::thread::spawn(|| assert!(!has_compute_context()))
        .join()
        .unwrap();

    clear_context();
    assert!(!has_compute_context());

    initialize_block_permits(Arc::new(Semaphore::new(1)));
    assert!(!has_compute_context());
    assert!(get_pool().is_none());
    assert!(try_acquire_block_permit().is_some());
    clear_context();
}

#[test]
fn on_thread_start_installs_the_context_on_every_worker() {
    let pool = pool();
    let rt = runtime(true, &pool, 1);
    let seen = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..16 {
            set.spawn(async { (has_compute_context(), thread_name()) });
        }
        let mut all = Vec::new();
        while let Some(r) = set.join_next().await {
            all.push(r.unwrap());
        }
        all
    });
    assert!(
        seen.iter().all(|(ctx, name)| *ctx && name == WORKER),
        "{seen:?}"
    );
}

#[test]
fn compute_small_runs_inline_in_both_forms() {
    let pool = pool();
    for multi in [false, true] {
        let rt = runtime(multi, &pool, 1);
        let p = Arc::clone(&pool);
        let (a, b) = run_on(&rt, &pool, 1, async move {
            let a = compute_small!(thread_name());
            let b = compute_small!(p, thread_name());
            (a, b)
        });
        let here = if multi {
            WORKER.to_owned()
        } else {
            thread_name()
        };
        assert_eq!((a.as_str(), b.as_str()), (here.as_str(), here.as_str()));
    }
    // Also in plain sync code, borrowing.
    let v = [1, 2, 3];
    assert_eq!(compute_small!(v.iter().sum::<i32>()), 6);
}

#[test]
fn compute_medium_blocks_in_place_on_multi_thread_with_a_permit() {
    let pool = pool();
    let rt = runtime(true, &pool, 1);
    let p = Arc::clone(&pool);
    let (bare, with_pool) = run_on(&rt, &pool, 1, async move {
        (
            compute_medium!(thread_name()),
            compute_medium!(p, thread_name()),
        )
    });
    assert_eq!(bare, WORKER);
    assert_eq!(with_pool, WORKER);
}

#[test]
fn compute_medium_goes_to_the_pool_without_a_permit() {
    let pool = pool();
    let rt = runtime(true, &pool, 0);
    let p = Arc::clone(&pool);
    let (bare, with_pool) = run_on(&rt, &pool, 0, async move {
        (
            compute_medium!(thread_name()),
            compute_medium!(p, thread_name()),
        )
    });
    assert!(on_pool(&bare), "{bare}");
    assert!(on_pool(&with_pool), "{with_pool}");
}

#[test]
fn compute_medium_never_blocks_in_place_on_a_current_thread_runtime() {
    let pool = pool();
    // Permits are available, but block_in_place would panic here: the pool is used.
    let rt = runtime(false, &pool, 4);
    let p = Arc::clone(&pool);
    let (bare, with_pool) = run_on(&rt, &pool, 4, async move {
        (
            compute_medium!(thread_name()),
            compute_medium!(p, thread_name()),
        )
    });
    assert!(on_pool(&bare), "{bare}");
    assert!(on_pool(&with_pool), "{with_pool}");
}

#[test]
fn compute_large_uses_the_pool_on_both_flavours() {
    let pool = pool();
    for multi in [false, true] {
        let rt = runtime(multi, &pool, 1);
        let p = Arc::clone(&pool);
        let data: Vec<u64> = (0..1000).collect();
        let (bare, with_pool, sum) = run_on(&rt, &pool, 1, async move {
            let bare = compute_large!(thread_name());
            let with_pool = compute_large!(p, thread_name());
            let sum = compute_large!(data.iter().sum::<u64>());
            (bare, with_pool, sum)
        });
        assert!(on_pool(&bare), "multi={multi}: {bare}");
        assert!(on_pool(&with_pool), "multi={multi}: {with_pool}");
        assert_eq!(sum, 499_500);
    }
}

#[test]
fn without_context_the_bare_forms_run_inline() {
    let rt = Builder::new_current_thread().build().unwrap();
    clear_context();
    let here = thread_name();
    let (m, l) = rt.block_on(async {
        (
            compute_medium!(thread_name()),
            compute_large!(thread_name()),
        )
    });
    assert_eq!((m.as_str(), l.as_str()), (here.as_str(), here.as_str()));
}

#[test]
fn macros_run_inline_on_a_pool_thread() {
    let outer = pool();
    let names = outer
        .execute_sync(|| {
            let rt = Builder::new_current_thread().build().unwrap();
            let here = thread_name();
            let p = pool();
            let got = rt.block_on(async move {
                (
                    compute_medium!(p, thread_name()),
                    compute_large!(p, thread_name()),
                )
            });
            (here, got)
        })
        .unwrap();
    assert_eq!(names.0, names.1 .0);
    assert_eq!(names.0, names.1 .1);
}

#[test]
fn macro_panics_propagate_with_their_payload_on_both_flavours() {
    let pool = pool();
    for multi in [false, true] {
        for permits in [0, 1] {
            let rt = runtime(multi, &pool, permits);
            let p = Arc::clone(&pool);
            let err = rt.block_on(async move {
                if !multi {
                    initialize_context(Arc::clone(&p), Arc::new(Semaphore::new(permits)));
                }
                let p2 = Arc::clone(&p);
                let a = tokio::spawn(async move { compute_medium!(p2, boom("medium boom")) })
                    .await
                    .unwrap_err();
                let b = tokio::spawn(async move { compute_large!(boom("large boom")) })
                    .await
                    .unwrap_err();
                clear_context();
                (a.into_panic(), b.into_panic())
            });
            assert_eq!(err.0.downcast_ref::<&str>(), Some(&"medium boom"));
            assert_eq!(err.1.downcast_ref::<&str>(), Some(&"large boom"));
        }
    }
}

#[test]
fn spawn_compute_routes_to_the_pool_or_spawn_blocking() {
    let pool = pool();
    let rt = runtime(true, &pool, 1);
    let on = rt.block_on(async { tokio::spawn(spawn_compute(thread_name)).await.unwrap() });
    assert!(on_pool(&on.unwrap()));

    let plain = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("plain")
        .build()
        .unwrap();
    let on = plain.block_on(async { tokio::spawn(spawn_compute(thread_name)).await.unwrap() });
    assert_eq!(
        on.unwrap(),
        "plain",
        "spawn_blocking threads carry the runtime's name"
    );
    let err = plain
        .block_on(async { spawn_compute(|| panic!("blocking boom")).await })
        .unwrap_err();
    assert_eq!(
        err,
        ComputeError::Panicked {
            message: "blocking boom".into()
        }
    );

    // Outside any runtime: in place.
    let f = spawn_compute(thread_name);
    let here = thread_name();
    let got = futures_lite_block_on(f);
    assert_eq!(got.unwrap(), here);
}

#[test]
fn spawn_compute_on_uses_the_given_pool_else_the_given_runtimes_blocking_pool() {
    let pool = pool();
    // The polling runtime is not the target: the given handle's blocking pool is.
    let target = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("target")
        .build()
        .unwrap();
    let handle = target.handle().clone();
    let caller = Builder::new_current_thread().build().unwrap();
    let (pooled, blocking, err) = caller.block_on(async {
        (
            spawn_compute_on(Some(&pool), &handle, thread_name).await,
            spawn_compute_on(None, &handle, thread_name).await,
            spawn_compute_on(None, &handle, || {
                boom("blocking boom");
                0u32
            })
            .await,
        )
    });
    assert!(on_pool(&pooled.unwrap()));
    assert_eq!(blocking.unwrap(), "target");
    assert_eq!(
        err.unwrap_err(),
        ComputeError::Panicked {
            message: "blocking boom".into()
        }
    );
    // A runtime that shut down drops the job unrun: Discarded, not a hang.
    drop(target);
    let gone = caller.block_on(spawn_compute_on(None, &handle, || 1));
    assert_eq!(gone.unwrap_err(), ComputeError::Discarded);
}

/// Minimal executor for a future that never waits (no runtime involved).
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
