//! `cargo xtask ci`: the project's gate, step by step.

use std::io::{BufRead, BufReader};
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
            "clippy rt-discovery --features etcd",
            &[
                "clippy",
                "-p",
                "rt-discovery",
                "--all-targets",
                "--features",
                "etcd",
                "--",
                "-D",
                "warnings",
            ],
        ),
        step(
            "check rt-compute alone (no config loader)",
            &["check", "-p", "rt-compute"],
        ),
    ];
    // The loom model of the tracker: its own cfg, so its own target dir.
    // The setup step installed etcd: a missing server is a failure here, never a skip.
    let mut etcd = step(
        "test rt-discovery --features etcd (a real etcd server)",
        &["test", "-p", "rt-discovery", "--features", "etcd"],
    );
    etcd.cmd.env("RT_REQUIRE_ETCD", "1");
    out.push(etcd);
    // The cluster end-to-end test (real etcd, router and workers) needs the demo's `etcd`
    // feature, so `cargo test --workspace` does not build it.
    let mut cluster = step(
        "test rt-demo --features etcd --test cluster (router and workers on a real etcd)",
        &[
            "test",
            "-p",
            "rt-demo",
            "--features",
            "etcd",
            "--test",
            "cluster",
        ],
    );
    cluster.cmd.env("RT_REQUIRE_ETCD", "1");
    out.push(cluster);
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

/// Runs every step in order; stops at the first failure and names it. Test steps' output is
/// passed through and their `test result:` lines are added up for the closing line.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments (got `{extra}`)"));
    }
    let all = steps();
    let total = all.len();
    let started = Instant::now();
    let mut tally = Tally::default();
    eprintln!("==> [setup] tools the tests need besides Rust (etcd, protoc)");
    crate::setup::ensure()?;
    eprintln!("==> [tidy] file circles, unsafe code");
    crate::tidy::run(&[])?;
    for (i, mut s) in all.into_iter().enumerate() {
        eprintln!("==> [{}/{}] {}", i + 1, total, s.name);
        let t = Instant::now();
        let status = run_step(&mut s, &mut tally)?;
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
    println!("tests: {} passed, {} failed", tally.passed, tally.failed);
    Ok(())
}

/// The sum of the `test result:` lines seen so far.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
}

impl Tally {
    /// Adds a libtest summary line (`test result: ok. 5 passed; 0 failed; ...`); other lines
    /// are ignored.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                _ => {}
            }
        }
    }
}

/// Runs one step; a `cargo test` step's stdout is passed through line by line and tallied.
fn run_step(s: &mut Step, tally: &mut Tally) -> Result<std::process::ExitStatus, String> {
    let start_err = |e: std::io::Error| format!("step `{}` could not start: {e}", s.name);
    let is_test = s.cmd.get_args().next().is_some_and(|a| a == "test");
    if !is_test {
        return s.cmd.status().map_err(start_err);
    }
    let mut child = s
        .cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(start_err)?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            tally.add_line(&line);
        }
    }
    child
        .wait()
        .map_err(|e| format!("step `{}` could not be waited for: {e}", s.name))
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn tally_adds_up_libtest_summaries() {
        let mut t = Tally::default();
        t.add_line("test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        t.add_line(
            "test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        t.add_line("running 5 tests");
        assert_eq!((t.passed, t.failed), (7, 3));
    }
}
