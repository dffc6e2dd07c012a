//! A phase is published only after its effects (issue 12, defect 4). Threads that watch the
//! phase, one through `phase()` and one through `subscribe()`, check the effects each time they
//! see a phase, while shutdowns run on a multi-thread runtime: `Draining` means the tracker is
//! closed, the endpoint token cancelled and the drain step started, `Stopping` the primary token cancelled, `Stopped`
//! the report available. Repeated many times; a single-threaded test cannot see the order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rt_shutdown::{ShutdownCoordinator, ShutdownOptions, ShutdownPhase};

const ROUNDS: usize = 200;
/// A hang guard only: each round ends within milliseconds.
const ROUND_LIMIT: Duration = Duration::from_secs(20);

/// What is missing of `phase`'s effects, if anything.
fn missing_effect(
    c: &ShutdownCoordinator,
    step: &AtomicBool,
    phase: ShutdownPhase,
) -> Option<&'static str> {
    if phase >= ShutdownPhase::Draining {
        if !step.load(Ordering::Relaxed) {
            return Some("drain step not started");
        }
        if !c.tracker().is_closed() {
            return Some("tracker still open");
        }
        if !c.endpoint_token().is_cancelled() {
            return Some("endpoint token still live");
        }
    }
    if phase >= ShutdownPhase::Stopping && !c.primary_token().is_cancelled() {
        return Some("primary token still live");
    }
    if phase == ShutdownPhase::Stopped && c.report().is_none() {
        return Some("report still None");
    }
    None
}

/// Watches through `phase()` until `Stopped`; the violations it saw.
fn watch_polling(c: &ShutdownCoordinator, step: &AtomicBool, start: &Barrier) -> Vec<String> {
    let mut seen = Vec::new();
    start.wait();
    let began = Instant::now();
    loop {
        let phase = c.phase();
        if let Some(what) = missing_effect(c, step, phase) {
            seen.push(format!("phase(): {phase} with {what}"));
        }
        if phase == ShutdownPhase::Stopped || began.elapsed() > ROUND_LIMIT {
            return seen;
        }
        std::hint::spin_loop();
    }
}

/// Watches through a `subscribe()` receiver until `Stopped`; the violations it saw.
fn watch_subscribed(c: &ShutdownCoordinator, step: &AtomicBool, start: &Barrier) -> Vec<String> {
    let mut phases = c.subscribe();
    let mut seen = Vec::new();
    start.wait();
    let began = Instant::now();
    loop {
        if phases.has_changed().unwrap_or(true) {
            let phase = *phases.borrow_and_update();
            if let Some(what) = missing_effect(c, step, phase) {
                seen.push(format!("subscribe(): {phase} with {what}"));
            }
            if phase == ShutdownPhase::Stopped {
                return seen;
            }
        }
        if began.elapsed() > ROUND_LIMIT {
            return seen;
        }
        std::hint::spin_loop();
    }
}

#[test]
fn a_phase_seen_from_another_thread_already_has_its_effects() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let mut violations = Vec::new();
    for round in 0..ROUNDS {
        let c = ShutdownCoordinator::new(
            ShutdownOptions::default()
                .with_handle(rt.handle().clone())
                .with_graceful_timeout(Duration::from_secs(10))
                .with_teardown_timeout(Duration::from_secs(10)),
        );
        c.add_teardown("noop", || async {});
        let step = Arc::new(AtomicBool::new(false));
        let started = Arc::clone(&step);
        c.add_drain_step("flag", move || {
            started.store(true, Ordering::Relaxed);
            async {}
        });
        let request = c.tracker().register_task("request").unwrap();
        let start = Barrier::new(3);
        let report = std::thread::scope(|s| {
            let polling = s.spawn(|| watch_polling(&c, &step, &start));
            let subscribed = s.spawn(|| watch_subscribed(&c, &step, &start));
            start.wait();
            let report = rt.block_on(async {
                // The request ends on another worker thread while phase 2 waits for it.
                let ends = tokio::spawn(async move { drop(request) });
                let report = tokio::time::timeout(ROUND_LIMIT, c.shutdown_and_wait(None))
                    .await
                    .expect("the shutdown ends");
                ends.await.unwrap();
                report
            });
            for watcher in [polling, subscribed] {
                for v in watcher.join().unwrap() {
                    violations.push(format!("round {round}: {v}"));
                }
            }
            report
        });
        // The caller of `shutdown_and_wait` is one more observer: when it returns, the phase
        // is `Stopped` and the report it got is the one stored.
        if let Some(what) = missing_effect(&c, &step, c.phase()) {
            violations.push(format!("round {round}: after shutdown_and_wait: {what}"));
        }
        if c.phase() != ShutdownPhase::Stopped || c.report().as_ref() != Some(&report) {
            violations.push(format!(
                "round {round}: shutdown_and_wait returned in phase {} with report {report}",
                c.phase()
            ));
        }
        assert!(report.is_clean(), "round {round}: {report}");
    }
    assert!(
        violations.is_empty(),
        "{} phases were seen before their effects:\n{}",
        violations.len(),
        violations.join("\n")
    );
}
