//! [`Summary`]: what the clients, the prober and the service's report say about one run, the
//! verdict (see the [`driver`](super) docs on lost requests) and the table.

use std::time::{Duration, Instant};

use super::load::{ClientCounts, Probe};
use super::options::Options;
use crate::process::Exit;
use crate::protocol::ReportLine;

/// What the driver saw from the SIGTERM on.
pub(super) struct Drain {
    pub(super) in_flight_at_sigterm: u64,
    pub(super) sigterm_at: Instant,
    pub(super) exit: Exit,
    /// Every health probe of the run (those outside the drain are left out here).
    pub(super) probes: Vec<Probe>,
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
pub(super) struct Summary {
    clients: usize,
    duration: Duration,
    request_mix: String,
    counts: ClientCounts,
    in_flight_at_sigterm: u64,
    sigterm_to_exit: Duration,
    health_503_after: Option<Duration>,
    health_probes_in_drain: usize,
    exit_code: i32,
    report: Option<ReportLine>,
    overhead: Option<Overhead>,
}

impl Summary {
    pub(super) fn new(
        o: &Options,
        counts: ClientCounts,
        drain: Drain,
        report: Option<ReportLine>,
    ) -> Self {
        let (sigterm_at, exit_at) = (drain.sigterm_at, drain.exit.at);
        let in_drain: Vec<&Probe> = drain
            .probes
            .iter()
            .filter(|p| p.at >= sigterm_at && p.at <= exit_at)
            .collect();
        Summary {
            clients: o.clients,
            duration: o.duration,
            request_mix: o.request_mix(),
            overhead: Overhead::of(&counts.overhead_us),
            counts,
            in_flight_at_sigterm: drain.in_flight_at_sigterm,
            sigterm_to_exit: exit_at.saturating_duration_since(sigterm_at),
            health_503_after: in_drain
                .iter()
                .find(|p| p.status == Some(503))
                .map(|p| p.at.saturating_duration_since(sigterm_at)),
            health_probes_in_drain: in_drain.len(),
            exit_code: drain.exit.code(),
            report,
        }
    }

    /// Accepted connections that got neither a 200 nor a 503 (see the module docs).
    fn lost(&self) -> Option<u64> {
        let report = self.report.as_ref()?;
        Some(
            report
                .requests
                .connections
                .saturating_sub(self.counts.ok + self.counts.refused_503),
        )
    }

    /// Connections closed unanswered that the service never accepted: the client's
    /// unanswered ones less those the service did accept.
    fn closed_before_accept(&self) -> u64 {
        let c = &self.counts;
        let accepted_unanswered = self.report.as_ref().map_or(0, |r| {
            r.requests
                .connections
                .saturating_sub(c.ok + c.refused_503 + c.other_status)
        });
        c.refused_unanswered.saturating_sub(accepted_unanswered)
    }

    pub(super) fn passed(&self) -> bool {
        self.lost() == Some(0) && self.counts.unexpected == 0 && self.exit_code == 0
    }

    pub(super) fn verdict(&self) -> String {
        let mut why = Vec::new();
        match self.lost() {
            Some(0) => {}
            Some(n) => why.push(format!("{n} lost")),
            None => why.push("the service printed no shutdown report".to_owned()),
        }
        if self.counts.unexpected > 0 {
            why.push(format!(
                "{} unexpected client errors (first: {})",
                self.counts.unexpected,
                self.counts.first_unexpected.as_deref().unwrap_or("?")
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

    /// The table, with its header line and the verdict, as printed on stdout.
    pub(super) fn table(&self) -> String {
        let mut rows = Rows::default();
        self.client_rows(&mut rows);
        self.report_rows(&mut rows);
        rows.add("exit code", self.exit_code.to_string());
        rows.add(
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
            "\n{} clients for {:.1} s (each request: {}), then SIGTERM with requests in flight:\n\n| measure | value |\n|---|---|\n",
            self.clients,
            self.duration.as_secs_f64(),
            self.request_mix,
        );
        for (k, v) in rows.0 {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        out.push_str(&format!("\nresult: {}\n", self.verdict()));
        out
    }

    /// The rows from what the clients and the prober saw.
    fn client_rows(&self, rows: &mut Rows) {
        let c = &self.counts;
        rows.add("requests sent", c.sent.to_string());
        rows.add("completed (200)", c.ok.to_string());
        rows.add(
            "refused after drain started",
            format!(
                "{} (503: {}, connection refused: {}, closed before accept: {})",
                c.refused_503 + c.refused_connect + self.closed_before_accept(),
                c.refused_503,
                c.refused_connect,
                self.closed_before_accept()
            ),
        );
        rows.add(
            "lost (must be 0)",
            match (self.lost(), &self.report) {
                (Some(n), Some(r)) => format!(
                    "{n} (accepted without a 200 or 503 answer; admitted without a 200: {})",
                    r.requests.admitted.saturating_sub(c.ok)
                ),
                _ => "unknown: the service printed no report".to_owned(),
            },
        );
        rows.add("unexpected client errors", c.unexpected.to_string());
        rows.add(
            "in flight at SIGTERM (clients)",
            self.in_flight_at_sigterm.to_string(),
        );
        rows.add("SIGTERM to exit", fmt_ms(self.sigterm_to_exit));
        rows.add(
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
    }

    /// The rows from the service's `shutdown-report` line, when it printed one.
    fn report_rows(&self, rows: &mut Rows) {
        let Some(report) = &self.report else { return };
        if let Some(p) = &report.phases {
            rows.add(
                "phase 1: stop accepting",
                format!("{:.2} ms", p.stop_accepting_ms),
            );
            rows.add(
                "phase 2: drain",
                format!("{:.1} ms (bound {:.0} ms)", p.drain_ms, p.drain_bound_ms),
            );
            rows.add(
                "phase 3: teardown",
                format!(
                    "{:.2} ms (bound {:.0} ms)",
                    p.teardown_ms, p.teardown_bound_ms
                ),
            );
            rows.add("shutdown total", format!("{:.1} ms", p.total_ms));
            if p.deadline_hit {
                rows.add("still active at the deadline", p.still_active.join(", "));
            }
        }
        let r = &report.requests;
        rows.add(
            "service counts",
            format!(
                "{} connections, {} admitted, {} completed, {} refused (503), {} failed",
                r.connections, r.admitted, r.completed, r.refused, r.failed
            ),
        );
        rows.add(
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
}

/// The table's rows, in order.
#[derive(Default)]
struct Rows(Vec<(&'static str, String)>);

impl Rows {
    fn add(&mut self, measure: &'static str, value: String) {
        self.0.push((measure, value));
    }
}

/// Milliseconds with one decimal: `684.2 ms`.
pub(super) fn fmt_ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::Overhead;

    #[test]
    fn overhead_quantiles() {
        assert!(Overhead::of(&[]).is_none());
        let samples: Vec<(u64, u64, u64)> = (1..=100).map(|i| (i, 2 * i, 3 * i)).collect();
        let o = Overhead::of(&samples).unwrap();
        assert_eq!((o.median, o.p99, o.n), (51, 99, 100));
        assert_eq!(
            (o.submit_to_start_median, o.end_to_resume_median),
            (102, 153)
        );
    }
}
