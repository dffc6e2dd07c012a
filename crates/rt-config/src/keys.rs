//! The table of configuration keys: field name, environment variable, type, default, range.
//!
//! Environment variables map to fields through this table only; names are never split at `_`.
//! The specs are built from the key table (`table.rs`), as are the fields, the loader and the
//! builder.

use std::sync::LazyLock;

use crate::table::{first_of, key_table};

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

/// Builds the specs from the key table (once; the strings live as long as the process).
macro_rules! specs {
    ($(
        $(#[$doc:meta])*
        $field:ident: $fty:ty {
            env: $env:literal,
            ty: $ty:literal,
            default: $default:expr,
            $(shown: $shown:expr,)?
            $(none: $none:literal,)?
            rule: $rule:expr,
            $(note: $note:literal,)?
            parse: $parse:ident,
            setter: $setter:ty,
            about: $about:literal,
        }
    )*) => {
        vec![$({
            #[allow(unused_imports)]
            use crate::limits::*;
            #[allow(unused_imports)]
            use crate::rule::{range, Rule::*};
            let none_word: Option<&'static str> = first_of!($(Some($none))?; None);
            let _default: $fty = $default;
            let shown: String = first_of!(
                $(($shown).to_string())?;
                crate::field::FieldValue::render(&_default, none_word)
            );
            let allowed = format!("{}{}", ($rule).words(), first_of!($($note)?; ""));
            KeySpec {
                name: stringify!($field),
                env: $env,
                ty: $ty,
                default: leak(shown),
                allowed: leak(allowed),
                description: $about,
                none_word,
            }
        }),*]
    };
}

/// A string built once for the process-wide key table.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

static KEYS: LazyLock<Vec<KeySpec>> = LazyLock::new(|| key_table!(specs));

/// Every configuration key, in the order `explain()` and `Display` print them.
///
/// ```
/// let keys = rt_config::keys();
/// let spec = keys.iter().find(|k| k.name == "compute_threads").unwrap();
/// assert_eq!(spec.env, "DYN_COMPUTE_THREADS");
/// ```
pub fn keys() -> &'static [KeySpec] {
    &KEYS
}

/// The spec of a key by name.
pub(crate) fn spec(name: &str) -> Option<&'static KeySpec> {
    keys().iter().find(|k| k.name == name)
}

/// Every environment variable the loader reads: one per key, plus [`CONFIG_FILE_VAR`].
///
/// ```
/// assert!(rt_config::env_vars().any(|v| v == "DYN_RUNTIME_CONFIG_FILE"));
/// ```
pub fn env_vars() -> impl Iterator<Item = &'static str> {
    keys()
        .iter()
        .map(|k| k.env)
        .chain(std::iter::once(CONFIG_FILE_VAR))
}
