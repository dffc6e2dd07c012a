//! The process's worker slot: at most one [`Worker`](crate::Worker) exists at a time.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::RuntimeError;

/// Set while a slot is held: one per process.
static WORKER_ACTIVE: AtomicBool = AtomicBool::new(false);

/// The claimed worker slot: held by the [`Worker`](crate::Worker), and freed when it is dropped
/// (or when building the worker's runtime fails and the slot is dropped with the error).
#[derive(Debug)]
pub(crate) struct ProcessSlot(());

impl ProcessSlot {
    /// Claims the slot.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WorkerAlreadyActive`] while another slot is held.
    pub(crate) fn claim() -> Result<Self, RuntimeError> {
        WORKER_ACTIVE
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .map(|_| ProcessSlot(()))
            .map_err(|_| RuntimeError::WorkerAlreadyActive)
    }
}

impl Drop for ProcessSlot {
    fn drop(&mut self) {
        WORKER_ACTIVE.store(false, Ordering::SeqCst);
    }
}
