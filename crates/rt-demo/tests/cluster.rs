//! End-to-end on a real etcd (loopback, free ports, a temporary data dir): the real
//! `demo-router` and `demo-service` binaries, real signals, every process stopped by its pid.
//!
//! - a rolling restart of 2 workers under a small load loses nothing and no client sees an
//!   error;
//! - a drained worker admits no new request once the router saw its deletion, stays alive with
//!   `/health` 503 `drained`, and comes back (a new instance id) after its resume;
//! - a `kill -9` of a worker is dropped by the router within the lease TTL + 1 s.
//!
//! Gated like the other etcd tests: without an `etcd` binary (`RT_ETCD_BIN` or `PATH`) they
//! skip with a message, unless `CI` or `RT_REQUIRE_ETCD=1` is set, where they fail. Needs the
//! `etcd` feature (`cargo test -p rt-demo --features etcd --test cluster`; `cargo xtask ci`
//! runs it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

#[path = "../../rt-discovery/tests/common/etcd_server.rs"]
mod etcd_server;

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use etcd_server::EtcdServer;
use nix::sys::signal::Signal;
use rt_demo::client;
use rt_demo::cluster::{Cluster, Etcd, Load, Member, Network};
use rt_demo::protocol::ServiceStats;

/// The lease TTL the workers register with.
const TTL_SECS: u64 = 2;
/// Bound of every wait for something that should take well under a second.
const EVENT: Duration = Duration::from_secs(30);

/// etcd, a router and `workers` workers; `None` when etcd is missing (skipped).
fn fleet(workers: usize) -> Option<(EtcdServer, Cluster, Vec<Member>)> {
    let etcd = EtcdServer::start()?;
    let mut cluster = Cluster::start(
        Path::new(env!("CARGO_BIN_EXE_demo-service")),
        Path::new(env!("CARGO_BIN_EXE_demo-router")),
        &etcd.url(),
        TTL_SECS,
    )
    .expect("start the router");
    let members = (0..workers)
        .map(|slot| cluster.start_worker(slot).expect("start a worker"))
        .collect();
    Some((etcd, cluster, members))
}

/// Stops the load and asserts that every request sent was answered 200.
fn assert_nothing_lost(load: Load) {
    let tallies = std::sync::Arc::clone(&load.tallies);
    let errors = load.errors.lock().unwrap().clone();
    load.stop();
    let (mut sent, mut completed) = (0, 0);
    for t in tallies.iter() {
        sent += t.sent.load(Ordering::Relaxed);
        completed += t.completed.load(Ordering::Relaxed);
        assert_eq!(t.client_errors.load(Ordering::Relaxed), 0, "{errors:?}");
        assert_eq!(t.lost_to_crash.load(Ordering::Relaxed), 0, "{errors:?}");
    }
    assert!(sent > 0, "the load sent nothing");
    assert_eq!(sent, completed, "lost requests; client errors: {errors:?}");
}

fn admitted(member: &Member) -> u64 {
    client::get(member.addr, "/stats", EVENT)
        .expect("worker /stats")
        .json::<ServiceStats>()
        .expect("worker stats")
        .admitted
}

#[test]
fn rolling_restart_of_two_workers_loses_nothing() {
    let Some((_etcd, mut cluster, mut members)) = fleet(2) else {
        return;
    };
    let load = Load::start(cluster.router, 4);
    restart_each(&mut cluster, &mut members);
    assert_nothing_lost(load);
    cluster.stop(&mut members);
}

/// SIGTERM each worker in turn, wait until the router dropped it and it exited 0, start its
/// successor (which waits until the router lists it).
fn restart_each(cluster: &mut Cluster, members: &mut [Member]) {
    for old in members.iter_mut() {
        old.process.signal(Signal::SIGTERM).unwrap();
        cluster
            .wait_router_sees(&old.id, false, EVENT)
            .expect("the router drops the worker");
        let exit = old.process.wait_exit(EVENT).expect("the worker exits");
        assert_eq!(exit.code(), 0, "{}", old.process.output_text());
        *old = cluster.start_worker(old.slot).expect("start its successor");
    }
}

/// `demo-cluster --netns`: each worker in a network namespace of its own (its own address
/// on a bridge; etcd on the bridge's host address), a rolling restart and a drain and
/// resume (through the admin token, the status servers not being on loopback) lose nothing.
#[test]
#[ignore = "needs root (CAP_NET_ADMIN) and iproute2 to create network namespaces: \
            cargo test -p rt-demo --features etcd --test cluster -- --ignored"]
fn rolling_restart_and_drain_across_network_namespaces() {
    let Some(bin) = etcd_server::etcd_binary() else {
        return;
    };
    let network = Network::create().expect("create the bridge (root and iproute2 needed)");
    let etcd = Etcd::start(&bin, IpAddr::V4(network.host_ip())).expect("etcd on the bridge");
    let slot_ips = [network.slot_ip(0), network.slot_ip(1)];
    let mut cluster = Cluster::start(
        Path::new(env!("CARGO_BIN_EXE_demo-service")),
        Path::new(env!("CARGO_BIN_EXE_demo-router")),
        &etcd.url(),
        TTL_SECS,
    )
    .expect("start the router")
    .with_network(network)
    .expect("the admin token");
    let mut members: Vec<Member> = (0..2)
        .map(|slot| cluster.start_worker(slot).expect("start a worker"))
        .collect();
    for (member, ip) in members.iter().zip(slot_ips) {
        assert_eq!(member.addr.ip(), IpAddr::V4(ip), "{}", member.label);
    }
    let load = Load::start(cluster.router, 4);
    restart_each(&mut cluster, &mut members);
    let drain = cluster
        .drain_and_resume(&mut members[1])
        .expect("drain and resume through the admin token");
    assert_eq!(drain.admitted_while_out, Some(0), "{drain:?}");
    assert_nothing_lost(load);
    cluster.stop(&mut members);
    etcd.stop();
}

#[test]
fn drained_worker_gets_nothing_new_and_comes_back_after_resume() {
    let Some((_etcd, mut cluster, mut members)) = fleet(2) else {
        return;
    };
    let load = Load::start(cluster.router, 4);
    let old_id = members[0].id.clone();
    let report = cluster
        .drain_and_resume(&mut members[0])
        .expect("drain and resume");
    // `drain_and_resume` compared the worker's admissions when the router's deletion was seen
    // with those after half a second drained under load (and checked /health 503 drained).
    assert_eq!(
        report.admitted_while_out,
        Some(0),
        "a drained worker admitted requests"
    );
    assert_ne!(
        report.new_id, old_id,
        "a resume registers a new instance id"
    );
    assert!(cluster.router_instances().contains(&report.new_id));
    // Back in rotation: it admits again.
    let before = admitted(&members[0]);
    let started = Instant::now();
    while admitted(&members[0]) == before {
        assert!(
            started.elapsed() < EVENT,
            "the resumed worker got no request"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_nothing_lost(load);
    cluster.stop(&mut members);
}

#[test]
fn kill_9_is_dropped_within_the_lease_ttl() {
    let Some((_etcd, cluster, mut members)) = fleet(2) else {
        return;
    };
    let id = members[0].id.clone();
    let killed = Instant::now();
    members[0].process.signal(Signal::SIGKILL).unwrap();
    let dropped = cluster
        .wait_router_sees(&id, false, EVENT)
        .expect("the router drops the killed worker");
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_secs(TTL_SECS + 1),
        "dropped after {dropped:?} ({took:?} from the kill), over the TTL ({TTL_SECS} s) + 1 s"
    );
    assert!(
        cluster.router_instances().contains(&members[1].id),
        "the live worker stays listed"
    );
    let _ = members[0].process.wait_exit(EVENT);
    cluster.stop(&mut members);
}
