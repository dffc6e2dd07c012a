//! Drain without exit through the status server, over real loopback HTTP, with the memory
//! discovery backend: `POST /drain` and `POST /resume`, what the endpoints, `/health` and
//! discovery show meanwhile, the shutdown's precedence, the admin token, and concurrent calls.
//! Sequenced with channels and semaphores; every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use rt_core::config::RuntimeConfig;
use rt_core::drain::DrainState;
use rt_core::{Runtime, RuntimeError};
use rt_discovery::{Discovery, DiscoverySettings, EndpointId, MemoryBackend, Transport};
use rt_http::{ServeOptions, Server};
use rt_status::{StatusOptions, StatusServer};
use serde_json::Value;
use tokio::sync::Semaphore;

/// A safety net so that a broken server fails the test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// The bound of every wait for a state.
const WAIT: Duration = Duration::from_secs(10);
const TOKEN: &str = "s3cr3t-admin-token-0123456789";

#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
fn call(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n{auth}Connection: close\r\n\r\n"
    );
    stream.write_all(raw.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    Reply {
        status,
        body: body.to_owned(),
    }
}

/// A worker: a runtime, a status server, an HTTP endpoint `work` registered in discovery
/// (its own memory store), and a watching client of that endpoint.
struct Worker {
    rt: Runtime,
    status: StatusServer,
    http: Server,
    discovery: Discovery,
    client: rt_discovery::InstanceClient,
    /// `POST /hold` waits for a permit here; it reports its start on `held`.
    release: Arc<Semaphore>,
    held: mpsc::Receiver<()>,
}

fn worker(status: StatusOptions) -> Worker {
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(0)
        .graceful_shutdown_timeout_secs(20)
        .build()
        .unwrap();
    let rt = Runtime::from_config(config).unwrap();
    let status = StatusServer::start_with(&rt, status).unwrap();
    let release = Arc::new(Semaphore::new(0));
    let (held_tx, held) = mpsc::channel();
    let (http, discovery, client) = rt.primary().block_on(async {
        let gate = Arc::clone(&release);
        let router = Router::new().route("/fast", post(|| async { "ok" })).route(
            "/hold",
            post(move || {
                let (gate, held_tx) = (Arc::clone(&gate), held_tx.clone());
                async move {
                    let _ = held_tx.send(());
                    let _permit = gate.acquire().await;
                    "held"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = rt_http::serve(&rt, "work", listener, router, ServeOptions::default()).unwrap();
        let settings = DiscoverySettings::from_config(rt.config()).unwrap();
        let discovery = Discovery::with_backend(&rt, Arc::new(MemoryBackend::new()), settings)
            .await
            .unwrap();
        let id = EndpointId::new("test", "worker", "work").unwrap();
        let client = discovery.client(id.clone());
        let transport = Transport::Http(format!("http://{}/fast", http.local_addr()));
        // Kept for the process's life: phase 1 or a drain removes the key.
        std::mem::forget(discovery.register(id, transport).await.unwrap());
        tokio::time::timeout(WAIT, client.wait_for_instances())
            .await
            .unwrap()
            .unwrap();
        (http, discovery, client)
    });
    Worker {
        rt,
        status,
        http,
        discovery,
        client,
        release,
        held,
    }
}

impl Worker {
    fn status_addr(&self) -> SocketAddr {
        self.status.local_addr()
    }

    /// Starts `POST /hold` on its own thread and returns once the handler runs.
    fn hold(&self) -> std::thread::JoinHandle<Reply> {
        let addr = self.http.local_addr();
        let request = std::thread::spawn(move || call(addr, "POST", "/hold", None));
        self.held
            .recv_timeout(WAIT)
            .expect("the held request reached its handler");
        request
    }

    /// Waits until the watching client's list of instance ids is `ids`.
    fn wait_instances(&self, ids: &[u64]) {
        let mut rx = self.client.subscribe();
        self.rt.primary().block_on(async {
            let ids_of = |i: &rt_discovery::Instances| -> Vec<u64> {
                i.list().iter().map(|i| i.id.0).collect()
            };
            let waited = tokio::time::timeout(WAIT, rx.wait_for(|i| ids_of(i) == ids))
                .await
                .is_ok();
            let last = ids_of(&rx.borrow());
            assert!(waited, "discovery shows {last:?}, expected {ids:?}");
        });
    }

    fn wait_state(&self, state: DrainState) {
        let mut rx = self.rt.drain_control().subscribe();
        self.rt.primary().block_on(async {
            tokio::time::timeout(WAIT, rx.wait_for(|s| *s == state))
                .await
                .expect("drain state reached in time")
                .expect("the control is alive");
        });
    }

    fn shutdown_clean(self) {
        let report = self.rt.primary().block_on(self.rt.shutdown_and_wait(None));
        assert!(report.is_clean(), "{report}");
    }
}

fn loopback() -> StatusOptions {
    StatusOptions::new("127.0.0.1", 0)
}

#[test]
fn drain_with_requests_in_flight_then_resume_under_a_new_instance_id() {
    let w = worker(loopback());
    let status = w.status_addr();
    let old_id = w.discovery.instance_id().0;
    w.wait_instances(&[old_id]);
    assert_eq!(call(status, "GET", "/health", None).status, 200);

    let held = w.hold();
    let drain = std::thread::spawn(move || call(status, "POST", "/drain", None));
    w.wait_state(DrainState::Draining);

    // New requests: the drain's 503; the admitted one runs on.
    let refused = call(w.http.local_addr(), "POST", "/fast", None);
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.body.contains("\"drained\""), "{refused:?}");
    let health = call(status, "GET", "/health", None);
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["drain"], "draining");
    // Discovery: the key is gone for a watching client, before the drain completed.
    w.wait_instances(&[]);
    assert_eq!(w.rt.drain_control().in_flight(), 1);

    w.release.add_permits(1);
    let held = held.join().unwrap();
    assert_eq!((held.status, held.body.as_str()), (200, "held"));
    let drained = drain.join().unwrap();
    assert_eq!(drained.status, 200, "{drained:?}");
    let report = drained.json();
    assert_eq!(report["state"], "drained");
    assert_eq!(report["in_flight"], 0);
    assert_eq!(report["hooks"][0]["name"], rt_discovery::DRAIN_HOOK);
    assert_eq!(report["hooks"][0]["error"], Value::Null);

    // Drained: alive, out of rotation.
    let health = call(status, "GET", "/health", None);
    assert_eq!(
        (health.status, health.json()["drain"].clone()),
        (503, "drained".into())
    );
    assert_eq!(call(status, "GET", "/live", None).status, 200);
    assert_eq!(call(w.http.local_addr(), "POST", "/fast", None).status, 503);
    let metrics = call(status, "GET", "/metrics", None).body;
    assert!(
        metrics.contains("dyn_runtime_drain_state{state=\"drained\"} 1"),
        "{metrics}"
    );
    // A second drain is a no-op.
    assert_eq!(
        call(status, "POST", "/drain", None).json()["state"],
        "drained"
    );

    // Resume: accepting again, ready, registered under a new instance id.
    let resumed = call(status, "POST", "/resume", None);
    assert_eq!(resumed.status, 200, "{resumed:?}");
    assert_eq!(resumed.json()["state"], "serving");
    assert_eq!(resumed.json()["hooks"][0]["action"], "resume");
    assert_eq!(call(w.http.local_addr(), "POST", "/fast", None).status, 200);
    assert_eq!(call(status, "GET", "/health", None).status, 200);
    let new_id = w.discovery.instance_id().0;
    assert_ne!(new_id, old_id, "a resume registers under a new instance id");
    w.wait_instances(&[new_id]);
    assert_eq!(w.discovery.state(), rt_discovery::LeaseState::Live);
    // A second resume is a no-op.
    assert_eq!(call(status, "POST", "/resume", None).status, 200);
    assert_eq!(w.discovery.instance_id().0, new_id);
    assert_eq!(call(status, "GET", "/drain", None).status, 405);
    w.shutdown_clean();
}

#[test]
fn drain_and_resume_are_refused_once_the_shutdown_started() {
    let w = worker(loopback().with_stop_on_teardown(false));
    let status = w.status_addr();
    let report = w.rt.primary().block_on(w.rt.shutdown_and_wait(None));
    assert!(report.is_clean(), "{report}");
    for path in ["/drain", "/resume"] {
        let reply = call(status, "POST", path, None);
        assert_eq!(reply.status, 409, "{reply:?}");
        assert_eq!(reply.json()["error"], "shutting_down");
        assert!(reply.json()["detail"]
            .as_str()
            .unwrap()
            .contains("shutdown has already started"));
    }
    let err = w.rt.primary().block_on(w.rt.drain(None)).unwrap_err();
    assert!(
        matches!(err, RuntimeError::DrainDuringShutdown { action: "drain" }),
        "{err}"
    );
    assert_eq!(w.rt.drain_control().state(), DrainState::Serving);
    w.status.stop();
}

#[test]
fn a_shutdown_during_a_drain_completes_normally() {
    let w = worker(loopback());
    let held = w.hold();
    w.rt.drain_control().drain().unwrap();
    w.wait_instances(&[]);
    let rt = w.rt.clone();
    let shutdown = std::thread::spawn(move || rt.primary().block_on(rt.shutdown_and_wait(None)));
    // Phase 1 has run: the process is leaving for good; a resume is refused.
    let mut phases = w.rt.shutdown_coordinator().subscribe();
    w.rt.primary().block_on(async {
        tokio::time::timeout(
            WAIT,
            phases.wait_for(|p| *p >= rt_core::shutdown::ShutdownPhase::Draining),
        )
        .await
        .unwrap()
        .unwrap();
    });
    let err = w.rt.primary().block_on(w.rt.resume()).unwrap_err();
    assert!(
        matches!(err, RuntimeError::DrainDuringShutdown { action: "resume" }),
        "{err}"
    );
    w.release.add_permits(1);
    assert_eq!(
        held.join().unwrap().status,
        200,
        "the admitted request finished"
    );
    let report = shutdown.join().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(w.http.is_stopped());
}

#[test]
fn off_loopback_the_admin_calls_need_the_token() {
    // A wildcard bind is not loopback (reached here through 127.0.0.1).
    let w = worker(StatusOptions::new("0.0.0.0", 0));
    let status = SocketAddr::from(([127, 0, 0, 1], w.status_addr().port()));
    let refused = call(status, "POST", "/drain", None);
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.body.contains("DYN_SYSTEM_ADMIN_TOKEN_FILE"),
        "{refused:?}"
    );
    assert_eq!(w.rt.drain_control().state(), DrainState::Serving);
    w.shutdown_clean();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let w = worker(StatusOptions::new("0.0.0.0", 0).with_admin_token_file(&file));
    let status = SocketAddr::from(([127, 0, 0, 1], w.status_addr().port()));
    let wrong = format!("Bearer {}x", &TOKEN[..TOKEN.len() - 1]);
    for auth in [None, Some("Bearer nope"), Some(wrong.as_str()), Some(TOKEN)] {
        let reply = call(status, "POST", "/drain", auth);
        assert_eq!(reply.status, 403, "{auth:?}: {reply:?}");
    }
    assert_eq!(w.rt.drain_control().state(), DrainState::Serving);
    let right = format!("Bearer {TOKEN}");
    let drained = call(status, "POST", "/drain", Some(&right));
    assert_eq!(
        (drained.status, drained.json()["state"].clone()),
        (200, "drained".into())
    );
    assert_eq!(call(status, "POST", "/resume", None).status, 403);
    assert_eq!(call(status, "POST", "/resume", Some(&right)).status, 200);
    assert_eq!(w.rt.drain_control().state(), DrainState::Serving);
    w.shutdown_clean();

    // A token file that is too short is a start-up error naming the file.
    std::fs::write(&file, "short").unwrap();
    let rt = Runtime::from_config(
        RuntimeConfig::builder()
            .num_worker_threads(1)
            .compute_threads(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = StatusServer::start_with(&rt, loopback().with_admin_token_file(&file)).unwrap_err();
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
}

#[test]
fn concurrent_drains_and_resumes_from_many_threads_stay_consistent() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 20;
    let w = worker(loopback());
    let status = w.status_addr();
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (barrier, rt) = (Arc::clone(&barrier), w.rt.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..ROUNDS {
                    match (t + round) % 4 {
                        // 202: a resume from another thread ended this drain, and yet
                        // another drain had started when it answered.
                        0 => assert!(matches!(
                            call(status, "POST", "/drain", None).status,
                            200 | 202
                        )),
                        1 => assert_eq!(call(status, "POST", "/resume", None).status, 200),
                        2 => {
                            rt.primary().block_on(rt.drain(Some(WAIT))).unwrap();
                        }
                        _ => {
                            rt.primary().block_on(rt.resume()).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no call failed or hung");
    }
    // Whatever the interleaving: one resume leaves it serving and registered exactly once.
    w.rt.primary().block_on(w.rt.resume()).unwrap();
    assert_eq!(w.rt.drain_control().state(), DrainState::Serving);
    let id = w.discovery.instance_id().0;
    w.wait_instances(&[id]);
    assert_eq!(call(w.http.local_addr(), "POST", "/fast", None).status, 200);
    // And one drain leaves it drained and out of discovery.
    let report = w.rt.primary().block_on(w.rt.drain(Some(WAIT))).unwrap();
    assert_eq!(report.state, DrainState::Drained, "{report}");
    assert!(report.hooks_succeeded(), "{report}");
    w.wait_instances(&[]);
    w.shutdown_clean();
}
