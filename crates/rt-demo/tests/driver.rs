//! End-to-end: the real `demo-driver` binary driving the real `demo-service` (what `cargo
//! xtask demo` runs), with a short load. Every wait is bounded; a driver still running at the
//! bound is killed by its pid (dropping its `ServiceProcess`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::process::Command;
use std::time::Duration;

use rt_demo::process::{ServiceProcess, Stream};

/// Bound of one driver run (start, 0.5 s of load, drain, exit), debug builds on a busy host.
const RUN: Duration = Duration::from_secs(120);

/// Runs the driver with `args` on a small load; returns its exit code, stdout and stderr.
fn driver(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo-driver"));
    // Only what the test says: no DYN_* from the environment running the tests.
    for (key, _) in std::env::vars() {
        if key.starts_with("DYN_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("DYN_RUNTIME_NUM_WORKER_THREADS", "2")
        .env("DYN_COMPUTE_THREADS", "2")
        .args(["--service", env!("CARGO_BIN_EXE_demo-service")])
        .args(["--clients", "4", "--duration", "0.5"])
        .args(["--cpu-ms", "1-2", "--wait-ms", "20-50"])
        .args(args);
    let mut run = ServiceProcess::spawn(cmd).expect("start demo-driver");
    let exit = run
        .wait_exit(RUN)
        .unwrap_or_else(|e| panic!("{e}\n{}", run.output_text()));
    let text = |stream| {
        run.lines()
            .into_iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text + "\n")
            .collect::<String>()
    };
    (exit.code(), text(Stream::Stdout), text(Stream::Stderr))
}

/// The value column of the table row `measure`.
fn row<'a>(table: &'a str, measure: &str) -> &'a str {
    let prefix = format!("| {measure} | ");
    table
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.strip_suffix(" |"))
        .unwrap_or_else(|| panic!("no row `{measure}` in\n{table}"))
}

#[test]
fn without_a_send_delay_the_header_is_unchanged_and_nothing_is_lost() {
    let (code, table, stderr) = driver(&[]);
    assert!(
        table.contains("\n4 clients for 0.5 s (each request: cpu 1-2 ms, wait 20-50 ms), then SIGTERM with requests in flight:\n"),
        "{table}"
    );
    assert_eq!(code, 0, "{table}\n{stderr}");
    assert!(row(&table, "lost (must be 0)").starts_with("0 "), "{table}");
    assert_eq!(row(&table, "exit code"), "0");
    assert!(
        table.ends_with("\nresult: nothing lost, exit code 0\n"),
        "{table}"
    );
}

#[test]
fn a_send_delay_is_named_in_the_header_and_the_run_reaches_its_table() {
    let (code, table, stderr) = driver(&["--send-delay-ms", "2"]);
    assert!(
        table.contains("(each request: cpu 1-2 ms, wait 20-50 ms, sent 2 ms after connecting)"),
        "{table}\n{stderr}"
    );
    // A client that connects and only then sends is answered like any other: the service's
    // HTTP edge answers every connection it accepted, so nothing is lost (issue 12, defect 1).
    assert_eq!(code, 0, "exit {code}\n{table}\n{stderr}");
    assert_eq!(row(&table, "unexpected client errors"), "0", "{table}");
    assert_eq!(row(&table, "exit code"), "0", "{table}\n{stderr}");
    assert!(
        row(&table, "lost (must be 0)").starts_with("0 "),
        "{table}\n{stderr}"
    );
}

#[test]
fn a_bad_send_delay_is_a_usage_error() {
    let (code, stdout, stderr) = driver(&["--send-delay-ms", "10001"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("--send-delay-ms 10001"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
}
