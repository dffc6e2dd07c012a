//! A service that installs its own subscriber keeps it: the Worker neither replaces it nor
//! applies the `logging_*` keys, and says so at debug level. One test: the global subscriber
//! is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

use rt_core::config::RuntimeConfig;
use rt_core::logging::{self, LoggingInit};
use rt_core::{Runtime, RuntimeError, Worker};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_applications_own_subscriber_is_kept() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let mine = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(mine).unwrap();

    // JSONL and an `error` filter asked for: neither applies, the application's subscriber
    // (text, debug) stays.
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(1)
        .log_filter("error")
        .logging_jsonl(true)
        .build()
        .unwrap();
    assert_eq!(logging::init(&config).unwrap(), LoggingInit::KeptExisting);
    let outcome = Worker::from_config(config)
        .unwrap()
        .execute(|runtime: Runtime| async move {
            tracing::info!("the app's own line");
            runtime.shutdown();
            Ok::<(), RuntimeError>(())
        })
        .unwrap();
    assert_eq!(outcome.exit_code(), 0, "{outcome}");

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("the app's own line"))
        .unwrap_or_else(|| panic!("the app's line went elsewhere:\n{text}"));
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        !text.lines().any(|l| l.starts_with('{')),
        "JSONL applied:\n{text}"
    );
    assert!(
        text.contains("DEBUG rt_core::logging: a tracing subscriber is already installed"),
        "{text}"
    );
    // The configuration in force is still logged, to the application's subscriber.
    assert!(text.contains("configuration in force: "), "{text}");
}
