//! The process that the `shutdown` benchmark stops with `SIGTERM`: an `rt_core::Worker` with
//! nothing in flight.
//!
//! It builds a small runtime (2 workers, 1 compute thread), runs a worker whose application
//! waits for the runtime's child token (cancelled in phase 1 of the shutdown), prints `ready`
//! on stdout once the signal handlers are installed and the application is serving, and exits
//! with the outcome's code: 0 after a clean shutdown, 70 when the deadline passed, 130 when a
//! second signal forced the exit. A setup error is printed and exits with 1.

use std::error::Error;
use std::io::Write;

use rt_core::config::RuntimeConfig;
use rt_core::{Runtime, Worker, WorkerOutcome};

fn main() -> Result<WorkerOutcome, Box<dyn Error>> {
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(1)
        .build()?;
    let worker = Worker::from_config(config)?;
    // The application runs only once the worker has installed the signal handlers.
    let outcome = worker.execute(|runtime: Runtime| async move {
        let token = runtime.child_token();
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready")?;
            out.flush()?;
        }
        token.cancelled().await;
        Ok::<(), std::io::Error>(())
    })?;
    Ok(outcome)
}
