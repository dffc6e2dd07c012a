//! `RuntimeConfig`: every process-level setting of the runtime.
//!
//! The struct, its `Default`, the rendering and the per-key checks come from the key table
//! (`table.rs`); this file adds what is not one key's business.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::field::FieldValue;
use crate::keys::{keys, spec};
use crate::limits;
use crate::table::{first_of, key_table};
use crate::{ComputeConfig, ConfigError, Origin};

/// Where each key's value came from, with the value as it was then (so that a field assigned
/// afterwards is not credited to the file or variable), and the order the keys were set in.
/// Ignored by `==`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    /// Per key: the origin, the rendered value and the sequence number of the setting.
    entries: BTreeMap<&'static str, (Origin, String, u64)>,
    /// The sequence number of the next setting.
    next: u64,
}

impl PartialEq for Provenance {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Provenance {}

/// Declares the struct, its `Default`, `render` and the per-key checks from the key table.
macro_rules! runtime_config {
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
        /// Configuration of a runtime process: tokio runtimes, shutdown deadlines, compute pool,
        /// signals, status server.
        ///
        /// Build one with [`RuntimeConfig::from_settings`] (defaults, TOML files, environment; needs
        /// the default `loader` feature), [`RuntimeConfig::builder`], [`RuntimeConfig::single_threaded`]
        /// or [`Default`]. The loader and the builder validate; a value built by hand or deserialised
        /// with serde is checked by [`validate`](Self::validate). Every key, its environment variable,
        /// type, default and range are listed in `docs/configuration.md` and by [`keys()`](crate::keys).
        ///
        /// `==` compares values only, not where they came from.
        ///
        /// ```
        /// use rt_config::RuntimeConfig;
        ///
        /// let config = RuntimeConfig::default();
        /// assert_eq!(config.max_blocking_threads, 512);
        /// assert_eq!(config.graceful_shutdown_timeout().as_secs(), 900);
        /// assert!(config.compute_config().is_some());
        /// config.validate()?;
        /// # Ok::<(), rt_config::ConfigError>(())
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct RuntimeConfig {
            $(
                #[doc = $about]
                #[doc = ""]
                #[doc = concat!("Variable `", $env, "`.")]
                $(#[$doc])*
                pub $field: $fty,
            )*
            #[serde(skip)]
            pub(crate) provenance: Provenance,
        }

        impl Default for RuntimeConfig {
            fn default() -> Self {
                #[allow(unused_imports)]
                use crate::limits::*;
                RuntimeConfig {
                    $($field: $default,)*
                    provenance: Provenance::default(),
                }
            }
        }

        impl RuntimeConfig {
            /// A key's value in TOML syntax (strings quoted, an unset optional as its word,
            /// e.g. `"auto"`); empty for an unknown key.
            pub(crate) fn render(&self, key: &str) -> String {
                $(
                    if key == stringify!($field) {
                        let none_word: Option<&str> = first_of!($(Some($none))?; None);
                        return FieldValue::render(&self.$field, none_word);
                    }
                )*
                String::new()
            }

            /// Checks each key against its own rule, in table order.
            fn check_keys(&self) -> Result<(), ConfigError> {
                #[allow(unused_imports)]
                use crate::limits::*;
                #[allow(unused_imports)]
                use crate::rule::{range, Rule::*};
                $(
                    let key = stringify!($field);
                    ($rule).apply(key, FieldValue::subject(&self.$field), &self.origin(key))?;
                )*
                Ok(())
            }
        }

        /// The keys whose rule cannot check their field's type.
        #[cfg(test)]
        fn misfit_rules() -> Vec<&'static str> {
            #[allow(unused_imports)]
            use crate::limits::*;
            #[allow(unused_imports)]
            use crate::rule::{range, Rule::*};
            let mut misfits = Vec::new();
            $(
                if !($rule).fits(<$fty as FieldValue>::KIND) {
                    misfits.push(stringify!($field));
                }
            )*
            misfits
        }
    };
}

key_table!(runtime_config);

impl RuntimeConfig {
    /// A configuration for debugging on one core: 1 tokio worker thread, a blocking pool of
    /// 8 threads, and a compute pool of **1** thread (kept rather than disabled, so that
    /// `compute_*!` offloads behave as in production: same thread hop, panics returned as
    /// errors, no "pool missing" warnings). Every other key keeps its default.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let config = RuntimeConfig::single_threaded();
    /// assert_eq!(config.num_worker_threads, Some(1));
    /// assert_eq!(config.max_blocking_threads, 8);
    /// assert_eq!(config.compute_config().unwrap().resolved_num_threads(), 1);
    /// assert!(config.explain().contains("code:RuntimeConfig::single_threaded\tnum_worker_threads = 1"));
    /// ```
    pub fn single_threaded() -> Self {
        let mut config = RuntimeConfig {
            num_worker_threads: Some(1),
            max_blocking_threads: 8,
            compute_threads: Some(1),
            ..RuntimeConfig::default()
        };
        for key in [
            "num_worker_threads",
            "max_blocking_threads",
            "compute_threads",
        ] {
            config.record(key, Origin::Code("RuntimeConfig::single_threaded"));
        }
        config
    }

    /// Remembers that `key`'s current value came from `origin`.
    pub(crate) fn record(&mut self, key: &'static str, origin: Origin) {
        let value = self.render(key);
        let seq = self.provenance.next;
        self.provenance.next += 1;
        self.provenance.entries.insert(key, (origin, value, seq));
    }

    /// Where `key`'s current value came from.
    ///
    /// A value set by the loader or the builder reports that source; a value assigned to the
    /// field afterwards reports [`Origin::Code`]; an untouched value reports [`Origin::Default`].
    /// Returns `None` for an unknown key.
    pub fn origin_of(&self, key: &str) -> Option<Origin> {
        let spec = spec(key)?;
        let current = self.render(spec.name);
        if let Some((origin, value, _)) = self.provenance.entries.get(spec.name) {
            if *value == current {
                return Some(origin.clone());
            }
        }
        if RuntimeConfig::default().render(spec.name) == current {
            Some(Origin::Default)
        } else {
            Some(Origin::Code("field assigned"))
        }
    }

    /// Checks every key against its allowed range (see `docs/configuration.md`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] for the first bad key, naming the key, the value, where it
    /// came from ([`origin_of`](Self::origin_of)) and what is allowed.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let mut config = RuntimeConfig::default();
    /// config.num_worker_threads = Some(0);
    /// let err = config.validate().unwrap_err().to_string();
    /// assert!(err.contains("`num_worker_threads`"), "{err}");
    /// assert!(err.contains("allowed: a whole number from 1 to 1024"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_keys()?;
        self.check_conflicts()
    }

    /// [`origin_of`](Self::origin_of) for a key of the table.
    fn origin(&self, key: &str) -> Origin {
        self.origin_of(key).unwrap_or(Origin::Default)
    }

    /// The rules between two keys.
    fn check_conflicts(&self) -> Result<(), ConfigError> {
        self.distinct("system_health_path", "system_live_path", "a path")
    }

    /// Checks that keys `a` and `b` differ (`what` names what they are, for the message). When they do not, the error is about the key that
    /// was set last (a built-in default never counts as set; on a tie, `b`), naming its value
    /// and source, and mentions the other key with its value and source.
    fn distinct(&self, a: &'static str, b: &'static str, what: &str) -> Result<(), ConfigError> {
        let (value_a, value_b) = (self.render(a), self.render(b));
        if value_a != value_b {
            return Ok(());
        }
        let (blamed, other) = if self.set_order(a) > self.set_order(b) {
            (a, b)
        } else {
            (b, a)
        };
        Err(ConfigError::InvalidValue {
            key: blamed,
            value: value_a,
            origin: self.origin(blamed),
            problem: format!(
                "the same value as `{other}` ({value_b} from {})",
                self.origin(other)
            ),
            allowed: format!("{what} different from {other}"),
        })
    }

    /// When `key`'s current value was set, relative to the other keys: 0 for the built-in
    /// default, the sequence number of its setting for a recorded one, the largest value for a
    /// field assigned after loading or building.
    fn set_order(&self, key: &str) -> u64 {
        match self.origin(key) {
            Origin::Default => 0,
            origin => match self.provenance.entries.get(key) {
                Some((recorded, _, seq)) if *recorded == origin => seq + 1,
                _ => u64::MAX,
            },
        }
    }

    /// Worker threads of the primary runtime: `num_worker_threads`, or the available cores.
    pub fn resolved_num_worker_threads(&self) -> usize {
        self.num_worker_threads
            .unwrap_or_else(limits::available_cores)
    }

    /// [`graceful_shutdown_timeout_secs`](Self::graceful_shutdown_timeout_secs) as a `Duration`.
    pub fn graceful_shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.graceful_shutdown_timeout_secs)
    }

    /// [`teardown_timeout_secs`](Self::teardown_timeout_secs) as a `Duration`.
    pub fn teardown_timeout(&self) -> Duration {
        Duration::from_secs(self.teardown_timeout_secs)
    }

    /// [`worker_graceful_shutdown_timeout_secs`](Self::worker_graceful_shutdown_timeout_secs)
    /// as a `Duration`.
    pub fn worker_graceful_shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.worker_graceful_shutdown_timeout_secs)
    }

    /// [`signal_debounce_ms`](Self::signal_debounce_ms) as a `Duration` (zero: every signal counts).
    pub fn signal_debounce(&self) -> Duration {
        Duration::from_millis(self.signal_debounce_ms)
    }

    /// The compute pool's configuration, or `None` when `compute_threads == Some(0)` (no pool).
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let config = RuntimeConfig::builder().compute_threads(3).compute_thread_prefix("cpu").build()?;
    /// let compute = config.compute_config().unwrap();
    /// assert_eq!(compute.num_threads, Some(3));
    /// assert_eq!(compute.thread_prefix, "cpu");
    /// # Ok::<(), rt_config::ConfigError>(())
    /// ```
    pub fn compute_config(&self) -> Option<ComputeConfig> {
        if self.compute_threads == Some(0) {
            return None;
        }
        Some(ComputeConfig {
            num_threads: self.compute_threads,
            stack_size: self.compute_stack_size,
            thread_prefix: self.compute_thread_prefix.clone(),
            pin_threads: self.compute_pin_threads,
            bridge_spin_us: self.compute_bridge_spin_us,
        })
    }

    /// Every key with its value and where the value came from, one key per line, in the form
    /// `origin<TAB>key = value` (like `git config --show-origin`). Origins are `default`,
    /// `file:<path>`, `env:<VARIABLE>` or `code:<what>`. The `key = value` parts are valid TOML.
    ///
    /// ```
    /// use rt_config::RuntimeConfig;
    ///
    /// let config = RuntimeConfig::builder().http_port(9000).build()?;
    /// let text = config.explain();
    /// assert!(text.contains("code:RuntimeConfigBuilder\thttp_port = 9000"));
    /// assert!(text.contains("default\tmax_blocking_threads = 512"));
    /// assert_eq!(text.lines().count(), rt_config::keys().len());
    /// # Ok::<(), rt_config::ConfigError>(())
    /// ```
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for spec in keys() {
            let origin = self.origin_of(spec.name).unwrap_or(Origin::Default);
            out.push_str(&format!(
                "{}\t{} = {}\n",
                origin.short(),
                spec.name,
                self.render(spec.name)
            ));
        }
        out
    }
}

impl fmt::Display for RuntimeConfig {
    /// Every key on one line, `key=value` separated by spaces, in [`keys()`](crate::keys) order,
    /// for the startup log.
    ///
    /// ```
    /// let line = rt_config::RuntimeConfig::default().to_string();
    /// assert!(line.starts_with("num_worker_threads=\"auto\" max_blocking_threads=512 "));
    /// assert!(!line.contains('\n'));
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, spec) in keys().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", spec.name, self.render(spec.name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_fits_its_field() {
        assert_eq!(misfit_rules(), Vec::<&str>::new());
    }

    #[test]
    fn defaults_are_valid_and_render_as_the_specs_say() {
        let config = RuntimeConfig::default();
        config.validate().unwrap();
        for spec in keys() {
            let rendered = config.render(spec.name);
            assert!(!rendered.is_empty(), "{}", spec.name);
            assert!(
                spec.default.contains(rendered.trim_matches('"')),
                "{}",
                spec.name
            );
        }
    }
}
