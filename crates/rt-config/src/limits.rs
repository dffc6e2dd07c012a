//! Defaults and allowed ranges, shared by validation, the key table and the documentation.

/// Default spin time, in microseconds, of a waiting side of the compute bridge before it
/// parks. `0` means it parks at once.
pub const DEFAULT_BRIDGE_SPIN_US: u32 = 50;
/// Largest allowed bridge spin time, in microseconds.
pub const MAX_BRIDGE_SPIN_US: u32 = 1_000;

/// Default stack size of a compute thread: 2 MiB.
pub const DEFAULT_STACK_SIZE: usize = 2 * 1024 * 1024;
/// Smallest allowed compute thread stack: 128 KiB.
pub const MIN_STACK_SIZE: usize = 128 * 1024;
/// Largest allowed compute thread stack: 1 GiB.
pub const MAX_STACK_SIZE: usize = 1024 * 1024 * 1024;

/// Largest allowed number of tokio worker threads or compute threads.
pub const MAX_THREADS: usize = 1_024;
/// Largest allowed size of tokio's blocking pool.
pub const MAX_BLOCKING_THREADS: usize = 65_536;
/// Default size of tokio's blocking pool (tokio's own default).
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;

/// Default phase-2 bound of the runtime's graceful shutdown, in seconds.
pub const DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECS: u64 = 900;
/// Default phase-3 bound (teardown of backend connections), in seconds.
pub const DEFAULT_TEARDOWN_TIMEOUT_SECS: u64 = 10;
/// Default graceful deadline of a `Worker`: 30 s in release builds, 5 s in debug builds.
pub const DEFAULT_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS: u64 = if cfg!(debug_assertions) {
    WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_DEBUG_SECS
} else {
    WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_RELEASE_SECS
};
/// The worker's default deadline in release builds (the documentation states both).
pub(crate) const WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_RELEASE_SECS: u64 = 30;
/// The worker's default deadline in debug builds.
pub(crate) const WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_DEBUG_SECS: u64 = 5;
/// Largest allowed graceful-shutdown timeout (runtime and worker): one day, in seconds.
pub const MAX_GRACEFUL_TIMEOUT_SECS: u64 = 86_400;
/// Largest allowed teardown timeout: one hour, in seconds.
pub const MAX_TEARDOWN_TIMEOUT_SECS: u64 = 3_600;
/// Largest allowed signal debounce window, in milliseconds.
pub const MAX_SIGNAL_DEBOUNCE_MS: u64 = 10_000;

/// Longest allowed compute thread-name prefix, in bytes. Threads are named `{prefix}-{n}`;
/// Linux shows only the first 15 bytes of a thread name, so keep it short.
pub const MAX_THREAD_PREFIX_LEN: usize = 32;

/// Default time, in seconds, an HTTP client has to send a complete request head.
pub const DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default time, in seconds, an HTTP client has to send a request body, counted from its head.
pub const DEFAULT_HTTP_BODY_READ_TIMEOUT_SECS: u64 = 30;
/// Default time, in seconds, a kept-alive HTTP connection may wait for its next request.
pub const DEFAULT_HTTP_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default time, in seconds, an HTTP write may make no progress.
pub const DEFAULT_HTTP_WRITE_TIMEOUT_SECS: u64 = 30;
/// Default bound, in seconds, on what an HTTP client can add to the drain (as Go's
/// `http.Server.Shutdown` gives new connections).
pub const DEFAULT_HTTP_SHUTDOWN_GRACE_SECS: u64 = 5;
/// Default `Retry-After`, in seconds, of the 503 answers of an HTTP server's drain.
pub const DEFAULT_HTTP_RETRY_AFTER_SECS: u64 = 1;
/// Default `http_drain_linger_ms`: 0, the listener closes as soon as nothing admitted is in
/// flight.
pub const DEFAULT_HTTP_DRAIN_LINGER_MS: u64 = 0;
/// Longest `http_drain_linger_ms`: 60 s.
pub const MAX_HTTP_DRAIN_LINGER_MS: u64 = 60_000;
/// Largest allowed HTTP timeout or grace (and `Retry-After`): one hour, in seconds.
pub const MAX_HTTP_TIMEOUT_SECS: u64 = 3_600;
/// Default limit of open HTTP connections.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 4_096;
/// Largest allowed limit of open HTTP connections.
pub const MAX_HTTP_CONNECTIONS: usize = 1 << 20;
/// Default limit of an HTTP request body: 2 MiB (axum's default body limit).
pub const DEFAULT_HTTP_MAX_BODY_BYTES: u64 = 2 * 1024 * 1024;
/// Largest allowed limit of an HTTP request body: 1 GiB.
pub const MAX_HTTP_BODY_BYTES: u64 = 1024 * 1024 * 1024;
/// Default limit of an HTTP request line and headers together: 64 KiB.
pub const DEFAULT_HTTP_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest allowed limit of an HTTP request line and headers: 1 KiB.
pub const MIN_HTTP_HEADER_BYTES: usize = 1024;
/// Largest allowed limit of an HTTP request line and headers: 256 KiB (the server's read
/// buffer must hold the whole head).
pub const MAX_HTTP_HEADER_BYTES: usize = 256 * 1024;

/// Default status-server and HTTP host.
pub const DEFAULT_HOST: &str = "0.0.0.0";
/// Default application HTTP port.
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// Default status-server health path.
pub const DEFAULT_HEALTH_PATH: &str = "/health";
/// Default status-server liveness path.
pub const DEFAULT_LIVE_PATH: &str = "/live";
/// Default compute thread-name prefix.
pub const DEFAULT_THREAD_PREFIX: &str = "compute";

/// Default TTL of the discovery lease (`discovery_lease_ttl_secs`), in seconds.
pub(crate) const DEFAULT_DISCOVERY_LEASE_TTL_SECS: u64 = 10;
/// Smallest allowed discovery lease TTL (etcd raises lower values to about 2 s anyway).
pub(crate) const MIN_DISCOVERY_LEASE_TTL_SECS: u64 = 2;
/// Largest allowed discovery lease TTL, in seconds.
pub(crate) const MAX_DISCOVERY_LEASE_TTL_SECS: u64 = 300;
/// Default bound on retrying an unreachable discovery server at start-up, in seconds.
pub(crate) const DEFAULT_DISCOVERY_CONNECT_TIMEOUT_SECS: u64 = 30;
/// Default bound on re-registering after a lost lease, in seconds.
pub(crate) const DEFAULT_DISCOVERY_LOST_TIMEOUT_SECS: u64 = 60;
/// Largest allowed discovery connect and re-registration bound: one hour, in seconds.
pub(crate) const MAX_DISCOVERY_TIMEOUT_SECS: u64 = 3_600;
/// Default number of other instances a router tries after a refusal.
pub(crate) const DEFAULT_DISCOVERY_ROUTER_RETRIES: u64 = 2;
/// Largest allowed number of router retries.
pub(crate) const MAX_DISCOVERY_ROUTER_RETRIES: u64 = 16;
/// Default bound on a router's connect, in milliseconds.
pub(crate) const DEFAULT_DISCOVERY_ROUTER_CONNECT_TIMEOUT_MS: u64 = 1_000;
/// Default bound on a routed request until its reply's head, in seconds.
pub(crate) const DEFAULT_DISCOVERY_ROUTER_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Default period of the router's reconcile (set-aside instances restored), in milliseconds.
pub(crate) const DEFAULT_DISCOVERY_ROUTER_RECONCILE_MS: u64 = 5_000;
/// Largest allowed router bound in milliseconds: ten minutes.
pub(crate) const MAX_DISCOVERY_ROUTER_MS: u64 = 600_000;
/// Default idle time of a router's pooled connection, in seconds (below the server's 60 s).
pub(crate) const DEFAULT_DISCOVERY_ROUTER_POOL_IDLE_SECS: u64 = 20;

/// Default sleep of the event-loop stall probe, in milliseconds.
pub const DEFAULT_STALL_PROBE_INTERVAL_MS: u64 = 10;
/// Default lateness, in milliseconds, from which a stall-probe wake counts as a stall.
pub const DEFAULT_STALL_THRESHOLD_MS: u64 = 20;
/// Default interval, in seconds, between two stall warnings of one tokio runtime.
pub const DEFAULT_STALL_LOG_INTERVAL_SECS: u64 = 10;
/// Largest allowed stall-probe interval and threshold, in milliseconds.
pub(crate) const MAX_STALL_MS: u64 = 60_000;
/// Largest allowed interval between stall warnings: one hour, in seconds.
pub(crate) const MAX_STALL_LOG_INTERVAL_SECS: u64 = 3_600;

/// Number of CPUs this process may use (1 when the OS cannot say).
pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A byte count in the largest binary unit that divides it: `2 MiB`, `128 KiB`, `1000 B`.
pub(crate) fn in_binary_units(bytes: impl TryInto<u64>) -> String {
    let bytes: u64 = bytes.try_into().unwrap_or(u64::MAX);
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} B")
}
