//! Where a graceful shutdown request goes.

use std::fmt;
use std::sync::Arc;

use rt_shutdown::ShutdownCoordinator;
use tokio_util::sync::CancellationToken;

use crate::SignalKind;

/// One receiver of the graceful shutdown request made by the first signal.
#[derive(Clone)]
pub(crate) enum Target {
    /// A user callback, told which signal arrived.
    Callback(Arc<dyn Fn(SignalKind) + Send + Sync + 'static>),
    /// A token to cancel.
    Token(CancellationToken),
    /// A shutdown coordinator: its phase 1 is started (the main token is left alone).
    Coordinator(ShutdownCoordinator),
}

impl Target {
    /// Delivers the request. Never blocks: the coordinator's `shutdown()` returns at once.
    pub(crate) fn request(&self, kind: SignalKind) {
        match self {
            Target::Callback(f) => f(kind),
            Target::Token(token) => token.cancel(),
            Target::Coordinator(coordinator) => coordinator.shutdown(),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Callback(_) => f.write_str("Callback(..)"),
            Target::Token(token) => f.debug_tuple("Token").field(token).finish(),
            Target::Coordinator(_) => f.write_str("Coordinator(..)"),
        }
    }
}
