//! [`DrainState`], [`HookOutcome`] and [`DrainReport`]: where a drain stands and what it did.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Where the process stands in its rotation (see [`DrainControl`](super::DrainControl)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DrainState {
    /// In rotation: endpoints admit requests, the process is registered in discovery.
    Serving,
    /// A drain started: endpoints refuse new requests (503 over HTTP), the process left
    /// discovery, the requests admitted before are finishing.
    Draining,
    /// Out of rotation, idle and alive: nothing in flight, nothing admitted, until a resume.
    Drained,
}

impl DrainState {
    /// The state in words: `serving`, `draining`, `drained`.
    pub fn as_str(self) -> &'static str {
        match self {
            DrainState::Serving => "serving",
            DrainState::Draining => "draining",
            DrainState::Drained => "drained",
        }
    }
}

impl fmt::Display for DrainState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one [`DrainHook`](super::DrainHook) did on the last drain or resume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HookOutcome {
    /// The name the hook was added under.
    pub name: String,
    /// `"drain"` or `"resume"`.
    pub action: &'static str,
    /// `None` when it succeeded; its error, or that it did not finish within its bound.
    pub error: Option<String>,
    /// How long it ran.
    #[serde(serialize_with = "seconds")]
    pub took: Duration,
}

/// What [`DrainControl::drain_and_wait`](super::DrainControl::drain_and_wait) or
/// [`DrainControl::resume`](super::DrainControl::resume) found when it returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DrainReport {
    /// The state when the call returned: `drained` after a complete drain, `draining` when
    /// the wait's bound passed first (the drain goes on), `serving` after a resume.
    pub state: DrainState,
    /// How long the call waited.
    #[serde(serialize_with = "seconds")]
    pub waited: Duration,
    /// Requests in flight on the endpoints when the call returned.
    pub in_flight: usize,
    /// The hooks of the last drain or resume that ran (in the order they were added).
    pub hooks: Vec<HookOutcome>,
    /// Whether the runtime's shutdown had started when the call returned.
    pub shutdown_started: bool,
}

impl DrainReport {
    /// Whether every hook of the last drain or resume succeeded.
    pub fn hooks_succeeded(&self) -> bool {
        self.hooks.iter().all(|h| h.error.is_none())
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} after {:?}, {} in flight",
            self.state, self.waited, self.in_flight
        )?;
        for hook in &self.hooks {
            match &hook.error {
                None => write!(f, "; {} {}: ok in {:?}", hook.action, hook.name, hook.took)?,
                Some(e) => write!(f, "; {} {}: FAILED ({e})", hook.action, hook.name)?,
            }
        }
        if self.shutdown_started {
            f.write_str("; the shutdown has started")?;
        }
        Ok(())
    }
}
