//! [`ServiceProcess`]: the service as a child process, watched line by line.
//!
//! Used by the driver and the end-to-end tests: start the binary, wait (bounded) for the lines
//! that name its addresses, send it real signals, wait (bounded) for its exit, read what it
//! printed. Every wait has a timeout, and dropping a `ServiceProcess` whose child still runs
//! kills the child, so a failing test never leaves a service behind.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::protocol::{address_from_line, ReportLine, LISTENING_PREFIX, STATUS_PREFIX};
use crate::DemoError;

/// Which of the child's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output: the address lines and the report.
    Stdout,
    /// Standard error: the logs.
    Stderr,
}

/// One line the child printed.
#[derive(Clone, Debug)]
pub struct Line {
    /// Where.
    pub stream: Stream,
    /// The text, without the newline.
    pub text: String,
    /// When this process read it.
    pub at: Instant,
}

/// How the child ended.
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    /// Its status.
    pub status: ExitStatus,
    /// When this process saw it end.
    pub at: Instant,
}

impl Exit {
    /// The exit code, or `128 + signal` when a signal killed it (as a shell reports it).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .unwrap_or(-1)
    }
}

/// The addresses the service printed.
#[derive(Clone, Copy, Debug)]
pub struct Addresses {
    /// The request listener (`POST /work`).
    pub http: SocketAddr,
    /// The status server (`/health`, `/live`, `/metrics`), when it runs.
    pub status: Option<SocketAddr>,
}

/// What the reader threads and the waiter thread have seen, behind one lock.
#[derive(Default)]
struct Output {
    lines: Vec<Line>,
    /// Streams still open (2 at the start).
    open: usize,
    /// Set once by the thread that reaps the child.
    exit: Option<Exit>,
}

/// A running service (see the [module docs](self)).
pub struct ServiceProcess {
    pid: Pid,
    output: Arc<(Mutex<Output>, Condvar)>,
}

impl ServiceProcess {
    /// Starts `command` with stdout and stderr piped (stdin closed) and starts reading both.
    ///
    /// # Errors
    ///
    /// [`DemoError::Spawn`] when the program cannot be started.
    pub fn spawn(mut command: Command) -> Result<Self, DemoError> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| DemoError::Spawn { program, source })?;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let output = Arc::new((
            Mutex::new(Output {
                open: 2,
                ..Output::default()
            }),
            Condvar::new(),
        ));
        if let Some(out) = child.stdout.take() {
            read_lines(out, Stream::Stdout, Arc::clone(&output));
        }
        if let Some(err) = child.stderr.take() {
            read_lines(err, Stream::Stderr, Arc::clone(&output));
        }
        // The child is reaped only here, and its exit is kept for good, so `self` never
        // signals a pid that may have been reused.
        let waiter = Arc::clone(&output);
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let (lock, cvar) = &*waiter;
                lock.lock().unwrap_or_else(PoisonError::into_inner).exit = Some(Exit {
                    status,
                    at: Instant::now(),
                });
                cvar.notify_all();
            }
        });
        Ok(ServiceProcess { pid, output })
    }

    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Waits for the first line (from the start of the output) that `matches`, at most
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`DemoError::WaitTimeout`]; [`DemoError::ServiceExited`] when both streams closed
    /// without such a line.
    pub fn wait_for_line(
        &self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Line) -> bool,
    ) -> Result<Line, DemoError> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.output;
        let mut out = lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(line) = out.lines.iter().find(|l| matches(l)) {
                return Ok(line.clone());
            }
            if out.open == 0 {
                let status = match out.exit {
                    Some(exit) => format!("exit code {}", exit.code()),
                    None => "output closed".to_owned(),
                };
                drop(out);
                return Err(DemoError::ServiceExited {
                    status,
                    waited_for: what.to_owned(),
                    output: self.output_text(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DemoError::WaitTimeout {
                    what: what.to_owned(),
                    after: timeout,
                });
            }
            out = cvar
                .wait_timeout(out, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits for the `listening on` line (and takes the `status on` line printed before it).
    ///
    /// # Errors
    ///
    /// As [`wait_for_line`](Self::wait_for_line).
    pub fn wait_for_addresses(&self, timeout: Duration) -> Result<Addresses, DemoError> {
        let line = self.wait_for_line("the `listening on` line", timeout, |l| {
            l.stream == Stream::Stdout && l.text.starts_with(LISTENING_PREFIX)
        })?;
        let http = address_from_line(&line.text, LISTENING_PREFIX).ok_or_else(|| {
            DemoError::MalformedResponse {
                detail: format!("cannot read an address in {:?}", line.text),
            }
        })?;
        let status = self
            .stdout_lines()
            .iter()
            .find_map(|l| address_from_line(l, STATUS_PREFIX));
        Ok(Addresses { http, status })
    }

    /// Sends `signal` to the child.
    ///
    /// # Errors
    ///
    /// [`DemoError::Signal`] when it cannot be sent (the child is gone).
    pub fn signal(&self, signal: Signal) -> Result<(), DemoError> {
        kill(self.pid, signal).map_err(|source| DemoError::Signal {
            signal: signal.as_str().to_owned(),
            pid: self.pid.as_raw(),
            source,
        })
    }

    /// Waits at most `timeout` for the child to exit.
    ///
    /// # Errors
    ///
    /// [`DemoError::WaitTimeout`] when it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Exit, DemoError> {
        let (lock, cvar) = &*self.output;
        let out = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (out, _) = cvar
            .wait_timeout_while(out, timeout, |o| o.exit.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        let Some(exit) = out.exit else {
            return Err(DemoError::WaitTimeout {
                what: format!("process {} to exit", self.pid),
                after: timeout,
            });
        };
        // Let the readers take the last lines (the pipes close with the process).
        let _ = cvar.wait_timeout_while(out, Duration::from_secs(5), |o| o.open > 0);
        Ok(exit)
    }

    /// Whether the child has exited (without waiting).
    pub fn try_exit(&mut self) -> Option<Exit> {
        let (lock, _) = &*self.output;
        lock.lock().unwrap_or_else(PoisonError::into_inner).exit
    }

    /// Every line read so far.
    pub fn lines(&self) -> Vec<Line> {
        let (lock, _) = &*self.output;
        lock.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines
            .clone()
    }

    /// The stdout lines read so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.stream == Stream::Stdout)
            .map(|l| l.text)
            .collect()
    }

    /// Everything read so far, both streams interleaved in the order read, one line each.
    pub fn output_text(&self) -> String {
        let mut text = String::new();
        for line in self.lines() {
            text.push_str(match line.stream {
                Stream::Stdout => "out| ",
                Stream::Stderr => "err| ",
            });
            text.push_str(&line.text);
            text.push('\n');
        }
        text
    }

    /// The service's `shutdown-report` line, once printed.
    pub fn report(&self) -> Option<ReportLine> {
        self.stdout_lines()
            .iter()
            .find_map(|l| ReportLine::parse(l))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = kill(self.pid, Signal::SIGKILL);
            let (lock, cvar) = &*self.output;
            let out = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = cvar.wait_timeout_while(out, Duration::from_secs(5), |o| o.exit.is_none());
        }
    }
}

impl std::fmt::Debug for ServiceProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (lock, _) = &*self.output;
        let exit = lock.lock().unwrap_or_else(PoisonError::into_inner).exit;
        f.debug_struct("ServiceProcess")
            .field("pid", &self.pid)
            .field("exit", &exit)
            .finish_non_exhaustive()
    }
}

fn read_lines(
    stream: impl Read + Send + 'static,
    which: Stream,
    output: Arc<(Mutex<Output>, Condvar)>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    let (lock, cvar) = &*output;
                    lock.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .lines
                        .push(Line {
                            stream: which,
                            text,
                            at: Instant::now(),
                        });
                    cvar.notify_all();
                }
            }
        }
        let (lock, cvar) = &*output;
        lock.lock().unwrap_or_else(PoisonError::into_inner).open -= 1;
        cvar.notify_all();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_is_kept_after_a_wait_for_a_line_that_never_came() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo hello; exit 3"]);
        let mut child = ServiceProcess::spawn(command).unwrap();
        let never = |l: &Line| l.text == "never";
        let err = child
            .wait_for_line("a line that never comes", Duration::from_secs(30), never)
            .unwrap_err();
        assert!(matches!(err, DemoError::ServiceExited { .. }), "{err}");
        // Building that error must not consume the exit: it is still there to wait for.
        assert_eq!(child.wait_exit(Duration::from_secs(30)).unwrap().code(), 3);
        assert_eq!(child.try_exit().map(|e| e.code()), Some(3));
        let err = child
            .wait_for_line("a line that never comes", Duration::from_secs(30), never)
            .unwrap_err();
        assert!(
            matches!(&err, DemoError::ServiceExited { status, .. } if status == "exit code 3"),
            "{err}"
        );
        assert_eq!(child.stdout_lines(), ["hello"]);
    }
}
