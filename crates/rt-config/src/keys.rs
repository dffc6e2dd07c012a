//! The table of configuration keys: field name, environment variable, type, default, range.
//!
//! Environment variables map to fields through this table only; names are never split at `_`.

/// Environment variable naming an extra TOML file, read after the system files.
/// If set and the file is missing, loading fails.
pub const CONFIG_FILE_VAR: &str = "DYN_RUNTIME_CONFIG_FILE";

/// Description of one configuration key. See [`keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySpec {
    /// Key in TOML files; also the [`RuntimeConfig`](crate::RuntimeConfig) field name.
    pub name: &'static str,
    /// Environment variable that sets it.
    pub env: &'static str,
    /// Value type, as written in TOML.
    pub ty: &'static str,
    /// Default value, in words.
    pub default: &'static str,
    /// Allowed values, in words.
    pub allowed: &'static str,
    /// What the key controls.
    pub description: &'static str,
    /// For optional keys: the word that means "not set" (`"auto"`, `"disabled"`, `"default"`),
    /// accepted as a value and printed by `explain()`.
    pub none_word: Option<&'static str>,
}

const fn key(
    name: &'static str,
    env: &'static str,
    ty: &'static str,
    default: &'static str,
    allowed: &'static str,
    description: &'static str,
    none_word: Option<&'static str>,
) -> KeySpec {
    KeySpec {
        name,
        env,
        ty,
        default,
        allowed,
        description,
        none_word,
    }
}

#[rustfmt::skip]
static KEYS: &[KeySpec] = &[
    key("num_worker_threads", "DYN_RUNTIME_NUM_WORKER_THREADS", "integer or \"auto\"", "auto (available cores)",
        "1 to 1024", "Worker threads of the primary tokio runtime.", Some("auto")),
    key("max_blocking_threads", "DYN_RUNTIME_MAX_BLOCKING_THREADS", "integer", "512",
        "1 to 65536", "Upper bound of tokio's blocking-thread pool.", None),
    key("graceful_shutdown_timeout_secs", "DYN_RUNTIME_GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "integer (seconds)", "900",
        "0 to 86400", "Phase-2 bound: how long shutdown waits for in-flight work.", None),
    key("teardown_timeout_secs", "DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS", "integer (seconds)", "10",
        "0 to 3600", "Phase-3 bound: how long teardown of backend connections may take.", None),
    key("worker_graceful_shutdown_timeout_secs", "DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT", "integer (seconds)",
        "30 (release builds), 5 (debug builds)", "0 to 86400",
        "The Worker's whole deadline: the application's drain and the runtime's teardown together.", None),
    key("compute_threads", "DYN_COMPUTE_THREADS", "integer or \"auto\"", "auto (cores / 2, clamped to 2..16)",
        "0 to 1024; 0 disables the compute pool", "Threads of the compute (Rayon) pool.", Some("auto")),
    key("compute_stack_size", "DYN_COMPUTE_STACK_SIZE", "integer (bytes) or string with KiB/MiB/GiB suffix",
        "2097152 (2 MiB)", "131072 (128 KiB) to 1073741824 (1 GiB)", "Stack size of each compute thread.",
        Some("default")),
    key("compute_thread_prefix", "DYN_COMPUTE_THREAD_PREFIX", "string", "\"compute\"",
        "1 to 32 characters from A-Z a-z 0-9 - _ .", "Compute threads are named \"{prefix}-{n}\".", None),
    key("compute_pin_threads", "DYN_COMPUTE_PIN_THREADS", "boolean", "false",
        "true or false (variables also: 1/0, yes/no, on/off)", "Pin each compute thread to one CPU.", None),
    key("compute_bridge_spin_us", "DYN_COMPUTE_BRIDGE_SPIN_US", "integer (microseconds)", "50",
        "0 to 1000; 0 never spins",
        "How long a waiting side of the async/compute bridge spins before it parks.", None),
    key("signal_debounce_ms", "DYN_SIGNAL_DEBOUNCE_MS", "integer (milliseconds)", "0",
        "0 to 10000; 0 counts every signal",
        "Signals arriving within this window of the previous one count as one.", None),
    key("system_host", "DYN_SYSTEM_HOST", "string", "\"0.0.0.0\"",
        "an IP address or host name", "Address the status server binds.", None),
    key("system_port", "DYN_SYSTEM_PORT", "integer or \"disabled\"", "disabled",
        "0 to 65535; 0 picks a free port", "Port of the status server; unset = no status server.",
        Some("disabled")),
    key("system_health_path", "DYN_SYSTEM_HEALTH_PATH", "string", "\"/health\"",
        "a path starting with '/', different from system_live_path", "Readiness endpoint of the status server.", None),
    key("system_live_path", "DYN_SYSTEM_LIVE_PATH", "string", "\"/live\"",
        "a path starting with '/', different from system_health_path", "Liveness endpoint of the status server.", None),
    key("system_starting_health_status", "DYN_SYSTEM_STARTING_HEALTH_STATUS", "string", "\"notready\"",
        "\"ready\" or \"notready\"", "Health the status server reports until the application sets it.", None),
    key("http_host", "DYN_HTTP_HOST", "string", "\"0.0.0.0\"",
        "an IP address or host name", "Address of the application's own request listener (the runtime does not bind it).", None),
    key("http_port", "DYN_HTTP_PORT", "integer", "8080",
        "0 to 65535; 0 picks a free port", "Port of the application's own request listener.", None),
];

/// Every configuration key, in the order `explain()` and `Display` print them.
///
/// ```
/// let keys = rt_config::keys();
/// let spec = keys.iter().find(|k| k.name == "compute_threads").unwrap();
/// assert_eq!(spec.env, "DYN_COMPUTE_THREADS");
/// ```
pub fn keys() -> &'static [KeySpec] {
    KEYS
}

/// The spec of a key by name.
pub(crate) fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

/// Every environment variable the loader reads: one per key, plus [`CONFIG_FILE_VAR`].
///
/// ```
/// assert!(rt_config::env_vars().any(|v| v == "DYN_RUNTIME_CONFIG_FILE"));
/// ```
pub fn env_vars() -> impl Iterator<Item = &'static str> {
    KEYS.iter()
        .map(|k| k.env)
        .chain(std::iter::once(CONFIG_FILE_VAR))
}
