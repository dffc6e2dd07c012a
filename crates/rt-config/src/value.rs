//! Value conversion for the loader: a variable's text or a TOML value into a field's type.
//!
//! Each conversion returns the problem in words; the loader turns it into a
//! [`ConfigError::InvalidValue`](crate::ConfigError::InvalidValue) naming key, value and source.
//! The functions with the `(raw, none_word)` signature are the `parse:` entries of the key table.

use std::fmt;

use config::ValueKind;

use crate::HealthStatus;

/// A value before conversion: text from a variable, or a typed TOML value.
#[derive(Debug, Clone)]
pub(crate) enum Raw {
    Text(String),
    Int(i128),
    Bool(bool),
    Float(f64),
    Str(String),
    Other(&'static str),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Text(s) | Raw::Str(s) => write!(f, "{s:?}"),
            Raw::Int(i) => write!(f, "{i}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::Float(x) => write!(f, "{x}"),
            Raw::Other(what) => f.write_str(what),
        }
    }
}

impl From<ValueKind> for Raw {
    fn from(kind: ValueKind) -> Self {
        match kind {
            ValueKind::Nil => Raw::Other("an empty value"),
            ValueKind::Boolean(b) => Raw::Bool(b),
            ValueKind::I64(i) => Raw::Int(i.into()),
            ValueKind::I128(i) => Raw::Int(i),
            ValueKind::U64(u) => Raw::Int(u.into()),
            ValueKind::U128(u) => Raw::Int(i128::try_from(u).unwrap_or(i128::MAX)),
            ValueKind::Float(x) => Raw::Float(x),
            ValueKind::String(s) => Raw::Str(s),
            ValueKind::Table(_) => Raw::Other("a table"),
            ValueKind::Array(_) => Raw::Other("an array"),
        }
    }
}

/// A whole number of the field's type.
pub(crate) fn number<T: TryFrom<u64>>(raw: &Raw, _none_word: Option<&str>) -> Result<T, String> {
    narrow(uint(raw)?)
}

/// A whole number, or `none_word` for `None`.
pub(crate) fn optional_number<T: TryFrom<u64>>(
    raw: &Raw,
    none_word: Option<&str>,
) -> Result<Option<T>, String> {
    optional(raw, none_word, |r| narrow(uint(r)?))
}

/// A size in bytes (see [`bytes`]) of the field's type.
pub(crate) fn byte_size<T: TryFrom<u64>>(raw: &Raw, _none_word: Option<&str>) -> Result<T, String> {
    narrow(bytes(raw)?)
}

/// A size in bytes (see [`bytes`]), or `none_word` for `None`.
pub(crate) fn optional_bytes(raw: &Raw, none_word: Option<&str>) -> Result<Option<usize>, String> {
    optional(raw, none_word, |r| narrow(bytes(r)?))
}

/// A string.
pub(crate) fn string(raw: &Raw, _none_word: Option<&str>) -> Result<String, String> {
    text(raw)
}

/// A boolean (see [`flag`]).
pub(crate) fn boolean(raw: &Raw, _none_word: Option<&str>) -> Result<bool, String> {
    flag(raw)
}

/// A [`HealthStatus`], by name.
pub(crate) fn health_status(raw: &Raw, _none_word: Option<&str>) -> Result<HealthStatus, String> {
    text(raw)?
        .parse::<HealthStatus>()
        .map_err(|e| e.to_string())
}

fn optional<T>(
    raw: &Raw,
    none_word: Option<&str>,
    f: impl Fn(&Raw) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if let (Raw::Text(s) | Raw::Str(s), Some(word)) = (raw, none_word) {
        if s.trim().eq_ignore_ascii_case(word) {
            return Ok(None);
        }
    }
    f(raw).map(Some)
}

fn type_problem(raw: &Raw, expected: &str) -> String {
    match raw {
        Raw::Str(_) => format!("expected {expected}, found a quoted string"),
        Raw::Bool(_) => format!("expected {expected}, found a boolean"),
        Raw::Float(_) => format!("expected {expected}, found a fractional number"),
        Raw::Int(_) => format!("expected {expected}, found a number"),
        Raw::Other(what) => format!("expected {expected}, found {what}"),
        Raw::Text(_) => format!("expected {expected}"),
    }
}

fn uint(raw: &Raw) -> Result<u64, String> {
    match raw {
        Raw::Int(i) if *i < 0 => Err("negative numbers are not allowed".to_string()),
        Raw::Int(i) => u64::try_from(*i).map_err(|_| "the number is too large".to_string()),
        Raw::Text(s) => {
            let s = s.trim();
            let digits = s.strip_prefix('-').unwrap_or(s);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                if s.starts_with('-') {
                    Err("negative numbers are not allowed".to_string())
                } else {
                    s.parse().map_err(|_| "the number is too large".to_string())
                }
            } else {
                Err("not a whole number".to_string())
            }
        }
        other => Err(type_problem(
            other,
            "a whole number (write numbers without quotes)",
        )),
    }
}

fn narrow<T: TryFrom<u64>>(v: u64) -> Result<T, String> {
    T::try_from(v).map_err(|_| "the number is too large".to_string())
}

/// Bytes, either a whole number or a string with a binary suffix: `512KiB`, `2MiB`, `1GiB`
/// (also `K`, `M`, `G`, `KB`, `MB`, `GB`, meaning the same powers of 1024).
fn bytes(raw: &Raw) -> Result<u64, String> {
    let text = match raw {
        Raw::Text(s) | Raw::Str(s) => s.trim(),
        Raw::Int(_) => return uint(raw),
        other => return Err(type_problem(other, "a size in bytes")),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ if text.starts_with('-') => return Err("negative numbers are not allowed".to_string()),
        _ => {
            return Err(
                "not a size: use a whole number of bytes or a KiB/MiB/GiB suffix".to_string(),
            )
        }
    };
    let n: u64 = number.parse().map_err(|_| {
        "not a size: use a whole number of bytes or a KiB/MiB/GiB suffix".to_string()
    })?;
    n.checked_mul(multiplier)
        .ok_or_else(|| "the number is too large".to_string())
}

/// `true`/`false` in TOML; in text also 1/0, yes/no, on/off.
fn flag(raw: &Raw) -> Result<bool, String> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err("not a boolean".to_string()),
        },
        other => Err(type_problem(other, "true or false (without quotes)")),
    }
}

fn text(raw: &Raw) -> Result<String, String> {
    match raw {
        Raw::Text(s) | Raw::Str(s) => Ok(s.clone()),
        other => Err(type_problem(other, "a string in quotes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes(&Raw::Text("2MiB".into())), Ok(2 << 20));
        assert_eq!(bytes(&Raw::Str("512 KiB".into())), Ok(512 << 10));
        assert_eq!(bytes(&Raw::Int(4096)), Ok(4096));
        assert!(bytes(&Raw::Text("-1".into()))
            .unwrap_err()
            .contains("negative"));
        assert!(bytes(&Raw::Text("2 parsecs".into())).is_err());
        assert!(bytes(&Raw::Text("99999999999999999999G".into())).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(uint(&Raw::Text(" 42 ".into())), Ok(42));
        assert!(uint(&Raw::Text("-3".into()))
            .unwrap_err()
            .contains("negative"));
        assert!(uint(&Raw::Text("4x".into()))
            .unwrap_err()
            .contains("not a whole number"));
        assert!(uint(&Raw::Text("99999999999999999999999".into()))
            .unwrap_err()
            .contains("too large"));
        assert!(uint(&Raw::Str("4".into()))
            .unwrap_err()
            .contains("quoted string"));
        assert!(narrow::<u16>(70_000).is_err());
    }

    #[test]
    fn booleans() {
        for t in ["true", "1", "YES", "on"] {
            assert_eq!(flag(&Raw::Text(t.into())), Ok(true));
        }
        for f in ["false", "0", "no", "Off"] {
            assert_eq!(flag(&Raw::Text(f.into())), Ok(false));
        }
        assert!(flag(&Raw::Text("maybe".into())).is_err());
        assert!(flag(&Raw::Str("true".into())).is_err());
    }
}
