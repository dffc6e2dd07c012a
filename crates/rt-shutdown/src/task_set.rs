//! Named shutdown tasks polled in place: phase 1's drain steps and phase 3's teardown tasks.
//! Started together, each polled on the driving task until it completes, panics, or its
//! phase's bound runs out (then the rest are dropped); panics are caught and recorded.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use crate::unwind::payload_message;

/// A task's future.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// A task as registered: called once, when its phase starts.
pub(crate) type TaskFn = Box<dyn FnOnce() -> TaskFuture + Send>;

/// Boxes a registered closure and the future it returns.
pub(crate) fn boxed<F, Fut>(task: F) -> TaskFn
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::new(move || Box::pin(task()))
}

/// The tasks of one phase, with how long each took from the moment the set started.
pub(crate) struct TaskSet {
    /// What the tasks are, for the log: `"shutdown phase 3: teardown task"`.
    what: &'static str,
    started: Instant,
    running: Vec<(String, TaskFuture)>,
    /// Names and times of the tasks that finished.
    pub(crate) completed: Vec<(String, Duration)>,
    /// Names and times of the tasks that panicked (when called or when polled).
    pub(crate) panicked: Vec<(String, Duration)>,
}

impl TaskSet {
    /// Calls every registered closure now (a panicking one is recorded, not propagated).
    pub(crate) fn start(what: &'static str, tasks: Vec<(String, TaskFn)>) -> Self {
        let mut set = Self {
            what,
            started: Instant::now(),
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
        tracing::error!(task = %name, panic = msg, "{} panicked", self.what);
        self.panicked.push((name, self.started.elapsed()));
    }

    /// The names of the tasks still running.
    pub(crate) fn running_names(&self) -> Vec<&str> {
        self.running.iter().map(|(n, _)| n.as_str()).collect()
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
                    let took = self.started.elapsed();
                    tracing::debug!(task = %name, ?took, "{} done", self.what);
                    self.completed.push((name, took));
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

    /// Drops the tasks still running and returns their names, sorted, with the time they ran.
    pub(crate) fn abandon(&mut self) -> Vec<(String, Duration)> {
        let took = self.started.elapsed();
        let mut cut: Vec<(String, Duration)> = self
            .running
            .drain(..)
            .map(|(name, _)| (name, took))
            .collect();
        cut.sort();
        cut
    }
}

/// The names of `tasks`, sorted.
pub(crate) fn sorted_names(tasks: &[(String, Duration)]) -> Vec<String> {
    let mut names: Vec<String> = tasks.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    names
}
