//! The component registry: every component and endpoint of the process with its lifecycle
//! state.
//!
//! A [`Registry`] is a list of named entries. Each entry moves through the states of
//! [`ComponentState`], **forward only**:
//!
//! ```text
//! registered ─► initialised ─► running ─► draining ─► stopped
//!      │             │            │           │
//!      └─────────────┴────────────┴───────────┴──────► failed (with the error)
//! ```
//!
//! A transition may skip states (`registered` straight to `running`), but never goes back and
//! never leaves `stopped` or `failed`. A refused transition is an error value
//! ([`RuntimeError::InvalidTransition`]); the entry keeps its state.
//!
//! [`Registry::snapshot`] returns every entry, in registration order, with its state, the error
//! of a failed entry and the number of requests in flight; logs, the health endpoint and the
//! metrics read it. Entries stay in the registry after they stop, so that the snapshot still
//! shows what happened to them; a name can be registered again once its previous holder has
//! stopped or failed.
//!
//! ```
//! use rt_core::registry::{ComponentKind, ComponentState, Registry};
//!
//! let registry = Registry::new();
//! let cache = registry.register("kv-cache", ComponentKind::Component)?;
//! cache.set_state(ComponentState::Initialised)?;
//! cache.set_state(ComponentState::Running)?;
//! // Going back is refused, and the state is kept.
//! assert!(cache.set_state(ComponentState::Registered).is_err());
//! assert_eq!(cache.state(), ComponentState::Running);
//!
//! let snapshot = registry.snapshot();
//! assert_eq!(snapshot[0].name, "kv-cache");
//! assert_eq!(snapshot[0].state, ComponentState::Running);
//! # Ok::<(), rt_core::RuntimeError>(())
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rt_shutdown::InFlight;
use serde::Serialize;

pub use crate::component::{ComponentKind, ComponentState};
use crate::error::RuntimeError;

/// One entry of a [`Registry::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ComponentSnapshot {
    /// The name it was registered under (unique among live entries).
    pub name: String,
    /// Component or endpoint.
    pub kind: ComponentKind,
    /// Its lifecycle state when the snapshot was taken.
    pub state: ComponentState,
    /// The error, for a `failed` entry.
    pub error: Option<String>,
    /// Requests in flight (endpoints; always 0 for plain components).
    pub in_flight: usize,
}

/// The shared part of one entry: the registry, its handle and (for an endpoint) the endpoint's
/// context all point at it.
#[derive(Debug)]
pub(crate) struct Entry {
    name: String,
    kind: ComponentKind,
    status: Mutex<Status>,
    /// The endpoint's drain counter, read for snapshots (`None` for plain components).
    in_flight: Option<InFlight>,
}

#[derive(Debug)]
struct Status {
    state: ComponentState,
    error: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-written (each
    // critical section is a couple of plain assignments), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Entry {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn state(&self) -> ComponentState {
        lock(&self.status).state
    }

    pub(crate) fn transition(&self, to: ComponentState) -> Result<(), RuntimeError> {
        let mut status = lock(&self.status);
        if !status.state.can_move_to(to) {
            return Err(RuntimeError::InvalidTransition {
                name: self.name.clone(),
                from: status.state,
                to,
            });
        }
        tracing::debug!(component = %self.name, kind = %self.kind, from = %status.state, to = %to, "state change");
        status.state = to;
        Ok(())
    }

    pub(crate) fn fail(&self, error: String) -> Result<(), RuntimeError> {
        let mut status = lock(&self.status);
        if status.state.is_final() {
            return Err(RuntimeError::InvalidTransition {
                name: self.name.clone(),
                from: status.state,
                to: ComponentState::Failed,
            });
        }
        tracing::warn!(component = %self.name, kind = %self.kind, from = %status.state, %error, "failed");
        status.state = ComponentState::Failed;
        status.error = Some(error);
        Ok(())
    }

    fn snapshot(&self) -> ComponentSnapshot {
        let status = lock(&self.status);
        ComponentSnapshot {
            name: self.name.clone(),
            kind: self.kind,
            state: status.state,
            error: status.error.clone(),
            in_flight: self.in_flight.as_ref().map_or(0, InFlight::count),
        }
    }
}

/// The registry of every component and endpoint of a process.
///
/// Each [`Runtime`](crate::Runtime) owns one (see
/// [`Runtime::registry`](crate::Runtime::registry)); endpoints started through the runtime
/// register themselves. `Registry` is cheap to share (`Arc<Registry>`), all methods take
/// `&self` and never block for longer than a short critical section.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<Vec<Arc<Entry>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `name` in state [`ComponentState::Registered`] and returns the handle that
    /// moves it through its states.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::DuplicateName`] while another entry of that name has not reached a
    /// final state (`stopped` or `failed`); a finished entry is replaced.
    pub fn register(
        &self,
        name: impl Into<String>,
        kind: ComponentKind,
    ) -> Result<ComponentHandle, RuntimeError> {
        let entry = self.insert(name.into(), kind, None)?;
        Ok(ComponentHandle { entry })
    }

    /// Inserts a new entry; an endpoint passes its drain counter, which snapshots read.
    pub(crate) fn insert(
        &self,
        name: String,
        kind: ComponentKind,
        in_flight: Option<InFlight>,
    ) -> Result<Arc<Entry>, RuntimeError> {
        let mut entries = lock(&self.entries);
        if let Some(pos) = entries.iter().position(|e| e.name == name) {
            let existing = entries[pos].state();
            if !existing.is_final() {
                return Err(RuntimeError::DuplicateName {
                    name,
                    kind: entries[pos].kind,
                    state: existing,
                });
            }
            entries.remove(pos);
        }
        let entry = Arc::new(Entry {
            name,
            kind,
            status: Mutex::new(Status {
                state: ComponentState::Registered,
                error: None,
            }),
            in_flight,
        });
        tracing::debug!(component = %entry.name, kind = %kind, "registered");
        entries.push(Arc::clone(&entry));
        Ok(entry)
    }

    /// Every entry, in registration order, as it is now.
    ///
    /// Each entry is read on its own, so under concurrent changes the snapshot may show one
    /// entry before and another after a change; each entry on its own is consistent.
    pub fn snapshot(&self) -> Vec<ComponentSnapshot> {
        let entries: Vec<Arc<Entry>> = lock(&self.entries).clone();
        entries.iter().map(|e| e.snapshot()).collect()
    }

    /// The entry named `name`, if any.
    pub fn get(&self, name: &str) -> Option<ComponentSnapshot> {
        let entry = lock(&self.entries).iter().find(|e| e.name == name).cloned();
        entry.map(|e| e.snapshot())
    }

    /// The number of entries (finished ones included).
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// `true` when nothing was ever registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries are in `state` now.
    pub fn count_in(&self, state: ComponentState) -> usize {
        let entries: Vec<Arc<Entry>> = lock(&self.entries).clone();
        entries.iter().filter(|e| e.state() == state).count()
    }
}

/// The handle of one registry entry: moves it through its states.
///
/// Dropping the handle leaves the entry as it is (the snapshot keeps showing it). Cloning is
/// cheap; all clones act on the same entry.
#[derive(Clone, Debug)]
pub struct ComponentHandle {
    entry: Arc<Entry>,
}

impl ComponentHandle {
    /// The name the entry was registered under.
    pub fn name(&self) -> &str {
        self.entry.name()
    }

    /// The entry's kind.
    pub fn kind(&self) -> ComponentKind {
        self.entry.kind
    }

    /// The entry's state now.
    pub fn state(&self) -> ComponentState {
        self.entry.state()
    }

    /// Moves the entry to `state`.
    ///
    /// To record a failure use [`fail`](Self::fail), which keeps the error.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::InvalidTransition`] when `state` is not later than the current state or
    /// the entry already stopped or failed; the state is left unchanged.
    pub fn set_state(&self, state: ComponentState) -> Result<(), RuntimeError> {
        self.entry.transition(state)
    }

    /// Marks the entry `failed` with `error` (anything printable: an error, a message).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::InvalidTransition`] when the entry already stopped or failed (the first
    /// outcome is kept).
    pub fn fail(&self, error: impl fmt::Display) -> Result<(), RuntimeError> {
        self.entry.fail(error.to_string())
    }

    /// This entry as a snapshot row.
    pub fn snapshot(&self) -> ComponentSnapshot {
        self.entry.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_only_move_forward() {
        let r = Registry::new();
        let h = r.register("a", ComponentKind::Component).unwrap();
        assert_eq!(h.state(), ComponentState::Registered);
        h.set_state(ComponentState::Running).unwrap();
        for back in [
            ComponentState::Registered,
            ComponentState::Initialised,
            ComponentState::Running,
        ] {
            let err = h.set_state(back).unwrap_err();
            assert!(
                matches!(err, RuntimeError::InvalidTransition { .. }),
                "{err}"
            );
        }
        assert_eq!(h.state(), ComponentState::Running);
        h.set_state(ComponentState::Draining).unwrap();
        h.set_state(ComponentState::Stopped).unwrap();
        assert!(h.fail("late").is_err());
        assert!(h.set_state(ComponentState::Failed).is_err());
        assert_eq!(h.state(), ComponentState::Stopped);
        assert_eq!(r.get("a").unwrap().error, None);
    }

    #[test]
    fn failed_keeps_the_error_and_is_final() {
        let r = Registry::new();
        let h = r.register("db", ComponentKind::Component).unwrap();
        h.fail("connection refused").unwrap();
        assert!(h.fail("second").is_err());
        assert!(h.set_state(ComponentState::Stopped).is_err());
        let s = r.get("db").unwrap();
        assert_eq!(s.state, ComponentState::Failed);
        assert_eq!(s.error.as_deref(), Some("connection refused"));
    }

    #[test]
    fn duplicate_live_name_is_refused_finished_one_is_replaced() {
        let r = Registry::new();
        let h = r.register("x", ComponentKind::Endpoint).unwrap();
        let err = r.register("x", ComponentKind::Component).unwrap_err();
        assert!(matches!(err, RuntimeError::DuplicateName { .. }), "{err}");
        assert!(err.to_string().contains("`x`"), "{err}");
        h.set_state(ComponentState::Stopped).unwrap();
        let h2 = r.register("x", ComponentKind::Endpoint).unwrap();
        assert_eq!(h2.state(), ComponentState::Registered);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn snapshot_in_registration_order() {
        let r = Registry::new();
        for name in ["c", "a", "b"] {
            r.register(name, ComponentKind::Component).unwrap();
        }
        let names: Vec<String> = r.snapshot().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["c", "a", "b"]);
        assert_eq!(r.count_in(ComponentState::Registered), 3);
        assert!(!r.is_empty());
    }

    #[test]
    fn state_order_and_names() {
        let all = ComponentState::ALL;
        for w in all.windows(2) {
            assert!(w[0] < w[1]);
            assert!(!w[1].can_move_to(w[0]));
        }
        for w in all[..5].windows(2) {
            assert!(w[0].can_move_to(w[1]));
        }
        assert!(!ComponentState::Stopped.can_move_to(ComponentState::Failed));
        assert!(ComponentState::Draining.can_move_to(ComponentState::Failed));
        assert_eq!(ComponentState::Initialised.to_string(), "initialised");
        assert_eq!(ComponentKind::Endpoint.to_string(), "endpoint");
    }
}
