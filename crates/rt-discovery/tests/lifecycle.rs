//! Registration follows the lifecycle: registered when the endpoint accepts, removed in phase 1
//! (before the drain ends), the lease revoked in phase 3; watches keep their last list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use rt_core::config::RuntimeConfig;
use rt_core::registry::ComponentState;
use rt_core::shutdown::ShutdownPhase;
use rt_discovery::{
    Backend, Change, Discovery, DiscoveryError, DiscoverySettings, EndpointId, LeaseState,
    MemoryBackend, Transport, DEREGISTER_STEP, REVOKE_TEARDOWN,
};
use tokio::time::timeout;

fn ep(name: &str) -> EndpointId {
    EndpointId::new("ns", "backend", name).unwrap()
}

fn http(port: u16) -> Transport {
    Transport::Http(format!("http://127.0.0.1:{port}/v1/rpc/generate"))
}

async fn discovery(runtime: &rt_core::Runtime, store: &MemoryBackend) -> Discovery {
    Discovery::with_backend(
        runtime,
        Arc::new(store.clone()),
        DiscoverySettings::default(),
    )
    .await
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn phase_one_deregisters_before_the_drain_ends_and_phase_three_revokes() {
    let store = MemoryBackend::new();
    let (worker_rt, router_rt) = (common::runtime_here(), common::runtime_here());
    let worker = discovery(&worker_rt, &store).await;
    let router = discovery(&router_rt, &store).await;
    let client = router.client(ep("generate"));
    let mut changes = client.changes();

    let _reg = worker.register(ep("generate"), http(8001)).await.unwrap();
    let list = timeout(Duration::from_secs(5), client.wait_for_instances())
        .await
        .unwrap()
        .unwrap();
    let id = worker.instance_id();
    assert_eq!(list[0].id, id);

    // A request in flight on the worker: the drain cannot end before it does.
    let request = worker_rt
        .shutdown_coordinator()
        .tracker()
        .register_task("request")
        .unwrap();
    worker_rt.shutdown();
    loop {
        let change = timeout(Duration::from_secs(5), changes.recv())
            .await
            .unwrap()
            .unwrap();
        if change == Change::Removed(id) {
            break;
        }
    }
    // The router saw the removal while the worker is still draining its request.
    assert_eq!(
        worker_rt.shutdown_coordinator().phase(),
        ShutdownPhase::Draining
    );
    assert!(
        store.keep_alive(id.0).await.unwrap() > Duration::ZERO,
        "the lease lives through the drain"
    );
    let mut state = worker.subscribe_state();
    timeout(
        Duration::from_secs(5),
        state.wait_for(|s| *s == LeaseState::Deregistered),
    )
    .await
    .unwrap()
    .unwrap();
    let refused = worker.register(ep("other"), http(8002)).await;
    assert!(
        matches!(refused, Err(DiscoveryError::ShuttingDown { .. })),
        "{refused:?}"
    );

    drop(request);
    let report = worker_rt
        .shutdown_and_wait(Some(Duration::from_secs(60)))
        .await;
    assert!(report.is_clean(), "{report}");
    // The report shows the deregistration step and its time (completed: the report is clean).
    let step = report
        .drain_steps
        .iter()
        .find(|s| s.name == DEREGISTER_STEP)
        .unwrap_or_else(|| panic!("no {DEREGISTER_STEP} step in {report}"));
    assert!(step.took <= report.drain, "{report}");
    assert!(
        report
            .to_string()
            .contains(&format!("{DEREGISTER_STEP} done in {:?}", step.took)),
        "{report}"
    );
    assert!(
        report
            .teardown_completed
            .iter()
            .any(|t| t == REVOKE_TEARDOWN),
        "{report}"
    );
    assert_eq!(
        store.keep_alive(id.0).await.unwrap(),
        Duration::ZERO,
        "revoked in phase 3"
    );
    assert_eq!(worker.state(), LeaseState::Closed);
    assert!(worker.metrics().deregistration.is_some());
    let component = worker_rt.registry().get(worker.component_name()).unwrap();
    assert_eq!(component.state, ComponentState::Stopped);
    // The router's own watch goes on.
    assert!(!client.instances().is_closed());
    drop(_reg);
    router_rt
        .shutdown_and_wait(Some(Duration::from_secs(60)))
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_hanging_deregistration_is_cut_at_the_drain_bound_and_named_in_the_report() {
    let fake = common::FakeLease::default();
    let rt = common::runtime_here();
    let d = Discovery::with_backend(&rt, Arc::new(fake.clone()), DiscoverySettings::default())
        .await
        .unwrap();
    let _reg = d.register(ep("generate"), http(8001)).await.unwrap();
    fake.set(|c| c.hang_deletes = true);
    let started = tokio::time::Instant::now();
    let report = rt.shutdown_and_wait(Some(Duration::from_secs(5))).await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let step = report
        .drain_steps
        .iter()
        .find(|s| s.name == DEREGISTER_STEP)
        .unwrap_or_else(|| panic!("no {DEREGISTER_STEP} step in {report}"));
    assert_eq!(step.took, Duration::from_secs(5));
    assert!(!report.is_clean());
    assert!(!report.deadline_hit, "no request was in flight: {report}");
    assert!(
        report
            .to_string()
            .contains(&format!("{DEREGISTER_STEP} timed out after 5s")),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_local_shutdown_keeps_the_last_list_marked_closed() {
    let store = MemoryBackend::new();
    let (worker_rt, router_rt) = (common::runtime_here(), common::runtime_here());
    let worker = discovery(&worker_rt, &store).await;
    let router = discovery(&router_rt, &store).await;
    let _reg = worker.register(ep("generate"), http(8001)).await.unwrap();
    let client = router.client(ep("generate"));
    timeout(Duration::from_secs(5), client.wait_for_instances())
        .await
        .unwrap()
        .unwrap();

    let report = router_rt
        .shutdown_and_wait(Some(Duration::from_secs(60)))
        .await;
    assert!(report.is_clean(), "{report}");
    let last = client.instances();
    assert!(last.is_closed());
    assert_eq!(last.list().len(), 1, "the last list is kept, not emptied");
    assert_eq!(client.wait_for_instances().await.unwrap().len(), 1);
    worker_rt
        .shutdown_and_wait(Some(Duration::from_secs(60)))
        .await;
}

#[tokio::test(start_paused = true)]
async fn registrations_deregister_explicitly_and_on_drop() {
    let store = MemoryBackend::new();
    let rt = common::runtime_here();
    let d = discovery(&rt, &store).await;
    let client = d.client(ep("a"));
    let mut list = client.subscribe();

    let a = d.register(ep("a"), http(1)).await.unwrap();
    assert_eq!(a.key(), d.layout().key(&ep("a"), d.instance_id()));
    let twice = d.register(ep("a"), http(1)).await;
    assert!(
        matches!(twice, Err(DiscoveryError::AlreadyRegistered { .. })),
        "{twice:?}"
    );
    timeout(
        Duration::from_secs(5),
        list.wait_for(|l| l.list().len() == 1),
    )
    .await
    .unwrap()
    .unwrap();
    a.deregister().await.unwrap();
    timeout(
        Duration::from_secs(5),
        list.wait_for(|l| l.list().is_empty()),
    )
    .await
    .unwrap()
    .unwrap();

    let b = d.register(ep("a"), http(1)).await.unwrap();
    timeout(
        Duration::from_secs(5),
        list.wait_for(|l| l.list().len() == 1),
    )
    .await
    .unwrap()
    .unwrap();
    drop(b);
    timeout(
        Duration::from_secs(5),
        list.wait_for(|l| l.list().is_empty()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(store.is_empty());
    // One watch per endpoint and process.
    assert_eq!(d.metrics().instances, vec![("ns/backend/a".to_string(), 0)]);
    rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
}

#[tokio::test(start_paused = true)]
async fn discovery_is_a_component_of_the_registry() {
    let store = MemoryBackend::new();
    let rt = common::runtime_here();
    let (one, two) = (discovery(&rt, &store).await, discovery(&rt, &store).await);
    assert_eq!(one.component_name(), "discovery");
    assert_eq!(two.component_name(), "discovery-2");
    assert_eq!(
        rt.registry().get("discovery").unwrap().state,
        ComponentState::Running
    );
    rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
    let after = Discovery::with_backend(&rt, Arc::new(store), DiscoverySettings::default()).await;
    assert!(
        matches!(after, Err(DiscoveryError::ShuttingDown { .. })),
        "{after:?}"
    );
}

/// Discovery's counters and instance counts are on the runtime's `/metrics` without any
/// wiring by the application: the registration, and the watch of an endpoint with one instance.
#[tokio::test(start_paused = true)]
async fn discovery_metrics_are_on_the_runtime_registry() {
    let store = MemoryBackend::new();
    let rt = common::runtime_here();
    let d = discovery(&rt, &store).await;
    let _second = discovery(&rt, &store).await; // shown once: no error, no duplicate family
    let _registration = d.register(ep("generate"), http(8080)).await.unwrap();
    let client = d.client(ep("generate"));
    timeout(Duration::from_secs(5), client.wait_for_instances())
        .await
        .unwrap()
        .unwrap();
    let text = rt.metrics().render().unwrap();
    assert!(
        text.contains("dyn_discovery_lease_renewals_total"),
        "{text}"
    );
    assert_eq!(
        text.matches("# TYPE dyn_discovery_lease_renewals counter")
            .count(),
        1,
        "{text}"
    );
    assert!(text.contains("dyn_discovery_instances{"), "{text}");
    rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
}

#[test]
fn settings_are_checked_like_every_other_key() {
    let env = |_: &str| None;
    let bad = RuntimeConfig::builder()
        .discovery_backend("consul")
        .build()
        .unwrap();
    let err = DiscoverySettings::from_config_with_env(&bad, env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`discovery_backend`") && err.contains("\"consul\""),
        "{err}"
    );
    assert!(err.contains("\"memory\", \"static\" or \"etcd\""), "{err}");

    let bad = RuntimeConfig::builder()
        .discovery_on_lease_lost("panic")
        .build()
        .unwrap();
    let err = DiscoverySettings::from_config_with_env(&bad, env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`discovery_on_lease_lost`"), "{err}");

    let ttl = RuntimeConfig::builder()
        .discovery_lease_ttl_secs(1)
        .build()
        .unwrap_err()
        .to_string();
    assert!(ttl.contains("2 to 300"), "{ttl}");

    // etcd + wildcard bind + no advertise host: a config error, not a guess.
    let wildcard = RuntimeConfig::builder()
        .discovery_backend("etcd")
        .build()
        .unwrap();
    let err = DiscoverySettings::from_config_with_env(&wildcard, env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`discovery_advertise_host`") && err.contains("wildcard"),
        "{err}"
    );
    let ok = RuntimeConfig::builder()
        .discovery_backend("etcd")
        .discovery_advertise_host("10.0.0.5")
        .build()
        .unwrap();
    let settings = DiscoverySettings::from_config_with_env(&ok, env).unwrap();
    assert_eq!(settings.advertise_host.as_deref(), Some("10.0.0.5"));
    assert_eq!(settings.etcd_endpoints, ["http://localhost:2379"]);

    // ETCD_ENDPOINTS is read when DYN_DISCOVERY_ETCD_ENDPOINTS is unset; the latter wins.
    let reference = |name: &str| {
        (name == "ETCD_ENDPOINTS").then(|| "http://e1:2379,http://e2:2379".to_string())
    };
    let settings = DiscoverySettings::from_config_with_env(&ok, reference).unwrap();
    assert_eq!(
        settings.etcd_endpoints,
        ["http://e1:2379", "http://e2:2379"]
    );
    assert_eq!(settings.etcd_endpoints_source, "ETCD_ENDPOINTS");
    let both = RuntimeConfig::builder()
        .discovery_advertise_host("10.0.0.5")
        .discovery_etcd_endpoints("http://mine:2379")
        .build()
        .unwrap();
    let settings = DiscoverySettings::from_config_with_env(&both, reference).unwrap();
    assert_eq!(settings.etcd_endpoints, ["http://mine:2379"]);
    let bad_url = |name: &str| (name == "ETCD_ENDPOINTS").then(|| "e1:2379".to_string());
    let err = DiscoverySettings::from_config_with_env(&ok, bad_url)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ETCD_ENDPOINTS") && err.contains("http://"),
        "{err}"
    );

    let bad = RuntimeConfig::builder()
        .discovery_advertise_host("256.1.1.1")
        .build()
        .unwrap();
    assert!(DiscoverySettings::from_config_with_env(&bad, env).is_err());
    let bad = RuntimeConfig::builder()
        .discovery_static("a/b/c=nope")
        .build()
        .unwrap();
    let err = DiscoverySettings::from_config_with_env(&bad, env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`discovery_static`"), "{err}");
}

#[cfg(not(feature = "etcd"))]
#[tokio::test]
async fn etcd_without_the_feature_is_a_clear_error() {
    let config = RuntimeConfig::builder()
        .compute_threads(0)
        .discovery_backend("etcd")
        .discovery_advertise_host("127.0.0.1")
        .build()
        .unwrap();
    let rt = rt_core::Runtime::from_handle_with_config(tokio::runtime::Handle::current(), config)
        .unwrap();
    let err = Discovery::from_config(&rt).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::EtcdNotBuilt), "{err}");
    assert!(
        err.to_string().contains("--features rt-discovery/etcd"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn http_transport_advertises_a_reachable_host() {
    let store = MemoryBackend::new();
    let rt = common::runtime_here();
    let d = discovery(&rt, &store).await;
    let t = d
        .http_transport("127.0.0.2:8001".parse().unwrap(), "/v1/rpc/generate")
        .unwrap();
    assert_eq!(
        t,
        Transport::Http("http://127.0.0.2:8001/v1/rpc/generate".into())
    );
    let t = d
        .http_transport("0.0.0.0:8001".parse().unwrap(), "v1/rpc/x")
        .unwrap();
    assert_eq!(t.address(), "http://127.0.0.1:8001/v1/rpc/x");
    let t = d
        .http_transport("[::1]:8001".parse().unwrap(), "/x")
        .unwrap();
    assert_eq!(t.address(), "http://[::1]:8001/x");
    rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
}
