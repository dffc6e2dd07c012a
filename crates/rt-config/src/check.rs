//! The validity rules of configuration values, for every crate that needs them.
//!
//! Each function checks one value of one key and returns a [`ConfigError::InvalidValue`] that
//! names the key, the value, where it came from and what is allowed. [`RuntimeConfig::validate`]
//! and [`ComputeConfig::validate`] use these functions; other crates call them instead of
//! restating a rule (the status server checks its probe paths with [`http_path`]).
//!
//! ```
//! use rt_config::{check, Origin};
//!
//! let origin = Origin::Code("StatusOptions");
//! check::http_path("health_path", "/ready", &origin)?;
//! check::host("http_host", "api.example.com", &origin)?;
//!
//! let err = check::host("http_host", "256.1.1.1", &origin).unwrap_err();
//! assert_eq!(err.key(), Some("http_host"));
//! assert!(err.to_string().contains("\"256.1.1.1\""), "{err}");
//! # Ok::<(), rt_config::ConfigError>(())
//! ```
//!
//! [`RuntimeConfig::validate`]: crate::RuntimeConfig::validate
//! [`ComputeConfig::validate`]: crate::ComputeConfig::validate

use std::fmt::Display;
use std::net::IpAddr;

use crate::limits::{MAX_STACK_SIZE, MAX_THREAD_PREFIX_LEN, MIN_STACK_SIZE};
use crate::{ConfigError, Origin};

/// Longest allowed HTTP path, in bytes (stated in [`HTTP_PATH_ALLOWED`]).
const MAX_HTTP_PATH_LEN: usize = 256;
/// Longest host name (RFC 1123), in bytes, without a trailing dot.
const MAX_HOST_NAME_LEN: usize = 253;
/// Longest label of a host name (RFC 1123), in bytes.
const MAX_LABEL_LEN: usize = 63;

/// What [`http_path`] allows, in words.
pub const HTTP_PATH_ALLOWED: &str =
    "a URL path starting with '/', at most 256 characters, no spaces, '?' or '#'";

/// What [`host`] allows, in words.
pub const HOST_ALLOWED: &str = "an IP address (such as 0.0.0.0 or ::1) or a host name \
     (RFC 1123: dot-separated labels of 1 to 63 letters, digits and '-', not starting or ending \
     with '-', at most 253 characters, the last label not all digits)";

fn invalid(
    key: &'static str,
    value: String,
    origin: &Origin,
    problem: &str,
    allowed: String,
) -> ConfigError {
    ConfigError::InvalidValue {
        key,
        value,
        origin: origin.clone(),
        problem: problem.to_string(),
        allowed,
    }
}

/// Checks that the number `value` of `key` lies in `min..=max`.
///
/// # Errors
///
/// [`ConfigError::InvalidValue`] ("out of range") naming `key`, `value` and `origin`.
///
/// ```
/// use rt_config::{check, Origin};
///
/// assert!(check::range("max_blocking_threads", 64, 1, 65_536, &Origin::Default).is_ok());
/// let err = check::range("max_blocking_threads", 0, 1, 65_536, &Origin::Default).unwrap_err();
/// assert!(err.to_string().contains("allowed: a whole number from 1 to 65536"), "{err}");
/// ```
pub fn range<T: PartialOrd + Display + Copy>(
    key: &'static str,
    value: T,
    min: T,
    max: T,
    origin: &Origin,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        Err(invalid(
            key,
            value.to_string(),
            origin,
            "out of range",
            format!("a whole number from {min} to {max}"),
        ))
    } else {
        Ok(())
    }
}

/// Checks a thread stack size in bytes: from [`MIN_STACK_SIZE`] to
/// [`MAX_STACK_SIZE`].
///
/// # Errors
///
/// [`ConfigError::InvalidValue`] ("out of range") naming `key`, `value` and `origin`.
pub fn stack_size(key: &'static str, value: usize, origin: &Origin) -> Result<(), ConfigError> {
    if (MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&value) {
        return Ok(());
    }
    Err(invalid(
        key,
        value.to_string(),
        origin,
        "out of range",
        format!(
            "a size in bytes from {MIN_STACK_SIZE} ({}) to {MAX_STACK_SIZE} ({}); suffixes KiB, \
             MiB, GiB are accepted",
            crate::limits::in_binary_units(MIN_STACK_SIZE),
            crate::limits::in_binary_units(MAX_STACK_SIZE),
        ),
    ))
}

/// Checks a thread-name prefix: 1 to [`MAX_THREAD_PREFIX_LEN`]
/// characters from `A-Z a-z 0-9 - _ .`.
///
/// # Errors
///
/// [`ConfigError::InvalidValue`] ("not allowed") naming `key`, `value` and `origin`.
pub fn thread_prefix(key: &'static str, value: &str, origin: &Origin) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_THREAD_PREFIX_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        return Ok(());
    }
    Err(invalid(
        key,
        format!("{value:?}"),
        origin,
        "not allowed",
        format!("1 to {MAX_THREAD_PREFIX_LEN} characters from A-Z, a-z, 0-9, '-', '_', '.'"),
    ))
}

/// Checks an address to bind or connect to: an IPv4 or IPv6 address (`0.0.0.0`, `::1`), or a
/// host name of RFC 1123 labels (`localhost`, `api.example.com`, one trailing dot allowed).
/// A dotted name whose last label is all digits, such as `256.1.1.1`, is neither.
///
/// # Errors
///
/// [`ConfigError::InvalidValue`] naming `key`, `value` and `origin`; `allowed` is
/// [`HOST_ALLOWED`].
pub fn host(key: &'static str, value: &str, origin: &Origin) -> Result<(), ConfigError> {
    if value.parse::<IpAddr>().is_ok() || is_host_name(value) {
        return Ok(());
    }
    Err(invalid(
        key,
        format!("{value:?}"),
        origin,
        "neither an IP address nor a valid host name",
        HOST_ALLOWED.to_string(),
    ))
}

/// RFC 1123 host name: labels of letters, digits and '-' (not at either end), 1 to 63 bytes
/// each, 253 bytes in all, the last label not all digits (so that it cannot be read as an IPv4
/// address).
fn is_host_name(value: &str) -> bool {
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.is_empty() || name.len() > MAX_HOST_NAME_LEN {
        return false;
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    name.split('.').all(label_ok)
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a URL path an HTTP server answers on: starts with `/`, at most 256 characters,
/// printable ASCII without spaces, `?` or `#` ([`HTTP_PATH_ALLOWED`]).
///
/// # Errors
///
/// [`ConfigError::InvalidValue`] ("not allowed") naming `key`, `value` and `origin`;
/// `allowed` is [`HTTP_PATH_ALLOWED`].
pub fn http_path(key: &'static str, value: &str, origin: &Origin) -> Result<(), ConfigError> {
    let ok = value.starts_with('/')
        && value.len() <= MAX_HTTP_PATH_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '?' && c != '#');
    if ok {
        return Ok(());
    }
    Err(invalid(
        key,
        format!("{value:?}"),
        origin,
        "not allowed",
        HTTP_PATH_ALLOWED.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_ok(v: &str) -> bool {
        host("http_host", v, &Origin::Default).is_ok()
    }

    #[test]
    fn hosts() {
        for good in [
            "0.0.0.0",
            "127.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "localhost",
            "api.example.com",
            "api.example.com.",
            "a-b.c0",
            "10.0.0.1x",
            "my-service.ns.svc.cluster.local",
        ] {
            assert!(host_ok(good), "{good}");
        }
        let long_label = "a".repeat(64);
        let long_name = ["abcdefghi"; 26].join(".");
        for bad in [
            "",
            ".",
            "256.1.1.1",
            "1.2.3",
            "1234",
            "999.999.999.999",
            "-a.com",
            "a-.com",
            "a..b",
            "a b",
            "my_host",
            "[::1]",
            "::1%eth0",
            "host:80",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(!host_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_allowed_texts_state_the_limits() {
        assert!(HTTP_PATH_ALLOWED.contains(&MAX_HTTP_PATH_LEN.to_string()));
        assert!(HOST_ALLOWED.contains(&MAX_HOST_NAME_LEN.to_string()));
        assert!(HOST_ALLOWED.contains(&MAX_LABEL_LEN.to_string()));
    }

    #[test]
    fn paths() {
        let ok = |v: &str| http_path("p", v, &Origin::Default).is_ok();
        assert!(ok("/health") && ok("/a/b-c_d.e"));
        assert!(!ok("health") && !ok("/a b") && !ok("/a?b") && !ok("/a#b") && !ok(""));
        assert!(!ok(&format!("/{}", "a".repeat(256))));
    }
}
