//! Runtime construction, accessors, the compute context on every worker, the compute fallback
//! and dropping the last clone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use rt_core::config::RuntimeConfig;
use rt_core::{Runtime, RuntimeError};
use tokio::runtime::Handle;

fn config(workers: usize, compute: usize) -> RuntimeConfig {
    RuntimeConfig::builder()
        .num_worker_threads(workers)
        .compute_threads(compute)
        .compute_thread_prefix("test-compute")
        .build()
        .unwrap()
}

/// What each of `n` tasks saw, where the tasks are held at a barrier so that they ran on `n`
/// distinct worker threads at once: (thread name, has compute context).
fn probe_workers(handle: &Handle, n: usize) -> Vec<(String, bool)> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            handle.spawn(async move {
                let seen = (
                    std::thread::current().name().unwrap_or("").to_owned(),
                    rt_core::compute::has_compute_context(),
                    std::thread::current().id(),
                );
                barrier.wait();
                seen
            })
        })
        .collect();
    let seen: Vec<_> = tasks
        .into_iter()
        .map(|t| futures_block_on(handle, t).unwrap())
        .collect();
    let ids: HashSet<_> = seen.iter().map(|s| s.2).collect();
    assert_eq!(
        ids.len(),
        n,
        "the probe reached {} distinct workers, not {n}",
        ids.len()
    );
    seen.into_iter().map(|(name, ctx, _)| (name, ctx)).collect()
}

fn futures_block_on<F: std::future::Future>(handle: &Handle, f: F) -> F::Output {
    handle.block_on(f)
}

#[test]
fn owned_runtime_names_threads_and_every_worker_has_the_compute_context() {
    let rt = Runtime::from_config(config(3, 1)).unwrap();
    assert!(rt.is_owned());
    assert_eq!(rt.block_in_place_permits(), 2);
    assert_eq!(rt.compute_pool().map(|p| p.num_threads()), Some(1));
    assert_eq!(rt.primary().metrics().num_workers(), 3);
    for (name, has_ctx) in probe_workers(&rt.primary(), 3) {
        assert!(name.starts_with(Runtime::PRIMARY_THREAD_PREFIX), "{name}");
        assert!(has_ctx, "worker {name} has no compute context");
    }
    let secondary_name = rt
        .secondary()
        .block_on(async {
            tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await
        })
        .unwrap()
        .unwrap_or_default();
    assert!(
        secondary_name.starts_with(Runtime::SECONDARY_THREAD_PREFIX),
        "{secondary_name}"
    );
    // The compute pool's threads carry the configured prefix.
    let compute_name = rt
        .compute_pool()
        .unwrap()
        .execute_sync(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .unwrap_or_default();
    assert!(compute_name.starts_with("test-compute"), "{compute_name}");
    // The macros work with no extra call.
    let n = rt
        .primary()
        .block_on(async {
            tokio::spawn(async { rt_core::compute_large!((1..=10u32).sum::<u32>()) }).await
        })
        .unwrap();
    assert_eq!(n, 55);
}

#[test]
fn a_worker_that_replaced_a_blocked_one_has_the_context_too() {
    // block_in_place hands the worker's role to another thread; that one must have it too.
    let rt = Runtime::from_config(config(2, 1)).unwrap();
    let handle = rt.primary();
    handle.block_on(async {
        tokio::spawn(async {
            tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(1)));
        })
        .await
        .unwrap();
    });
    for (name, has_ctx) in probe_workers(&handle, 2) {
        assert!(has_ctx, "worker {name} has no compute context");
    }
}

#[test]
fn block_in_place_permits_are_workers_minus_one_but_at_least_one() {
    assert_eq!(
        Runtime::from_config(config(1, 1))
            .unwrap()
            .block_in_place_permits(),
        1
    );
    assert_eq!(
        Runtime::from_config(config(2, 1))
            .unwrap()
            .block_in_place_permits(),
        1
    );
    assert_eq!(
        Runtime::from_config(config(4, 1))
            .unwrap()
            .block_in_place_permits(),
        3
    );
}

#[test]
fn single_threaded_runs_tasks_on_one_thread_each() {
    let rt = Runtime::single_threaded().unwrap();
    assert_eq!(rt.primary().metrics().num_workers(), 1);
    assert_eq!(rt.secondary().metrics().num_workers(), 1);
    // No one calls block_on on it, yet spawned tasks run (and timers work).
    let (tx, rx) = std::sync::mpsc::channel();
    rt.primary().spawn(async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        tx.send(std::thread::current().name().map(str::to_owned))
            .unwrap();
    });
    let name = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap_or_default();
    assert!(name.starts_with(Runtime::PRIMARY_THREAD_PREFIX), "{name}");
}

#[test]
fn ids_are_unique_and_shared_by_clones() {
    let a = Runtime::from_config(config(1, 0)).unwrap();
    let b = Runtime::from_config(config(1, 0)).unwrap();
    assert_ne!(a.id(), b.id());
    let a2 = a.clone();
    assert_eq!(a.id(), a2.id());
    let dbg = format!("{a:?}");
    assert!(dbg.contains(a.id()), "{dbg}");
}

#[test]
fn tokens_form_the_two_level_scheme() {
    let rt = Runtime::from_config(config(1, 0)).unwrap();
    let main = rt.primary_token();
    let child = rt.child_token();
    let other_child = rt.child_token();
    // Cancelling a child affects only it.
    child.cancel();
    assert!(!other_child.is_cancelled());
    assert!(!main.is_cancelled());
    // Phase 1 cancels the children, not the main token.
    let endpoint = rt.shutdown_coordinator().endpoint_token();
    rt.shutdown();
    assert!(endpoint.is_cancelled());
    assert!(other_child.is_cancelled());
    assert!(
        rt.child_token().is_cancelled(),
        "a child made after phase 1 is born cancelled"
    );
    let report = rt
        .primary()
        .block_on(rt.shutdown_and_wait(Some(Duration::from_secs(5))));
    assert!(report.is_clean(), "{report}");
    assert!(main.is_cancelled());
    // Idempotent.
    rt.shutdown();
    assert!(rt.shutdown_coordinator().is_shutdown_started());
}

#[test]
fn disabled_compute_pool_falls_back_to_spawn_blocking() {
    let rt = Runtime::from_config(config(2, 0)).unwrap();
    assert!(rt.compute_pool().is_none());
    let rt2 = rt.clone();
    let (a, b, name) = rt.primary().block_on(async move {
        let a = rt2.compute(|| 21 * 2).await.unwrap();
        let b = rt2.compute(|| 1 + 1).await.unwrap();
        let name = rt2
            .compute(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap()
            .unwrap_or_default();
        (a, b, name)
    });
    assert_eq!((a, b), (42, 2));
    assert!(
        name.starts_with(Runtime::PRIMARY_THREAD_PREFIX),
        "ran on {name}"
    );
    // A panic comes back as an error value.
    let rt3 = rt.clone();
    let err = rt
        .primary()
        .block_on(async move { rt3.compute(|| -> u32 { panic!("boom") }).await })
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Compute(_)), "{err}");
    assert!(err.to_string().contains("boom"), "{err}");
    // Workers still get block_in_place permits (no pool context).
    for (_, has_ctx) in probe_workers(&rt.primary(), 2) {
        assert!(!has_ctx);
    }
}

#[test]
fn compute_uses_the_pool_when_there_is_one() {
    let rt = Runtime::from_config(config(1, 1)).unwrap();
    let rt2 = rt.clone();
    let name = rt
        .primary()
        .block_on(async move {
            rt2.compute(|| std::thread::current().name().map(str::to_owned))
                .await
        })
        .unwrap()
        .unwrap_or_default();
    assert!(name.starts_with("test-compute"), "ran on {name}");
}

#[test]
fn dropping_the_last_clone_from_sync_code_shuts_down_cleanly() {
    let rt = Runtime::from_config(config(2, 1)).unwrap();
    let handle = rt.primary();
    let secondary = rt.secondary();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    // A task that notices being dropped: the runtime's shutdown drops every task.
    struct OnDrop(std::sync::mpsc::Sender<()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let guard = OnDrop(tx);
    handle.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    drop(rt);
    // The drop returned only after the task was dropped.
    rx.try_recv()
        .expect("the pending task was dropped by the time drop returned");
    // Both runtimes are gone: spawning fails.
    let j = handle.spawn(async {});
    assert!(handle.block_on(j).unwrap_err().is_cancelled());
    let j = secondary.spawn(async {});
    assert!(secondary.block_on(j).unwrap_err().is_cancelled());
}

#[test]
fn dropping_the_last_clone_inside_async_code_does_not_panic() {
    // On one of its own workers.
    let rt = Runtime::from_config(config(2, 1)).unwrap();
    let handle = rt.primary();
    let (tx, rx) = std::sync::mpsc::channel();
    handle.spawn(async move {
        drop(rt);
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();

    // Inside another runtime's task.
    let outer = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rt = Runtime::from_config(config(1, 1)).unwrap();
    outer.block_on(async move {
        let rt2 = rt.clone();
        drop(rt);
        drop(rt2); // the last one
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn from_handle_initialize_all_thread_locals_reaches_every_worker() {
    let rt = Runtime::from_handle_with_config(Handle::current(), config(1, 1)).unwrap();
    assert!(!rt.is_owned());
    assert_eq!(rt.block_in_place_permits(), 3);
    let handle = Handle::current();
    let before = tokio::task::spawn_blocking({
        let h = handle.clone();
        move || probe_workers(&h, 4)
    })
    .await
    .unwrap();
    assert!(
        before.iter().all(|(_, ctx)| !ctx),
        "no worker has it before"
    );
    rt.initialize_all_thread_locals().await.unwrap();
    let after = tokio::task::spawn_blocking(move || probe_workers(&handle, 4))
        .await
        .unwrap();
    assert!(
        after.iter().all(|(_, ctx)| *ctx),
        "every worker has it after: {after:?}"
    );
    // The blocking pool was not the target.
    assert!(
        !tokio::task::spawn_blocking(rt_core::compute::has_compute_context)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn from_current_on_a_current_thread_runtime() {
    let rt = Runtime::from_handle_with_config(Handle::current(), config(1, 1)).unwrap();
    // tokio forbids block_in_place here: no permits.
    assert_eq!(rt.block_in_place_permits(), 0);
    rt.initialize_all_thread_locals().await.unwrap();
    assert!(rt_core::compute::has_compute_context());
    assert_eq!(
        rt.primary().runtime_flavor(),
        rt.secondary().runtime_flavor()
    );
}

#[test]
fn from_current_outside_a_runtime_is_an_error() {
    let err = Runtime::from_current().unwrap_err();
    assert!(matches!(err, RuntimeError::NoCurrentRuntime), "{err}");
}

#[test]
fn initialize_thread_local_installs_on_the_calling_thread() {
    let rt = Runtime::from_config(config(1, 1)).unwrap();
    std::thread::spawn(move || {
        assert!(!rt_core::compute::has_compute_context());
        rt.initialize_thread_local();
        assert!(rt_core::compute::has_compute_context());
    })
    .join()
    .unwrap();
}

#[test]
fn invalid_config_is_an_error_value() {
    let mut c = RuntimeConfig::default();
    c.max_blocking_threads = 0;
    let err = Runtime::from_config(c).unwrap_err();
    assert!(matches!(err, RuntimeError::Config(_)), "{err}");
    assert!(err.to_string().contains("max_blocking_threads"), "{err}");
}

#[test]
fn a_server_on_the_secondary_runtime_stops_in_phase_3() {
    let rt = Runtime::from_config(config(2, 0)).unwrap();
    let main = rt.primary_token();
    // A background "server" on the secondary runtime, stopped by a teardown task.
    let stop = tokio_util::sync::CancellationToken::new();
    let stop2 = stop.clone();
    let main2 = main.clone();
    let server = rt.secondary().spawn(async move {
        stop2.cancelled().await;
        // Phase 3 runs teardowns after the main token is cancelled.
        main2.is_cancelled()
    });
    rt.shutdown_coordinator()
        .add_teardown("status server", move || async move {
            stop.cancel();
            let _ = server.await;
        });
    let report = rt
        .primary()
        .block_on(rt.shutdown_and_wait(Some(Duration::from_secs(10))));
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.teardown_completed, vec!["status server".to_owned()]);
    assert!(main.is_cancelled());
}

#[test]
fn the_fallback_is_logged_once_per_runtime() {
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let rt = Runtime::from_config(config(1, 0)).unwrap();
    let rt2 = rt.clone();
    tracing::subscriber::with_default(subscriber, || {
        rt.primary().block_on(async move {
            for _ in 0..3 {
                rt2.compute(|| ()).await.unwrap();
            }
        })
    });
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert_eq!(out.matches("spawn_blocking").count(), 1, "{out}");
}

#[test]
fn initialize_all_thread_locals_from_a_task_on_the_same_runtime() {
    // The caller's own worker must be reached too, and its queued tasks stolen by the others.
    let outer = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let handle = outer.handle().clone();
    let rt = Runtime::from_handle_with_config(handle.clone(), config(1, 1)).unwrap();
    for _ in 0..5 {
        let rt2 = rt.clone();
        handle
            .block_on(async move {
                tokio::spawn(async move { rt2.initialize_all_thread_locals().await })
                    .await
                    .unwrap()
            })
            .unwrap();
    }
    for (name, has_ctx) in probe_workers(&handle, 4) {
        assert!(has_ctx, "worker {name} has no compute context");
    }
}
