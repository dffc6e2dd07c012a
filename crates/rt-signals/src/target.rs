//! Where a graceful shutdown request goes.

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::kind::SignalKind;

/// One receiver of the graceful shutdown request made by the first signal.
#[derive(Clone)]
pub(crate) enum Target {
    /// A user callback, told which signal arrived.
    Callback(Arc<dyn Fn(SignalKind) + Send + Sync + 'static>),
    /// A token to cancel.
    Token(CancellationToken),
}

impl Target {
    /// Delivers the request: calls the callback (which must not block) or cancels the token.
    pub(crate) fn request(&self, kind: SignalKind) {
        match self {
            Target::Callback(f) => f(kind),
            Target::Token(token) => token.cancel(),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Callback(_) => f.write_str("Callback(..)"),
            Target::Token(token) => f.debug_tuple("Token").field(token).finish(),
        }
    }
}
