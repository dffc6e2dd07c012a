//! [`RuntimeError`]: the crate's one error type.

use crate::registry::{ComponentKind, ComponentState};

/// A boxed error, the error type an application hands back to a [`Worker`](crate::Worker).
///
/// Anything that converts into it works as the application's error: every
/// `std::error::Error + Send + Sync + 'static`, `String`, `&'static str`, and `anyhow::Error`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in this crate. Every message says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A component or endpoint name is already held by a live entry of the registry.
    #[error(
        "a {kind} named `{name}` is already registered (state: {state}); use a unique name, \
         or stop the first one before registering the name again"
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// What holds it.
        kind: ComponentKind,
        /// The state of the entry that holds it.
        state: ComponentState,
    },
    /// A registry entry was asked to move backwards or out of a final state.
    #[error(
        "component `{name}` cannot move from {from} to {to}: states only move forward \
         (registered, initialised, running, draining, then stopped or failed)"
    )]
    InvalidTransition {
        /// The entry's name.
        name: String,
        /// Its state.
        from: ComponentState,
        /// The refused target state.
        to: ComponentState,
    },
}
