//! `DYN_LOGGING_DUMP_METRICS_ON_SHUTDOWN`: the final metrics text is written to the log at the
//! end of the drain, with the counts of the requests served.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

use rt_core::config::RuntimeConfig;
use rt_core::{Runtime, RuntimeError};

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_final_metrics_are_logged_at_the_end_of_the_drain() {
    let sink = Sink::default();
    let writer = sink.clone();
    // Global: the dump runs on the secondary runtime's threads. One test in this file.
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let config = RuntimeConfig::builder()
        .num_worker_threads(1)
        .compute_threads(0)
        .dump_metrics_on_shutdown(true)
        .build()
        .unwrap();
    let runtime = Runtime::from_config(config).unwrap();
    let rt = runtime.clone();
    let report = runtime.primary().block_on(async move {
        let (served_tx, served) = tokio::sync::oneshot::channel();
        let endpoint = rt
            .endpoint("generate")
            .start(|ctx| async move {
                for _ in 0..3 {
                    ctx.begin_tracked_request()?.finish();
                }
                let _ = served_tx.send(());
                ctx.cancelled().await;
                Ok::<(), RuntimeError>(())
            })
            .unwrap();
        served.await.unwrap();
        let report = rt.shutdown_and_wait(None).await;
        endpoint.stopped().await.unwrap();
        report
    });
    assert!(report.is_clean(), "{report}");
    assert!(
        report
            .teardown_completed
            .iter()
            .any(|t| t == "metrics dump"),
        "{report}"
    );
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    // The text is one field of one event: its lines follow the message.
    let at = log
        .find("final metrics, at the end of the drain")
        .unwrap_or_else(|| panic!("no dump in the log:\n{log}"));
    let dump = &log[at..];
    assert!(
        dump.contains(r#"dyn_runtime_endpoint_requests_total{endpoint="generate",outcome="ok"} 3"#),
        "{dump}"
    );
    assert!(
        dump.contains(r#"dyn_runtime_shutdown_phase{phase="stopping"} 1"#),
        "{dump}"
    );
}
