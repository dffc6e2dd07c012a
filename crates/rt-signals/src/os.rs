//! The platform's signal sources, registered eagerly so that errors surface at install time.

use crate::error::SignalError;
use crate::kind::SignalKind;

/// The signals this platform listens for.
#[cfg(unix)]
pub(crate) struct OsSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl OsSignals {
    /// Installs the `SIGINT` and `SIGTERM` handlers. Must run inside a runtime context whose I/O
    /// driver is enabled (checked by the caller).
    pub(crate) fn register() -> Result<Self, SignalError> {
        use tokio::signal::unix::{signal, SignalKind as Unix};
        let interrupt = signal(Unix::interrupt()).map_err(|source| SignalError::Install {
            signal: SignalKind::Interrupt,
            source,
        })?;
        let terminate = signal(Unix::terminate()).map_err(|source| SignalError::Install {
            signal: SignalKind::Terminate,
            source,
        })?;
        Ok(Self {
            interrupt,
            terminate,
        })
    }

    /// The next signal, or `None` once the runtime's signal driver has shut down.
    ///
    /// Cancel-safe: a signal is consumed only when this returns it.
    pub(crate) async fn recv(&mut self) -> Option<SignalKind> {
        tokio::select! {
            got = self.interrupt.recv() => got.map(|()| SignalKind::Interrupt),
            got = self.terminate.recv() => got.map(|()| SignalKind::Terminate),
        }
    }
}

/// The signals this platform listens for.
#[cfg(windows)]
pub(crate) struct OsSignals {
    ctrl_c: tokio::signal::windows::CtrlC,
}

#[cfg(windows)]
impl OsSignals {
    /// Installs the Ctrl+C console handler.
    pub(crate) fn register() -> Result<Self, SignalError> {
        let ctrl_c = tokio::signal::windows::ctrl_c().map_err(|source| SignalError::Install {
            signal: SignalKind::CtrlC,
            source,
        })?;
        Ok(Self { ctrl_c })
    }

    /// The next Ctrl+C, or `None` once the runtime's signal driver has shut down.
    pub(crate) async fn recv(&mut self) -> Option<SignalKind> {
        self.ctrl_c.recv().await.map(|()| SignalKind::CtrlC)
    }
}

/// No signal source on this platform.
#[cfg(not(any(unix, windows)))]
pub(crate) struct OsSignals;

#[cfg(not(any(unix, windows)))]
impl OsSignals {
    /// Always fails: nothing to listen to here.
    pub(crate) fn register() -> Result<Self, SignalError> {
        Err(SignalError::Unsupported)
    }

    /// Never called (registration fails), but keeps the listener code platform-independent.
    pub(crate) async fn recv(&mut self) -> Option<SignalKind> {
        None
    }
}
