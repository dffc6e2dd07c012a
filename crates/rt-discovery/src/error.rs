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

    /// The request plane's HTTP server could not start.
    #[error("the request plane could not start: {0}")]
    Http(#[from] rt_http::HttpError),

    /// Two endpoints of one request plane share the last part of their id (their URL).
    #[error(
        "the request plane already serves an endpoint named like {endpoint} (the URL is \
         /v1/rpc/{{endpoint}}): give each endpoint of one worker its own name"
    )]
    DuplicateEndpoint {
        /// The endpoint added second.
        endpoint: String,
    },

    /// The router found no instance of the endpoint (the watch is synced and the list empty).
    #[error(
        "no instance of {endpoint} is registered: start a worker serving it, or check that \
         the router and the workers use the same discovery backend and DYN_DISCOVERY_PREFIX"
    )]
    NoInstances {
        /// The endpoint, `namespace/component/endpoint`.
        endpoint: String,
    },

    /// A direct request named an instance that is not in the endpoint's list.
    #[error(
        "instance {instance:x} of {endpoint} is not registered (it stopped, or the id is wrong); \
         choose one of the ids the instance list shows"
    )]
    InstanceNotFound {
        /// The endpoint, `namespace/component/endpoint`.
        endpoint: String,
        /// The instance id asked for (hex in the message, as in keys).
        instance: u64,
    },

    /// Every instance tried refused the request before admitting it (connection refused, or
    /// the HTTP edge's 503 during a drain): it never ran anywhere and may be sent again.
    #[error(
        "{endpoint}: every instance tried ({tried} of {known} known) refused the request before \
         admitting it, so it did not run and may be sent again: {answers}; the workers are \
         stopping or unreachable (raise DYN_DISCOVERY_ROUTER_RETRIES to try more of them)"
    )]
    AllRefused {
        /// The endpoint, `namespace/component/endpoint`.
        endpoint: String,
        /// How many instances were tried.
        tried: usize,
        /// How many instances the list held.
        known: usize,
        /// What each instance answered: `id (address): answer`, separated by `; `.
        answers: String,
    },

    /// A request failed after it was sent (a reset, a broken reply): it may have been
    /// admitted, so it was not sent to another instance.
    #[error(
        "{endpoint}: the request to instance {instance:x} ({address}) failed after it was sent \
         ({cause}); it may have run, so it was not sent to another instance",
        cause = source_chain(&**.source)
    )]
    Upstream {
        /// The endpoint, `namespace/component/endpoint`.
        endpoint: String,
        /// The instance.
        instance: u64,
        /// Its address.
        address: String,
        /// The HTTP client's error.
        #[source]
        source: BoxError,
    },

    /// No reply head (or, for a whole body, no last byte) within the request timeout: the
    /// request may be running, so it was not sent to another instance.
    #[error(
        "{endpoint}: instance {instance:x} ({address}) did not answer within {after:?}; it may \
         still run the request, so it was not sent elsewhere (raise \
         DYN_DISCOVERY_ROUTER_REQUEST_TIMEOUT_SECS for slow requests)"
    )]
    Timeout {
        /// The endpoint, `namespace/component/endpoint`.
        endpoint: String,
        /// The instance.
        instance: u64,
        /// Its address.
        address: String,
        /// The timeout.
        after: Duration,
    },

    /// A reply's body is not the JSON the caller asked for.
    #[error("{endpoint}: the reply of instance {instance:x} is not the expected JSON: {source}")]
    ReplyJson {
        /// The endpoint, `namespace/component/endpoint`.
        endpoint: String,
        /// The instance.
        instance: u64,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// An error and its sources, `: `-separated: hyper-util's errors show only their kind
/// (`client error (SendRequest)`), the cause is in the chain.
pub(crate) fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
