//! Drain steps: started in phase 1 right after the endpoint token is cancelled, run beside the
//! drain, bounded by phase 2, recorded in the report with their time and outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rt_shutdown::{
    DrainStep, DrainStepOutcome, ShutdownCoordinator, ShutdownError, ShutdownOptions, ShutdownPhase,
};
use tokio::time::Instant;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn coordinator(graceful: u64) -> ShutdownCoordinator {
    ShutdownCoordinator::new(
        ShutdownOptions::default()
            .with_graceful_timeout(secs(graceful))
            .with_teardown_timeout(secs(5)),
    )
}

fn step(name: &str, took: Duration, outcome: DrainStepOutcome) -> DrainStep {
    DrainStep {
        name: name.into(),
        took,
        outcome,
    }
}

#[tokio::test(start_paused = true)]
async fn the_report_names_each_step_with_its_time() {
    let c = coordinator(30);
    c.add_drain_step("deregister", || async {
        tokio::time::sleep(Duration::from_millis(7)).await;
    });
    c.add_drain_step("announce", || async {});
    let report = c.shutdown_and_wait(None).await;
    assert_eq!(
        report.drain_steps,
        [
            step("announce", Duration::ZERO, DrainStepOutcome::Completed),
            step(
                "deregister",
                Duration::from_millis(7),
                DrainStepOutcome::Completed
            ),
        ]
    );
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.drain,
        Duration::from_millis(7),
        "phase 2 waited for it"
    );
    let line = report.to_string();
    assert!(
        line.contains("steps: announce done in 0ns, deregister done in 7ms)"),
        "{line}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_starts_in_phase_one_after_the_endpoint_token_before_draining_is_published() {
    let c = coordinator(30);
    let seen = Arc::new(Mutex::new(None));
    let (c2, seen2) = (c.clone(), Arc::clone(&seen));
    c.add_drain_step("check", move || {
        *seen2.lock().unwrap() = Some((c2.endpoint_token().is_cancelled(), c2.phase()));
        async {}
    });
    c.shutdown();
    // Called synchronously, before shutdown() returned.
    assert_eq!(
        *seen.lock().unwrap(),
        Some((true, ShutdownPhase::Running)),
        "endpoint token cancelled, Draining not yet published"
    );
    let report = c.shutdown_and_wait(None).await;
    assert_eq!(report.drain_steps[0].outcome, DrainStepOutcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_step_runs_beside_the_drain_and_phase_two_waits_for_the_longer() {
    // The step ends first: the drain decides.
    let c = coordinator(30);
    let request = c.tracker().register_task("request").unwrap();
    c.add_drain_step("quick", || async {
        tokio::time::sleep(secs(1)).await;
    });
    tokio::spawn(async move {
        tokio::time::sleep(secs(3)).await;
        drop(request);
    });
    let report = c.shutdown_and_wait(None).await;
    assert_eq!(report.drain, secs(3));
    assert_eq!(
        report.drain_steps,
        [step("quick", secs(1), DrainStepOutcome::Completed)]
    );

    // The drain ends first: the step decides.
    let c = coordinator(30);
    let request = c.tracker().register_task("request").unwrap();
    c.add_drain_step("slow", || async {
        tokio::time::sleep(secs(5)).await;
    });
    tokio::spawn(async move {
        tokio::time::sleep(secs(2)).await;
        drop(request);
    });
    let report = c.shutdown_and_wait(None).await;
    assert_eq!(report.drain, secs(5));
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_step_is_cut_at_the_phase_two_bound_and_named() {
    let c = coordinator(30);
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    c.add_drain_step("hang", move || async move {
        let _on_drop = DropFlag(flag);
        std::future::pending::<()>().await;
    });
    c.add_drain_step("fine", || async {});
    c.add_teardown("teardown", || async {});
    let start = Instant::now();
    // The caller's deadline (20 s) is below the graceful timeout (30 s): it is the bound.
    let report = c.shutdown_and_wait(Some(secs(20))).await;
    assert_eq!(start.elapsed(), secs(20));
    assert_eq!(report.drain, secs(20));
    assert_eq!(
        report.drain_steps,
        [
            step("fine", Duration::ZERO, DrainStepOutcome::Completed),
            step("hang", secs(20), DrainStepOutcome::TimedOut),
        ]
    );
    assert!(dropped.load(Ordering::SeqCst), "the cut step was dropped");
    assert!(!report.deadline_hit, "no tracked work was left");
    assert!(!report.is_clean());
    assert_eq!(report.teardown_completed, ["teardown"], "phase 3 still ran");
    let line = report.to_string();
    assert!(line.starts_with("shutdown incomplete"), "{line}");
    assert!(line.contains("hang timed out after 20s"), "{line}");
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn panicking_steps_are_recorded_and_do_not_stop_the_shutdown() {
    let c = coordinator(30);
    c.add_drain_step("panics-when-called", || -> std::future::Ready<()> {
        panic!("no future")
    });
    c.add_drain_step("panics-when-polled", || async {
        tokio::time::sleep(secs(1)).await;
        panic!("step failed");
    });
    c.add_drain_step("fine", || async {});
    let report = c.shutdown_and_wait(None).await;
    assert_eq!(
        report.drain_steps,
        [
            step("fine", Duration::ZERO, DrainStepOutcome::Completed),
            step(
                "panics-when-called",
                Duration::ZERO,
                DrainStepOutcome::Panicked
            ),
            step("panics-when-polled", secs(1), DrainStepOutcome::Panicked),
        ]
    );
    assert!(!report.is_clean());
    assert_eq!(c.phase(), ShutdownPhase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_step_added_after_phase_one_is_refused() {
    let c = coordinator(30);
    c.shutdown();
    let err = c.try_add_drain_step("late", || async {}).unwrap_err();
    assert!(matches!(err, ShutdownError::DrainStepTooLate { ref name } if name == "late"));
    c.add_drain_step("late too", || async {}); // logged, not run, no panic
    let report = c.shutdown_and_wait(None).await;
    assert!(report.drain_steps.is_empty());
    assert!(report.is_clean());
}

#[test]
fn from_plain_sync_code_the_step_is_called_here_and_polled_by_the_driver() {
    let c = coordinator(30);
    let caller = std::thread::current().id();
    let (tx, rx) = std::sync::mpsc::channel();
    c.add_drain_step("where", move || {
        let called = std::thread::current().id();
        async move {
            let _ = tx.send((called, std::thread::current().name().map(str::to_owned)));
        }
    });
    c.shutdown();
    let (called, polled) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(called, caller);
    assert_eq!(polled.as_deref(), Some("rt-shutdown"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.report().is_none() {
        assert!(std::time::Instant::now() < deadline, "no report");
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = c.report().unwrap();
    assert_eq!(report.drain_steps[0].name, "where");
    assert!(report.is_clean(), "{report}");
}
