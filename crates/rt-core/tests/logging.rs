//! Logging set up by the Worker, seen from outside: a child process (this test binary run
//! again) configured by `DYN_*` variables writes JSONL to its standard error, which the parent
//! reads; a bad filter, from `DYN_LOG` or `RUST_LOG`, is a configuration error naming key,
//! value and source.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rt_core::config::{ConfigLoader, RuntimeConfig};
use rt_core::{Runtime, RuntimeError, Worker};
use serde_json::Value;
use tracing::Instrument;

/// Set in the child: which run to do.
const CHILD_ENV: &str = "RT_LOGGING_CHILD";
/// Bound on a child's whole run.
const CHILD_WAIT: Duration = Duration::from_secs(60);

/// What a child printed and how it ended.
struct Ran {
    stdout: String,
    stderr: String,
    success: bool,
}

/// Runs this binary's `child` test with `mode` and `env`; bounded by [`CHILD_WAIT`], killed
/// by its pid past it.
fn run_child(mode: &str, env: &[(&str, &str)]) -> Ran {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in rt_core::config::env_vars() {
        command.env_remove(var);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child ({mode}) did not end within {CHILD_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        success: status.success(),
    }
}

/// The child's side: does nothing unless the parent started this binary for it.
#[test]
fn child() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("worker") => child_worker(),
        Ok("from_settings") => match Worker::from_settings() {
            Ok(_) => println!("CHILD built a worker"),
            Err(error) => println!("CHILD error: {error}"),
        },
        _ => {}
    }
}

/// A worker from the environment whose app logs a line in a span and from a compute job.
fn child_worker() {
    let worker = Worker::from_settings().expect("worker");
    let outcome = worker
        .execute(|runtime: Runtime| async move {
            let span = tracing::info_span!("job", request_id = "child-req");
            async {
                tracing::info!("app line");
                runtime
                    .compute(|| tracing::warn!("compute line"))
                    .await
                    .expect("compute");
            }
            .instrument(span)
            .await;
            runtime.shutdown();
            Ok::<(), RuntimeError>(())
        })
        .expect("execute");
    assert_eq!(outcome.exit_code(), 0, "{outcome}");
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

#[test]
fn the_worker_writes_jsonl_as_the_variables_say() {
    let filter = "debug,rt_shutdown=info,rt_signals=info";
    let ran = run_child(
        "worker",
        &[
            ("DYN_LOG", filter),
            ("DYN_LOGGING_JSONL", "1"),
            ("DYN_RUNTIME_NUM_WORKER_THREADS", "2"),
            ("DYN_COMPUTE_THREADS", "1"),
        ],
    );
    assert!(
        ran.success,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );

    // Every line on standard error is one JSON object with the documented shape.
    let lines: Vec<Value> = ran
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for line in &lines {
        for field in ["timestamp", "level", "target"] {
            assert!(line[field].is_string(), "{field} missing: {line}");
        }
        assert!(line["fields"].is_object(), "{line}");
        let timestamp = line["timestamp"].as_str().unwrap_or("");
        assert!(timestamp.ends_with('Z'), "not UTC: {line}");
    }

    // The settings in force, once, at info.
    let setup: Vec<&Value> = lines
        .iter()
        .filter(|l| message(l) == "logging set up by the runtime")
        .collect();
    assert_eq!(setup.len(), 1, "{lines:?}");
    let fields = &setup[0]["fields"];
    assert_eq!(fields["filter"], filter);
    assert_eq!(fields["filter_from"], "env:DYN_LOG");
    assert_eq!(fields["jsonl"], true);
    assert_eq!(fields["ansi"], false, "standard error is a pipe");
    assert_eq!(setup[0]["level"], "INFO");

    // The configuration: a summary at info, every key at debug.
    let summary: Vec<&Value> = lines
        .iter()
        .filter(|l| message(l).starts_with("configuration in force"))
        .collect();
    assert_eq!(summary.len(), 1, "{lines:?}");
    assert_eq!(summary[0]["level"], "INFO");
    let text = message(summary[0]);
    assert!(
        text.contains("logging_jsonl = true (env:DYN_LOGGING_JSONL)"),
        "{text}"
    );
    assert!(
        text.contains("compute_threads = 1 (env:DYN_COMPUTE_THREADS)"),
        "{text}"
    );
    let explained = lines
        .iter()
        .filter(|l| l["level"] == "DEBUG" && message(l).starts_with("config "))
        .count();
    assert_eq!(explained, rt_core::config::keys().len());

    // The app's lines carry its span's fields, on the pool thread too.
    for wanted in ["app line", "compute line"] {
        let line = lines
            .iter()
            .find(|l| message(l) == wanted)
            .unwrap_or_else(|| panic!("no {wanted:?} in {lines:?}"));
        assert_eq!(line["span"]["request_id"], "child-req", "{line}");
        assert_eq!(line["spans"][0]["name"], "job", "{line}");
    }
}

#[test]
fn a_bad_dyn_log_is_a_configuration_error_naming_key_value_and_source() {
    let config: RuntimeConfig = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map([("DYN_LOG", "info,rt_core=chatty")])
        .load()
        .expect("the loader takes any text: the syntax is checked when logging starts");
    let error = match Worker::from_config(config) {
        Err(RuntimeError::Config(error)) => error,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    assert_eq!(error.key(), Some("log_filter"));
    let text = error.to_string();
    assert!(text.contains("\"info,rt_core=chatty\""), "{text}");
    assert!(text.contains("from environment variable DYN_LOG"), "{text}");
    assert!(
        text.contains("allowed: tracing EnvFilter directives"),
        "{text}"
    );
}

#[test]
fn a_bad_rust_log_is_reported_as_coming_from_rust_log() {
    let ran = run_child("from_settings", &[("RUST_LOG", "rt_core=noisy")]);
    assert!(ran.success, "{}\n{}", ran.stdout, ran.stderr);
    let line = ran
        .stdout
        .lines()
        .find_map(|l| l.find("CHILD").map(|at| &l[at..]))
        .unwrap_or_default();
    assert!(
        line.starts_with("CHILD error: invalid value \"rt_core=noisy\" for `log_filter`"),
        "{line}"
    );
    assert!(
        line.contains("from environment variable RUST_LOG"),
        "{line}"
    );
}

#[test]
fn dyn_log_wins_over_rust_log() {
    let ran = run_child(
        "from_settings",
        &[("RUST_LOG", "rt_core=noisy"), ("DYN_LOG", "warn")],
    );
    assert!(ran.success, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("CHILD built a worker"),
        "{}",
        ran.stdout
    );
}
