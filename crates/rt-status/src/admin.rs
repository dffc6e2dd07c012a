//! Who may call the admin paths (`POST /drain`, `POST /resume`): the token, its constant-time
//! comparison, and the rule.

use std::fmt;
use std::path::Path;

use axum::http::{header, HeaderMap};

use crate::StatusError;

/// The shortest token accepted: shorter ones are guessable.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// The admin calls' access rule, fixed when the server starts.
pub(crate) struct Admin {
    /// The bearer token required, if configured.
    token: Option<Vec<u8>>,
    /// Whether the server is bound to a loopback address.
    loopback: bool,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token itself.
        f.debug_struct("Admin")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("loopback", &self.loopback)
            .finish()
    }
}

/// Why an admin call was refused (for the log and the 403 body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No token configured and the server is reachable from other hosts.
    NoTokenConfigured,
    /// A token is configured and the request carries no `Authorization: Bearer`.
    Missing,
    /// The request's token is not the configured one.
    Wrong,
}

impl Denied {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Denied::NoTokenConfigured => {
                "the status server is bound to a non-loopback address and no admin token is \
                 configured: set DYN_SYSTEM_ADMIN_TOKEN_FILE (system_admin_token_file), or bind \
                 DYN_SYSTEM_HOST to 127.0.0.1"
            }
            Denied::Missing => "send the admin token as `Authorization: Bearer <token>`",
            Denied::Wrong => "the admin token does not match",
        }
    }
}

impl Admin {
    /// The rule for a server bound to a loopback address or not, with `token` if any.
    pub(crate) fn new(token: Option<String>, loopback: bool) -> Self {
        Self {
            token: token.map(String::into_bytes),
            loopback,
        }
    }

    /// Whether a token is configured.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `headers` may call an admin path: with a token configured, only with that token
    /// (also on loopback); without one, only on a loopback bind.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let Some(token) = &self.token else {
            return if self.loopback {
                Ok(())
            } else {
                Err(Denied::NoTokenConfigured)
            };
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(Denied::Missing)?;
        if constant_time_eq(given.trim().as_bytes(), token) {
            Ok(())
        } else {
            Err(Denied::Wrong)
        }
    }
}

/// Reads the token from `path`: the file's content with surrounding whitespace trimmed.
pub(crate) fn read_token(path: &Path) -> Result<String, StatusError> {
    let error = |reason: String| StatusError::AdminToken {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let token = text.trim();
    check_token(token).map_err(|reason| error(reason.to_owned()))?;
    Ok(token.to_owned())
}

/// Checks a token's shape: long enough, printable ASCII without spaces (a header value).
pub(crate) fn check_token(token: &str) -> Result<(), &'static str> {
    if token.len() < MIN_TOKEN_LEN {
        return Err("the token is shorter than 16 characters");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token must be printable ASCII without spaces (it is sent in a header)");
    }
    Ok(())
}

/// Compares `given` with `expected` in time that depends only on their lengths, not on where
/// they first differ (no early exit; `black_box` keeps the compiler from adding one).
pub(crate) fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!*e);
        diff |= std::hint::black_box(g ^ e);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    fn with(auth: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(auth) = auth {
            if let Ok(value) = HeaderValue::from_str(auth) {
                headers.insert(header::AUTHORIZATION, value);
            }
        }
        headers
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(constant_time_eq(b"", b""));
        // A prefix padded with what `unwrap_or` substitutes cannot match.
        assert!(!constant_time_eq(&[0x00], &[0x00, 0xff]));
    }

    #[test]
    fn the_rule() {
        let open = Admin::new(None, true);
        assert_eq!(open.check(&with(None)), Ok(()));
        let exposed = Admin::new(None, false);
        assert_eq!(
            exposed.check(&with(Some(&format!("Bearer {TOKEN}")))),
            Err(Denied::NoTokenConfigured)
        );
        for loopback in [true, false] {
            let guarded = Admin::new(Some(TOKEN.to_owned()), loopback);
            assert_eq!(guarded.check(&with(None)), Err(Denied::Missing));
            assert_eq!(guarded.check(&with(Some(TOKEN))), Err(Denied::Missing));
            assert_eq!(
                guarded.check(&with(Some("Bearer 0123456789abcdef-tokeN"))),
                Err(Denied::Wrong)
            );
            assert_eq!(
                guarded.check(&with(Some(&format!("Bearer {TOKEN}")))),
                Ok(())
            );
        }
        assert!(!format!("{:?}", Admin::new(Some(TOKEN.to_owned()), true)).contains(TOKEN));
    }

    #[test]
    fn token_shape() {
        assert!(check_token("short").is_err());
        assert!(check_token("has a space in it!!").is_err());
        assert!(check_token(TOKEN).is_ok());
    }
}
