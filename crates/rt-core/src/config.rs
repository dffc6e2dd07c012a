//! Configuration: [`RuntimeConfig`] and its builder, the loader (defaults, TOML files, `DYN_*`
//! environment variables), the key table, the [`check`] rules and every default and limit (the
//! `rt-config` crate).
//!
//! Every item of `rt-config` is here and only here: none of them is at the crate root.

pub use rt_config::*;
