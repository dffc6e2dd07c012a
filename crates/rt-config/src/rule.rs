//! The rule of one key in the key table: what it checks, and the allowed values in words.

use crate::check;
use crate::field::Subject;
use crate::limits::{in_binary_units, MAX_STACK_SIZE, MAX_THREAD_PREFIX_LEN, MIN_STACK_SIZE};
use crate::{ConfigError, Origin};

/// A key's rule, as written in its table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// A whole number from `.0` to `.1` ([`check::range`]).
    Range(u64, u64),
    /// A thread stack size ([`check::stack_size`]).
    Stack,
    /// A thread-name prefix ([`check::thread_prefix`]).
    Prefix,
    /// An IP address or host name ([`check::host`]).
    Host,
    /// A URL path ([`check::http_path`]).
    HttpPath,
    /// No check beyond the conversion; the allowed values in words.
    Words(&'static str),
}

/// [`Rule::Range`] from bounds of any unsigned type.
pub(crate) fn range<T: TryInto<u64>>(min: T, max: T) -> Rule {
    Rule::Range(
        min.try_into().unwrap_or(u64::MAX),
        max.try_into().unwrap_or(u64::MAX),
    )
}

impl Rule {
    /// The allowed values in words, as `KeySpec::allowed` and the documentation show them.
    pub(crate) fn words(self) -> String {
        match self {
            Rule::Range(min, max) => format!("{min} to {max}"),
            Rule::Stack => format!(
                "{MIN_STACK_SIZE} ({}) to {MAX_STACK_SIZE} ({})",
                in_binary_units(MIN_STACK_SIZE),
                in_binary_units(MAX_STACK_SIZE)
            ),
            Rule::Prefix => {
                format!("1 to {MAX_THREAD_PREFIX_LEN} characters from A-Z a-z 0-9 - _ .")
            }
            Rule::Host => "an IP address or host name (RFC 1123)".to_string(),
            Rule::HttpPath => check::HTTP_PATH_ALLOWED.to_string(),
            Rule::Words(words) => words.to_string(),
        }
    }

    /// Whether the rule can check a value of `kind` (a rule that cannot would let every value
    /// pass).
    #[cfg(test)]
    pub(crate) fn fits(self, kind: crate::field::Kind) -> bool {
        use crate::field::Kind;
        match self {
            Rule::Range(..) | Rule::Stack => kind == Kind::Number,
            Rule::Prefix | Rule::Host | Rule::HttpPath => kind == Kind::Text,
            Rule::Words(_) => true,
        }
    }

    /// Checks `subject`, the value of `key` from `origin`. A subject the rule does not apply
    /// to (an unset optional) passes.
    pub(crate) fn apply(
        self,
        key: &'static str,
        subject: Subject<'_>,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        match (self, subject) {
            (Rule::Range(min, max), Subject::Number(n)) => check::range(key, n, min, max, origin),
            (Rule::Stack, Subject::Number(n)) => {
                check::stack_size(key, usize::try_from(n).unwrap_or(usize::MAX), origin)
            }
            (Rule::Prefix, Subject::Text(s)) => check::thread_prefix(key, s, origin),
            (Rule::Host, Subject::Text(s)) => check::host(key, s, origin),
            (Rule::HttpPath, Subject::Text(s)) => check::http_path(key, s, origin),
            _ => Ok(()),
        }
    }
}
