//! The progress display on stderr: a gauge while the service is loaded, a counter through
//! the drain, and the lines that stay.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Redrawn in place on a terminal, at most one line a second otherwise (a CI log).
pub(super) struct Bar {
    tty: bool,
    last: Option<Instant>,
}

impl Bar {
    pub(super) fn new() -> Self {
        Bar {
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    /// The line while the service is loaded: `elapsed` of `total`, and the clients' counts.
    pub(super) fn loading(
        &mut self,
        elapsed: Duration,
        total: Duration,
        sent: u64,
        ok: u64,
        in_flight: u64,
    ) {
        self.draw(&format!(
            "{} {:>4.1}/{:.1} s  sent {:>6}  ok {:>6}  in flight {:>4}",
            gauge(elapsed.as_secs_f64() / total.as_secs_f64()),
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            sent,
            ok,
            in_flight,
        ));
    }

    /// The line through the drain, `since` the SIGTERM.
    pub(super) fn draining(&mut self, since: Duration, in_flight: u64, refused: u64) {
        self.draw(&format!(
            "draining {:>5.1} s  in flight {:>4}  refused {:>5}",
            since.as_secs_f64(),
            in_flight,
            refused,
        ));
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

    /// A line that stays (it replaces the bar on a terminal).
    pub(super) fn finish(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        let clear = if self.tty { "\r\x1b[2K" } else { "" };
        let _ = writeln!(err, "{clear}{text}");
        self.last = None;
    }
}

fn gauge(fraction: f64) -> String {
    const WIDTH: usize = 30;
    let done = ((fraction.clamp(0.0, 1.0) * WIDTH as f64) as usize).min(WIDTH);
    format!("[{}{}]", "#".repeat(done), "-".repeat(WIDTH - done))
}

#[cfg(test)]
mod tests {
    use super::gauge;

    #[test]
    fn gauge_is_clamped() {
        assert_eq!(gauge(-1.0), format!("[{}]", "-".repeat(30)));
        assert_eq!(
            gauge(0.5),
            format!("[{}{}]", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(gauge(2.0), format!("[{}]", "#".repeat(30)));
    }
}
