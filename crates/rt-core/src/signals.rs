//! Signal handling: the first SIGINT/SIGTERM to a graceful shutdown, a second one to a forced
//! exit (the `rt-signals` crate).
//!
//! [`EXIT_CODE_FORCED`](crate::EXIT_CODE_FORCED) is at the crate root with the other exit
//! codes; everything else of `rt-signals` is here.

pub use rt_signals::{
    default_force_exit, ForcedExit, SignalError, SignalKind, SignalListener, SignalListenerBuilder,
};
