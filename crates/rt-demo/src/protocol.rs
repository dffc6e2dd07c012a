//! What the service and its clients exchange: the JSON bodies, the lines the service prints
//! on stdout, and the machine-readable shutdown report.
//!
//! # The service's stdout
//!
//! Each of these is a line of its own, flushed at once, so that a driver reading the pipe can
//! act on it:
//!
//! | line | when |
//! |---|---|
//! | `status on http://ADDR` | the status server is bound (only with `DYN_SYSTEM_PORT`) |
//! | `listening on http://ADDR` | the request listener is bound; always after the status line |
//! | `registered instance ID` | the endpoint is registered in discovery (only with a `discovery_backend` other than `memory`) |
//! | `shutdown: ...` | the [`ShutdownReport`](rt_core::ShutdownReport), as `Display` prints it |
//! | `shutdown-report {json}` | the same as one JSON object: a [`ReportLine`] |
//!
//! Logs go to stderr.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The prefix of the line that names the request listener's address.
pub const LISTENING_PREFIX: &str = "listening on http://";
/// The prefix of the line that names the status server's address.
pub const STATUS_PREFIX: &str = "status on http://";
/// The prefix of the line a worker prints once its endpoint is registered in discovery; the
/// rest is its instance id in hex.
pub const REGISTERED_PREFIX: &str = "registered instance ";
/// The demo's endpoint in discovery: `(namespace, component, endpoint)`.
pub const DEMO_ENDPOINT: (&str, &str, &str) = ("demo", "backend", "work");
/// The header the demo router adds to a forwarded answer: the instance id (hex) that served it.
pub const INSTANCE_HEADER: &str = "x-dyn-instance";

/// The prefix of the machine-readable report line; the rest of the line is a [`ReportLine`].
pub const REPORT_PREFIX: &str = "shutdown-report ";

/// The largest `cpu_ms` a request may ask for.
pub const MAX_CPU_MS: u64 = 10_000;
/// The largest `wait_ms` a request may ask for.
pub const MAX_WAIT_MS: u64 = 600_000;

/// The body of `POST /work`: burn `cpu_ms` of CPU time on the compute pool, then wait
/// `wait_ms` (an async sleep, the stand-in for I/O such as a call to a backend).
///
/// ```
/// use rt_demo::protocol::WorkRequest;
///
/// let req: WorkRequest = serde_json::from_str(r#"{"cpu_ms": 3, "wait_ms": 100}"#).unwrap();
/// assert_eq!(req, WorkRequest { cpu_ms: 3, wait_ms: 100 });
/// // Both fields default to 0; unknown fields are refused.
/// assert_eq!(serde_json::from_str::<WorkRequest>("{}").unwrap(), WorkRequest::default());
/// assert!(serde_json::from_str::<WorkRequest>(r#"{"cpu": 3}"#).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkRequest {
    /// Milliseconds of CPU time to burn on the compute pool (at most [`MAX_CPU_MS`]).
    #[serde(default)]
    pub cpu_ms: u64,
    /// Milliseconds to wait afterwards (at most [`MAX_WAIT_MS`]).
    #[serde(default)]
    pub wait_ms: u64,
}

impl WorkRequest {
    /// The JSON body.
    ///
    /// ```
    /// use rt_demo::protocol::WorkRequest;
    /// assert_eq!(WorkRequest { cpu_ms: 1, wait_ms: 2 }.to_json(), r#"{"cpu_ms":1,"wait_ms":2}"#);
    /// ```
    pub fn to_json(&self) -> String {
        format!(r#"{{"cpu_ms":{},"wait_ms":{}}}"#, self.cpu_ms, self.wait_ms)
    }

    /// Checks the ranges; the message says what to change.
    ///
    /// ```
    /// use rt_demo::protocol::WorkRequest;
    /// assert!(WorkRequest { cpu_ms: 10, wait_ms: 10 }.validate().is_ok());
    /// assert!(WorkRequest { cpu_ms: 10_001, wait_ms: 0 }.validate().unwrap_err().contains("cpu_ms"));
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the field out of range and its limit.
    pub fn validate(&self) -> Result<(), String> {
        if self.cpu_ms > MAX_CPU_MS {
            return Err(format!(
                "cpu_ms = {} is over the limit of {MAX_CPU_MS}; ask for less CPU time",
                self.cpu_ms
            ));
        }
        if self.wait_ms > MAX_WAIT_MS {
            return Err(format!(
                "wait_ms = {} is over the limit of {MAX_WAIT_MS}; ask for a shorter wait",
                self.wait_ms
            ));
        }
        Ok(())
    }
}

/// The answer to a `POST /work` that was served (status 200). Times in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkResponse {
    /// The CPU time asked for, in ms.
    pub cpu_ms: u64,
    /// The wait asked for, in ms.
    pub wait_ms: u64,
    /// CPU time the job really used on its compute thread (thread CPU clock).
    pub cpu_us: u64,
    /// Wall time of the job on the compute thread, from its first to its last instruction.
    pub job_us: u64,
    /// From handing the job to the pool to its start on a compute thread (queueing included).
    pub submit_to_start_us: u64,
    /// From the job's end on the compute thread to the request's task running again.
    pub end_to_resume_us: u64,
    /// The compute bridge's overhead for this request: `submit_to_start_us +
    /// end_to_resume_us`.
    pub bridge_overhead_us: u64,
    /// The measured wait.
    pub wait_us: u64,
    /// The whole request inside the handler, from admission to the answer.
    pub total_us: u64,
    /// The compute thread that ran the job.
    pub compute_thread: String,
    /// A value computed by the CPU work (so that it cannot be optimised away).
    pub checksum: u64,
}

/// The JSON body of every error answer (400, 404, 405, 500, 503).
///
/// ```
/// use rt_demo::protocol::ErrorBody;
/// let e: ErrorBody = serde_json::from_str(r#"{"error":"shutting_down","detail":"..."}"#).unwrap();
/// assert_eq!(e.error, "shutting_down");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code: `malformed_body`, `out_of_range`, `shutting_down`, `not_found`,
    /// `method_not_allowed`, `compute_failed`.
    pub error: String,
    /// What happened and what to do, in words.
    pub detail: String,
}

/// The service's request counters (`GET /stats`, and the `requests` of the [`ReportLine`]).
///
/// `connections`, `refused`, `in_flight` and `responses_2xx` are the HTTP server's own counts
/// ([`rt_http::Server::metrics`]); the others are the outcomes of the `POST /work` handler.
/// With one request per connection, [`lost`](Self::lost) is what the shutdown tests hold at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStats {
    /// Connections the request listener accepted (every path).
    pub connections: u64,
    /// `POST /work` requests with a valid body whose work started (the server had admitted
    /// them: counted in flight on the endpoint).
    pub admitted: u64,
    /// Admitted requests answered 200.
    pub completed: u64,
    /// Admitted requests whose compute job failed (answered 500).
    pub failed: u64,
    /// Requests refused with 503 because the shutdown had started (every path; a partial
    /// request answered 503 at the end of the shutdown grace included).
    pub refused: u64,
    /// Requests answered 400 (malformed body or out of range).
    pub bad_request: u64,
    /// Requests admitted by the server and not answered yet (every path; a `GET /stats` does
    /// not count itself).
    pub in_flight: u64,
    /// Answers with a 2xx status (every path: `/stats` too).
    #[serde(default)]
    pub responses_2xx: u64,
}

impl ServiceStats {
    /// Accepted connections that got neither a 2xx nor a 503 of the drain, by the service's
    /// own counts: `connections − responses_2xx − refused` (0 when nothing was lost, with one
    /// request per connection and no 4xx/5xx answer otherwise).
    ///
    /// ```
    /// use rt_demo::protocol::ServiceStats;
    /// let s = ServiceStats { connections: 10, responses_2xx: 7, refused: 3, ..Default::default() };
    /// assert_eq!(s.lost(), 0);
    /// ```
    pub fn lost(&self) -> u64 {
        self.connections
            .saturating_sub(self.responses_2xx)
            .saturating_sub(self.refused)
    }
}

/// The shutdown report's phase timings, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimings {
    /// Phase 1, stop accepting.
    pub stop_accepting_ms: f64,
    /// Phase 2, drain.
    pub drain_ms: f64,
    /// The bound phase 2 ran under.
    pub drain_bound_ms: f64,
    /// Phase 3, teardown.
    pub teardown_ms: f64,
    /// The bound phase 3 ran under.
    pub teardown_bound_ms: f64,
    /// All three.
    pub total_ms: f64,
    /// Whether phase 2 was cut short by its bound.
    pub deadline_hit: bool,
    /// What was still registered when it was (tracker names, with counts).
    pub still_active: Vec<String>,
}

impl PhaseTimings {
    /// From the runtime's report.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rt_core::ShutdownReport;
    /// use rt_demo::protocol::PhaseTimings;
    ///
    /// let report = ShutdownReport { drain: Duration::from_millis(1500), ..Default::default() };
    /// assert_eq!(PhaseTimings::from_report(&report).drain_ms, 1500.0);
    /// ```
    pub fn from_report(report: &rt_core::ShutdownReport) -> Self {
        PhaseTimings {
            stop_accepting_ms: ms(report.stop_accepting),
            drain_ms: ms(report.drain),
            drain_bound_ms: ms(report.drain_bound),
            teardown_ms: ms(report.teardown),
            teardown_bound_ms: ms(report.teardown_bound),
            total_ms: ms(report.total),
            deadline_hit: report.deadline_hit,
            still_active: report
                .still_active_counts
                .iter()
                .map(|(name, n)| format!("{name} x{n}"))
                .collect(),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The machine-readable line the service prints at its end, after [`REPORT_PREFIX`].
///
/// ```
/// use rt_demo::protocol::{ReportLine, REPORT_PREFIX};
///
/// let line = ReportLine { exit_code: 0, outcome: "clean".into(), ..Default::default() };
/// let text = line.to_line();
/// assert!(text.starts_with(REPORT_PREFIX));
/// assert_eq!(ReportLine::parse(&text), Some(line));
/// assert_eq!(ReportLine::parse("listening on http://127.0.0.1:1"), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportLine {
    /// The exit code the service is about to exit with.
    pub exit_code: i32,
    /// `clean`, `app_error`, `deadline_exceeded` or `forced`.
    pub outcome: String,
    /// The application's error, if any.
    pub error: Option<String>,
    /// The phases; `None` when the shutdown did not run to its end.
    pub phases: Option<PhaseTimings>,
    /// The request counters at the end.
    pub requests: ServiceStats,
}

impl ReportLine {
    /// The whole line, prefix included (no newline).
    pub fn to_line(&self) -> String {
        // Serialising plain numbers, strings and vectors cannot fail.
        format!(
            "{REPORT_PREFIX}{}",
            serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
        )
    }

    /// Parses a line printed by [`to_line`](Self::to_line); `None` for any other line.
    pub fn parse(line: &str) -> Option<Self> {
        serde_json::from_str(line.strip_prefix(REPORT_PREFIX)?).ok()
    }
}

/// Parses the address after `prefix` on `line` (`listening on http://127.0.0.1:8080`). An
/// unspecified host (`0.0.0.0`, `::`) is turned into the loopback address of its family, so
/// that the result can be connected to.
///
/// ```
/// use rt_demo::protocol::{address_from_line, LISTENING_PREFIX};
///
/// let a = address_from_line("listening on http://0.0.0.0:8080", LISTENING_PREFIX).unwrap();
/// assert_eq!(a.to_string(), "127.0.0.1:8080");
/// assert!(address_from_line("something else", LISTENING_PREFIX).is_none());
/// ```
pub fn address_from_line(line: &str, prefix: &str) -> Option<SocketAddr> {
    let mut addr: SocketAddr = line.trim().strip_prefix(prefix)?.parse().ok()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Some(addr)
}
