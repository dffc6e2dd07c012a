//! The request plane and the router on real loopback sockets (memory backend): spread,
//! direct, retries of what was never admitted (connection refused, the edge's 503), never a
//! retry of what was admitted, the all-refused error, streams and request ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rt_core::Runtime;
use rt_discovery::{
    Discovery, DiscoveryError, DiscoverySettings, EndpointId, InstanceId, MemoryBackend,
    RequestPlane, RequestPlaneServer, Router, RouterMode, RouterSettings, RpcError, RpcReply,
    RpcRequest, Transport,
};
use rt_http::ServeOptions;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;

const BOUND: Duration = Duration::from_secs(10);

fn ep() -> EndpointId {
    EndpointId::new("ns", "backend", "work").unwrap()
}

async fn discovery(runtime: &Runtime, store: &MemoryBackend) -> Discovery {
    Discovery::with_backend(
        runtime,
        Arc::new(store.clone()),
        DiscoverySettings::default(),
    )
    .await
    .unwrap()
}

/// What a test worker does with a request body.
#[derive(Clone)]
struct Behaviour {
    /// Requests with `{"hold": true}` wait for a permit here.
    hold: Arc<Semaphore>,
    /// Told when a held request has started.
    entered: Option<mpsc::UnboundedSender<()>>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            hold: Arc::new(Semaphore::new(0)),
            entered: None,
        }
    }
}

/// A worker: its own runtime, discovery and request plane; counts executions.
struct Worker {
    _runtime: Runtime,
    plane: RequestPlaneServer,
    executed: Arc<AtomicU64>,
    id: InstanceId,
}

async fn worker(store: &MemoryBackend, behaviour: Behaviour) -> Worker {
    let runtime = common::runtime_here();
    let discovery = discovery(&runtime, store).await;
    let executed = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&executed);
    let handler = move |request: RpcRequest| {
        let count = Arc::clone(&count);
        let behaviour = behaviour.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            let body: Value = request.json()?;
            if body["hold"] == json!(true) {
                if let Some(entered) = &behaviour.entered {
                    let _ = entered.send(());
                }
                let _permit = behaviour.hold.acquire().await;
            }
            if let Some(ms) = body["sleep_ms"].as_u64() {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if body["fail"] == json!(true) {
                return Err(RpcError::failed("asked to fail"));
            }
            if let Some(n) = body["lines"].as_u64() {
                let (tx, rx) = mpsc::channel(4);
                tokio::spawn(async move {
                    for i in 0..n {
                        let _ = tx.send(json!({ "line": i })).await;
                    }
                });
                return Ok(RpcReply::stream(rx));
            }
            RpcReply::json(&json!({ "ok": true, "request_id": request.request_id }))
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plane = RequestPlane::new()
        .endpoint(ep(), handler)
        .unwrap()
        .serve(&runtime, &discovery, listener, ServeOptions::default())
        .await
        .unwrap();
    let id = plane.instance_id().unwrap();
    Worker {
        _runtime: runtime,
        plane,
        executed,
        id,
    }
}

/// A registration pointing at a closed port: connecting is refused.
async fn dead_instance(store: &MemoryBackend) -> (Runtime, Discovery, rt_discovery::Registration) {
    let runtime = common::runtime_here();
    let discovery = discovery(&runtime, store).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let reg = discovery
        .register(
            ep(),
            Transport::Http(format!("http://127.0.0.1:{port}/v1/rpc/work")),
        )
        .await
        .unwrap();
    (runtime, discovery, reg)
}

async fn router(
    store: &MemoryBackend,
    settings: RouterSettings,
    expect: usize,
) -> (Runtime, Router) {
    let runtime = common::runtime_here();
    let discovery = discovery(&runtime, store).await;
    let client = discovery.client(ep());
    let mut rx = client.subscribe();
    timeout(BOUND, rx.wait_for(|i| i.list().len() == expect))
        .await
        .unwrap()
        .unwrap();
    (runtime, Router::new(client, settings))
}

async fn ok(router: &Router, body: Value) -> rt_discovery::Reply {
    let reply = timeout(BOUND, router.call(&body)).await.unwrap().unwrap();
    assert_eq!(reply.status(), 200);
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_evenly_and_reuses_connections() {
    let store = MemoryBackend::new();
    let workers = [
        worker(&store, Behaviour::default()).await,
        worker(&store, Behaviour::default()).await,
        worker(&store, Behaviour::default()).await,
    ];
    let (_rt, router) = router(&store, RouterSettings::default(), 3).await;
    for _ in 0..30 {
        ok(&router, json!({})).await.bytes().await.unwrap();
    }
    for w in &workers {
        assert_eq!(w.executed.load(Ordering::SeqCst), 10);
        let http = w.plane.server().metrics();
        assert!(
            http.connections_accepted <= 2,
            "connections are reused: {} accepted for 10 requests",
            http.connections_accepted
        );
    }
    let m = router.metrics();
    assert_eq!((m.requests, m.admitted, m.retries), (30, 30, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_reaches_every_instance() {
    let store = MemoryBackend::new();
    let workers = [
        worker(&store, Behaviour::default()).await,
        worker(&store, Behaviour::default()).await,
    ];
    let (_rt, router) = router(&store, RouterSettings::default(), 2).await;
    let router = router.with_mode(RouterMode::Random);
    for _ in 0..60 {
        ok(&router, json!({})).await.bytes().await.unwrap();
    }
    let counts: Vec<u64> = workers
        .iter()
        .map(|w| w.executed.load(Ordering::SeqCst))
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 60);
    assert!(counts.iter().all(|c| *c > 5), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_goes_to_the_instance_and_an_absent_id_is_a_clear_error() {
    let store = MemoryBackend::new();
    let a = worker(&store, Behaviour::default()).await;
    let b = worker(&store, Behaviour::default()).await;
    let (_rt, router) = router(&store, RouterSettings::default(), 2).await;
    let direct = router.with_mode(RouterMode::Direct(b.id));
    for _ in 0..5 {
        assert_eq!(ok(&direct, json!({})).await.instance(), b.id);
    }
    assert_eq!(b.executed.load(Ordering::SeqCst), 5);
    assert_eq!(a.executed.load(Ordering::SeqCst), 0);

    let absent = InstanceId(0xdead_beef);
    let error = router
        .with_mode(RouterMode::Direct(absent))
        .call(&json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(error, DiscoveryError::InstanceNotFound { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("ns/backend/work") && text.contains("deadbeef"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_elsewhere_inhibited_then_restored() {
    let store = MemoryBackend::new();
    let live = worker(&store, Behaviour::default()).await;
    let (_drt, _dd, dead) = dead_instance(&store).await;
    let dead_id = dead.instance_id();
    let settings = RouterSettings::default().with_reconcile_period(Duration::from_millis(300));
    let (_rt, router) = router(&store, settings, 2).await;
    for _ in 0..20 {
        let reply = ok(&router, json!({})).await;
        assert_eq!(reply.instance(), live.id);
    }
    assert_eq!(live.executed.load(Ordering::SeqCst), 20);
    let m = router.metrics();
    assert!(m.retries >= 1 && m.refusals >= 1, "{m:?}");
    // Set aside after its refusal: not tried on every request.
    assert!(
        m.refusals < 5,
        "an inhibited instance is not chosen while others are: {m:?}"
    );
    assert!(router.is_inhibited(dead_id));
    // The reconcile restores it.
    timeout(BOUND, async {
        while router.is_inhibited(dead_id) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edges_503_is_retried_elsewhere_and_admitted_work_runs_once() {
    let store = MemoryBackend::new();
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let hold = Arc::new(Semaphore::new(0));
    let draining = worker(
        &store,
        Behaviour {
            hold: Arc::clone(&hold),
            entered: Some(entered_tx),
        },
    )
    .await;
    let live = worker(&store, Behaviour::default()).await;
    let (_rt, router) = router(&store, RouterSettings::default(), 2).await;

    // One request held in flight on `draining`, then its drain starts: the listener stays
    // open and answers 503 (not admitted) while the key is still listed.
    let held = tokio::spawn({
        let direct = router.with_mode(RouterMode::Direct(draining.id));
        async move { direct.call(&json!({ "hold": true })).await }
    });
    timeout(BOUND, entered.recv()).await.unwrap().unwrap();
    draining.plane.server().stop();
    timeout(BOUND, async {
        while !draining.plane.server().is_draining() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();

    for _ in 0..20 {
        let reply = ok(&router, json!({})).await;
        assert_eq!(reply.instance(), live.id);
    }
    let m = router.metrics();
    assert!(m.retries >= 1, "{m:?}");
    assert_eq!(
        draining.executed.load(Ordering::SeqCst),
        1,
        "only the held request ran there"
    );
    assert_eq!(live.executed.load(Ordering::SeqCst), 20);
    assert!(draining.plane.server().metrics().requests_refused >= 1);

    hold.add_permits(1);
    let reply = timeout(BOUND, held).await.unwrap().unwrap().unwrap();
    assert_eq!(
        reply.status(),
        200,
        "the admitted request finished through the drain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admitted_request_is_never_sent_twice() {
    let store = MemoryBackend::new();
    let a = worker(&store, Behaviour::default()).await;
    let b = worker(&store, Behaviour::default()).await;
    let settings = RouterSettings::default().with_request_timeout(Duration::from_millis(300));
    let (_rt, router) = router(&store, settings, 2).await;
    let total = || a.executed.load(Ordering::SeqCst) + b.executed.load(Ordering::SeqCst);

    // A handler error is an answer: returned, not retried.
    let reply = timeout(BOUND, router.call(&json!({ "fail": true })))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status(), 500);
    assert_eq!(total(), 1);

    // A request timing out after it was admitted: an error, not a retry.
    let error = timeout(BOUND, router.call(&json!({ "sleep_ms": 2000 })))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, DiscoveryError::Timeout { .. }), "{error}");
    assert!(error.to_string().contains("not sent elsewhere"), "{error}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(total(), 2, "the timed-out request ran once, nowhere else");

    assert_eq!(router.metrics().retries, 0);
    assert_eq!(router.metrics().failed, 1, "only the timeout failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_refusing_gives_one_clear_error() {
    let store = MemoryBackend::new();
    let (_a, _ad, a) = dead_instance(&store).await;
    let (_b, _bd, b) = dead_instance(&store).await;
    let (_rt, router) = router(&store, RouterSettings::default(), 2).await;
    let error = timeout(BOUND, router.call(&json!({})))
        .await
        .unwrap()
        .unwrap_err();
    let DiscoveryError::AllRefused { tried, known, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!((*tried, *known), (2, 2));
    let text = error.to_string();
    for needle in [
        "ns/backend/work".to_owned(),
        a.instance_id().to_string(),
        b.instance_id().to_string(),
        "connection failed".to_owned(),
        "may be sent again".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle:?} in {text}");
    }
    assert_eq!(router.metrics().all_refused, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_instance_is_a_clear_error() {
    let store = MemoryBackend::new();
    let (_rt, router) = router(&store, RouterSettings::default(), 0).await;
    let error = router.call(&json!({})).await.unwrap_err();
    assert!(
        matches!(error, DiscoveryError::NoInstances { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("ns/backend/work"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_arrive_as_json_lines_and_request_ids_are_forwarded() {
    let store = MemoryBackend::new();
    let _w = worker(&store, Behaviour::default()).await;
    let (_rt, router) = router(&store, RouterSettings::default(), 1).await;
    let mut reply = timeout(BOUND, router.call(&json!({ "lines": 3 })))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.headers()["content-type"], rt_discovery::JSON_LINES);
    assert_eq!(reply.headers()[rt_discovery::ADMITTED_HEADER], "admitted");
    let mut lines = Vec::new();
    while let Some(line) = timeout(BOUND, reply.next_line()).await.unwrap().unwrap() {
        lines.push(serde_json::from_slice::<Value>(&line).unwrap());
    }
    assert_eq!(
        lines,
        vec![json!({"line":0}), json!({"line":1}), json!({"line":2})]
    );

    let reply = timeout(BOUND, router.send("{}".into(), Some("req-42")))
        .await
        .unwrap()
        .unwrap();
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["request_id"], "req-42");
}
