//! Real signals against a real process: this test binary re-executes itself as a probe (selected
//! by `RT_SIGNALS_PROBE`), installs the listener there, and sends it SIGTERM and SIGINT with
//! `kill`. Each scenario has its own process, so the tests can run in parallel.
#![cfg(unix)]
// Test helpers outside `#[test]` fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rt_signals::{SignalListener, EXIT_CODE_FORCED};

/// Names the scenario a re-executed probe runs; unset in the normal test run.
const PROBE_ENV: &str = "RT_SIGNALS_PROBE";
/// The debounce window in milliseconds for the probe.
const DEBOUNCE_ENV: &str = "RT_SIGNALS_PROBE_DEBOUNCE_MS";
/// A bound for a line that must come: a failure guard against a hung child, not a wait that
/// hopes for something to have happened.
const GUARD: Duration = Duration::from_secs(60);

/// The probe. In a normal test run it returns at once; in a re-executed child it installs the
/// listener, prints `PROBE ready`, reports the graceful request and then never finishes on its
/// own (as an application stuck draining would), so only the force-exit hook can end it.
#[test]
fn probe() {
    let Ok(scenario) = std::env::var(PROBE_ENV) else {
        return;
    };
    assert_eq!(scenario, "listen");
    let debounce = std::env::var(DEBOUNCE_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .with_target(false)
        .init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = SignalListener::builder()
            .on_shutdown(|signal| println!("PROBE callback {signal}"))
            .debounce(debounce)
            .install()
            .unwrap();
        println!("PROBE ready");
        let first = listener.graceful_requested().await;
        println!("PROBE graceful-requested {first:?}");
        std::future::pending::<()>().await;
    });
}

/// A running probe, its stdout lines arriving on a channel.
struct Probe {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Probe {
    fn spawn(debounce_ms: u64) -> Probe {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(["--exact", "probe", "--nocapture", "--test-threads=1"])
            .env(PROBE_ENV, "listen")
            .env(DEBOUNCE_ENV, debounce_ms.to_string())
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut probe = Probe {
            child,
            lines,
            seen: Vec::new(),
        };
        probe.expect("PROBE ready");
        probe
    }

    /// Waits for a line containing `needle` and returns it.
    fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(GUARD) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line containing {needle:?} ({e}); output so far: {:#?}",
                        self.seen
                    );
                }
            }
        }
    }

    fn send(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the exit and returns the status with the rest of the output.
    fn wait(mut self) -> (ExitStatus, Vec<String>) {
        // The reader thread ends at EOF, i.e. when the child has exited.
        while let Ok(line) = self.lines.recv_timeout(GUARD) {
            self.seen.push(line);
        }
        let status = self.child.wait().unwrap();
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // Only matters when a test fails half way: never leave a probe behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn sigterm_requests_graceful_shutdown_then_sigint_forces_exit_130() {
    let mut probe = Probe::spawn(0);
    probe.send(Signal::SIGTERM);
    let log = probe.expect("received SIGTERM: starting graceful shutdown");
    assert!(
        log.contains("INFO"),
        "first signal is logged at info: {log}"
    );
    probe.expect("PROBE callback SIGTERM");
    probe.expect("PROBE graceful-requested Some(Terminate)");

    probe.send(Signal::SIGINT);
    let (status, lines) = probe.wait();
    assert_eq!(status.code(), Some(EXIT_CODE_FORCED), "output: {lines:#?}");
    let forced: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("received SIGINT during the graceful shutdown started by SIGTERM"))
        .collect();
    assert_eq!(forced.len(), 1, "output: {lines:#?}");
    assert!(forced[0].contains("WARN"), "{}", forced[0]);
    assert!(
        forced[0].contains("forcing the exit with code 130"),
        "{}",
        forced[0]
    );
    // The graceful request was made exactly once.
    assert_eq!(count(&lines, "PROBE callback"), 1, "output: {lines:#?}");
}

#[test]
fn a_repeated_sigterm_forces_the_exit_without_debounce() {
    let mut probe = Probe::spawn(0);
    probe.send(Signal::SIGTERM);
    probe.expect("PROBE graceful-requested Some(Terminate)");
    probe.send(Signal::SIGTERM);
    let (status, lines) = probe.wait();
    assert_eq!(status.code(), Some(130), "output: {lines:#?}");
    assert_eq!(
        count(
            &lines,
            "received SIGTERM during the graceful shutdown started by SIGTERM"
        ),
        1,
        "output: {lines:#?}"
    );
}

#[test]
fn a_repeated_sigterm_inside_the_debounce_window_counts_once() {
    // An hour: the repeat is certainly inside the window.
    let mut probe = Probe::spawn(3_600_000);
    probe.send(Signal::SIGTERM);
    probe.expect("PROBE graceful-requested Some(Terminate)");
    probe.send(Signal::SIGTERM);
    let ignored = probe.expect("ignoring repeated SIGTERM");
    assert!(ignored.contains("debounce window 3600s"), "{ignored}");
    // A different signal still counts.
    probe.send(Signal::SIGINT);
    let (status, lines) = probe.wait();
    assert_eq!(status.code(), Some(130), "output: {lines:#?}");
    assert_eq!(count(&lines, "PROBE callback"), 1, "output: {lines:#?}");
    assert_eq!(
        count(
            &lines,
            "received SIGINT during the graceful shutdown started by SIGTERM"
        ),
        1,
        "output: {lines:#?}"
    );
}
