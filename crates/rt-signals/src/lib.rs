//! Operating-system signals turned into shutdown requests: the first `SIGINT`/`SIGTERM` starts
//! a graceful shutdown, a second one forces the exit.
//!
//! A [`SignalListener`] installs the handlers (Unix: `SIGINT` and `SIGTERM`; Windows: Ctrl+C) on
//! a tokio runtime and runs one small task that acts on them:
//!
//! 1. **First signal**: logged at `info` with its name, then the graceful shutdown is
//!    *requested* from every receiver given to the builder: a callback (for a shutdown
//!    coordinator: `.on_shutdown(move |_| coordinator.shutdown())`, whose phase 1, stop
//!    accepting, starts) or a [`CancellationToken`](tokio_util::sync::CancellationToken). The
//!    signal never tears anything down itself: with a coordinator, cancelling the main token is
//!    phase 3's job, after the drain.
//! 2. **Second signal** while that shutdown runs: logged at `warn`, then the force-exit hook is
//!    called with a [`ForcedExit`]. The default hook ends the process with
//!    [`EXIT_CODE_FORCED`] (130 = 128 + `SIGINT`); a hook that returns lets the caller end its
//!    own run through [`SignalListener::forced`].
//! 3. An identical signal inside the optional [debounce](SignalListenerBuilder::debounce) window
//!    counts once.
//!
//! Installing is fallible and returns [`SignalError`]; a failed installation never turns into a
//! shutdown. The crate depends on no other crate of this workspace (it is a leaf): a token or a
//! callback is enough.
//!
//! With the `systemd` cargo feature, the first signal also sends `STOPPING=1` to the service
//! manager, and the `systemd` module offers `READY=1` and watchdog pings (all no-ops when
//! `NOTIFY_SOCKET` is not set).
//!
//! ```
//! use rt_signals::{SignalKind, SignalListener};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rt_signals::SignalError> {
//! let shutdown = CancellationToken::new();
//! let listener = SignalListener::builder().token(shutdown.clone()).install()?;
//!
//! // The service runs until the first signal cancels `shutdown`. Here we stop the listener at
//! // once so that the example ends.
//! listener.stop();
//! let first: Option<SignalKind> = listener.graceful_requested().await;
//! assert_eq!(first, None);
//! assert!(!shutdown.is_cancelled());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod builder;
mod error;
mod escalation;
mod forced;
mod kind;
mod listener;
mod os;
#[cfg(feature = "systemd")]
pub mod systemd;
mod target;

pub use builder::SignalListenerBuilder;
pub use error::SignalError;
pub use forced::{default_force_exit, ForcedExit, EXIT_CODE_FORCED};
pub use kind::SignalKind;
pub use listener::SignalListener;
