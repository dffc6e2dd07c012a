//! Phase 3's teardown tasks: started together, polled in place, panics caught.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::unwind::payload_message;

/// A teardown task's future.
pub(crate) type TeardownFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// A teardown task as registered: called once, at the start of phase 3.
pub(crate) type TeardownFn = Box<dyn FnOnce() -> TeardownFuture + Send>;

/// The teardown tasks of one phase 3, each polled on the driving task until it completes,
/// panics, or the bound runs out (then the rest are dropped).
pub(crate) struct TeardownSet {
    running: Vec<(String, TeardownFuture)>,
    pub(crate) completed: Vec<String>,
    pub(crate) panicked: Vec<String>,
}

impl TeardownSet {
    /// Calls every registered closure (a panicking one is recorded, not propagated).
    pub(crate) fn start(tasks: Vec<(String, TeardownFn)>) -> Self {
        let mut set = Self {
            running: Vec::with_capacity(tasks.len()),
            completed: Vec::new(),
            panicked: Vec::new(),
        };
        for (name, make) in tasks {
            match catch_unwind(AssertUnwindSafe(make)) {
                Ok(fut) => set.running.push((name, fut)),
                Err(payload) => set.record_panic(name, payload.as_ref()),
            }
        }
        set
    }

    fn record_panic(&mut self, name: String, payload: &(dyn std::any::Any + Send)) {
        let msg = payload_message(payload);
        tracing::error!(task = %name, panic = msg, "shutdown phase 3: teardown task panicked");
        self.panicked.push(name);
    }

    /// Polls every running task once; ready when none is left.
    pub(crate) fn poll_all(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut i = 0;
        while i < self.running.len() {
            let (_, fut) = &mut self.running[i];
            match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                Ok(Poll::Pending) => i += 1,
                Ok(Poll::Ready(())) => {
                    let (name, _) = self.running.swap_remove(i);
                    tracing::debug!(task = %name, "shutdown phase 3: teardown task done");
                    self.completed.push(name);
                }
                Err(payload) => {
                    let (name, _) = self.running.swap_remove(i);
                    self.record_panic(name, payload.as_ref());
                }
            }
        }
        if self.running.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Drops the tasks still running and returns their names, sorted.
    pub(crate) fn abandon(&mut self) -> Vec<String> {
        let mut names: Vec<String> = self.running.drain(..).map(|(name, _)| name).collect();
        names.sort();
        names
    }
}
