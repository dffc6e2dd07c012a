//! The event-loop stall detector counts a deliberate 50 ms block of a worker thread.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::time::{Duration, Instant};

use rt_core::config::RuntimeConfig;
use rt_core::Runtime;

/// The value of the sample written exactly as `series` in the runtime's metrics text.
fn sample(runtime: &Runtime, series: &str) -> f64 {
    let text = runtime.metrics().render().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

const STALLS: &str = r#"dyn_runtime_event_loop_stalls_total{runtime="primary"}"#;
const PROBES: &str = r#"dyn_runtime_event_loop_lateness_seconds_count{runtime="primary"}"#;

/// Polls `condition` every 5 ms for at most 10 s.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_50_ms_block_of_the_only_worker_is_counted_as_a_stall() {
    // One worker: a task that blocks it holds up every other task, the probe included.
    // Defaults: a probe every 10 ms, a stall from 20 ms of lateness.
    let config = RuntimeConfig::builder()
        .num_worker_threads(1)
        .compute_threads(0)
        .build()
        .unwrap();
    assert_eq!(config.stall_probe_interval_ms, 10);
    assert_eq!(config.stall_threshold_ms, 20);
    let runtime = Runtime::from_config(config).unwrap();
    wait_until("the probe running", || sample(&runtime, PROBES) >= 3.0);
    let before = sample(&runtime, STALLS);
    let probes_before = sample(&runtime, PROBES);

    let (tx, rx) = std::sync::mpsc::channel();
    runtime.primary().spawn(async move {
        // The deliberate block: the worker thread sleeps, nothing else runs on it.
        std::thread::sleep(Duration::from_millis(50));
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // The probe wakes late once the worker is free again, and counts the stall.
    wait_until("the stall counted", || sample(&runtime, STALLS) > before);
    assert!(sample(&runtime, PROBES) > probes_before);
    // Lateness of at least 25 ms was observed (the block less at most one probe interval).
    let text = runtime.metrics().render().unwrap();
    let under_25ms = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"dyn_runtime_event_loop_lateness_seconds_bucket{le="0.02",runtime="primary"} "#)
                .or_else(|| l.strip_prefix(r#"dyn_runtime_event_loop_lateness_seconds_bucket{runtime="primary",le="0.02"} "#))
        })
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no 20 ms bucket in\n{text}"));
    assert!(
        sample(&runtime, PROBES) > under_25ms,
        "no probe later than 20 ms\n{text}"
    );
}

#[test]
fn interval_zero_turns_the_detector_off() {
    let config = RuntimeConfig::builder()
        .num_worker_threads(1)
        .compute_threads(0)
        .stall_probe_interval_ms(0)
        .build()
        .unwrap();
    let runtime = Runtime::from_config(config).unwrap();
    let text = runtime.metrics().render().unwrap();
    assert!(!text.contains("dyn_runtime_event_loop"), "{text}");
    assert!(
        text.contains(r#"dyn_runtime_tokio_workers{runtime="primary"} 1"#),
        "{text}"
    );
}
