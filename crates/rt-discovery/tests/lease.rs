//! Lease keep-alive scheduling and the lease-loss policies, against a fake lease on tokio's
//! paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::FakeLease;
use rt_core::registry::ComponentState;
use rt_core::shutdown::ShutdownPhase;
use rt_discovery::{
    Backend, Discovery, DiscoverySettings, EndpointId, LeaseLossPolicy, LeaseState, Transport,
};
use tokio::time::{timeout, Instant};

fn settings(ttl: u64, policy: LeaseLossPolicy, lost_timeout: u64) -> DiscoverySettings {
    let mut s = DiscoverySettings::default();
    s.lease_ttl = Duration::from_secs(ttl);
    s.on_lease_lost = policy;
    s.lost_timeout = Duration::from_secs(lost_timeout);
    s
}

fn ep() -> EndpointId {
    EndpointId::new("ns", "backend", "generate").unwrap()
}

#[tokio::test(start_paused = true)]
async fn renewals_run_every_ttl_third_counted_from_the_send() {
    let fake = FakeLease::default();
    // Every acknowledgement comes 1 s after its send: counting from the ack would renew every
    // 4 s; counting from the send renews every 3 s.
    fake.set(|c| c.answer_after = Duration::from_secs(1));
    let rt = common::runtime_here();
    let start = Instant::now();
    let d = Discovery::with_backend(
        &rt,
        Arc::new(fake.clone()),
        settings(9, LeaseLossPolicy::Reregister, 60),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let sends: Vec<Duration> = fake.renewals().iter().map(|t| *t - start).collect();
    let expected: Vec<Duration> = (1..=6).map(|n| Duration::from_secs(3 * n)).collect();
    assert_eq!(sends, expected);
    let m = d.metrics();
    assert_eq!(m.lease_renewals, 6);
    assert_eq!(m.keep_alive_lateness_max, Duration::ZERO);
    assert_eq!(d.state(), LeaseState::Live);
    rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
}

#[tokio::test(start_paused = true)]
async fn failed_renewals_are_retried_until_the_deadline_then_shutdown_policy_stops_in_three_phases()
{
    let fake = FakeLease::default();
    let rt = common::runtime_here();
    let start = Instant::now();
    let d = Discovery::with_backend(
        &rt,
        Arc::new(fake.clone()),
        settings(9, LeaseLossPolicy::Shutdown, 60),
    )
    .await
    .unwrap();
    let _reg = d
        .register(ep(), Transport::Http("http://127.0.0.1:1/x".into()))
        .await
        .unwrap();
    fake.set(|c| c.fail_renewals = true);
    let mut phases = rt.shutdown_coordinator().subscribe();
    timeout(
        Duration::from_secs(30),
        phases.wait_for(|p| *p != ShutdownPhase::Running),
    )
    .await
    .unwrap()
    .unwrap();
    let lost_at = start.elapsed();
    // The grant was sent at 0 with TTL 9: the lease is lost at 9 s, not before, not much after.
    assert!(
        lost_at >= Duration::from_secs(9) && lost_at < Duration::from_millis(9_100),
        "{lost_at:?}"
    );
    let sends = fake.renewals();
    assert!(
        sends.len() >= 4,
        "retried with backoff while the lease could be saved: {}",
        sends.len()
    );
    assert!(sends.iter().all(|t| *t - start < Duration::from_secs(9)));
    let m = d.metrics();
    assert_eq!(m.lease_losses, 1);
    assert!(m.lease_renewal_failures >= 4);
    // The ordinary three phases, with a report.
    let report = rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
    assert!(report.is_clean(), "{report}");
    assert!(rt.shutdown_coordinator().report().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_reregisters_under_a_new_id_and_readiness_recovers() {
    let fake = FakeLease::default();
    let rt = common::runtime_here();
    let d = Discovery::with_backend(
        &rt,
        Arc::new(fake.clone()),
        settings(9, LeaseLossPolicy::Reregister, 60),
    )
    .await
    .unwrap();
    let reg = d
        .register(ep(), Transport::Http("http://127.0.0.1:1/x".into()))
        .await
        .unwrap();
    let client = d.client(ep());
    let old = d.instance_id();
    timeout(Duration::from_secs(5), client.wait_for_instances())
        .await
        .unwrap()
        .unwrap();
    // In-flight work, untouched by the re-registration.
    let request = rt
        .shutdown_coordinator()
        .tracker()
        .register_task("request")
        .unwrap();
    let in_flight = rt.shutdown_coordinator().tracker().get_count();

    // Someone revokes the lease (etcd lost it); grants fail for a while.
    fake.set(|c| c.fail_grants = true);
    fake.store.revoke(old.0).await.unwrap();
    let mut state = d.subscribe_state();
    timeout(
        Duration::from_secs(10),
        state.wait_for(|s| *s == LeaseState::Reregistering),
    )
    .await
    .unwrap()
    .unwrap();
    let component = rt.registry().get(d.component_name()).unwrap();
    assert_eq!(
        component.state,
        ComponentState::Failed,
        "readiness false while lost"
    );
    assert!(component
        .error
        .unwrap_or_default()
        .contains("re-registering"));

    fake.set(|c| c.fail_grants = false);
    timeout(
        Duration::from_secs(10),
        state.wait_for(|s| *s == LeaseState::Live),
    )
    .await
    .unwrap()
    .unwrap();
    let new = d.instance_id();
    assert_ne!(new, old, "a new lease, a new instance id");
    assert_eq!(reg.instance_id(), new);
    let mut list = client.subscribe();
    timeout(
        Duration::from_secs(5),
        list.wait_for(|l| l.list().iter().map(|i| i.id).eq([new])),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        rt.registry().get(d.component_name()).unwrap().state,
        ComponentState::Running
    );
    assert_eq!(rt.shutdown_coordinator().phase(), ShutdownPhase::Running);
    assert_eq!(rt.shutdown_coordinator().tracker().get_count(), in_flight);
    assert_eq!(d.metrics().reregistrations, 1);
    drop(request);
    rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
}

#[tokio::test(start_paused = true)]
async fn reregistration_that_cannot_finish_within_the_bound_shuts_down() {
    let fake = FakeLease::default();
    let rt = common::runtime_here();
    let d = Discovery::with_backend(
        &rt,
        Arc::new(fake.clone()),
        settings(9, LeaseLossPolicy::Reregister, 5),
    )
    .await
    .unwrap();
    fake.set(|c| c.fail_grants = true);
    fake.store.revoke(d.instance_id().0).await.unwrap();
    let mut state = d.subscribe_state();
    timeout(
        Duration::from_secs(10),
        state.wait_for(|s| *s == LeaseState::Reregistering),
    )
    .await
    .unwrap()
    .unwrap();
    let since = Instant::now();
    let mut phases = rt.shutdown_coordinator().subscribe();
    timeout(
        Duration::from_secs(30),
        phases.wait_for(|p| *p != ShutdownPhase::Running),
    )
    .await
    .unwrap()
    .unwrap();
    let waited = since.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_millis(5_100),
        "{waited:?}"
    );
    let report = rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_server_at_start_is_retried_within_the_bound_then_named() {
    let fake = FakeLease::default();
    fake.set(|c| c.fail_grants = true);
    let rt = common::runtime_here();
    let mut s = settings(9, LeaseLossPolicy::Reregister, 60);
    s.connect_timeout = Duration::from_secs(20);
    let start = Instant::now();
    let err = Discovery::with_backend(&rt, Arc::new(fake.clone()), s)
        .await
        .unwrap_err();
    let waited = start.elapsed();
    assert!(
        waited <= Duration::from_secs(20) && waited >= Duration::from_secs(10),
        "{waited:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("DYN_DISCOVERY_CONNECT_TIMEOUT_SECS") && msg.contains("attempts"),
        "{msg}"
    );
    // Grants work again: start-up succeeds.
    fake.set(|c| c.fail_grants = false);
    let d = Discovery::with_backend(&rt, Arc::new(fake), DiscoverySettings::default())
        .await
        .unwrap();
    assert_eq!(d.state(), LeaseState::Live);
    rt.shutdown_and_wait(Some(Duration::from_secs(60))).await;
}
