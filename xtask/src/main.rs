//! Project automation, run as `cargo xtask <command>` (the cargo-xtask pattern).
//!
//! * `cargo xtask ci`: the whole gate: formatting, clippy, tests (plus the feature and
//!   loom variants) and docs, stopping at the first failing step and naming it. It first
//!   installs what the tests need besides Rust when it is missing (`etcd`, `protoc`).
//! * `cargo xtask bench [--quick]`: the benchmarks, a table of their figures and
//!   `target/xtask/bench-summary.json`.
//! * `cargo xtask demo [driver args]`: builds the demo service in release mode, loads it,
//!   sends SIGTERM with requests in flight and prints what the shutdown did.
//! * `cargo xtask cluster [driver args]`: a real etcd, three workers and a router on loopback
//!   under load; a rolling restart and a `kill -9`; a table of what the clients saw.
//! * `cargo xtask tidy`: layout rules the compiler does not check (no file circles, no
//!   unsafe code); also the first step of `ci`.

#![forbid(unsafe_code)]

use std::process::{Command, ExitCode};

mod bench;
mod ci;
mod cluster;
mod demo;
mod setup;
mod tidy;

fn usage() -> &'static str {
    "usage: cargo xtask <command>\n\ncommands:\n  ci      fmt, clippy, tests, loom, docs (stops at the first failure)\n  bench   benchmarks + target/xtask/bench-summary.json (--quick: under 2 minutes)\n  demo    build the demo service, load it, SIGTERM it mid-flight, print the shutdown table\n  cluster etcd + workers + router under load: rolling restart, kill -9, the table of losses\n  setup   install what the tests need besides Rust (etcd, protoc) when missing
  tidy    no file circles inside a crate, forbid(unsafe_code) everywhere\n"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "ci" => ci::run(rest),
        "bench" => bench::run(rest),
        "demo" => demo::run(rest),
        "cluster" => cluster::run(rest),
        "tidy" => tidy::run(rest),
        "setup" => setup::ensure(),
        "help" | "--help" | "-h" => {
            print!("{}", usage());
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{}", usage())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Path of the `cargo` that invoked us (falls back to `cargo` on PATH).
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The workspace root (the parent of this crate's manifest directory).
pub(crate) fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or(manifest)
}

/// Cargo's target directory, as `cargo metadata` reports it (so `CARGO_TARGET_DIR` and
/// `build.target-dir` are honoured); `target` in the workspace if that fails.
pub(crate) fn target_dir() -> std::path::PathBuf {
    cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| serde_json::from_slice::<serde_json::Value>(&out.stdout).ok())
        .and_then(|meta| {
            meta.get("target_directory")?
                .as_str()
                .map(std::path::PathBuf::from)
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs `cargo build --release ARGS` in the workspace and returns the folder of the release
/// binaries.
pub(crate) fn build_release(args: &[&str]) -> Result<std::path::PathBuf, String> {
    let status = cargo()
        .args(["build", "--release"])
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo build --release {}` failed", args.join(" ")));
    }
    Ok(target_dir().join("release"))
}
