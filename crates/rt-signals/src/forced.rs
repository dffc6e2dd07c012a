//! [`ForcedExit`] and the default force-exit hook.

use crate::kind::SignalKind;

/// The exit code of a process whose graceful shutdown was cut short by a second signal:
/// 130, that is 128 + `SIGINT` (2), the code shells report for a process ended by Ctrl+C.
///
/// It is used whichever signal came second, so that "forced by a signal" is one code that
/// scripts and orchestrators can recognise.
pub const EXIT_CODE_FORCED: i32 = 130;

/// What the force-exit hook is told: a second signal arrived while a graceful shutdown was
/// already under way.
///
/// ```
/// use rt_signals::{ForcedExit, SignalKind, EXIT_CODE_FORCED};
///
/// let forced = ForcedExit {
///     first: SignalKind::Terminate,
///     second: SignalKind::Interrupt,
///     exit_code: EXIT_CODE_FORCED,
/// };
/// assert_eq!(forced.exit_code, 130);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ForcedExit {
    /// The signal that started the graceful shutdown.
    pub first: SignalKind,
    /// The signal that forces the exit (the latest one, when the hook runs more than once).
    pub second: SignalKind,
    /// The exit code the process should end with: always [`EXIT_CODE_FORCED`].
    pub exit_code: i32,
}

/// The hook type stored by the listener.
pub(crate) type ForceExitHook = std::sync::Arc<dyn Fn(ForcedExit) + Send + Sync + 'static>;

/// The force-exit hook used when none is configured: ends the process at once with
/// [`ForcedExit::exit_code`] (130) through [`std::process::exit`].
///
/// The listener has already logged the second signal (at `warn` level) before it calls the hook.
/// `std::process::exit` runs no destructors and does not wait for other threads: in-flight work
/// is abandoned, which is what a second signal asks for. Standard output is line-buffered, so
/// complete log lines written before the call are not lost.
///
/// This function never returns. Use [`SignalListenerBuilder::force_exit_hook`] to replace it
/// (tests, or embedders that must flush something first).
///
/// [`SignalListenerBuilder::force_exit_hook`]: crate::SignalListenerBuilder::force_exit_hook
pub fn default_force_exit(forced: ForcedExit) -> ! {
    std::process::exit(forced.exit_code)
}
