//! [`DiscoveryError`]: the crate's one error type.

use std::time::Duration;

use rt_core::config::ConfigError;
use rt_core::BoxError;

/// Everything that can go wrong in discovery. Each message says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A namespace, component or endpoint name has characters outside `[a-z0-9_-]`, or is
    /// empty.
    #[error(
        "invalid {part} name {name:?}: use 1 or more of the characters a-z, 0-9, '_' and '-' \
         (no '/', no upper case), as the reference runtime's key layout requires"
    )]
    InvalidName {
        /// Which part: `namespace`, `component` or `endpoint`.
        part: &'static str,
        /// The name as given.
        name: String,
    },

    /// A key under the discovery prefix does not have the layout
    /// `{prefix}v1/instances/{namespace}/{component}/{endpoint}/{instance_id:x}`.
    #[error(
        "discovery key {key:?} does not match {{prefix}}v1/instances/{{namespace}}/{{component}}/\
         {{endpoint}}/{{instance_id in hex}}: another program writes under the same prefix; \
         give this deployment its own DYN_DISCOVERY_PREFIX"
    )]
    InvalidKey {
        /// The key.
        key: String,
    },

    /// A value under a discovery key is not the reference's instance JSON.
    #[error(
        "discovery value under {key:?} is not an instance record ({source}); another program \
         writes under the same prefix; give this deployment its own DYN_DISCOVERY_PREFIX"
    )]
    InvalidValue {
        /// The key.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A discovery setting is invalid (the same message shape as every other key).
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The etcd backend was configured but this build has no etcd support.
    #[error(
        "discovery_backend is \"etcd\" but rt-discovery was built without its `etcd` feature; \
         build with `--features rt-discovery/etcd` (needs protoc) or choose \"memory\" or \"static\""
    )]
    EtcdNotBuilt,

    /// The discovery server could not be reached within the connect timeout at start-up.
    #[error(
        "could not reach {backend} at {endpoints} within {waited:?} ({attempts} attempts; \
         last error: {source}); check that the server runs and that {variable} names it, or \
         raise DYN_DISCOVERY_CONNECT_TIMEOUT_SECS"
    )]
    Unreachable {
        /// The backend, e.g. `etcd`.
        backend: &'static str,
        /// The endpoints tried, comma-separated.
        endpoints: String,
        /// The variable (or key) the endpoints came from.
        variable: &'static str,
        /// How long start-up retried.
        waited: Duration,
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        #[source]
        source: BoxError,
    },

    /// A backend operation failed (a network error, a server error).
    #[error("discovery backend {backend}: {operation} failed: {source}")]
    Backend {
        /// The backend.
        backend: &'static str,
        /// What was attempted, e.g. `put v1/instances/...`.
        operation: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },

    /// The lease a key was to be attached to does not exist (any more).
    #[error(
        "discovery lease {lease:x} does not exist (expired or revoked); the process \
         re-registers under a new lease or shuts down, per DYN_DISCOVERY_ON_LEASE_LOST"
    )]
    LeaseNotFound {
        /// The lease id.
        lease: u64,
    },

    /// The key of this registration already exists.
    #[error(
        "{key:?} is already registered: this process registered the same endpoint twice; keep \
         one Registration per endpoint"
    )]
    AlreadyRegistered {
        /// The key.
        key: String,
    },

    /// The shutdown has begun (phase 1 deregistered this process): no new registrations.
    #[error("discovery is shutting down (the runtime's shutdown began): {what} refused")]
    ShuttingDown {
        /// What was refused.
        what: &'static str,
    },

    /// The instance list was closed (local shutdown) while no instance was known.
    #[error(
        "the instance list of {endpoint} was closed by the local shutdown before any \
         instance appeared"
    )]
    Closed {
        /// The endpoint, `namespace/component/endpoint`.
        endpoint: String,
    },
}
