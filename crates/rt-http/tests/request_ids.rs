//! Request ids through the whole path, over real loopback HTTP: taken from `x-request-id` or
//! `traceparent`, or made; returned in the answer; carried by every JSONL line logged while
//! serving the request, a compute job's line included; an unusable id replaced, never logged.
//!
//! The process's subscriber is the runtime's own (`rt_core::logging::init_with_writer`, JSONL),
//! writing into a buffer this file reads. Its filter is `warn`: the request span must be kept
//! even so, and info lines of the runtime stay out.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use common::request;
use rt_core::config::RuntimeConfig;
use rt_core::logging::{self, LoggingInit};
use rt_core::Runtime;
use rt_http::{ServeOptions, Server};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Everything the subscriber wrote.
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

/// The process's log, set up once for every test of this file.
fn log() -> &'static Buffer {
    static LOG: OnceLock<Buffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let config = RuntimeConfig::builder()
            .log_filter("warn")
            .logging_jsonl(true)
            .build()
            .expect("config");
        let done = logging::init_with_writer(&config, move || writer.clone()).expect("logging");
        assert_eq!(done, LoggingInit::Installed);
        buffer
    })
}

/// Every line written so far, each parsed as JSON (a line that does not parse fails the test).
fn lines() -> Vec<Value> {
    let bytes = log().0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .expect("UTF-8 log")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The lines whose message contains `marker`.
fn lines_of(marker: &str) -> Vec<Value> {
    lines()
        .into_iter()
        .filter(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(marker))
        })
        .collect()
}

/// The request id a line carries: the `request_id` of its spans (one at most).
fn request_id_of(line: &Value) -> Option<String> {
    let ids: Vec<&str> = line["spans"]
        .as_array()?
        .iter()
        .filter_map(|span| span["request_id"].as_str())
        .collect();
    assert!(ids.len() <= 1, "{line}");
    let id = ids.first()?.to_string();
    assert_eq!(line["span"]["request_id"].as_str(), Some(id.as_str()));
    Some(id)
}

fn runtime() -> Runtime {
    log();
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(1)
        .build()
        .expect("config");
    Runtime::from_config(config).expect("runtime")
}

/// `GET /log/{marker}`: logs a line, runs a compute job that logs one, answers the request id
/// the handler saw.
fn router(runtime: Runtime) -> Router {
    Router::new().route(
        "/log/{marker}",
        get(move |Path(marker): Path<String>, headers: HeaderMap| {
            let runtime = runtime.clone();
            async move {
                tracing::warn!("handler line {marker}");
                let job_marker = marker.clone();
                let on = runtime
                    .compute(move || {
                        tracing::warn!("compute line {job_marker}");
                        std::thread::current().name().map(str::to_owned)
                    })
                    .await
                    .expect("compute job");
                assert!(on.unwrap_or_default().starts_with("compute"));
                headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned()
            }
        }),
    )
}

async fn start(runtime: &Runtime, options: ServeOptions) -> (Server, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let stop = CancellationToken::new();
    let server = rt_http::serve_until(stop.clone(), listener, router(runtime.clone()), options)
        .expect("serve");
    (server, stop)
}

async fn finish(server: Server, stop: CancellationToken) {
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.stopped())
        .await
        .expect("the server stops");
}

fn get_log(marker: &str, headers: &str) -> String {
    format!("GET /log/{marker} HTTP/1.1\r\nhost: t\r\n{headers}connection: close\r\n\r\n")
}

/// Sends `GET /log/{marker}` with `headers`; returns the answer's id after checking that the
/// handler saw the same one and that both of the request's lines carry it.
async fn served_id(server: &Server, marker: &str, headers: &str) -> String {
    let answer = request(server.local_addr(), get_log(marker, headers))
        .await
        .expect("an answer");
    assert_eq!(answer.status, 200, "{answer:?}");
    let id = answer.header("x-request-id").expect("x-request-id");
    assert_eq!(answer.body, id, "the handler saw the id in force");
    let lines = lines_of(marker);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(request_id_of(line).as_deref(), Some(id.as_str()), "{line}");
        assert_eq!(line["level"], "WARN");
        assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("compute")),
        "the compute job's line: {lines:?}"
    );
    id
}

fn is_uuid_v4(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && id.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
        && parts[2].starts_with('4')
}

#[test]
fn the_clients_id_round_trips_and_tags_every_line_of_the_request() {
    let rt = runtime();
    rt.primary().block_on(async {
        let (server, stop) = start(&rt, ServeOptions::default()).await;
        let id = served_id(&server, "given", "x-request-id: client-id-7\r\n").await;
        assert_eq!(id, "client-id-7");
        // Many requests at once: each line carries its own request's id.
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let addr = server.local_addr();
                tokio::spawn(async move {
                    let raw = get_log(&format!("many{i}x"), &format!("x-request-id: many-{i}\r\n"));
                    request(addr, raw).await.expect("an answer").status
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("client"), 200);
        }
        for i in 0..16 {
            let lines = lines_of(&format!("many{i}x"));
            assert_eq!(lines.len(), 2, "{lines:?}");
            for line in lines {
                assert_eq!(request_id_of(&line), Some(format!("many-{i}")), "{line}");
            }
        }
        finish(server, stop).await;
    });
}

#[test]
fn a_malformed_id_is_replaced_and_never_logged() {
    let rt = runtime();
    rt.primary().block_on(async {
        let (server, stop) = start(&rt, ServeOptions::default()).await;
        let too_long = "L".repeat(rt_http::MAX_REQUEST_ID_LEN + 1);
        let id = served_id(&server, "toolong", &format!("x-request-id: {too_long}\r\n")).await;
        assert!(is_uuid_v4(&id), "{id}");
        let id = served_id(&server, "spaced", "x-request-id: not\tprintable here\r\n").await;
        assert!(is_uuid_v4(&id), "{id}");
        let text = String::from_utf8(log().0.lock().unwrap().clone()).expect("UTF-8 log");
        assert!(!text.contains(&too_long));
        assert!(!text.contains("printable here"));
        finish(server, stop).await;
    });
}

#[test]
fn traceparents_trace_id_is_the_request_id() {
    let rt = runtime();
    rt.primary().block_on(async {
        let (server, stop) = start(&rt, ServeOptions::default()).await;
        let traceparent =
            "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n";
        let id = served_id(&server, "traced", traceparent).await;
        assert_eq!(id, "0af7651916cd43dd8448eb211c80319c");
        finish(server, stop).await;
    });
}

#[test]
fn without_an_id_each_request_gets_a_new_uuid() {
    let rt = runtime();
    rt.primary().block_on(async {
        let (server, stop) = start(&rt, ServeOptions::default()).await;
        let a = served_id(&server, "fresh1", "").await;
        let b = served_id(&server, "fresh2", "").await;
        assert!(is_uuid_v4(&a) && is_uuid_v4(&b), "{a} {b}");
        assert_ne!(a, b);
        finish(server, stop).await;
    });
}

#[test]
fn request_ids_can_be_turned_off() {
    let rt = runtime();
    rt.primary().block_on(async {
        let options = ServeOptions::default().with_request_ids(false);
        let (server, stop) = start(&rt, options).await;
        let answer = request(
            server.local_addr(),
            get_log("off", "x-request-id: ignored-id\r\n"),
        )
        .await
        .expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-request-id"), None);
        // The handler sees the client's header untouched; no line carries a request span.
        assert_eq!(answer.body, "ignored-id");
        let lines = lines_of("off");
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in lines {
            assert_eq!(request_id_of(&line), None, "{line}");
        }
        finish(server, stop).await;
    });
}
