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
//! ```
//!
//! Every other setting reaches the service through its `DYN_*` variables, which the driver
//! passes on (it sets only the hosts and ports).
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

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::client;
use crate::process::{Exit, ServiceProcess};
use crate::protocol::{ReportLine, WorkRequest, WorkResponse};
use crate::DemoError;

/// The driver's settings (its command line).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The service's executable.
    pub service: PathBuf,
    /// Concurrent clients.
    pub clients: usize,
    /// How long to load the service before the SIGTERM.
    pub duration: Duration,
    /// The range `cpu_ms` is drawn from (inclusive).
    pub cpu_ms: (u64, u64),
    /// The range `wait_ms` is drawn from (inclusive).
    pub wait_ms: (u64, u64),
}

impl Default for Options {
    fn default() -> Self {
        let service = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("demo-service")))
            .unwrap_or_else(|| PathBuf::from("demo-service"));
        Options {
            service,
            clients: 32,
            duration: Duration::from_secs(3),
            cpu_ms: (1, 4),
            wait_ms: (100, 800),
        }
    }
}

const USAGE: &str = "usage: demo-driver [--service PATH] [--clients N] [--duration SECS] \
[--cpu-ms A-B] [--wait-ms A-B]\n\nStarts demo-service on loopback, loads it, sends SIGTERM \
mid-flight and prints what the shutdown did. DYN_* variables are passed on to the service.";

impl Options {
    /// Parses the command line (without the program name).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_demo::driver::Options;
    ///
    /// let args: Vec<String> = ["--clients", "8", "--wait-ms", "10-20", "--duration", "1.5"]
    ///     .iter().map(|s| s.to_string()).collect();
    /// let o = Options::parse(&args).unwrap();
    /// assert_eq!((o.clients, o.wait_ms, o.duration), (8, (10, 20), Duration::from_millis(1500)));
    /// assert!(Options::parse(&["--clients".to_string(), "0".to_string()]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`DemoError::Usage`] naming the bad argument.
    pub fn parse(args: &[String]) -> Result<Self, DemoError> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                return Err(DemoError::Usage(USAGE.to_owned()));
            }
            let value = it
                .next()
                .ok_or_else(|| DemoError::Usage(format!("{flag} needs a value\n{USAGE}")))?;
            let bad = |what: &str| DemoError::Usage(format!("{flag} {value}: {what}\n{USAGE}"));
            match flag.as_str() {
                "--service" => o.service = PathBuf::from(value),
                "--clients" => {
                    o.clients = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| bad("a number of clients from 1 to 1000"))?;
                }
                "--duration" => {
                    o.duration = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| (0.1..=600.0).contains(s))
                        .map(Duration::from_secs_f64)
                        .ok_or_else(|| bad("seconds, from 0.1 to 600"))?;
                }
                "--cpu-ms" => o.cpu_ms = range(value).ok_or_else(|| bad("a range A-B of ms"))?,
                "--wait-ms" => {
                    o.wait_ms = range(value).ok_or_else(|| bad("a range A-B of ms"))?;
                }
                _ => return Err(DemoError::Usage(format!("unknown flag {flag}\n{USAGE}"))),
            }
        }
        let probe = WorkRequest {
            cpu_ms: o.cpu_ms.1,
            wait_ms: o.wait_ms.1,
        };
        probe.validate().map_err(DemoError::Usage)?;
        Ok(o)
    }
}

fn range(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

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

/// What the clients saw.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    in_flight: AtomicU64,
    ok: AtomicU64,
    refused_503: AtomicU64,
    refused_connect: AtomicU64,
    refused_unanswered: AtomicU64,
    other_status: AtomicU64,
    unexpected: AtomicU64,
    /// Per 200: (bridge overhead, submit to start, end to resume), µs.
    overhead_us: Mutex<Vec<(u64, u64, u64)>>,
    first_unexpected: Mutex<Option<String>>,
}

impl Tally {
    fn note_unexpected(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::SeqCst);
        let mut first = self
            .first_unexpected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(what);
    }
}

/// One health probe.
#[derive(Clone, Copy, Debug)]
struct Probe {
    at: Instant,
    status: Option<u16>,
}

/// The compute bridge's overhead over the completed requests, µs.
#[derive(Debug)]
struct Overhead {
    median: u64,
    p99: u64,
    submit_to_start_median: u64,
    end_to_resume_median: u64,
    n: usize,
}

impl Overhead {
    fn of(samples: &[(u64, u64, u64)]) -> Option<Self> {
        fn quantile(mut v: Vec<u64>, q: f64) -> u64 {
            v.sort_unstable();
            let i = ((v.len().saturating_sub(1)) as f64 * q).round() as usize;
            v.get(i).copied().unwrap_or(0)
        }
        if samples.is_empty() {
            return None;
        }
        let column = |f: fn(&(u64, u64, u64)) -> u64| samples.iter().map(f).collect::<Vec<_>>();
        Some(Overhead {
            median: quantile(column(|s| s.0), 0.5),
            p99: quantile(column(|s| s.0), 0.99),
            submit_to_start_median: quantile(column(|s| s.1), 0.5),
            end_to_resume_median: quantile(column(|s| s.2), 0.5),
            n: samples.len(),
        })
    }
}

/// Everything the table is made of.
#[derive(Debug)]
struct Summary {
    clients: usize,
    duration: Duration,
    cpu_ms: (u64, u64),
    wait_ms: (u64, u64),
    sent: u64,
    ok: u64,
    refused_503: u64,
    refused_connect: u64,
    refused_unanswered: u64,
    other_status: u64,
    unexpected: u64,
    first_unexpected: Option<String>,
    in_flight_at_sigterm: u64,
    sigterm_to_exit: Duration,
    health_503_after: Option<Duration>,
    health_probes_in_drain: usize,
    exit_code: i32,
    report: Option<ReportLine>,
    overhead: Option<Overhead>,
}

impl Summary {
    /// Accepted connections that got neither a 200 nor a 503 (see the module docs).
    fn lost(&self) -> Option<u64> {
        let report = self.report.as_ref()?;
        Some(
            report
                .requests
                .connections
                .saturating_sub(self.ok + self.refused_503),
        )
    }

    /// Connections closed unanswered that the service never accepted: the client's
    /// unanswered ones less those the service did accept.
    fn closed_before_accept(&self) -> u64 {
        let accepted_unanswered = self.report.as_ref().map_or(0, |r| {
            r.requests
                .connections
                .saturating_sub(self.ok + self.refused_503 + self.other_status)
        });
        self.refused_unanswered.saturating_sub(accepted_unanswered)
    }

    fn passed(&self) -> bool {
        self.lost() == Some(0) && self.unexpected == 0 && self.exit_code == 0
    }

    fn verdict(&self) -> String {
        let mut why = Vec::new();
        match self.lost() {
            Some(0) => {}
            Some(n) => why.push(format!("{n} lost")),
            None => why.push("the service printed no shutdown report".to_owned()),
        }
        if self.unexpected > 0 {
            why.push(format!(
                "{} unexpected client errors (first: {})",
                self.unexpected,
                self.first_unexpected.as_deref().unwrap_or("?")
            ));
        }
        if self.exit_code != 0 {
            why.push(format!("the service exited with {}", self.exit_code));
        }
        if why.is_empty() {
            "nothing lost, exit code 0".to_owned()
        } else {
            why.join("; ")
        }
    }

    fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
        row("requests sent", self.sent.to_string());
        row("completed (200)", self.ok.to_string());
        row(
            "refused after drain started",
            format!(
                "{} (503: {}, connection refused: {}, closed before accept: {})",
                self.refused_503 + self.refused_connect + self.closed_before_accept(),
                self.refused_503,
                self.refused_connect,
                self.closed_before_accept()
            ),
        );
        row(
            "lost (must be 0)",
            match (self.lost(), &self.report) {
                (Some(n), Some(r)) => format!(
                    "{n} (accepted without a 200 or 503 answer; admitted without a 200: {})",
                    r.requests.admitted.saturating_sub(self.ok)
                ),
                _ => "unknown: the service printed no report".to_owned(),
            },
        );
        row("unexpected client errors", self.unexpected.to_string());
        row(
            "in flight at SIGTERM (clients)",
            self.in_flight_at_sigterm.to_string(),
        );
        row("SIGTERM to exit", fmt_ms(self.sigterm_to_exit));
        row(
            "/health during the drain",
            match self.health_503_after {
                Some(d) => format!(
                    "503 from {} after SIGTERM ({} probes in the drain)",
                    fmt_ms(d),
                    self.health_probes_in_drain
                ),
                None => format!(
                    "never 503 ({} probes in the drain)",
                    self.health_probes_in_drain
                ),
            },
        );
        if let Some(report) = &self.report {
            if let Some(p) = &report.phases {
                row(
                    "phase 1: stop accepting",
                    format!("{:.2} ms", p.stop_accepting_ms),
                );
                row(
                    "phase 2: drain",
                    format!("{:.1} ms (bound {:.0} ms)", p.drain_ms, p.drain_bound_ms),
                );
                row(
                    "phase 3: teardown",
                    format!(
                        "{:.2} ms (bound {:.0} ms)",
                        p.teardown_ms, p.teardown_bound_ms
                    ),
                );
                row("shutdown total", format!("{:.1} ms", p.total_ms));
                if p.deadline_hit {
                    row("still active at the deadline", p.still_active.join(", "));
                }
            }
            let r = &report.requests;
            row(
                "service counts",
                format!(
                    "{} connections, {} admitted, {} completed, {} refused (503), {} failed",
                    r.connections, r.admitted, r.completed, r.refused, r.failed
                ),
            );
            row(
                "service outcome",
                format!(
                    "{}{}",
                    report.outcome,
                    report
                        .error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
            );
        }
        row("exit code", self.exit_code.to_string());
        row(
            "compute-bridge overhead (median / p99)",
            match &self.overhead {
                Some(o) => format!(
                    "{} µs / {} µs over {} requests (median submit→start {} µs + end→resume {} µs; pool queueing included)",
                    o.median, o.p99, o.n, o.submit_to_start_median, o.end_to_resume_median
                ),
                None => "no completed request".to_owned(),
            },
        );
        let mut out = format!(
            "\n{} clients for {:.1} s (each request: cpu {}-{} ms, wait {}-{} ms), then SIGTERM with requests in flight:\n\n| measure | value |\n|---|---|\n",
            self.clients,
            self.duration.as_secs_f64(),
            self.cpu_ms.0,
            self.cpu_ms.1,
            self.wait_ms.0,
            self.wait_ms.1
        );
        for (k, v) in rows {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        out.push_str(&format!("\nresult: {}\n", self.verdict()));
        out
    }
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A small deterministic generator (xorshift), one per client.
struct Rng(u64);

impl Rng {
    fn in_range(&mut self, (a, b): (u64, u64)) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        a + self.0 % (b - a + 1)
    }
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the driver waits for the service to exit after the SIGTERM before it gives up
/// (and kills it).
const EXIT_TIMEOUT: Duration = Duration::from_secs(300);

fn drive(o: &Options) -> Result<Summary, DemoError> {
    let mut command = Command::new(&o.service);
    command
        .env("DYN_HTTP_HOST", "127.0.0.1")
        .env("DYN_HTTP_PORT", "0")
        .env("DYN_SYSTEM_HOST", "127.0.0.1")
        .env("DYN_SYSTEM_PORT", "0");
    let mut service = ServiceProcess::spawn(command)?;
    let addrs = service.wait_for_addresses(Duration::from_secs(60))?;
    let status_addr = addrs.status.ok_or_else(|| DemoError::MalformedResponse {
        detail: "the service printed no `status on` line".to_owned(),
    })?;
    wait_ready(status_addr, Duration::from_secs(30))?;
    eprintln!(
        "demo-driver: service pid {} listening on {}, status on {}; {} clients for {:.1} s (cpu {}-{} ms, wait {}-{} ms)",
        service.pid(),
        addrs.http,
        status_addr,
        o.clients,
        o.duration.as_secs_f64(),
        o.cpu_ms.0,
        o.cpu_ms.1,
        o.wait_ms.0,
        o.wait_ms.1
    );

    let tally = Arc::new(Tally::default());
    let draining = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(o.clients);
    let stagger_over = o.clients.max(1);
    for i in 0..o.clients {
        let (tally, draining, stop) =
            (Arc::clone(&tally), Arc::clone(&draining), Arc::clone(&stop));
        let (addr, cpu, wait) = (addrs.http, o.cpu_ms, o.wait_ms);
        workers.push(thread::spawn(move || {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((i as u64 + 1) * 0x9E37_79B9));
            // Spread the clients' first requests over one mean wait, so that the load is steady
            // rather than one burst of `clients` jobs queueing on the pool at once.
            let mean_wait_ms = (wait.0 + wait.1) / 2;
            thread::sleep(Duration::from_millis(
                mean_wait_ms * i as u64 / stagger_over as u64,
            ));
            while !stop.load(Ordering::SeqCst) {
                let req = WorkRequest {
                    cpu_ms: rng.in_range(cpu),
                    wait_ms: rng.in_range(wait),
                };
                tally.sent.fetch_add(1, Ordering::SeqCst);
                tally.in_flight.fetch_add(1, Ordering::SeqCst);
                let result = client::post_json(addr, "/work", &req.to_json(), REQUEST_TIMEOUT);
                tally.in_flight.fetch_sub(1, Ordering::SeqCst);
                let in_drain = draining.load(Ordering::SeqCst);
                let refused = match result {
                    Ok(r) if r.status == 200 => {
                        tally.ok.fetch_add(1, Ordering::SeqCst);
                        match r.json::<WorkResponse>() {
                            Ok(w) => tally
                                .overhead_us
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push((
                                    w.bridge_overhead_us,
                                    w.submit_to_start_us,
                                    w.end_to_resume_us,
                                )),
                            Err(e) => tally.note_unexpected(e.to_string()),
                        }
                        false
                    }
                    Ok(r) if r.status == 503 && in_drain => {
                        tally.refused_503.fetch_add(1, Ordering::SeqCst);
                        true
                    }
                    Ok(r) => {
                        tally.other_status.fetch_add(1, Ordering::SeqCst);
                        tally.note_unexpected(format!(
                            "status {}: {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        ));
                        false
                    }
                    Err(e) if e.is_refusal() && in_drain => {
                        match e {
                            DemoError::Connect { .. } => &tally.refused_connect,
                            _ => &tally.refused_unanswered,
                        }
                        .fetch_add(1, Ordering::SeqCst);
                        true
                    }
                    Err(e) => {
                        tally.note_unexpected(e.to_string());
                        true
                    }
                };
                if refused {
                    // Do not spin on a closed port.
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }));
    }

    let probes: Arc<Mutex<Vec<Probe>>> = Arc::default();
    let prober = {
        let (probes, stop) = (Arc::clone(&probes), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let status = client::get(status_addr, "/health", Duration::from_secs(2))
                    .ok()
                    .map(|r| r.status);
                probes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Probe {
                        at: Instant::now(),
                        status,
                    });
                thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // Load.
    let mut bar = Bar::new();
    let start = Instant::now();
    while start.elapsed() < o.duration {
        bar.draw(&format!(
            "{} {:>4.1}/{:.1} s  sent {:>6}  ok {:>6}  in flight {:>4}",
            gauge(start.elapsed().as_secs_f64() / o.duration.as_secs_f64()),
            start.elapsed().as_secs_f64(),
            o.duration.as_secs_f64(),
            tally.sent.load(Ordering::SeqCst),
            tally.ok.load(Ordering::SeqCst),
            tally.in_flight.load(Ordering::SeqCst),
        ));
        thread::sleep(Duration::from_millis(100));
        if let Some(exit) = service.try_exit() {
            stop.store(true, Ordering::SeqCst);
            return Err(DemoError::ServiceExited {
                status: format!("exit code {}", exit.code()),
                waited_for: "the SIGTERM".to_owned(),
                output: service.output_text(),
            });
        }
    }

    // SIGTERM, with requests in flight.
    let in_flight_at_sigterm = tally.in_flight.load(Ordering::SeqCst);
    draining.store(true, Ordering::SeqCst);
    let sigterm_at = Instant::now();
    service.signal(Signal::SIGTERM)?;
    bar.finish(&format!(
        "SIGTERM sent with {in_flight_at_sigterm} requests in flight; draining"
    ));
    let exit: Exit = loop {
        match service.wait_exit(Duration::from_millis(100)) {
            Ok(exit) => break exit,
            Err(_) if sigterm_at.elapsed() < EXIT_TIMEOUT => {
                bar.draw(&format!(
                    "draining {:>5.1} s  in flight {:>4}  refused {:>5}",
                    sigterm_at.elapsed().as_secs_f64(),
                    tally.in_flight.load(Ordering::SeqCst),
                    tally.refused_503.load(Ordering::SeqCst)
                        + tally.refused_connect.load(Ordering::SeqCst)
                        + tally.refused_unanswered.load(Ordering::SeqCst),
                ));
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
    };
    bar.finish(&format!(
        "service exited with {} after {}",
        exit.code(),
        fmt_ms(exit.at.saturating_duration_since(sigterm_at))
    ));
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    let _ = prober.join();

    let probes = probes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let in_drain: Vec<Probe> = probes
        .iter()
        .copied()
        .filter(|p| p.at >= sigterm_at && p.at <= exit.at)
        .collect();
    let health_503_after = in_drain
        .iter()
        .find(|p| p.status == Some(503))
        .map(|p| p.at.saturating_duration_since(sigterm_at));
    let overhead = Overhead::of(
        &tally
            .overhead_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let report = service.report();
    if report.is_none() || exit.code() != 0 {
        eprintln!(
            "demo-driver: the service's output:\n{}",
            service.output_text()
        );
    }
    let first_unexpected = tally
        .first_unexpected
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
    Ok(Summary {
        clients: o.clients,
        duration: o.duration,
        cpu_ms: o.cpu_ms,
        wait_ms: o.wait_ms,
        sent: n(&tally.sent),
        ok: n(&tally.ok),
        refused_503: n(&tally.refused_503),
        refused_connect: n(&tally.refused_connect),
        refused_unanswered: n(&tally.refused_unanswered),
        other_status: n(&tally.other_status),
        unexpected: n(&tally.unexpected),
        first_unexpected,
        in_flight_at_sigterm,
        sigterm_to_exit: exit.at.saturating_duration_since(sigterm_at),
        health_503_after,
        health_probes_in_drain: in_drain.len(),
        exit_code: exit.code(),
        report,
        overhead,
    })
}

/// Waits until `/health` answers 200.
fn wait_ready(status: std::net::SocketAddr, timeout: Duration) -> Result<(), DemoError> {
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

fn gauge(fraction: f64) -> String {
    const WIDTH: usize = 30;
    let done = ((fraction.clamp(0.0, 1.0) * WIDTH as f64) as usize).min(WIDTH);
    format!("[{}{}]", "#".repeat(done), "-".repeat(WIDTH - done))
}

/// The progress display on stderr: redrawn in place on a terminal, at most one line a second
/// otherwise (a CI log).
struct Bar {
    tty: bool,
    last: Option<Instant>,
}

impl Bar {
    fn new() -> Self {
        Bar {
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn draw(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{text}");
        } else if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            let _ = writeln!(err, "{text}");
            self.last = Some(Instant::now());
        }
        let _ = err.flush();
    }

    fn finish(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        let clear = if self.tty { "\r\x1b[2K" } else { "" };
        let _ = writeln!(err, "{clear}{text}");
        self.last = None;
    }
}
