//! Concurrent `shutdown()` from many tasks and threads runs the phases once; the logs carry the
//! counts and names an operator needs. One test function: it owns the process-wide log capture.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::Duration;

use rt_shutdown::{ShutdownCoordinator, ShutdownOptions, ShutdownPhase};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn count(logs: &str, needle: &str) -> usize {
    logs.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn concurrent_shutdown_runs_phases_once_and_logs_progress() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    // Part 1: many threads and tasks call shutdown() at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let c = ShutdownCoordinator::new(ShutdownOptions::default().with_handle(rt.handle().clone()));
    let teardowns = Arc::new(AtomicUsize::new(0));
    let t = Arc::clone(&teardowns);
    c.add_teardown("count", move || async move {
        t.fetch_add(1, Ordering::SeqCst);
    });
    let guard = c.tracker().register_task("in-flight").unwrap();

    const THREADS: usize = 8;
    const TASKS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let tokio_barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let reports = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..TASKS {
            let c = c.clone();
            let b = Arc::clone(&tokio_barrier);
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                if i % 2 == 0 {
                    c.shutdown();
                    c.shutdown_and_wait(None).await
                } else {
                    c.shutdown_and_wait(Some(Duration::from_secs(60))).await
                }
            }));
        }
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let c = c.clone();
                let b = Arc::clone(&barrier);
                s.spawn(move || {
                    b.wait();
                    c.shutdown();
                    c.shutdown();
                });
            }
            barrier.wait();
        });
        assert!(c.endpoint_token().is_cancelled());
        assert_eq!(c.phase(), ShutdownPhase::Draining);
        drop(guard);
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(teardowns.load(Ordering::SeqCst), 1);
    assert!(reports.iter().all(|r| r == &reports[0] && r.is_clean()));
    let logs = capture.take();
    assert_eq!(count(&logs, "shutdown phase 1"), 1, "{logs}");
    assert_eq!(count(&logs, "shutdown phase 3"), 1, "{logs}");
    assert_eq!(count(&logs, "shutdown clean"), 1, "{logs}");
    assert!(
        logs.contains("in-flight"),
        "phase 1 names what is in flight: {logs}"
    );
    drop(rt);

    // Part 2: while draining, the names still active are logged every progress interval.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let c = ShutdownCoordinator::new(
            ShutdownOptions::default()
                .with_graceful_timeout(Duration::from_secs(12))
                .with_progress_interval(Duration::from_secs(5)),
        );
        let _a = c.tracker().register_task("slow-upload").unwrap();
        c.tracker().register_endpoint().unwrap();
        let report = c.shutdown_and_wait(None).await;
        assert!(report.deadline_hit);
        assert_eq!(report.still_active, ["<endpoint>", "slow-upload"]);
    });
    let logs = capture.take();
    assert_eq!(count(&logs, "waiting for in-flight work"), 2, "{logs}");
    assert_eq!(count(&logs, "phase 2: deadline hit"), 1, "{logs}");
    assert!(
        logs.lines()
            .filter(|l| l.contains("waiting for in-flight work"))
            .all(|l| l.contains("slow-upload") && l.contains("in_flight=2")),
        "{logs}"
    );
    assert!(logs.contains("shutdown incomplete"), "{logs}");
}
