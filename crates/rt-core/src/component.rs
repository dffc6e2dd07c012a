//! [`ComponentKind`] and [`ComponentState`]: what a registry entry is and where it stands in
//! its lifecycle. A leaf: the registry, the endpoints and the error type all name them.

use std::fmt;

use serde::Serialize;

/// What kind of thing a registry entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComponentKind {
    /// A component of the service (a cache, a model, a client of a backend).
    Component,
    /// An endpoint that serves requests (started with [`Runtime::endpoint`]).
    ///
    /// [`Runtime::endpoint`]: crate::Runtime::endpoint
    Endpoint,
}

impl ComponentKind {
    /// The kind's name as the snapshot, the logs and the metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Component => "component",
            ComponentKind::Endpoint => "endpoint",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lifecycle state of a registry entry. States are ordered: an entry only moves to a
/// later one (see the [registry module docs](crate::registry)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    /// Known to the registry, not set up yet.
    Registered,
    /// Set up (connections opened, model loaded), not serving yet.
    Initialised,
    /// Serving.
    Running,
    /// Stopped accepting new work; finishing the work in flight.
    Draining,
    /// Done, cleanly. Final.
    Stopped,
    /// Done, with an error (see [`ComponentSnapshot::error`](crate::registry::ComponentSnapshot::error)). Final.
    Failed,
}

impl ComponentState {
    /// Every state, in lifecycle order.
    pub const ALL: [ComponentState; 6] = [
        ComponentState::Registered,
        ComponentState::Initialised,
        ComponentState::Running,
        ComponentState::Draining,
        ComponentState::Stopped,
        ComponentState::Failed,
    ];

    /// The state's name as the snapshot, the logs and the metrics write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentState::Registered => "registered",
            ComponentState::Initialised => "initialised",
            ComponentState::Running => "running",
            ComponentState::Draining => "draining",
            ComponentState::Stopped => "stopped",
            ComponentState::Failed => "failed",
        }
    }

    /// `true` for `stopped` and `failed`: no transition leaves them.
    pub fn is_final(self) -> bool {
        matches!(self, ComponentState::Stopped | ComponentState::Failed)
    }

    /// Whether an entry in state `self` may move to `to`: forward only, never out of a final
    /// state.
    pub fn can_move_to(self, to: ComponentState) -> bool {
        !self.is_final() && to > self
    }
}

impl fmt::Display for ComponentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
