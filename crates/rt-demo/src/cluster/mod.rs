//! The cluster demo behind `cargo xtask cluster` (binary `demo-cluster`): a real etcd on
//! loopback, `demo-service` workers registered in it, a `demo-router` in front, concurrent
//! clients, and, under load, a rolling restart of every worker and a `kill -9` of one. It
//! prints a progress line and a table, and exits 1 when a request was lost outside the
//! `kill -9` row or a client saw an error.
//!
//! The drain-and-resume step takes a worker out of rotation without stopping it
//! (`POST /drain` on its status server), checks that it stays alive, drained and unchosen,
//! and puts it back (`POST /resume`, a new instance id): see [`Cluster::drain_and_resume`].

mod etcd;
mod fleet;
mod load;
mod netns;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::client;
use crate::DemoError;

pub use etcd::Etcd;
pub use fleet::{router_stats, Cluster, DrainResume, Member};
pub use load::{Load, Tally, PHASES};
pub use netns::{Network, MAX_SLOTS};

/// The command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// `demo-service`.
    pub service: PathBuf,
    /// `demo-router`.
    pub router: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
    /// Workers.
    pub workers: usize,
    /// Seconds of steady load before and after the restarts.
    pub duration: Duration,
    /// Concurrent clients.
    pub clients: usize,
    /// `--netns`: each worker in a network namespace of its own on a bridge ([`Network`]).
    pub netns: bool,
}

const USAGE: &str = "usage: demo-cluster [--service PATH] [--router PATH] [--etcd PATH] \
[--workers N] [--duration SECS] [--clients N] [--netns]\n\
  --netns  each worker in a network namespace of its own on a bridge (needs root and iproute2)";

impl Options {
    /// Parses the command line (without the program name).
    ///
    /// # Errors
    ///
    /// [`DemoError::Usage`] for an unknown flag or a bad value.
    pub fn parse(args: &[String]) -> Result<Self, DemoError> {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(PathBuf::from))
            .unwrap_or_default();
        let mut o = Options {
            service: dir.join("demo-service"),
            router: dir.join("demo-router"),
            etcd: PathBuf::from("etcd"),
            workers: 3,
            duration: Duration::from_secs(4),
            clients: 16,
            netns: false,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--netns" {
                o.netns = true;
                continue;
            }
            let value = it
                .next()
                .ok_or_else(|| DemoError::Usage(format!("{flag} needs a value\n{USAGE}")))?;
            let number = || {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        DemoError::Usage(format!(
                            "{flag} {value}: a number from 1 to 10000\n{USAGE}"
                        ))
                    })
            };
            match flag.as_str() {
                "--service" => o.service = PathBuf::from(value),
                "--router" => o.router = PathBuf::from(value),
                "--etcd" => o.etcd = PathBuf::from(value),
                "--workers" => o.workers = usize::try_from(number()?).unwrap_or(3).max(2),
                "--duration" => o.duration = Duration::from_secs(number()?),
                "--clients" => o.clients = usize::try_from(number()?).unwrap_or(16),
                _ => return Err(DemoError::Usage(format!("unknown flag {flag}\n{USAGE}"))),
            }
        }
        Ok(o)
    }
}

/// The progress line (stderr).
fn progress(load: &Load, router: SocketAddr, started: Instant, phase: &str) {
    let (sent, ok, err) = load.totals();
    eprintln!(
        "[{:>5.1}s] {phase:<16} sent {sent:>6}  completed {ok:>6}  failed {err:>3}  retried {:>4}",
        started.elapsed().as_secs_f64(),
        router_stats(router).retries
    );
}

/// Runs the demo; returns the process exit code.
pub fn run(args: &[String]) -> i32 {
    let options = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match drive(options) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("demo-cluster: {e}");
            1
        }
    }
}

/// Latency percentiles of `n` sequential requests to `addr`, in µs: (p50, p99).
fn latency(addr: SocketAddr, n: usize) -> (u64, u64) {
    let body = crate::protocol::WorkRequest {
        cpu_ms: 0,
        wait_ms: 0,
    }
    .to_json();
    let mut samples: Vec<u64> = (0..n)
        .filter_map(|_| {
            let t = Instant::now();
            client::post_json(addr, "/work", &body, Duration::from_secs(5))
                .ok()
                .filter(|r| r.status == 200)
                .map(|_| u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX))
        })
        .collect();
    samples.sort_unstable();
    let q = |p: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    (q(0.5), q(0.99))
}

#[allow(clippy::too_many_lines)]
fn drive(options: Options) -> Result<i32, DemoError> {
    let network = if options.netns {
        if options.workers > MAX_SLOTS {
            return Err(DemoError::Usage(format!(
                "--netns holds at most {MAX_SLOTS} workers"
            )));
        }
        let network = Network::create()?;
        eprintln!(
            "network: a bridge at {}, each worker in a namespace of its own",
            network.host_ip()
        );
        Some(network)
    } else {
        None
    };
    let etcd_host = network
        .as_ref()
        .map_or(IpAddr::from([127, 0, 0, 1]), |n| IpAddr::V4(n.host_ip()));
    let etcd = Etcd::start(&options.etcd, etcd_host)?;
    eprintln!("etcd on {}", etcd.url());
    let mut cluster = Cluster::start(&options.service, &options.router, &etcd.url(), 2)?;
    if let Some(network) = network {
        cluster = cluster.with_network(network)?;
    }
    let router = cluster.router;
    let mut members = Vec::new();
    for slot in 0..options.workers {
        members.push(cluster.start_worker(slot)?);
    }
    eprintln!("router on {router}, {} workers registered", members.len());

    // The router's added latency: the same light request, direct and through the router.
    let _ = latency(members[0].addr, 50);
    let direct = latency(members[0].addr, 400);
    let routed = latency(router, 400);

    let load = Load::start(router, options.clients);
    let tallies = std::sync::Arc::clone(&load.tallies);
    let started = Instant::now();
    let mut retries_at = [0u64; 5];
    let progress = |phase: &str| progress(&load, router, started, phase);
    let sleep_with_progress = |d: Duration, phase: &str| {
        let until = Instant::now() + d;
        while Instant::now() < until {
            std::thread::sleep(
                Duration::from_secs(1).min(until.saturating_duration_since(Instant::now())),
            );
            progress(phase);
        }
    };

    // 1. Steady.
    sleep_with_progress(options.duration, PHASES[0]);
    retries_at[1] = cluster.stats().retries;
    load.phase.store(1, Ordering::Relaxed);

    // 2. Rolling restart.
    let mut stop_choosing: Vec<(String, Duration)> = Vec::new();
    #[allow(clippy::needless_range_loop)] // the slot is replaced in place
    for slot in 0..members.len() {
        let old = &mut members[slot];
        let signalled = Instant::now();
        old.process.signal(Signal::SIGTERM)?;
        let gone = cluster.wait_router_sees(&old.id, false, Duration::from_secs(30))?;
        let _ = gone;
        stop_choosing.push((old.label.clone(), signalled.elapsed()));
        let exit = old.process.wait_exit(Duration::from_secs(60))?;
        if exit.code() != 0 {
            eprintln!("{} exited with {}", old.label, exit.code());
        }
        let new = cluster.start_worker(slot)?;
        progress(PHASES[1]);
        members[slot] = new;
    }
    retries_at[2] = cluster.stats().retries;
    load.phase.store(2, Ordering::Relaxed);

    // 3. Drain and resume one worker (not the one killed next).
    sleep_with_progress(Duration::from_secs(1), PHASES[2]);
    let drained_slot = 1 % members.len();
    let drain = cluster.drain_and_resume(&mut members[drained_slot])?;
    progress(PHASES[2]);
    sleep_with_progress(Duration::from_secs(1), PHASES[2]);
    retries_at[3] = cluster.stats().retries;
    load.phase.store(3, Ordering::Relaxed);

    // 4. kill -9 of one worker.
    sleep_with_progress(Duration::from_secs(1), PHASES[3]);
    let victim_slot = 0;
    let in_flight_at_kill =
        client::get(members[victim_slot].addr, "/stats", Duration::from_secs(2))
            .ok()
            .and_then(|r| r.json::<crate::protocol::ServiceStats>().ok())
            .map_or(0, |s| s.in_flight.saturating_sub(0));
    *load.killed.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(members[victim_slot].id.clone());
    let killed_at = Instant::now();
    members[victim_slot].process.signal(Signal::SIGKILL)?;
    let victim_id = members[victim_slot].id.clone();
    cluster.wait_router_sees(&victim_id, false, Duration::from_secs(30))?;
    let kill_dropped = killed_at.elapsed();
    let victim_label = members[victim_slot].label.clone();
    let _ = members[victim_slot]
        .process
        .wait_exit(Duration::from_secs(10));
    members[victim_slot] = cluster.start_worker(victim_slot)?;
    sleep_with_progress(options.duration, PHASES[3]);

    let stats_before_stop = cluster.stats();
    let errors = load
        .errors
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    load.stop();
    let stats = cluster.stats();
    retries_at[4] = stats.retries.max(stats_before_stop.retries);

    // Stop everything by pid.
    let labels: BTreeMap<String, String> = stats
        .per_instance
        .keys()
        .map(|id| (id.clone(), cluster.label(id).to_owned()))
        .collect();
    cluster.stop(&mut members);
    etcd.stop();

    // The table.
    println!();
    println!(
        "{:<18} {:>8} {:>10} {:>8} {:>6} {:>14} {:>14}",
        "phase", "sent", "completed", "retried", "lost", "lost to crash", "client errors"
    );
    let mut lost_outside_kill = 0;
    let mut client_errors = 0;
    for (i, name) in PHASES.iter().enumerate() {
        let t: &Tally = &tallies[i];
        let (sent, done) = (
            t.sent.load(Ordering::Relaxed),
            t.completed.load(Ordering::Relaxed),
        );
        let (crash, errs) = (
            t.lost_to_crash.load(Ordering::Relaxed),
            t.client_errors.load(Ordering::Relaxed),
        );
        let lost = sent - done - crash - errs;
        if i != 3 {
            lost_outside_kill += lost + crash;
        }
        client_errors += errs;
        let retried = retries_at[i + 1].saturating_sub(retries_at[i]);
        println!("{name:<18} {sent:>8} {done:>10} {retried:>8} {lost:>6} {crash:>14} {errs:>14}");
    }
    println!();
    println!("per worker share (requests admitted):");
    let total: u64 = stats.per_instance.values().sum();
    for (id, n) in &stats.per_instance {
        let label = labels.get(id).map_or("?", String::as_str);
        let share = if total == 0 {
            0.0
        } else {
            *n as f64 * 100.0 / total as f64
        };
        println!("  {label:<4} {id:>16}  {n:>6}  {share:>5.1}%");
    }
    println!("SIGTERM until the router stopped choosing the worker:");
    for (label, d) in &stop_choosing {
        println!("  {label:<4} {:.1} ms", d.as_secs_f64() * 1e3);
    }
    println!(
        "drain of {}: router stopped choosing it after {:.1} ms, drained (POST /drain 200) after {:.1} ms, \
admitted while out of rotation: {}; resume until the router listed its new id {}: {:.1} ms",
        drain.label,
        drain.stop_choosing.as_secs_f64() * 1e3,
        drain.drained.as_secs_f64() * 1e3,
        drain
            .admitted_while_out
            .map_or_else(|| "unknown (no /stats)".to_owned(), |n| n.to_string()),
        drain.new_id,
        drain.back.as_secs_f64() * 1e3
    );
    println!(
        "kill -9 of {victim_label} until the router dropped it: {:.0} ms (lease TTL 2 s); in flight at the kill: {in_flight_at_kill}",
        kill_dropped.as_secs_f64() * 1e3
    );
    println!(
        "router added latency: p50 {} µs, p99 {} µs (direct p50 {} / p99 {} µs, routed {} / {} µs)",
        routed.0.saturating_sub(direct.0),
        routed.1.saturating_sub(direct.1),
        direct.0,
        direct.1,
        routed.0,
        routed.1
    );
    for e in &errors {
        println!("client error: {e}");
    }
    let ok = lost_outside_kill == 0 && client_errors == 0 && drain.admitted_while_out == Some(0);
    println!(
        "verdict: {} (lost outside kill -9: {lost_outside_kill}, client errors: {client_errors})",
        if ok { "PASS" } else { "FAIL" }
    );
    Ok(if ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::Options;
    use crate::DemoError;

    fn parse(args: &[&str]) -> Result<Options, DemoError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Options::parse(&args)
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse(&[]).expect("defaults");
        assert_eq!((o.workers, o.clients, o.netns), (3, 16, false));
        let o = parse(&["--workers", "5", "--netns", "--clients", "8"]).expect("flags");
        assert_eq!((o.workers, o.clients, o.netns), (5, 8, true));
        assert_eq!(o.duration, std::time::Duration::from_secs(4));
    }

    #[test]
    fn bad_input_is_a_usage_error_naming_the_flag() {
        for (args, names) in [
            (&["--workers", "zero"][..], "--workers zero"),
            (&["--clients", "0"][..], "--clients 0"),
            (&["--duration"][..], "--duration needs a value"),
            (&["--fast", "1"][..], "unknown flag --fast"),
        ] {
            match parse(args) {
                Err(DemoError::Usage(text)) => assert!(text.contains(names), "{text}"),
                other => panic!("{args:?}: {:?}", other.map(|o| o.workers)),
            }
        }
    }
}
