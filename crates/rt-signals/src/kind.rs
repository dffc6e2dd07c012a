//! [`SignalKind`]: which operating-system signal arrived.

use std::fmt;

/// Which signal (or console event) the listener received.
///
/// `Display` prints the conventional name (`SIGINT`, `SIGTERM`, `Ctrl+C`), the form that appears
/// in the listener's log lines.
///
/// The enum is `#[non_exhaustive]`: more signals (for example `SIGHUP`) may be listened for in a
/// later version, so a `match` needs a wildcard arm.
///
/// ```
/// use rt_signals::SignalKind;
///
/// assert_eq!(SignalKind::Interrupt.to_string(), "SIGINT");
/// assert_eq!(SignalKind::Terminate.to_string(), "SIGTERM");
/// assert_eq!(SignalKind::CtrlC.as_str(), "Ctrl+C");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalKind {
    /// `SIGINT` (Unix): Ctrl+C in a terminal, or `kill -INT`.
    Interrupt,
    /// `SIGTERM` (Unix): what Kubernetes, systemd, Docker and `kill` send to ask for a stop.
    Terminate,
    /// The Ctrl+C console event, on platforms without Unix signals (Windows).
    CtrlC,
}

impl SignalKind {
    /// The conventional name of the signal: `"SIGINT"`, `"SIGTERM"` or `"Ctrl+C"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SignalKind::Interrupt => "SIGINT",
            SignalKind::Terminate => "SIGTERM",
            SignalKind::CtrlC => "Ctrl+C",
        }
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
