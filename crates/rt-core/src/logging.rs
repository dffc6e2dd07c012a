//! Logging set up by the runtime: one `tracing-subscriber` for the process, configured by the
//! `log_filter` and `logging_*` keys, unless the application installed its own.
//!
//! A [`Worker`](crate::Worker) calls [`init`] before it builds its runtime; code that builds
//! its own [`Runtime`](crate::Runtime) calls it itself, once, early in `main`.
//!
//! | key | variable | what |
//! |---|---|---|
//! | `log_filter` | `DYN_LOG` | tracing's EnvFilter directives (`info,rt_http=debug`); unset: `RUST_LOG`, else `info`. `hyper`, `h2`, `tower` and `tonic` stay at `warn` unless the filter names them |
//! | `logging_jsonl` | `DYN_LOGGING_JSONL` | one JSON object per line: `timestamp` (RFC 3339, UTC), `level`, `target`, `fields` (with `message`), `span` and `spans` (the span fields, such as an HTTP request's `request_id`) |
//! | `logging_no_ansi` | `DYN_LOGGING_NO_ANSI` | never colour (colours are used only when standard error is a terminal) |
//! | `logging_span_events` | `DYN_LOGGING_SPAN_EVENTS` | also log each span's opening and closing (the closing line carries its busy and idle time) |
//!
//! A filter that does not parse is a [`ConfigError::InvalidValue`] naming the key, the value
//! and where it came from (`DYN_LOG`, a file, or `RUST_LOG`), like every other key. The
//! check is here, where logging starts, rather than in `rt-config`: the syntax is
//! `tracing-subscriber`'s, and `rt-config` does not depend on it.
//!
//! Spans with the target [`REQUEST_SPAN_TARGET`] (the HTTP edge's request span) are kept at
//! `info` whatever the filter, so that a `warn` line written while serving a request still
//! carries its request id.
//!
//! ```
//! use rt_core::config::RuntimeConfig;
//! use rt_core::logging::{self, LoggingInit};
//!
//! // The application installed its own subscriber first: the runtime keeps it.
//! let mine = tracing_subscriber::fmt().with_writer(std::io::sink).finish();
//! tracing::subscriber::set_global_default(mine)?;
//!
//! let config = RuntimeConfig::builder().log_filter("info,rt_http=debug").build()?;
//! assert_eq!(logging::init(&config)?, LoggingInit::KeptExisting);
//!
//! // A filter that does not parse is a configuration error naming the key and the value.
//! let bad = RuntimeConfig::builder().log_filter("rt_http=loud").build()?;
//! let error = logging::init(&bad).unwrap_err().to_string();
//! assert!(error.contains("`log_filter`") && error.contains("\"rt_http=loud\""), "{error}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::IsTerminal;

use rt_config::{ConfigError, Origin, RuntimeConfig};
use tracing::subscriber::NoSubscriber;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::EnvFilter;

use crate::error::RuntimeError;

/// The target of the span the HTTP edge opens for each request (with its `request_id`). The
/// runtime's filter keeps spans of this target at `info` whatever the level, so that every
/// line written while serving a request carries the id.
pub const REQUEST_SPAN_TARGET: &str = "rt_request";

/// The key whose value is the filter.
const FILTER_KEY: &str = "log_filter";

/// The variable read when `log_filter` is unset.
const FALLBACK_VAR: &str = "RUST_LOG";

/// The filter when neither `log_filter` nor `RUST_LOG` is set.
const DEFAULT_FILTER: &str = "info";

/// Directives put before the user's: noisy dependencies at `warn`, and the request span kept
/// (a directive of the user's for the same target replaces one of these).
const BASE_DIRECTIVES: &str = "hyper=warn,h2=warn,tower=warn,tonic=warn,rt_request=info";

/// What [`init`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoggingInit {
    /// The runtime's subscriber is now the process's global default.
    Installed,
    /// A subscriber was already installed (globally, or as the calling thread's default): it
    /// was left alone, and the runtime's settings were not applied.
    KeptExisting,
}

/// The resolved filter: the user's directives and where they came from.
struct Filter {
    directives: String,
    origin: Origin,
}

impl Filter {
    /// `log_filter`, else `RUST_LOG`, else `info`; checked.
    fn resolve(config: &RuntimeConfig) -> Result<Self, ConfigError> {
        let filter = if !config.log_filter.trim().is_empty() {
            Filter {
                directives: config.log_filter.clone(),
                origin: config.origin_of(FILTER_KEY).unwrap_or(Origin::Default),
            }
        } else {
            match std::env::var(FALLBACK_VAR) {
                Ok(value) if !value.trim().is_empty() => Filter {
                    directives: value,
                    origin: Origin::Env(FALLBACK_VAR.to_string()),
                },
                _ => Filter {
                    directives: DEFAULT_FILTER.to_string(),
                    origin: Origin::Default,
                },
            }
        };
        // The user's directives alone, so that the error is about what they wrote.
        EnvFilter::builder()
            .parse(&filter.directives)
            .map_err(|e| ConfigError::InvalidValue {
                key: FILTER_KEY,
                value: format!("{:?}", filter.directives),
                origin: filter.origin.clone(),
                problem: format!("not a valid log filter ({e})"),
                allowed: allowed_filters(),
            })?;
        Ok(filter)
    }

    /// The filter in force: the base directives, then the user's.
    fn build(&self) -> Result<EnvFilter, ConfigError> {
        EnvFilter::builder()
            .parse(format!("{BASE_DIRECTIVES},{}", self.directives))
            .map_err(|e| ConfigError::InvalidValue {
                key: FILTER_KEY,
                value: format!("{:?}", self.directives),
                origin: self.origin.clone(),
                problem: format!("not a valid log filter ({e})"),
                allowed: allowed_filters(),
            })
    }
}

/// The allowed values of `log_filter`, as the key table states them.
fn allowed_filters() -> String {
    rt_config::keys()
        .iter()
        .find(|spec| spec.name == FILTER_KEY)
        .map_or_else(
            || "tracing EnvFilter directives".to_string(),
            |spec| spec.allowed.to_string(),
        )
}

/// Installs the runtime's subscriber, writing to standard error, unless one is installed
/// already (see [`init_with_writer`]). Colours are used only when standard error is a terminal
/// and `logging_no_ansi` is off.
///
/// # Errors
///
/// [`RuntimeError::Config`] when the filter (`log_filter`, else `RUST_LOG`) does not parse:
/// the message names the key, the value and its source. Checked even when an existing
/// subscriber is kept.
pub fn init(config: &RuntimeConfig) -> Result<LoggingInit, RuntimeError> {
    let ansi = !config.logging_no_ansi && std::io::stderr().is_terminal();
    install(config, std::io::stderr, ansi)
}

/// [`init`] with another destination than standard error: a file, a buffer in a test. Never
/// colours.
///
/// Unless a subscriber is already installed (the global default, or the calling thread's
/// scoped one), this installs a global subscriber with the filter of `log_filter` and the
/// format of `logging_jsonl` and `logging_span_events`. Either way it then logs the
/// configuration in force: one summary line at `info` (the keys not at their default, with
/// their sources) and [`RuntimeConfig::explain`]'s lines at `debug`.
///
/// # Errors
///
/// As [`init`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use rt_core::config::RuntimeConfig;
/// use rt_core::logging::{self, LoggingInit};
///
/// #[derive(Clone, Default)]
/// struct Buffer(Arc<Mutex<Vec<u8>>>);
/// impl std::io::Write for Buffer {
///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().extend_from_slice(bytes);
///         Ok(bytes.len())
///     }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let buffer = Buffer::default();
/// let writer = buffer.clone();
/// let config = RuntimeConfig::builder().log_filter("info").logging_jsonl(true).build()?;
/// assert_eq!(logging::init_with_writer(&config, move || writer.clone())?, LoggingInit::Installed);
///
/// tracing::info!(answer = 42, "hello");
/// let text = String::from_utf8(buffer.0.lock().unwrap().clone())?;
/// let line = text.lines().find(|l| l.contains("hello")).unwrap();
/// assert!(line.starts_with("{\"timestamp\":\""), "{line}");
/// assert!(line.contains("\"fields\":{\"message\":\"hello\",\"answer\":42}"), "{line}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init_with_writer<W>(config: &RuntimeConfig, writer: W) -> Result<LoggingInit, RuntimeError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    install(config, writer, false)
}

fn install<W>(config: &RuntimeConfig, writer: W, ansi: bool) -> Result<LoggingInit, RuntimeError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = Filter::resolve(config)?;
    let result = if already_installed() {
        LoggingInit::KeptExisting
    } else {
        let env_filter = filter.build()?;
        let span_events = if config.logging_span_events {
            FmtSpan::NEW | FmtSpan::CLOSE
        } else {
            FmtSpan::NONE
        };
        let (json, text) = if config.logging_jsonl {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(writer)
                .with_span_events(span_events);
            (Some(layer), None)
        } else {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(ansi)
                .with_span_events(span_events);
            (None, Some(layer))
        };
        let subscriber = tracing_subscriber::registry()
            .with(env_filter)
            .with(json)
            .with(text);
        match tracing::subscriber::set_global_default(subscriber) {
            Ok(()) => LoggingInit::Installed,
            // Another thread installed one in between.
            Err(_) => LoggingInit::KeptExisting,
        }
    };
    match result {
        LoggingInit::Installed => tracing::info!(
            filter = %filter.directives,
            filter_from = %filter.origin.short(),
            jsonl = config.logging_jsonl,
            ansi,
            span_events = config.logging_span_events,
            "logging set up by the runtime"
        ),
        LoggingInit::KeptExisting => tracing::debug!(
            "a tracing subscriber is already installed: the runtime keeps it and does not apply \
             log_filter or the logging_* keys"
        ),
    }
    log_config(config);
    Ok(result)
}

/// Whether the process (or the calling thread) already has a subscriber.
fn already_installed() -> bool {
    tracing::dispatcher::has_been_set()
        || tracing::dispatcher::get_default(|current| !current.is::<NoSubscriber>())
}

/// The configuration in force: a summary at `info`, every key with its source at `debug`.
fn log_config(config: &RuntimeConfig) {
    let explained = config.explain();
    let mut changed = Vec::new();
    let mut defaults = 0usize;
    for line in explained.lines() {
        let Some((origin, setting)) = line.split_once('\t') else {
            continue;
        };
        tracing::debug!(origin, "config {setting}");
        if origin == "default" {
            defaults += 1;
        } else {
            changed.push(format!("{setting} ({origin})"));
        }
    }
    tracing::info!(
        defaults,
        "configuration in force: {}",
        if changed.is_empty() {
            "every key at its default".to_string()
        } else {
            changed.join(", ")
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_names_key_value_and_source() {
        let config = RuntimeConfig::builder()
            .log_filter("info,rt_http=loud")
            .build()
            .unwrap_or_default();
        let Err(error) = Filter::resolve(&config) else {
            panic!("a bad filter was accepted");
        };
        assert_eq!(error.key(), Some("log_filter"));
        let text = error.to_string();
        assert!(text.contains("\"info,rt_http=loud\""), "{text}");
        assert!(text.contains("Rust code (RuntimeConfigBuilder)"), "{text}");
        assert!(text.contains("EnvFilter directives"), "{text}");
    }

    #[test]
    fn the_base_directives_parse_and_user_directives_win() {
        let filter = Filter {
            directives: "debug,hyper=trace".to_string(),
            origin: Origin::Default,
        };
        let built = filter.build().map(|f| f.to_string()).unwrap_or_default();
        assert!(built.contains("hyper=trace"), "{built}");
        assert!(!built.contains("hyper=warn"), "{built}");
        assert!(built.contains("h2=warn"), "{built}");
        assert!(
            built.contains(&format!("{REQUEST_SPAN_TARGET}=info")),
            "{built}"
        );
    }
}
