//! Service-manager notifications (`sd_notify`): `READY=1`, `STOPPING=1`, watchdog pings.
//!
//! Available with the `systemd` cargo feature. Every function is a no-op that returns `Ok(())`
//! when `NOTIFY_SOCKET` is not set (the process is not a `Type=notify` systemd service), and on
//! platforms without Unix sockets. The listener sends `STOPPING=1` by itself on the first signal;
//! the service sends `READY=1` once it accepts work and keeps the watchdog fed.
//!
//! The notification socket must be a filesystem path (what systemd uses); abstract-namespace
//! addresses (`@name`) are not supported by the underlying `sd-notify` crate.
//!
//! ```
//! use rt_signals::systemd;
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rt_signals::SignalError> {
//! # std::env::remove_var("NOTIFY_SOCKET"); // this example never talks to a real systemd
//! // ... set the service up, then:
//! systemd::notify_ready()?;
//! let stop_watchdog = CancellationToken::new();
//! let watchdog = systemd::spawn_watchdog(stop_watchdog.clone())?;
//! // ... serve; on shutdown:
//! stop_watchdog.cancel();
//! watchdog.await.ok();
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::SignalError;

/// Whether a notification socket is configured (`NOTIFY_SOCKET` set and not empty).
pub fn is_available() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|v| !v.is_empty())
}

/// Tells the service manager that start-up is finished (`READY=1`).
///
/// # Errors
///
/// [`SignalError::Notify`] if `NOTIFY_SOCKET` is set but the datagram could not be sent.
pub fn notify_ready() -> Result<(), SignalError> {
    send("READY=1")
}

/// Tells the service manager that the service is shutting down (`STOPPING=1`). The listener
/// calls this on the first signal.
///
/// # Errors
///
/// [`SignalError::Notify`] if `NOTIFY_SOCKET` is set but the datagram could not be sent.
pub fn notify_stopping() -> Result<(), SignalError> {
    send("STOPPING=1")
}

/// Feeds the service manager's watchdog once (`WATCHDOG=1`).
///
/// # Errors
///
/// [`SignalError::Notify`] if `NOTIFY_SOCKET` is set but the datagram could not be sent.
pub fn notify_watchdog() -> Result<(), SignalError> {
    send("WATCHDOG=1")
}

/// Sets the one-line status shown by `systemctl status` (`STATUS=...`). Line breaks in `status`
/// are replaced by spaces, so that the text cannot add other assignments.
///
/// # Errors
///
/// [`SignalError::Notify`] if `NOTIFY_SOCKET` is set but the datagram could not be sent.
pub fn notify_status(status: &str) -> Result<(), SignalError> {
    let line = status.replace(['\n', '\r'], " ");
    send_line("STATUS=...", &format!("STATUS={line}"))
}

/// The watchdog timeout the service manager set for this process, if any: `WATCHDOG_USEC`
/// (microseconds, above zero), provided `WATCHDOG_PID` is unset or names this process. The
/// watchdog must be fed more often than this; [`run_watchdog`] pings at half of it.
pub fn watchdog_interval() -> Option<Duration> {
    let raw = std::env::var("WATCHDOG_USEC").ok()?;
    let Ok(usec) = raw.trim().parse::<u64>() else {
        tracing::warn!(value = %raw, "WATCHDOG_USEC is not a whole number of microseconds: the systemd watchdog stays off");
        return None;
    };
    if usec == 0 {
        return None;
    }
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        let Ok(pid) = pid.trim().parse::<u32>() else {
            tracing::warn!(value = %pid, "WATCHDOG_PID is not a process id: the systemd watchdog stays off");
            return None;
        };
        if pid != std::process::id() {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// Feeds the watchdog at half of [`watchdog_interval`] (the first ping at once) until `cancel`
/// is cancelled. Returns at once when no watchdog is configured.
///
/// The environment is read when the future is first polled. A failed ping is logged at `warn`
/// and the loop goes on (the next one may succeed). Ticks missed while the runtime was busy are
/// not caught up in a burst.
///
/// # Cancel safety
///
/// This method is cancel safe: dropping the future just stops the pings.
pub async fn run_watchdog(cancel: CancellationToken) {
    ping_loop(watchdog_interval(), cancel).await;
}

/// Spawns the watchdog loop of [`run_watchdog`] on the current tokio runtime. The environment
/// is read here, before this returns.
///
/// # Errors
///
/// [`SignalError::NoRuntime`] when called outside a tokio runtime.
pub fn spawn_watchdog(cancel: CancellationToken) -> Result<JoinHandle<()>, SignalError> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| SignalError::NoRuntime)?;
    Ok(handle.spawn(ping_loop(watchdog_interval(), cancel)))
}

async fn ping_loop(timeout: Option<Duration>, cancel: CancellationToken) {
    let Some(timeout) = timeout else {
        tracing::debug!("no systemd watchdog configured (WATCHDOG_USEC unset)");
        return;
    };
    let period = (timeout / 2).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {
                if let Err(error) = notify_watchdog() {
                    tracing::warn!(%error, "systemd watchdog ping failed");
                }
            }
        }
    }
}

fn send(state: &'static str) -> Result<(), SignalError> {
    send_line(state, state)
}

#[cfg(unix)]
fn send_line(state: &'static str, line: &str) -> Result<(), SignalError> {
    if !is_available() {
        return Ok(());
    }
    sd_notify::notify(false, &[sd_notify::NotifyState::Custom(line)])
        .map_err(|source| SignalError::Notify { state, source })
}

#[cfg(not(unix))]
fn send_line(_state: &'static str, _line: &str) -> Result<(), SignalError> {
    Ok(())
}
