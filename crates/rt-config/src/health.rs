//! The status server's health answer before the application reports readiness.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Health status reported by the status server (`DYN_SYSTEM_STARTING_HEALTH_STATUS` sets the
/// value it starts with).
///
/// Serialised in lower case: `"ready"` or `"notready"`. Parsing with [`FromStr`] ignores case.
///
/// ```
/// use rt_config::HealthStatus;
///
/// assert_eq!("Ready".parse::<HealthStatus>(), Ok(HealthStatus::Ready));
/// assert_eq!(HealthStatus::NotReady.to_string(), "notready");
/// assert!("maybe".parse::<HealthStatus>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The process is ready to receive traffic.
    Ready,
    /// The process is not (yet) ready to receive traffic. The default starting status.
    #[default]
    NotReady,
}

impl HealthStatus {
    /// The serialised name: `"ready"` or `"notready"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ready => "ready",
            HealthStatus::NotReady => "notready",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a string is neither `ready` nor `notready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseHealthStatusError(pub String);

impl fmt::Display for ParseHealthStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a health status; use \"ready\" or \"notready\"",
            self.0
        )
    }
}

impl std::error::Error for ParseHealthStatusError {}

impl FromStr for HealthStatus {
    type Err = ParseHealthStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ready" => Ok(HealthStatus::Ready),
            "notready" | "not_ready" | "not-ready" => Ok(HealthStatus::NotReady),
            _ => Err(ParseHealthStatusError(s.to_string())),
        }
    }
}
