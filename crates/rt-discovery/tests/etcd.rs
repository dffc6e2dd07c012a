//! Against a real etcd (feature `etcd`): the contract suite, registration seen by a watcher,
//! the shutdown order, a crashed worker, etcd absent at start, etcd restarted under a worker,
//! routing through the request plane while etcd is down.
//! Each test starts its own etcd (about 1 s; stopped by pid when the test ends). Without the
//! `etcd` binary these tests print SKIPPED, except under CI (`CI` set) or with
//! `RT_REQUIRE_ETCD=1`, where they fail.
#![cfg(feature = "etcd")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::etcd_server::EtcdServer;
use common::tcp_proxy::TcpProxy;
use rt_core::config::RuntimeConfig;
use rt_core::shutdown::ShutdownPhase;
use rt_core::Runtime;
use rt_discovery::{
    Backend, Change, Discovery, DiscoveryError, DiscoverySettings, EndpointId, EtcdBackend,
    LeaseState, RequestPlane, Router, RouterSettings, RpcReply, RpcRequest, Transport,
    DEREGISTER_STEP,
};
use tokio::time::{timeout, Instant};

fn unique_prefix(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "rt-test/{}-{}-{test}/",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

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

async fn backend(s: &DiscoverySettings) -> Arc<EtcdBackend> {
    Arc::new(
        EtcdBackend::connect(s, Instant::now() + Duration::from_secs(10))
            .await
            .unwrap(),
    )
}

/// A discovery on `runtime` over its own connection to the etcd of `s`.
async fn discovery(runtime: &Runtime, s: &DiscoverySettings) -> Discovery {
    Discovery::with_backend(runtime, backend(s).await, s.clone())
        .await
        .unwrap()
}

fn runtime_here() -> Runtime {
    common::runtime_here()
}

fn ep() -> EndpointId {
    EndpointId::new("ns", "backend", "generate").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_backend_keeps_the_contract() {
    let Some(server) = EtcdServer::start() else {
        return;
    };
    let url = &server.url();
    let prefix = unique_prefix("contract");
    let b = backend(&settings(url, &prefix, 10)).await;
    common::contract(b, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_seen_quickly_and_removed_in_phase_one_before_the_drain_ends() {
    let Some(server) = EtcdServer::start() else {
        return;
    };
    let url = &server.url();
    let prefix = unique_prefix("order");
    let s = settings(url, &prefix, 10);
    let (worker_rt, router_rt) = (runtime_here(), runtime_here());
    let worker = discovery(&worker_rt, &s).await;
    let router = discovery(&router_rt, &s).await;
    let client = router.client(ep());
    let mut changes = client.changes();
    timeout(
        Duration::from_secs(5),
        client.subscribe().wait_for(|l| l.is_synced()),
    )
    .await
    .unwrap()
    .unwrap();

    let started = Instant::now();
    let _reg = worker
        .register(ep(), Transport::Http("http://127.0.0.1:9/x".into()))
        .await
        .unwrap();
    let list = timeout(Duration::from_secs(5), client.wait_for_instances())
        .await
        .unwrap()
        .unwrap();
    let seen = started.elapsed();
    assert_eq!(list[0].id, worker.instance_id());
    assert!(
        seen < Duration::from_millis(500),
        "registration visible after {seen:?}"
    );
    eprintln!("etcd: registration visible to a watcher after {seen:?}");

    let request = worker_rt
        .shutdown_coordinator()
        .tracker()
        .register_task("request")
        .unwrap();
    let started = Instant::now();
    worker_rt.shutdown();
    loop {
        let change = timeout(Duration::from_secs(5), changes.recv())
            .await
            .unwrap()
            .unwrap();
        if change == Change::Removed(worker.instance_id()) {
            break;
        }
    }
    eprintln!(
        "etcd: deregistration visible after {:?} from shutdown()",
        started.elapsed()
    );
    assert_eq!(
        worker_rt.shutdown_coordinator().phase(),
        ShutdownPhase::Draining
    );
    let lease = worker.instance_id().0;
    let direct = backend(&s).await;
    assert!(
        direct.keep_alive(lease).await.unwrap() > Duration::ZERO,
        "lease alive through the drain"
    );
    drop(request);
    let report = worker_rt
        .shutdown_and_wait(Some(Duration::from_secs(30)))
        .await;
    assert!(report.is_clean(), "{report}");
    let step = report
        .drain_steps
        .iter()
        .find(|s| s.name == DEREGISTER_STEP)
        .unwrap_or_else(|| panic!("no {DEREGISTER_STEP} in {report}"));
    eprintln!("etcd: the report's {step}");
    assert_eq!(
        direct.keep_alive(lease).await.unwrap_or_default(),
        Duration::ZERO,
        "revoked in phase 3"
    );
    assert_eq!(worker.state(), LeaseState::Closed);
    router_rt
        .shutdown_and_wait(Some(Duration::from_secs(30)))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_absent_at_start_is_retried_within_the_bound_then_named() {
    if common::etcd_server::etcd_binary().is_none() {
        return;
    }
    // A free port with nobody listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let config = RuntimeConfig::builder()
        .compute_threads(0)
        .discovery_backend("etcd")
        .discovery_etcd_endpoints(url.as_str())
        .discovery_advertise_host("127.0.0.1")
        .discovery_connect_timeout_secs(2)
        .build()
        .unwrap();
    let rt = Runtime::from_handle_with_config(tokio::runtime::Handle::current(), config).unwrap();
    let started = Instant::now();
    let err = timeout(Duration::from_secs(10), Discovery::from_config(&rt))
        .await
        .unwrap()
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, DiscoveryError::Unreachable { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&url) && msg.contains("DYN_DISCOVERY_ETCD_ENDPOINTS"),
        "{msg}"
    );
    assert!(
        waited >= Duration::from_millis(1_000) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

/// The child worker of `a_killed_worker_disappears_within_its_ttl`: registers and waits to be
/// killed. Does nothing unless `RT_DISCOVERY_CHILD` is set.
#[test]
fn child_worker() {
    let Ok(spec) = std::env::var("RT_DISCOVERY_CHILD") else {
        return;
    };
    let (url, prefix) = spec.split_once(' ').unwrap();
    let runtime = Runtime::from_config(
        RuntimeConfig::builder()
            .num_worker_threads(1)
            .compute_threads(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    let s = settings(url, prefix, 2);
    runtime.primary().block_on(async {
        let d = discovery(&runtime, &s).await;
        let _reg = d
            .register(ep(), Transport::Http("http://127.0.0.1:9/x".into()))
            .await
            .unwrap();
        println!("REGISTERED {}", d.instance_id());
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_disappears_within_its_ttl() {
    let Some(server) = EtcdServer::start() else {
        return;
    };
    let url = &server.url();
    let prefix = unique_prefix("kill");
    let s = settings(url, &prefix, 2);
    let rt = runtime_here();
    let router = discovery(&rt, &s).await;
    let client = router.client(ep());

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker", "--nocapture", "--test-threads=1"])
        .env("RT_DISCOVERY_CHILD", format!("{url} {prefix}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listed = timeout(Duration::from_secs(10), client.wait_for_instances()).await;
    // Let a few renewals happen, then SIGKILL: no deregistration, only the lease's expiry.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let _ = child.wait();
    assert_eq!(listed.unwrap().unwrap().len(), 1);
    let mut list = client.subscribe();
    timeout(
        Duration::from_secs(5),
        list.wait_for(|l| l.list().is_empty()),
    )
    .await
    .unwrap()
    .unwrap();
    let gone = killed.elapsed();
    eprintln!("etcd: killed worker gone from the list after {gone:?} (TTL 2 s)");
    // TTL + 0.5 s: the lease outlives the kill by at most the TTL (less the time since the
    // last renewal, up to TTL/3), and etcd revokes expired leases every 500 ms. Measured here
    // over 10 runs: 1.89 to 2.37 s.
    assert!(gone <= Duration::from_millis(2_500), "{gone:?}");
    rt.shutdown_and_wait(Some(Duration::from_secs(30))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_restarted_under_a_live_worker_reregisters_and_the_watch_resyncs() {
    let Some(mut server) = EtcdServer::start() else {
        return;
    };
    let url = server.url();
    let prefix = unique_prefix("restart");
    let s = settings(&url, &prefix, 2);
    let (worker_rt, router_rt) = (runtime_here(), runtime_here());
    let worker = discovery(&worker_rt, &s).await;
    let router = discovery(&router_rt, &s).await;
    let _reg = worker
        .register(ep(), Transport::Http("http://127.0.0.1:9/x".into()))
        .await
        .unwrap();
    let client = router.client(ep());
    timeout(Duration::from_secs(5), client.wait_for_instances())
        .await
        .unwrap()
        .unwrap();

    // etcd away for longer than the TTL: the worker's lease is lost.
    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        std::thread::sleep(Duration::from_secs(3));
        server.run();
        server
    })
    .await
    .unwrap();
    // The worker re-registers under a new lease.
    let deadline = Instant::now() + Duration::from_secs(30);
    while worker.metrics().reregistrations == 0 || worker.state() != LeaseState::Live {
        assert!(
            Instant::now() < deadline,
            "no re-registration: {:?}",
            worker.state()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The router's watch resynced, and once the old lease expired (etcd restores leases on
    // restart and lets them run out) it lists exactly the worker's new instance.
    let now = worker.instance_id();
    let mut list = client.subscribe();
    timeout(
        Duration::from_secs(15),
        list.wait_for(|l| l.list().iter().map(|i| i.id).eq([now])),
    )
    .await
    .expect("no stale instance after the TTL")
    .unwrap();
    assert!(
        router.metrics().watch_resyncs >= 1,
        "{:?}",
        router.metrics()
    );
    worker_rt
        .shutdown_and_wait(Some(Duration::from_secs(30)))
        .await;
    router_rt
        .shutdown_and_wait(Some(Duration::from_secs(30)))
        .await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_during_a_watch_is_resynced_with_removals() {
    let Some(server) = EtcdServer::start() else {
        return;
    };
    let url = server.url();
    let prefix = unique_prefix("compact");
    // The router reaches etcd through a proxy that the test cuts; the workers directly.
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", server.client_port).parse().unwrap()).await;
    let direct = settings(&url, &prefix, 10);
    let through_proxy = settings(&proxy.url(), &prefix, 10);
    let (a_rt, b_rt, router_rt) = (runtime_here(), runtime_here(), runtime_here());
    let a = discovery(&a_rt, &direct).await;
    let b = discovery(&b_rt, &direct).await;
    let router_backend = backend(&through_proxy).await;
    let router = Discovery::with_backend(&router_rt, router_backend, through_proxy.clone())
        .await
        .unwrap();
    let a_reg = a
        .register(ep(), Transport::Http("http://127.0.0.1:9/a".into()))
        .await
        .unwrap();
    let client = router.client(ep());
    let mut changes = client.changes();
    let listed = timeout(Duration::from_secs(5), client.wait_for_instances())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        listed.iter().map(|i| i.id).collect::<Vec<_>>(),
        [a.instance_id()]
    );
    let added = timeout(Duration::from_secs(5), changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(added, Change::Added(ref i) if i.id == a.instance_id()),
        "{added:?}"
    );

    // The router's watch breaks; meanwhile a leaves, b arrives, and etcd compacts its history
    // up to now, so the events the router missed no longer exist.
    let mut raw = backend(&direct).await.client();
    let before = raw
        .get("x", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    proxy.cut();
    a_reg.deregister().await.unwrap();
    let _b_reg = b
        .register(ep(), Transport::Http("http://127.0.0.1:9/b".into()))
        .await
        .unwrap();
    let now = raw
        .get("x", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    assert!(now > before);
    raw.compact(now, None).await.unwrap();
    // A watch resuming where the router stood is refused as compacted.
    let mut resumed = raw
        .watch(
            format!("{prefix}v1/"),
            Some(
                etcd_client::WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(before + 1),
            ),
        )
        .await
        .unwrap();
    let mut compacted = 0;
    for _ in 0..5 {
        let Some(r) = timeout(Duration::from_secs(5), resumed.message())
            .await
            .unwrap()
            .unwrap()
        else {
            break;
        };
        if r.compact_revision() > 0 {
            compacted = r.compact_revision();
            break;
        }
    }
    assert_eq!(compacted, now, "history up to {now} compacted");
    drop(resumed);

    // The router reconnects, resyncs from a fresh read, and ends with exactly b, having emitted
    // a's removal.
    proxy.restore();
    let mut list = client.subscribe();
    timeout(
        Duration::from_secs(15),
        list.wait_for(|l| l.list().iter().map(|i| i.id).eq([b.instance_id()])),
    )
    .await
    .expect("the router's list resynced to b alone")
    .unwrap();
    // The changes are broadcast right after the list is published: wait for them.
    let mut seen = Vec::new();
    let both = |seen: &[Change]| {
        seen.contains(&Change::Removed(a.instance_id()))
            && seen
                .iter()
                .any(|c| matches!(c, Change::Added(i) if i.id == b.instance_id()))
    };
    while !both(&seen) {
        match timeout(Duration::from_secs(5), changes.recv()).await {
            Ok(Ok(change)) => seen.push(change),
            other => panic!("{other:?} after {seen:?}"),
        }
    }
    assert!(
        router.metrics().watch_resyncs >= 1,
        "{:?}",
        router.metrics()
    );
    for rt in [a_rt, b_rt, router_rt] {
        let report = rt.shutdown_and_wait(Some(Duration::from_secs(30))).await;
        assert!(report.is_clean(), "{report}");
    }
}

/// Requests through `router` until `until`, at least one; every one must be answered 200.
/// Returns how many were sent.
async fn route_until(router: &Router, until: Instant, what: &str) -> u64 {
    let mut sent = 0;
    loop {
        sent += 1;
        let reply = timeout(
            Duration::from_secs(10),
            router.call(&serde_json::json!({"n": sent})),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: request {sent} not answered within 10 s"))
        .unwrap_or_else(|e| panic!("{what}: request {sent}: {e}"));
        assert_eq!(reply.status(), 200, "{what}: request {sent}");
        if Instant::now() >= until {
            return sent;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// etcd stopped and started again under a worker and a router: the router keeps routing from
/// its cached list while etcd is away (the worker is alive and serving, so no request may
/// fail), and after it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_continues_from_the_cache_while_etcd_is_down() {
    let Some(mut server) = EtcdServer::start() else {
        return;
    };
    let url = server.url();
    let prefix = unique_prefix("route-down");
    let s = settings(&url, &prefix, 5);
    let (worker_rt, router_rt) = (runtime_here(), runtime_here());
    let worker = discovery(&worker_rt, &s).await;
    let executed = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&executed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plane = RequestPlane::new()
        .endpoint(ep(), move |request: RpcRequest| {
            count.fetch_add(1, Ordering::SeqCst);
            async move { Ok(RpcReply::raw_json(request.body)) }
        })
        .unwrap()
        .serve(
            &worker_rt,
            &worker,
            listener,
            rt_http::ServeOptions::default(),
        )
        .await
        .unwrap();
    let router_discovery = discovery(&router_rt, &s).await;
    let router = Router::new(router_discovery.client(ep()), RouterSettings::default());
    timeout(
        Duration::from_secs(5),
        router.instances().wait_for_instances(),
    )
    .await
    .unwrap()
    .unwrap();

    let mut sent = route_until(
        &router,
        Instant::now() + Duration::from_millis(300),
        "etcd up",
    )
    .await;
    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    // Away for 2 s (less than the TTL): the watch fails and retries, the list stays.
    sent += route_until(
        &router,
        Instant::now() + Duration::from_secs(2),
        "etcd down",
    )
    .await;
    assert_eq!(
        router.instances().instances().list().len(),
        1,
        "the cached list kept the worker"
    );
    let mut server = server;
    let server = tokio::task::spawn_blocking(move || {
        server.run();
        server
    })
    .await
    .unwrap();
    // The watch noticed the outage: it resyncs once etcd is back, and routing goes on.
    let deadline = Instant::now() + Duration::from_secs(20);
    while router_discovery.metrics().watch_resyncs == 0 {
        assert!(
            Instant::now() < deadline,
            "the watch never resynced: {:?}",
            router_discovery.metrics()
        );
        sent += route_until(&router, Instant::now(), "etcd back").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sent += route_until(
        &router,
        Instant::now() + Duration::from_millis(500),
        "etcd back",
    )
    .await;
    let metrics = router.metrics();
    assert_eq!(metrics.admitted, sent, "{metrics:?}");
    assert_eq!(
        metrics.retries + metrics.failed + metrics.all_refused,
        0,
        "{metrics:?}"
    );
    assert_eq!(u64::from(executed.load(Ordering::SeqCst)), sent);
    assert_eq!(plane.instance_id(), Some(worker.instance_id()));
    worker_rt
        .shutdown_and_wait(Some(Duration::from_secs(30)))
        .await;
    router_rt
        .shutdown_and_wait(Some(Duration::from_secs(30)))
        .await;
    drop(server);
}
