//! [`ShutdownReport`]: what a shutdown did, for the log and the exit code.

use std::fmt;
use std::time::Duration;

/// What a shutdown did: how long each phase took, under which bound, and what was left.
///
/// `Display` prints one line for the log.
///
/// ```
/// use std::time::Duration;
/// use rt_shutdown::{DrainStep, DrainStepOutcome, ShutdownReport};
///
/// let report = ShutdownReport {
///     drain: Duration::from_secs(30),
///     drain_bound: Duration::from_secs(30),
///     deadline_hit: true,
///     active_at_deadline: 1,
///     still_active: vec!["generate".into()],
///     still_active_counts: vec![("generate".into(), 1)],
///     ..Default::default()
/// };
/// assert!(!report.is_clean());
/// assert!(report.to_string().contains("deadline hit with 1 still active: generate x1"));
///
/// let report = ShutdownReport {
///     drain: Duration::from_millis(40),
///     drain_bound: Duration::from_secs(30),
///     drain_steps: vec![DrainStep {
///         name: "discovery: deregister".into(),
///         took: Duration::from_millis(2),
///         outcome: DrainStepOutcome::Completed,
///     }],
///     ..Default::default()
/// };
/// assert!(report.is_clean());
/// assert!(report
///     .to_string()
///     .contains("drain 40ms (bound 30s; steps: discovery: deregister done in 2ms)"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Phase 1: cancelling the endpoint token and closing the tracker.
    pub stop_accepting: Duration,
    /// Phase 2: waiting for in-flight work.
    pub drain: Duration,
    /// The bound phase 2 ran under: min(graceful timeout, what was left of the deadline).
    pub drain_bound: Duration,
    /// The drain steps (see `ShutdownCoordinator::add_drain_step`), sorted by name: each
    /// started in phase 1, ran beside the drain, and ended within phase 2's bound or was cut.
    pub drain_steps: Vec<DrainStep>,
    /// Phase 3: cancelling the primary token and running the teardown tasks.
    pub teardown: Duration,
    /// The bound phase 3 ran under: min(teardown timeout, what was left of the deadline).
    pub teardown_bound: Duration,
    /// Phase 1's duration plus the time from the start of phase 2 to the end of phase 3 (the
    /// moment between phase 1 and the start of the task that drives phases 2 and 3 is not
    /// counted: that task may run on another runtime, with another clock).
    pub total: Duration,
    /// Whether phase 2 was cut short by its bound while work was still registered.
    pub deadline_hit: bool,
    /// The tracker's count when the bound cut phase 2 short (0 otherwise).
    pub active_at_deadline: usize,
    /// The names still registered when the bound cut phase 2 short, sorted (empty otherwise).
    pub still_active: Vec<String>,
    /// The same, with the number of live registrations under each name.
    pub still_active_counts: Vec<(String, usize)>,
    /// Teardown tasks that finished within phase 3's bound.
    pub teardown_completed: Vec<String>,
    /// Teardown tasks still running when phase 3's bound ran out (they were dropped).
    pub teardown_timed_out: Vec<String>,
    /// Teardown tasks that panicked (the panic was caught and logged).
    pub teardown_panicked: Vec<String>,
}

impl ShutdownReport {
    /// Whether everything finished within its bound: no deadline hit, every drain step
    /// completed, no teardown task timed out or panicked.
    pub fn is_clean(&self) -> bool {
        !self.deadline_hit
            && self
                .drain_steps
                .iter()
                .all(|s| s.outcome == DrainStepOutcome::Completed)
            && self.teardown_timed_out.is_empty()
            && self.teardown_panicked.is_empty()
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown {} in {:?}: stop accepting {:?}; drain {:?} (bound {:?}",
            if self.is_clean() {
                "clean"
            } else {
                "incomplete"
            },
            self.total,
            self.stop_accepting,
            self.drain,
            self.drain_bound,
        )?;
        if self.deadline_hit {
            write!(
                f,
                ", deadline hit with {} still active",
                self.active_at_deadline
            )?;
            for (i, (name, n)) in self.still_active_counts.iter().enumerate() {
                let sep = if i == 0 { ": " } else { ", " };
                write!(f, "{sep}{name} x{n}")?;
            }
        }
        for (i, step) in self.drain_steps.iter().enumerate() {
            let sep = if i == 0 { "; steps: " } else { ", " };
            write!(f, "{sep}{step}")?;
        }
        write!(
            f,
            "); teardown {:?} (bound {:?}): {} done",
            self.teardown,
            self.teardown_bound,
            self.teardown_completed.len()
        )?;
        if !self.teardown_timed_out.is_empty() {
            write!(f, ", timed out: {}", self.teardown_timed_out.join(", "))?;
        }
        if !self.teardown_panicked.is_empty() {
            write!(f, ", panicked: {}", self.teardown_panicked.join(", "))?;
        }
        Ok(())
    }
}

/// One drain step in the [`ShutdownReport`]: its name, how long it ran (from its start in
/// phase 1) and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainStep {
    /// The name it was registered under.
    pub name: String,
    /// From its start in phase 1 to its end, or to the moment phase 2's bound cut it.
    pub took: Duration,
    /// How it ended.
    pub outcome: DrainStepOutcome,
}

/// How a [`DrainStep`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainStepOutcome {
    /// It finished within phase 2's bound.
    Completed,
    /// Phase 2's bound ran out first; it was dropped.
    TimedOut,
    /// It panicked (the panic was caught and logged).
    Panicked,
}

impl fmt::Display for DrainStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.outcome {
            DrainStepOutcome::Completed => "done in",
            DrainStepOutcome::TimedOut => "timed out after",
            DrainStepOutcome::Panicked => "panicked after",
        };
        write!(f, "{} {how} {:?}", self.name, self.took)
    }
}
