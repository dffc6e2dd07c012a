//! The key table: every configuration key declared once, as one row.
//!
//! `key_table!(callback)` calls `callback! { rows }`. Each consumer defines its own `callback`
//! that picks the parts of a row it needs: the struct field, its `Default`, its render and
//! check (`runtime.rs`), the [`KeySpec`](crate::KeySpec) (`keys.rs`), the loader arm
//! (`loader.rs`), the builder setter (`builder.rs`). `docs/configuration.md`'s key table is
//! rendered from the specs (`tests/docs.rs` keeps it equal).
//!
//! # A row
//!
//! ```text
//! /// Rustdoc of the field, after the `about` line (optional).
//! field_name: FieldType {
//!     env: "DYN_...",                      // the environment variable
//!     ty: "integer",                       // the value type, in words (docs, KeySpec::ty)
//!     default: expr,                       // the built-in default, of FieldType
//!     shown: expr,                         // optional: the default in words (else rendered)
//!     none: "auto",                        // optional keys only: the word meaning None
//!     rule: range(1, MAX_THREADS),         // the check (and the allowed values, in words)
//!     note: "; 0 picks a free port",       // optional: appended to the allowed values
//!     parse: number,                       // the loader's conversion (a fn in value.rs)
//!     setter: u16,                         // the builder setter's argument type
//!     about: "What the key controls.",     // KeySpec::description, first rustdoc line
//! }
//! ```
//!
//! In `default`, `shown` and `rule`, the constants of `limits.rs` and the rules of `rule.rs`
//! (`range`, `Stack`, `Prefix`, `Host`, `HttpPath`, `Words`) are in scope.
//!
//! Adding a key: one row here, plus its line under "What the keys do" in
//! `docs/configuration.md` (then regenerate the table: `RT_BLESS=1 cargo test -p rt-config
//! --test docs`). A rule between two keys (like the health and live paths differing) goes in
//! `RuntimeConfig::check_conflicts`.

macro_rules! key_table {
    ($callback:ident) => {
        $callback! {
            /// `None`: the number of available cores.
            num_worker_threads: Option<usize> {
                env: "DYN_RUNTIME_NUM_WORKER_THREADS",
                ty: "integer or \"auto\"",
                default: None,
                shown: "auto (available cores)",
                none: "auto",
                rule: range(1, MAX_THREADS),
                parse: optional_number,
                setter: impl Into<Option<usize>>,
                about: "Worker threads of the primary tokio runtime.",
            }
            /// Default [`DEFAULT_MAX_BLOCKING_THREADS`](crate::DEFAULT_MAX_BLOCKING_THREADS),
            /// at most [`MAX_BLOCKING_THREADS`](crate::MAX_BLOCKING_THREADS).
            max_blocking_threads: usize {
                env: "DYN_RUNTIME_MAX_BLOCKING_THREADS",
                ty: "integer",
                default: DEFAULT_MAX_BLOCKING_THREADS,
                rule: range(1, MAX_BLOCKING_THREADS),
                parse: number,
                setter: usize,
                about: "Upper bound of tokio's blocking-thread pool.",
            }
            /// In seconds. Default
            /// [`DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECS`](crate::DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECS),
            /// at most [`MAX_GRACEFUL_TIMEOUT_SECS`](crate::MAX_GRACEFUL_TIMEOUT_SECS).
            graceful_shutdown_timeout_secs: u64 {
                env: "DYN_RUNTIME_GRACEFUL_SHUTDOWN_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECS,
                rule: range(0, MAX_GRACEFUL_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "Phase-2 bound: how long shutdown waits for in-flight work.",
            }
            /// In seconds. Default
            /// [`DEFAULT_TEARDOWN_TIMEOUT_SECS`](crate::DEFAULT_TEARDOWN_TIMEOUT_SECS), at most
            /// [`MAX_TEARDOWN_TIMEOUT_SECS`](crate::MAX_TEARDOWN_TIMEOUT_SECS).
            teardown_timeout_secs: u64 {
                env: "DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_TEARDOWN_TIMEOUT_SECS,
                rule: range(0, MAX_TEARDOWN_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "Phase-3 bound: how long teardown of backend connections may take.",
            }
            /// In seconds. Default
            /// [`DEFAULT_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS`](crate::DEFAULT_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS)
            /// (30 in release builds, 5 in debug builds), at most
            /// [`MAX_GRACEFUL_TIMEOUT_SECS`](crate::MAX_GRACEFUL_TIMEOUT_SECS).
            worker_graceful_shutdown_timeout_secs: u64 {
                env: "DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT",
                ty: "integer (seconds)",
                default: DEFAULT_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS,
                shown: format!(
                    "{WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_RELEASE_SECS} (release builds), \
                     {WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_DEBUG_SECS} (debug builds)"
                ),
                rule: range(0, MAX_GRACEFUL_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "The Worker's whole deadline: the application's drain and the runtime's teardown together.",
            }
            /// `None`: cores / 2 clamped to `[2, 16]`; `Some(0)`: no compute pool. At most
            /// [`MAX_THREADS`](crate::MAX_THREADS).
            compute_threads: Option<usize> {
                env: "DYN_COMPUTE_THREADS",
                ty: "integer or \"auto\"",
                default: None,
                shown: "auto (cores / 2, clamped to 2..16)",
                none: "auto",
                rule: range(0, MAX_THREADS),
                note: "; 0 disables the compute pool",
                parse: optional_number,
                setter: impl Into<Option<usize>>,
                about: "Threads of the compute (Rayon) pool.",
            }
            /// In bytes. Default `Some(`[`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE)`)`;
            /// `None` means the same. From [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) to
            /// [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE).
            compute_stack_size: Option<usize> {
                env: "DYN_COMPUTE_STACK_SIZE",
                ty: "integer (bytes), string with KiB/MiB/GiB suffix, or \"default\"",
                default: Some(DEFAULT_STACK_SIZE),
                shown: format!("{DEFAULT_STACK_SIZE} ({})", in_binary_units(DEFAULT_STACK_SIZE)),
                none: "default",
                rule: Stack,
                parse: optional_bytes,
                setter: impl Into<Option<usize>>,
                about: "Stack size of each compute thread.",
            }
            /// Default [`DEFAULT_THREAD_PREFIX`](crate::DEFAULT_THREAD_PREFIX).
            compute_thread_prefix: String {
                env: "DYN_COMPUTE_THREAD_PREFIX",
                ty: "string",
                default: DEFAULT_THREAD_PREFIX.to_string(),
                rule: Prefix,
                parse: string,
                setter: impl Into<String>,
                about: "Compute threads are named \"{prefix}-{n}\".",
            }
            /// Default `false`.
            compute_pin_threads: bool {
                env: "DYN_COMPUTE_PIN_THREADS",
                ty: "boolean",
                default: false,
                rule: Words("true or false (variables also: 1/0, yes/no, on/off)"),
                parse: boolean,
                setter: bool,
                about: "Pin each compute thread to one CPU.",
            }
            /// In microseconds. Default [`DEFAULT_BRIDGE_SPIN_US`](crate::DEFAULT_BRIDGE_SPIN_US),
            /// at most [`MAX_BRIDGE_SPIN_US`](crate::MAX_BRIDGE_SPIN_US).
            compute_bridge_spin_us: u32 {
                env: "DYN_COMPUTE_BRIDGE_SPIN_US",
                ty: "integer (microseconds)",
                default: DEFAULT_BRIDGE_SPIN_US,
                rule: range(0, MAX_BRIDGE_SPIN_US),
                note: "; 0 never spins",
                parse: number,
                setter: u32,
                about: "How long a waiting side of the async/compute bridge spins before it parks.",
            }
            /// In milliseconds. Default 0: every signal counts. At most
            /// [`MAX_SIGNAL_DEBOUNCE_MS`](crate::MAX_SIGNAL_DEBOUNCE_MS).
            signal_debounce_ms: u64 {
                env: "DYN_SIGNAL_DEBOUNCE_MS",
                ty: "integer (milliseconds)",
                default: 0,
                rule: range(0, MAX_SIGNAL_DEBOUNCE_MS),
                note: "; 0 counts every signal",
                parse: number,
                setter: u64,
                about: "Signals arriving within this window of the previous one count as one.",
            }
            /// Default [`DEFAULT_HOST`](crate::DEFAULT_HOST); checked by
            /// [`check::host`](crate::check::host).
            system_host: String {
                env: "DYN_SYSTEM_HOST",
                ty: "string",
                default: DEFAULT_HOST.to_string(),
                rule: Host,
                parse: string,
                setter: impl Into<String>,
                about: "Address the status server binds.",
            }
            /// `None` (default): no status server; `Some(0)`: a free port chosen by the OS.
            system_port: Option<u16> {
                env: "DYN_SYSTEM_PORT",
                ty: "integer or \"disabled\"",
                default: None,
                shown: "disabled (no status server)",
                none: "disabled",
                rule: range(0, u16::MAX),
                note: "; 0 picks a free port",
                parse: optional_number,
                setter: impl Into<Option<u16>>,
                about: "Port of the status server; unset = no status server.",
            }
            /// Default [`DEFAULT_HEALTH_PATH`](crate::DEFAULT_HEALTH_PATH); checked by
            /// [`check::http_path`](crate::check::http_path).
            system_health_path: String {
                env: "DYN_SYSTEM_HEALTH_PATH",
                ty: "string",
                default: DEFAULT_HEALTH_PATH.to_string(),
                rule: HttpPath,
                note: "; different from system_live_path",
                parse: string,
                setter: impl Into<String>,
                about: "Readiness endpoint of the status server.",
            }
            /// Default [`DEFAULT_LIVE_PATH`](crate::DEFAULT_LIVE_PATH); checked by
            /// [`check::http_path`](crate::check::http_path).
            system_live_path: String {
                env: "DYN_SYSTEM_LIVE_PATH",
                ty: "string",
                default: DEFAULT_LIVE_PATH.to_string(),
                rule: HttpPath,
                note: "; different from system_health_path",
                parse: string,
                setter: impl Into<String>,
                about: "Liveness endpoint of the status server.",
            }
            /// Default [`HealthStatus::NotReady`](crate::HealthStatus::NotReady).
            system_starting_health_status: crate::HealthStatus {
                env: "DYN_SYSTEM_STARTING_HEALTH_STATUS",
                ty: "string",
                default: crate::HealthStatus::NotReady,
                rule: Words("\"ready\" or \"notready\""),
                parse: health_status,
                setter: crate::HealthStatus,
                about: "Health the status server reports until the application sets it.",
            }
            /// Default [`DEFAULT_HOST`](crate::DEFAULT_HOST); checked by
            /// [`check::host`](crate::check::host).
            http_host: String {
                env: "DYN_HTTP_HOST",
                ty: "string",
                default: DEFAULT_HOST.to_string(),
                rule: Host,
                parse: string,
                setter: impl Into<String>,
                about: "Address of the application's own request listener (the runtime does not bind it).",
            }
            /// Default [`DEFAULT_HTTP_PORT`](crate::DEFAULT_HTTP_PORT); 0 picks a free port.
            http_port: u16 {
                env: "DYN_HTTP_PORT",
                ty: "integer",
                default: DEFAULT_HTTP_PORT,
                rule: range(0, u16::MAX),
                note: "; 0 picks a free port",
                parse: number,
                setter: u16,
                about: "Port of the application's own request listener.",
            }
            /// In seconds. Default
            /// [`DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS`](crate::DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS), at
            /// most [`MAX_HTTP_TIMEOUT_SECS`](crate::MAX_HTTP_TIMEOUT_SECS).
            http_header_read_timeout_secs: u64 {
                env: "DYN_HTTP_HEADER_READ_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS,
                rule: range(1, MAX_HTTP_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "HTTP edge: time from accept (or a kept-alive request's first byte) to a complete request head.",
            }
            /// In seconds. Default
            /// [`DEFAULT_HTTP_BODY_READ_TIMEOUT_SECS`](crate::DEFAULT_HTTP_BODY_READ_TIMEOUT_SECS), at
            /// most [`MAX_HTTP_TIMEOUT_SECS`](crate::MAX_HTTP_TIMEOUT_SECS).
            http_body_read_timeout_secs: u64 {
                env: "DYN_HTTP_BODY_READ_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_HTTP_BODY_READ_TIMEOUT_SECS,
                rule: range(1, MAX_HTTP_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "HTTP edge: time to receive a request body, counted from its head.",
            }
            /// In seconds. Default
            /// [`DEFAULT_HTTP_IDLE_TIMEOUT_SECS`](crate::DEFAULT_HTTP_IDLE_TIMEOUT_SECS), at
            /// most [`MAX_HTTP_TIMEOUT_SECS`](crate::MAX_HTTP_TIMEOUT_SECS).
            http_idle_timeout_secs: u64 {
                env: "DYN_HTTP_IDLE_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_HTTP_IDLE_TIMEOUT_SECS,
                rule: range(1, MAX_HTTP_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "HTTP edge: time a kept-alive connection may wait for its next request.",
            }
            /// In seconds. Default
            /// [`DEFAULT_HTTP_WRITE_TIMEOUT_SECS`](crate::DEFAULT_HTTP_WRITE_TIMEOUT_SECS), at
            /// most [`MAX_HTTP_TIMEOUT_SECS`](crate::MAX_HTTP_TIMEOUT_SECS).
            http_write_timeout_secs: u64 {
                env: "DYN_HTTP_WRITE_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_HTTP_WRITE_TIMEOUT_SECS,
                rule: range(1, MAX_HTTP_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "HTTP edge: time a write may make no progress (the client does not read).",
            }
            /// In seconds. Default
            /// [`DEFAULT_HTTP_SHUTDOWN_GRACE_SECS`](crate::DEFAULT_HTTP_SHUTDOWN_GRACE_SECS), at
            /// most [`MAX_HTTP_TIMEOUT_SECS`](crate::MAX_HTTP_TIMEOUT_SECS).
            http_shutdown_grace_secs: u64 {
                env: "DYN_HTTP_SHUTDOWN_GRACE_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_HTTP_SHUTDOWN_GRACE_SECS,
                rule: range(1, MAX_HTTP_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "HTTP edge: once the drain has started, the most any client can add to it.",
            }
            /// Default [`DEFAULT_HTTP_MAX_CONNECTIONS`](crate::DEFAULT_HTTP_MAX_CONNECTIONS), at most
            /// [`MAX_HTTP_CONNECTIONS`](crate::MAX_HTTP_CONNECTIONS).
            http_max_connections: usize {
                env: "DYN_HTTP_MAX_CONNECTIONS",
                ty: "integer",
                default: DEFAULT_HTTP_MAX_CONNECTIONS,
                rule: range(1, MAX_HTTP_CONNECTIONS),
                parse: number,
                setter: usize,
                about: "HTTP edge: open connections at most; at the limit accepting pauses.",
            }
            /// In bytes. Default [`DEFAULT_HTTP_MAX_BODY_BYTES`](crate::DEFAULT_HTTP_MAX_BODY_BYTES),
            /// at most [`MAX_HTTP_BODY_BYTES`](crate::MAX_HTTP_BODY_BYTES).
            http_max_body_bytes: u64 {
                env: "DYN_HTTP_MAX_BODY_BYTES",
                ty: "integer (bytes) or string with KiB/MiB/GiB suffix",
                default: DEFAULT_HTTP_MAX_BODY_BYTES,
                shown: format!(
                    "{DEFAULT_HTTP_MAX_BODY_BYTES} ({})",
                    in_binary_units(DEFAULT_HTTP_MAX_BODY_BYTES)
                ),
                rule: range(1, MAX_HTTP_BODY_BYTES),
                parse: byte_size,
                setter: u64,
                about: "HTTP edge: request body bytes at most; a larger body is answered 413.",
            }
            /// In bytes. Default
            /// [`DEFAULT_HTTP_MAX_HEADER_BYTES`](crate::DEFAULT_HTTP_MAX_HEADER_BYTES), from
            /// [`MIN_HTTP_HEADER_BYTES`](crate::MIN_HTTP_HEADER_BYTES) to
            /// [`MAX_HTTP_HEADER_BYTES`](crate::MAX_HTTP_HEADER_BYTES).
            http_max_header_bytes: usize {
                env: "DYN_HTTP_MAX_HEADER_BYTES",
                ty: "integer (bytes) or string with KiB/MiB/GiB suffix",
                default: DEFAULT_HTTP_MAX_HEADER_BYTES,
                shown: format!(
                    "{DEFAULT_HTTP_MAX_HEADER_BYTES} ({})",
                    in_binary_units(DEFAULT_HTTP_MAX_HEADER_BYTES)
                ),
                rule: range(MIN_HTTP_HEADER_BYTES, MAX_HTTP_HEADER_BYTES),
                parse: byte_size,
                setter: usize,
                about: "HTTP edge: request line and header bytes at most; more is answered 431.",
            }
            /// In seconds. Default
            /// [`DEFAULT_HTTP_RETRY_AFTER_SECS`](crate::DEFAULT_HTTP_RETRY_AFTER_SECS), at most
            /// [`MAX_HTTP_TIMEOUT_SECS`](crate::MAX_HTTP_TIMEOUT_SECS).
            http_retry_after_secs: u64 {
                env: "DYN_HTTP_RETRY_AFTER_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_HTTP_RETRY_AFTER_SECS,
                rule: range(1, MAX_HTTP_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "HTTP edge: the Retry-After of the 503 answers during the drain.",
            }
            /// In milliseconds. Default
            /// [`DEFAULT_HTTP_DRAIN_LINGER_MS`](crate::DEFAULT_HTTP_DRAIN_LINGER_MS) (0), at most
            /// [`MAX_HTTP_DRAIN_LINGER_MS`](crate::MAX_HTTP_DRAIN_LINGER_MS).
            http_drain_linger_ms: u64 {
                env: "DYN_HTTP_DRAIN_LINGER_MS",
                ty: "integer (milliseconds)",
                default: DEFAULT_HTTP_DRAIN_LINGER_MS,
                rule: range(0, MAX_HTTP_DRAIN_LINGER_MS),
                parse: number,
                setter: u64,
                about: "HTTP edge: the least time the listener stays open (answering 503) after the drain started.",
            }
            /// `memory` (default): in-process, no server; `static`: the fixed list of
            /// `discovery_static`; `etcd`: a real etcd (crate `rt-discovery`, feature `etcd`).
            discovery_backend: String {
                env: "DYN_DISCOVERY_BACKEND",
                ty: "string",
                default: "memory".to_string(),
                rule: Words("\"memory\", \"static\" or \"etcd\""),
                parse: string,
                setter: impl Into<String>,
                about: "Where rt-discovery registers and finds endpoints.",
            }
            /// Comma-separated URLs. Empty (default): the reference's `ETCD_ENDPOINTS`, else
            /// `http://localhost:2379`; when both are set, this key wins.
            discovery_etcd_endpoints: String {
                env: "DYN_DISCOVERY_ETCD_ENDPOINTS",
                ty: "string (comma-separated URLs)",
                default: String::new(),
                shown: "unset (ETCD_ENDPOINTS, else http://localhost:2379)",
                rule: Words("http:// or https:// URLs separated by commas; this key wins over ETCD_ENDPOINTS"),
                parse: string,
                setter: impl Into<String>,
                about: "The etcd cluster of the etcd discovery backend.",
            }
            /// In seconds. Default
            /// `DEFAULT_DISCOVERY_LEASE_TTL_SECS` (10), from 2 to 300.
            discovery_lease_ttl_secs: u64 {
                env: "DYN_DISCOVERY_LEASE_TTL_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_DISCOVERY_LEASE_TTL_SECS,
                rule: range(MIN_DISCOVERY_LEASE_TTL_SECS, MAX_DISCOVERY_LEASE_TTL_SECS),
                note: "; renewed every TTL/3; a crashed process disappears within it",
                parse: number,
                setter: u64,
                about: "TTL of the process's discovery lease.",
            }
            /// In seconds. Default `DEFAULT_DISCOVERY_CONNECT_TIMEOUT_SECS` (30).
            discovery_connect_timeout_secs: u64 {
                env: "DYN_DISCOVERY_CONNECT_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_DISCOVERY_CONNECT_TIMEOUT_SECS,
                rule: range(1, MAX_DISCOVERY_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "How long start-up retries an unreachable discovery server before it fails.",
            }
            /// `reregister` (default) or `shutdown`.
            discovery_on_lease_lost: String {
                env: "DYN_DISCOVERY_ON_LEASE_LOST",
                ty: "string",
                default: "reregister".to_string(),
                rule: Words("\"reregister\" (new lease and instance id) or \"shutdown\" (the three-phase shutdown)"),
                parse: string,
                setter: impl Into<String>,
                about: "What the process does when its discovery lease is lost.",
            }
            /// In seconds. Default `DEFAULT_DISCOVERY_LOST_TIMEOUT_SECS` (60).
            discovery_lost_timeout_secs: u64 {
                env: "DYN_DISCOVERY_LOST_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_DISCOVERY_LOST_TIMEOUT_SECS,
                rule: range(1, MAX_DISCOVERY_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "With reregister: how long re-registration may take before the process shuts down.",
            }
            /// Empty (default): the bound address (a wildcard bind is then an error under etcd).
            discovery_advertise_host: String {
                env: "DYN_DISCOVERY_ADVERTISE_HOST",
                ty: "string",
                default: String::new(),
                shown: "unset (the bound address)",
                rule: Words("an IP address or host name (RFC 1123); required with the etcd backend when http_host is a wildcard"),
                parse: string,
                setter: impl Into<String>,
                about: "Host that other processes use to reach this one's endpoints.",
            }
            /// Empty (default): keys start at `v1/instances/` as the reference's do.
            discovery_prefix: String {
                env: "DYN_DISCOVERY_PREFIX",
                ty: "string",
                default: String::new(),
                shown: "unset (no prefix)",
                rule: Words("up to 256 characters from a-z A-Z 0-9 _ - . /; a trailing '/' is added"),
                parse: string,
                setter: impl Into<String>,
                about: "Root prefix of every discovery key (tests and tenants sharing one etcd).",
            }
            /// Empty (default): no instances.
            discovery_static: String {
                env: "DYN_DISCOVERY_STATIC",
                ty: "string",
                default: String::new(),
                shown: "unset (no instances)",
                rule: Words("namespace/component/endpoint=URL[,URL...] entries separated by ';'"),
                parse: string,
                setter: impl Into<String>,
                about: "The instance list of the static discovery backend.",
            }
            /// Empty (default): no token. The token itself is not a key, so that it is in
            /// neither the startup log (which prints every key) nor `explain()`.
            system_admin_token_file: String {
                env: "DYN_SYSTEM_ADMIN_TOKEN_FILE",
                ty: "string (path)",
                default: String::new(),
                shown: "unset (no token: admin calls only on a loopback bind)",
                rule: Words("the path of a file holding the token (surrounding whitespace is trimmed; at least 16 characters)"),
                parse: string,
                setter: impl Into<String>,
                about: "File with the bearer token that POST /drain and /resume on the status server require.",
            }
            /// In milliseconds. Default
            /// [`DEFAULT_STALL_PROBE_INTERVAL_MS`](crate::DEFAULT_STALL_PROBE_INTERVAL_MS); 0
            /// turns the detector off.
            stall_probe_interval_ms: u64 {
                env: "DYN_RUNTIME_STALL_PROBE_INTERVAL_MS",
                ty: "integer (milliseconds)",
                default: DEFAULT_STALL_PROBE_INTERVAL_MS,
                rule: range(0, MAX_STALL_MS),
                note: "; 0 turns the detector off",
                parse: number,
                setter: u64,
                about: "How often the event-loop stall detector's probe sleeps and checks how late it woke, on each tokio runtime.",
            }
            /// In milliseconds. Default
            /// [`DEFAULT_STALL_THRESHOLD_MS`](crate::DEFAULT_STALL_THRESHOLD_MS).
            stall_threshold_ms: u64 {
                env: "DYN_RUNTIME_STALL_THRESHOLD_MS",
                ty: "integer (milliseconds)",
                default: DEFAULT_STALL_THRESHOLD_MS,
                rule: range(1, MAX_STALL_MS),
                parse: number,
                setter: u64,
                about: "A stall-probe wake at least this late counts as an event-loop stall.",
            }
            /// In seconds. Default
            /// [`DEFAULT_STALL_LOG_INTERVAL_SECS`](crate::DEFAULT_STALL_LOG_INTERVAL_SECS).
            stall_log_interval_secs: u64 {
                env: "DYN_RUNTIME_STALL_LOG_INTERVAL_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_STALL_LOG_INTERVAL_SECS,
                rule: range(1, MAX_STALL_LOG_INTERVAL_SECS),
                parse: number,
                setter: u64,
                about: "At most one stall warning per tokio runtime per this interval.",
            }
            /// Default `false`.
            dump_metrics_on_shutdown: bool {
                env: "DYN_LOGGING_DUMP_METRICS_ON_SHUTDOWN",
                ty: "boolean",
                default: false,
                rule: Words("true or false (variables also: 1/0, yes/no, on/off)"),
                parse: boolean,
                setter: bool,
                about: "Write the final metrics text to the log at the end of the drain.",
            }
            /// Default `DEFAULT_DISCOVERY_ROUTER_RETRIES` (2), from 0 to 16.
            discovery_router_retries: u64 {
                env: "DYN_DISCOVERY_ROUTER_RETRIES",
                ty: "integer",
                default: DEFAULT_DISCOVERY_ROUTER_RETRIES,
                rule: range(0, MAX_DISCOVERY_ROUTER_RETRIES),
                note: "; only requests never admitted (connection refused, the edge's 503) are sent again",
                parse: number,
                setter: u64,
                about: "How many other instances a router tries after a refusal.",
            }
            /// In milliseconds. Default `DEFAULT_DISCOVERY_ROUTER_CONNECT_TIMEOUT_MS` (1000).
            discovery_router_connect_timeout_ms: u64 {
                env: "DYN_DISCOVERY_ROUTER_CONNECT_TIMEOUT_MS",
                ty: "integer (milliseconds)",
                default: DEFAULT_DISCOVERY_ROUTER_CONNECT_TIMEOUT_MS,
                rule: range(1, MAX_DISCOVERY_ROUTER_MS),
                parse: number,
                setter: u64,
                about: "A router's bound on connecting to an instance (then: refused, tried elsewhere).",
            }
            /// In seconds. Default `DEFAULT_DISCOVERY_ROUTER_REQUEST_TIMEOUT_SECS` (60).
            discovery_router_request_timeout_secs: u64 {
                env: "DYN_DISCOVERY_ROUTER_REQUEST_TIMEOUT_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_DISCOVERY_ROUTER_REQUEST_TIMEOUT_SECS,
                rule: range(1, MAX_DISCOVERY_TIMEOUT_SECS),
                parse: number,
                setter: u64,
                about: "A router's bound on a request, from sending it to the reply's head.",
            }
            /// In milliseconds. Default `DEFAULT_DISCOVERY_ROUTER_RECONCILE_MS` (5000).
            discovery_router_reconcile_ms: u64 {
                env: "DYN_DISCOVERY_ROUTER_RECONCILE_MS",
                ty: "integer (milliseconds)",
                default: DEFAULT_DISCOVERY_ROUTER_RECONCILE_MS,
                rule: range(10, MAX_DISCOVERY_ROUTER_MS),
                parse: number,
                setter: u64,
                about: "How often a router restores the instances it set aside after a refusal.",
            }
            /// In seconds. Default `DEFAULT_DISCOVERY_ROUTER_POOL_IDLE_SECS` (20).
            discovery_router_pool_idle_secs: u64 {
                env: "DYN_DISCOVERY_ROUTER_POOL_IDLE_SECS",
                ty: "integer (seconds)",
                default: DEFAULT_DISCOVERY_ROUTER_POOL_IDLE_SECS,
                rule: range(1, MAX_DISCOVERY_TIMEOUT_SECS),
                note: "; keep it below the workers' http_idle_timeout_secs",
                parse: number,
                setter: u64,
                about: "How long a router keeps an idle connection to an instance for reuse.",
            }
            /// Empty (default): `RUST_LOG`, else `info`. Checked when logging starts
            /// (`rt_core::logging::init`), with the same `ConfigError` as every key.
            log_filter: String {
                env: "DYN_LOG",
                ty: "string (EnvFilter directives)",
                default: String::new(),
                shown: "unset (RUST_LOG, else info)",
                rule: Words("tracing EnvFilter directives such as info,rt_http=debug; hyper, h2, tower and tonic stay at warn unless named"),
                parse: string,
                setter: impl Into<String>,
                about: "Which log lines are written: a level, and levels per target.",
            }
            /// Default `false`: human-readable lines.
            logging_jsonl: bool {
                env: "DYN_LOGGING_JSONL",
                ty: "boolean",
                default: false,
                rule: Words("true or false (variables also: 1/0, yes/no, on/off)"),
                parse: boolean,
                setter: bool,
                about: "Write each log line as one JSON object (timestamp, level, target, fields, spans).",
            }
            /// Default `false`: colours when standard error is a terminal.
            logging_no_ansi: bool {
                env: "DYN_LOGGING_NO_ANSI",
                ty: "boolean",
                default: false,
                rule: Words("true or false (variables also: 1/0, yes/no, on/off)"),
                parse: boolean,
                setter: bool,
                about: "Never colour log lines (they are coloured only on a terminal anyway).",
            }
            /// Default `false`.
            logging_span_events: bool {
                env: "DYN_LOGGING_SPAN_EVENTS",
                ty: "boolean",
                default: false,
                rule: Words("true or false (variables also: 1/0, yes/no, on/off)"),
                parse: boolean,
                setter: bool,
                about: "Also log when a span (such as an HTTP request) opens and closes, with its duration.",
            }
        }
    };
}

pub(crate) use key_table;

/// The first of two optional pieces of a row that is present: `first_of!(a; b)` is `a`,
/// `first_of!(; b)` is `b`.
macro_rules! first_of {
    (; $fallback:expr) => {
        $fallback
    };
    ($given:expr; $fallback:expr) => {
        $given
    };
}

pub(crate) use first_of;
