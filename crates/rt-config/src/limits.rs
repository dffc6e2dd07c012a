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
pub const DEFAULT_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT_SECS: u64 =
    if cfg!(debug_assertions) { 5 } else { 30 };
/// Largest allowed graceful-shutdown timeout (runtime and worker): one day, in seconds.
pub const MAX_GRACEFUL_TIMEOUT_SECS: u64 = 86_400;
/// Largest allowed teardown timeout: one hour, in seconds.
pub const MAX_TEARDOWN_TIMEOUT_SECS: u64 = 3_600;
/// Largest allowed signal debounce window, in milliseconds.
pub const MAX_SIGNAL_DEBOUNCE_MS: u64 = 10_000;

/// Longest allowed compute thread-name prefix, in bytes. Threads are named `{prefix}-{n}`;
/// Linux shows only the first 15 bytes of a thread name, so keep it short.
pub const MAX_THREAD_PREFIX_LEN: usize = 32;

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

/// Number of CPUs this process may use (1 when the OS cannot say).
pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Each check returns `Err(allowed)` describing the allowed values.
pub(crate) mod check {
    use super::*;

    pub(crate) fn range<T: PartialOrd + std::fmt::Display + Copy>(
        v: T,
        min: T,
        max: T,
    ) -> Result<(), String> {
        if v < min || v > max {
            Err(format!("a whole number from {min} to {max}"))
        } else {
            Ok(())
        }
    }

    pub(crate) fn stack(v: usize) -> Result<(), String> {
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&v) {
            Err(format!(
                "a size in bytes from {MIN_STACK_SIZE} (128 KiB) to {MAX_STACK_SIZE} (1 GiB); \
                 suffixes KiB, MiB, GiB are accepted"
            ))
        } else {
            Ok(())
        }
    }

    pub(crate) fn prefix(v: &str) -> Result<(), String> {
        let ok = !v.is_empty()
            && v.len() <= MAX_THREAD_PREFIX_LEN
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "1 to {MAX_THREAD_PREFIX_LEN} characters from A-Z, a-z, 0-9, '-', '_', '.'"
            ))
        }
    }

    pub(crate) fn host(v: &str) -> Result<(), String> {
        let ok = !v.is_empty()
            && v.len() <= 253
            && v.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '[' | ']' | '%')
            });
        if ok {
            Ok(())
        } else {
            Err("an IP address or host name (1 to 253 characters, no spaces)".to_string())
        }
    }

    pub(crate) fn http_path(v: &str) -> Result<(), String> {
        let ok = v.starts_with('/')
            && v.len() <= 256
            && v.chars()
                .all(|c| c.is_ascii_graphic() && c != '?' && c != '#');
        if ok {
            Ok(())
        } else {
            Err(
                "a URL path starting with '/', at most 256 characters, no spaces, '?' or '#'"
                    .to_string(),
            )
        }
    }
}
