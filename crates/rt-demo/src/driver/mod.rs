//! The load driver behind `cargo xtask demo` (binary `demo-driver`).
//!
//! It starts the service (`demo-service`, next to its own executable unless `--service` says
//! otherwise) on ephemeral loopback ports, waits for its address lines and for `/health` to
//! say ready, drives `POST /work` with a fixed number of concurrent clients (threads, one
//! request per connection) for a few seconds with a progress bar on stderr, sends **SIGTERM
//! while requests are in flight**, keeps the clients sending and keeps probing `/health`
//! through the drain, and, once the service has exited, prints a table on stdout.
//!
//! ```text
//! demo-driver [--service PATH] [--clients N] [--duration SECS] [--cpu-ms A-B] [--wait-ms A-B]
//!             [--send-delay-ms N]
//! ```
//!
//! `--send-delay-ms N` makes every client a slow one: it connects, then waits N ms before it
//! writes its request, so that at the end of the drain the service holds accepted
//! connections that have no request yet (see [`Options::send_delay`]). Every other setting
//! reaches the service through its `DYN_*` variables, which the driver passes on (it sets
//! only the hosts and ports).
//!
//! The parts: [`Options`] (the command line), `load` (the client threads and the health
//! prober), `summary` (the tallies, the verdict and the table), `progress` (the bar on
//! stderr); [`run`] and `drive` here only put them in order: spawn the clients, signal,
//! probe, collect.
//!
//! # Lost requests
//!
//! A request is **lost** when the service took it in and the client did not get a 200 for
//! it. The service takes a request in twice: when it **accepts its connection** (one request
//! per connection), and when it **admits** it (takes an in-flight guard). Refusals are not
//! losses: a 503 answer, a refused connection (the listener is closed), and a connection that
//! was closed before any byte of an answer **and that the service never accepted** (it was
//! still in the kernel's accept queue when the listener closed; the client cannot tell that
//! from a reset after acceptance, which is why the service's own counts are needed).
//!
//! Every connection the service accepts carries exactly one request (`Connection: close`), and
//! the service admits requests only from accepted connections and answers an admitted request
//! only with 200 (or 500 if its CPU job failed), a refused one only with 503. So, with the
//! service's count of accepted connections from its final `shutdown-report` line:
//!
//! ```text
//! lost = connections accepted by the service − 200s received − 503s received
//! ```
//!
//! exactly: the accepted connections that ended without a 200 or a 503 (cut off, timed out,
//! or answered with another status), whether or not they had been admitted. How many of them
//! had been admitted (admitted − 200s) is shown beside it. A connection closed unanswered is a
//! refusal when it is not counted there, that is when the service never accepted it (it was
//! still in the kernel's accept queue when the listener closed): the client alone cannot tell
//! the two apart, the service's count can. Anything else unexpected on the client side (a
//! timeout, a refusal before the SIGTERM, a status other than 200 and 503) is counted as
//! **unexpected**. The driver exits 1 when `lost` or `unexpected` is not zero, when the
//! service's exit code is not 0, or when the service printed no report; 2 on a usage error.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::client;
use crate::process::{Exit, ServiceProcess};
use crate::DemoError;

use load::{Clients, Prober};
use progress::Bar;
use summary::{fmt_ms, Drain, Summary};

mod load;
mod options;
mod progress;
mod summary;

pub use options::Options;

/// How long the driver waits for the service to exit after the SIGTERM before it gives up
/// (and kills it).
const EXIT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the driver with `args` and returns its exit code (see the [module docs](self)).
pub fn run(args: &[String]) -> i32 {
    let options = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match drive(&options) {
        Ok(summary) => {
            print!("{}", summary.table());
            let _ = std::io::stdout().flush();
            if summary.passed() {
                0
            } else {
                eprintln!("demo-driver: FAILED: {}", summary.verdict());
                1
            }
        }
        Err(e) => {
            eprintln!("demo-driver: {e}");
            1
        }
    }
}

/// Spawns the clients and the prober, loads the service, signals it, and collects what
/// everyone saw into a [`Summary`].
fn drive(o: &Options) -> Result<Summary, DemoError> {
    let (mut service, http, status) = start_service(o)?;
    let clients = Clients::start(http, o);
    let prober = Prober::start(status);
    let mut bar = Bar::new();
    load_for(o.duration, &mut service, &clients, &mut bar)?;

    // SIGTERM, with requests in flight.
    let in_flight_at_sigterm = clients.drain_started();
    let sigterm_at = Instant::now();
    service.signal(Signal::SIGTERM)?;
    bar.finish(&format!(
        "SIGTERM sent with {in_flight_at_sigterm} requests in flight; draining"
    ));
    let exit = wait_exit(&mut service, &clients, sigterm_at, &mut bar)?;
    bar.finish(&format!(
        "service exited with {} after {}",
        exit.code(),
        fmt_ms(exit.at.saturating_duration_since(sigterm_at))
    ));

    let counts = clients.stop();
    let probes = prober.stop();
    let report = service.report();
    if report.is_none() || exit.code() != 0 {
        eprintln!(
            "demo-driver: the service's output:\n{}",
            service.output_text()
        );
    }
    let drain = Drain {
        in_flight_at_sigterm,
        sigterm_at,
        exit,
        probes,
    };
    Ok(Summary::new(o, counts, drain, report))
}

/// Starts the service on loopback ports and waits until it is bound and `/health` says
/// ready; returns it with its request and status addresses.
fn start_service(o: &Options) -> Result<(ServiceProcess, SocketAddr, SocketAddr), DemoError> {
    let mut command = Command::new(&o.service);
    command
        .env("DYN_HTTP_HOST", "127.0.0.1")
        .env("DYN_HTTP_PORT", "0")
        .env("DYN_SYSTEM_HOST", "127.0.0.1")
        .env("DYN_SYSTEM_PORT", "0");
    let service = ServiceProcess::spawn(command)?;
    let addrs = service.wait_for_addresses(Duration::from_secs(60))?;
    let status = addrs.status.ok_or_else(|| DemoError::MalformedResponse {
        detail: "the service printed no `status on` line".to_owned(),
    })?;
    wait_ready(status, Duration::from_secs(30))?;
    eprintln!(
        "demo-driver: service pid {} listening on {}, status on {}; {} clients for {:.1} s ({})",
        service.pid(),
        addrs.http,
        status,
        o.clients,
        o.duration.as_secs_f64(),
        o.request_mix()
    );
    Ok((service, addrs.http, status))
}

/// Shows the progress for `duration` while the clients load the service; fails if the
/// service exits meanwhile.
fn load_for(
    duration: Duration,
    service: &mut ServiceProcess,
    clients: &Clients,
    bar: &mut Bar,
) -> Result<(), DemoError> {
    let start = Instant::now();
    while start.elapsed() < duration {
        let live = clients.live();
        bar.loading(
            start.elapsed(),
            duration,
            live.sent,
            live.ok,
            live.in_flight,
        );
        thread::sleep(Duration::from_millis(100));
        if let Some(exit) = service.try_exit() {
            return Err(DemoError::ServiceExited {
                status: format!("exit code {}", exit.code()),
                waited_for: "the SIGTERM".to_owned(),
                output: service.output_text(),
            });
        }
    }
    Ok(())
}

/// Shows the drain's progress until the service exits, at most [`EXIT_TIMEOUT`] after the
/// SIGTERM.
fn wait_exit(
    service: &mut ServiceProcess,
    clients: &Clients,
    sigterm_at: Instant,
    bar: &mut Bar,
) -> Result<Exit, DemoError> {
    loop {
        match service.wait_exit(Duration::from_millis(100)) {
            Ok(exit) => return Ok(exit),
            Err(_) if sigterm_at.elapsed() < EXIT_TIMEOUT => {
                let live = clients.live();
                bar.draining(sigterm_at.elapsed(), live.in_flight, live.refused);
            }
            // Report the whole bound, not the last 100 ms poll.
            Err(_) => {
                return Err(DemoError::WaitTimeout {
                    what: format!(
                        "the service (pid {}) to exit after the SIGTERM",
                        service.pid()
                    ),
                    after: EXIT_TIMEOUT,
                })
            }
        }
    }
}

/// Waits until `/health` answers 200.
fn wait_ready(status: SocketAddr, timeout: Duration) -> Result<(), DemoError> {
    let start = Instant::now();
    loop {
        if let Ok(r) = client::get(status, "/health", Duration::from_secs(2)) {
            if r.status == 200 {
                return Ok(());
            }
        }
        if start.elapsed() > timeout {
            return Err(DemoError::WaitTimeout {
                what: format!("http://{status}/health to answer 200"),
                after: timeout,
            });
        }
        thread::sleep(Duration::from_millis(20));
    }
}
