//! Registrations from several threads at once, against the memory backend: register and
//! deregister (explicitly and on drop) racing each other, one endpoint raced by every thread,
//! and registrations racing the shutdown's phase-1 delete. Many rounds, each bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rt_core::config::RuntimeConfig;
use rt_core::Runtime;
use rt_discovery::{
    Backend, Discovery, DiscoveryError, DiscoverySettings, EndpointId, KvEvent, LeaseState,
    MemoryBackend, Transport,
};

const THREADS: usize = 4;
/// A hang guard for every wait and loop of these tests.
const LIMIT: Duration = Duration::from_secs(30);

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .unwrap()
}

fn runtime_on(handle: &tokio::runtime::Handle) -> Runtime {
    let config = RuntimeConfig::builder()
        .compute_threads(0)
        .graceful_shutdown_timeout_secs(30)
        .teardown_timeout_secs(5)
        .build()
        .unwrap();
    Runtime::from_handle_with_config(handle.clone(), config).unwrap()
}

async fn discovery(runtime: &Runtime, store: &MemoryBackend) -> Discovery {
    Discovery::with_backend(
        runtime,
        Arc::new(store.clone()),
        DiscoverySettings::default(),
    )
    .await
    .unwrap()
}

fn ep(name: &str) -> EndpointId {
    EndpointId::new("ns", "backend", name).unwrap()
}

fn http() -> Transport {
    Transport::Http("http://127.0.0.1:9/v1/rpc/x".into())
}

/// The keys under `v1/instances/ns/` now.
async fn keys(store: &MemoryBackend) -> Vec<String> {
    let mut watch = store.watch("v1/instances/ns/".into()).await.unwrap();
    match common::next(&mut watch).await {
        KvEvent::Snapshot(entries) => entries.into_iter().map(|(k, _)| k).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn register_and_deregister_from_several_threads_leave_the_store_consistent() {
    const ROUNDS: usize = 300;
    let tokio = tokio_rt();
    let store = MemoryBackend::new();
    let runtime = runtime_on(tokio.handle());
    let d = tokio.block_on(discovery(&runtime, &store));
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (d, start, handle) = (&d, &start, tokio.handle());
            s.spawn(move || {
                start.wait();
                let began = Instant::now();
                handle.block_on(async {
                    for round in 0..ROUNDS {
                        assert!(began.elapsed() < LIMIT, "thread {t} stuck at round {round}");
                        // Each thread has its own endpoints: every registration must succeed,
                        // once the previous one of the same endpoint is gone.
                        let name = format!("t{t}-{}", round % 3);
                        let reg = loop {
                            match d.register(ep(&name), http()).await {
                                Ok(reg) => break reg,
                                // A dropped registration's delete is still on its way.
                                Err(DiscoveryError::AlreadyRegistered { .. }) => {
                                    assert!(began.elapsed() < LIMIT, "{name} never freed");
                                    tokio::task::yield_now().await;
                                }
                                Err(e) => panic!("thread {t} round {round}: {e}"),
                            }
                        };
                        if round % 2 == 0 {
                            reg.deregister().await.unwrap();
                        } else {
                            drop(reg); // deregistered on drop, in the background
                        }
                    }
                });
            });
        }
    });
    tokio.block_on(async {
        // Every registration ended: once the deletes spawned by the drops ran, no key is left.
        let began = Instant::now();
        loop {
            let left = keys(&store).await;
            if left.is_empty() {
                break;
            }
            assert!(began.elapsed() < LIMIT, "keys left: {left:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // And no registration is remembered: each endpoint registers again, and phase 1
        // deletes exactly those.
        let mut held = Vec::new();
        for t in 0..THREADS {
            for i in 0..3 {
                held.push(d.register(ep(&format!("t{t}-{i}")), http()).await.unwrap());
            }
        }
        assert_eq!(keys(&store).await.len(), THREADS * 3);
        let report = runtime.shutdown_and_wait(Some(LIMIT)).await;
        assert!(report.is_clean(), "{report}");
        assert!(keys(&store).await.is_empty());
        drop(held);
    });
}

#[test]
fn one_endpoint_raced_by_every_thread_is_registered_exactly_once_per_round() {
    const ROUNDS: usize = 200;
    let tokio = tokio_rt();
    let store = MemoryBackend::new();
    let runtime = runtime_on(tokio.handle());
    let d = tokio.block_on(discovery(&runtime, &store));
    let (start, end) = (Barrier::new(THREADS), Barrier::new(THREADS));
    let winners = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (d, start, end, winners, handle, store) =
                (&d, &start, &end, &winners, tokio.handle(), &store);
            s.spawn(move || {
                for round in 0..ROUNDS {
                    start.wait();
                    let won = handle.block_on(async {
                        match d.register(ep("shared"), http()).await {
                            Ok(reg) => Some(reg),
                            Err(DiscoveryError::AlreadyRegistered { .. }) => None,
                            Err(e) => panic!("round {round}: {e}"),
                        }
                    });
                    if won.is_some() {
                        winners.fetch_add(1, Ordering::SeqCst);
                    }
                    end.wait();
                    // Every thread has tried: one won, and its key is the only one.
                    assert_eq!(winners.load(Ordering::SeqCst), round + 1, "round {round}");
                    if let Some(reg) = won {
                        handle.block_on(async {
                            assert_eq!(keys(store).await, [reg.key()]);
                            reg.deregister().await.unwrap();
                            assert!(keys(store).await.is_empty());
                        });
                    }
                }
            });
        }
    });
    assert_eq!(winners.load(Ordering::SeqCst), ROUNDS);
    let report = tokio.block_on(runtime.shutdown_and_wait(Some(LIMIT)));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn registrations_racing_phase_one_leave_no_key_once_the_drain_step_is_done() {
    const ROUNDS: usize = 30;
    let tokio = tokio_rt();
    for round in 0..ROUNDS {
        let store = MemoryBackend::new();
        let runtime = runtime_on(tokio.handle());
        let d = tokio.block_on(discovery(&runtime, &store));
        // A request in flight keeps phase 2 open after the delete.
        let request = runtime
            .shutdown_coordinator()
            .tracker()
            .register_task("request")
            .unwrap();
        let start = Barrier::new(THREADS + 1);
        let registered = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (d, start, registered, handle) = (&d, &start, &registered, tokio.handle());
                s.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    handle.block_on(async {
                        let mut held = Vec::new();
                        for i in 0..10_000 {
                            assert!(began.elapsed() < LIMIT, "round {round}: no refusal");
                            match d.register(ep(&format!("t{t}-{}", i % 8)), http()).await {
                                Ok(reg) => {
                                    registered.fetch_add(1, Ordering::Relaxed);
                                    if i % 3 == 0 {
                                        held.push(reg); // kept: phase 1 must delete it
                                    } else {
                                        let _ = reg.deregister().await;
                                    }
                                }
                                Err(DiscoveryError::AlreadyRegistered { .. }) => {}
                                Err(DiscoveryError::ShuttingDown { .. }) => return,
                                Err(e) => panic!("round {round}: {e}"),
                            }
                            tokio::task::yield_now().await;
                        }
                        panic!("round {round}: 10,000 registrations without a refusal");
                    });
                });
            }
            start.wait();
            // Shut down while they register.
            let began = Instant::now();
            while registered.load(Ordering::Relaxed) < 20 {
                assert!(began.elapsed() < LIMIT, "round {round}: nobody registered");
                std::thread::yield_now();
            }
            runtime.shutdown();
        });
        tokio.block_on(async {
            let mut state = d.subscribe_state();
            tokio::time::timeout(LIMIT, state.wait_for(|s| *s == LeaseState::Deregistered))
                .await
                .unwrap()
                .unwrap();
            // Still draining (the request), lease alive: phase 1's delete left nothing.
            let left = keys(&store).await;
            assert!(
                left.is_empty(),
                "round {round}: keys after phase 1: {left:?}"
            );
            drop(request);
            let report = runtime.shutdown_and_wait(Some(LIMIT)).await;
            assert!(report.is_clean(), "round {round}: {report}");
        });
    }
}
