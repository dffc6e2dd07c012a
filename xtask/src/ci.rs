//! `cargo xtask ci`: the project's gate, step by step.

use std::process::Command;
use std::time::Instant;

use crate::{cargo, workspace_root};

/// One step of the gate: a name for the report and the command to run.
struct Step {
    name: &'static str,
    cmd: Command,
}

fn step(name: &'static str, args: &[&str]) -> Step {
    let mut cmd = cargo();
    cmd.args(args).current_dir(workspace_root());
    Step { name, cmd }
}

fn steps() -> Vec<Step> {
    let mut out = vec![
        step("fmt", &["fmt", "--all", "--check"]),
        step(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        step("test", &["test", "--workspace"]),
        step(
            "test rt-compute --features compute-validation",
            &[
                "test",
                "-p",
                "rt-compute",
                "--features",
                "compute-validation",
            ],
        ),
        step(
            "test rt-signals --features systemd",
            &["test", "-p", "rt-signals", "--features", "systemd"],
        ),
        step(
            "check rt-compute alone (no config loader)",
            &["check", "-p", "rt-compute"],
        ),
    ];
    // The loom model of the tracker: its own cfg, so its own target dir.
    let mut loom = step(
        "loom (rt-shutdown)",
        &["test", "-p", "rt-shutdown", "--test", "loom", "--release"],
    );
    loom.cmd.env("RUSTFLAGS", "--cfg loom").env(
        "CARGO_TARGET_DIR",
        workspace_root().join("target").join("loom"),
    );
    out.push(loom);
    let mut doc = step("doc", &["doc", "--workspace", "--no-deps"]);
    doc.cmd.env("RUSTDOCFLAGS", "-D warnings");
    out.push(doc);
    out
}

/// Runs every step in order; stops at the first failure and names it.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments (got `{extra}`)"));
    }
    let all = steps();
    let total = all.len();
    let started = Instant::now();
    for (i, mut s) in all.into_iter().enumerate() {
        eprintln!("==> [{}/{}] {}", i + 1, total, s.name);
        let t = Instant::now();
        let status = s
            .cmd
            .status()
            .map_err(|e| format!("step `{}` could not start: {e}", s.name))?;
        if !status.success() {
            return Err(format!(
                "step `{}` failed ({status}) after {:.1?}; later steps were not run",
                s.name,
                t.elapsed()
            ));
        }
        eprintln!("    ok: {} in {:.1?}", s.name, t.elapsed());
    }
    eprintln!("==> ci passed: {total} steps in {:.1?}", started.elapsed());
    Ok(())
}
