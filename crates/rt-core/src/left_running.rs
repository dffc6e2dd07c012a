//! How many runtime threads a shutdown of owned tokio runtimes had to leave running, told to
//! the thread that shut them down.
//!
//! Owned runtimes shut down in `Runtime`'s destructor, which returns nothing. The one caller
//! that needs the answer, [`Worker::execute`](crate::Worker::execute), drops the last clone on
//! its own thread and reads the answer right after ([`observe`]). The record is per thread, so
//! runtimes dropped at the same time on other threads do not mix in.

use std::cell::Cell;

thread_local! {
    /// Threads still running after the last owned-runtime shutdown on this thread.
    static LEFT_RUNNING: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Records, on the thread that shut owned runtimes down from plain code, how many of their
/// threads were still running (busy in blocking work) when the shutdown's wait ended.
pub(crate) fn record(threads: usize) {
    LEFT_RUNNING.with(|left| left.set(Some(threads)));
}

/// Runs `drop_it` and returns how many runtime threads the owned-runtime shutdown it caused
/// left running: `None` when it shut no owned runtime down from plain code (another clone is
/// still alive, the runtime is wrapped, or the drop happened in async code).
pub(crate) fn observe(drop_it: impl FnOnce()) -> Option<usize> {
    LEFT_RUNNING.with(|left| left.set(None));
    drop_it();
    LEFT_RUNNING.with(Cell::take)
}
