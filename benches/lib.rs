//! Criterion benchmarks of the runtime (see `benches/`); run them with `cargo xtask bench`.
//!
//! This library holds what the bench binaries share: the `RT_BENCH_QUICK` switch, order
//! statistics over samples, the `RT_BENCH_JSONL` summary line, and raising the open-file
//! limit (the `http` bench and its probe each hold 10,000 sockets).
//!
//! The convention, read by `cargo xtask bench`: when `RT_BENCH_JSONL` names a file, each bench
//! binary appends one JSON object per line to it, each top-level key a section
//! (`{"tracker": {"class_ns": 3.1, ...}}`); when `RT_BENCH_QUICK` is set to anything but `0`
//! (or empty) it shortens its run.
//!
//! ```
//! use rt_benches::{json_line, percentile};
//!
//! let mut samples = vec![3.0, 1.0, 2.0];
//! assert_eq!(percentile(&mut samples, 50.0), 2.0);
//! assert_eq!(
//!     json_line("demo", &[("a_ns", 1.5), ("n", 100.0)]),
//!     r#"{"demo": {"a_ns": 1.500, "n": 100.000}}"#
//! );
//! ```
#![forbid(unsafe_code)]

use std::io::Write;

pub mod load;

/// Whether `RT_BENCH_QUICK` asks for a short run (set and neither empty nor `0`).
pub fn quick() -> bool {
    std::env::var_os("RT_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The `p`-th percentile (0 to 100, nearest rank) of `samples`, which it sorts; NaN when
/// there are none.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let last = samples.len() - 1;
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * last as f64).round() as usize;
    samples[rank.min(last)]
}

/// One JSON line holding one section: `{"<section>": {"<key>": <value>, ...}}`. Values are
/// written with three decimals; a value that is not finite is written as `null`.
pub fn json_line(section: &str, fields: &[(&str, f64)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let v = if v.is_finite() {
                format!("{v:.3}")
            } else {
                "null".into()
            };
            format!("\"{k}\": {v}")
        })
        .collect();
    format!("{{\"{section}\": {{{}}}}}", inner.join(", "))
}

/// Appends `line` to the file that `RT_BENCH_JSONL` names; does nothing when it is unset.
///
/// # Errors
///
/// The file cannot be opened for appending or written to.
pub fn append_jsonl(line: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("RT_BENCH_JSONL") else {
        return Ok(());
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")
}

/// The runtime a bench's server runs on, standing for one process: 2 tokio workers, no
/// compute pool, no event-loop stall probe (its periodic wake-ups would be measured too).
///
/// # Errors
///
/// The runtime cannot start (threads cannot be spawned).
pub fn server_runtime() -> Result<rt_core::Runtime, rt_core::BoxError> {
    let config = rt_core::config::RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(0)
        .stall_probe_interval_ms(0)
        .build()?;
    Ok(rt_core::Runtime::from_config(config)?)
}

/// Raises this process's soft `RLIMIT_NOFILE` to at least `min` open files (up to the hard
/// limit, which an unprivileged process cannot raise); returns the soft limit now in force.
///
/// # Errors
///
/// The limit cannot be read or set, or the hard limit is below `min`: the message says what
/// to change (`ulimit -Hn`, or `nofile` in `/etc/security/limits.conf`).
pub fn raise_nofile(min: u64) -> Result<u64, String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};

    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read RLIMIT_NOFILE: {e}"))?;
    if soft >= min {
        return Ok(soft);
    }
    if hard < min {
        return Err(format!(
            "this bench needs {min} open files but the hard limit (RLIMIT_NOFILE) is {hard}; \
             raise it (`ulimit -Hn {min}` as root, or `nofile` in /etc/security/limits.conf) \
             and run again"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, min, hard)
        .map_err(|e| format!("cannot raise RLIMIT_NOFILE from {soft} to {min}: {e}"))?;
    Ok(min)
}
