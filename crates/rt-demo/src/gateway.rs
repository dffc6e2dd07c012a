//! The demo router (binary `demo-router`): the public `POST /work` of a cluster of
//! `demo-service` workers, forwarded through [`rt_discovery::Router`].
//!
//! Configured like the service (`DYN_*`: `DYN_HTTP_HOST`/`DYN_HTTP_PORT` for its own edge,
//! `DYN_DISCOVERY_*` for discovery and `DYN_DISCOVERY_ROUTER_*` for retries and timeouts). It
//! prints `listening on http://ADDR` like the service.
//!
//! | request | answer |
//! |---|---|
//! | `POST /work` | the worker's answer (status and body), with [`INSTANCE_HEADER`] naming the worker; `503 {"error":"all_refused"}` when every worker tried refused (never admitted anywhere); `503 {"error":"no_instances"}`; `502 {"error":"upstream_failed","instance":..}` when the worker failed after admitting it (a crash); `504` on a timeout |
//! | `GET /stats` | a [`GatewayStats`] |
//! | `GET /instances` | `{"instances": ["hex id", ...]}`: the list the router chooses from |

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use rt_core::config::RuntimeConfig;
use rt_core::{BoxError, Runtime, Worker};
use rt_discovery::{Discovery, DiscoveryError, EndpointId, Router, REQUEST_ID_HEADER};
use rt_http::ServeOptions;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::protocol::{DEMO_ENDPOINT, INSTANCE_HEADER, LISTENING_PREFIX};
use crate::DemoError;

/// The router's counters, as `GET /stats` answers them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStats {
    /// Requests forwarded.
    pub requests: u64,
    /// Requests a worker admitted.
    pub admitted: u64,
    /// Sends to another worker after a refusal.
    pub retries: u64,
    /// Refusals seen.
    pub refusals: u64,
    /// Requests every worker tried refused.
    pub all_refused: u64,
    /// Requests that failed after a worker admitted them.
    pub failed: u64,
    /// Admitted requests per worker (hex instance id).
    pub per_instance: BTreeMap<String, u64>,
}

/// Runs the router to its end and returns the exit code.
pub fn run() -> i32 {
    let config = match RuntimeConfig::from_settings() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("demo-router: invalid configuration: {error}");
            return crate::service::EXIT_CODE_CONFIG;
        }
    };
    let worker = match Worker::from_config(config) {
        Ok(worker) => worker,
        Err(error) => {
            eprintln!("demo-router: cannot start the runtime: {error}");
            return rt_core::EXIT_CODE_APP_ERROR;
        }
    };
    match worker.execute(app) {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("demo-router: cannot run: {error}");
            rt_core::EXIT_CODE_APP_ERROR
        }
    }
}

struct Gateway {
    router: Router,
    per_instance: Mutex<BTreeMap<String, u64>>,
}

async fn app(runtime: Runtime) -> Result<(), BoxError> {
    let config = runtime.config().clone();
    let discovery = Discovery::from_config(&runtime).await?;
    let (ns, component, endpoint) = DEMO_ENDPOINT;
    let router = Router::from_config(
        &runtime,
        &discovery,
        EndpointId::new(ns, component, endpoint)?,
    );
    let bind_error = |source| DemoError::Bind {
        addr: format!("{}:{}", config.http_host, config.http_port),
        source,
    };
    let listener = TcpListener::bind((config.http_host.as_str(), config.http_port))
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let gateway = Arc::new(Gateway {
        router,
        per_instance: Mutex::new(BTreeMap::new()),
    });
    let app = axum::Router::new()
        .route("/work", post(forward))
        .route("/stats", get(stats))
        .route("/instances", get(instances))
        .with_state(gateway);
    let server = rt_http::serve(
        &runtime,
        "router",
        listener,
        app,
        ServeOptions::from_config(&config),
    )?;
    crate::service::announce(&format!("{LISTENING_PREFIX}{addr}"));
    server.stopped().await;
    Ok(())
}

async fn forward(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
    let reply = match gw.router.send(body, request_id).await {
        Ok(reply) => reply,
        Err(error) => return failure(&error),
    };
    let instance = reply.instance().to_string();
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = reply.headers().get(header::CONTENT_TYPE).cloned();
    match reply.bytes().await {
        Ok(bytes) => {
            *gw.per_instance
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(instance.clone())
                .or_default() += 1;
            let mut response = (status, bytes).into_response();
            if let Some(ct) = content_type {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            if let Ok(v) = HeaderValue::from_str(&instance) {
                response.headers_mut().insert(INSTANCE_HEADER, v);
            }
            response
        }
        Err(error) => failure(&error),
    }
}

/// The router's error as an answer: what kind, and which instance when one was involved.
fn failure(error: &DiscoveryError) -> Response {
    let (status, code, instance) = match error {
        DiscoveryError::AllRefused { .. } => (StatusCode::SERVICE_UNAVAILABLE, "all_refused", None),
        DiscoveryError::NoInstances { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "no_instances", None)
        }
        DiscoveryError::Upstream { instance, .. } => {
            (StatusCode::BAD_GATEWAY, "upstream_failed", Some(*instance))
        }
        DiscoveryError::Timeout { instance, .. } => (
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            Some(*instance),
        ),
        _ => (StatusCode::BAD_GATEWAY, "router_error", None),
    };
    tracing::warn!(%error, "request not served");
    let body = serde_json::json!({
        "error": code,
        "detail": error.to_string(),
        "instance": instance.map(|i| format!("{i:x}")),
    });
    (status, Json(body)).into_response()
}

async fn stats(State(gw): State<Arc<Gateway>>) -> Json<GatewayStats> {
    let m = gw.router.metrics();
    Json(GatewayStats {
        requests: m.requests,
        admitted: m.admitted,
        retries: m.retries,
        refusals: m.refusals,
        all_refused: m.all_refused,
        failed: m.failed,
        per_instance: gw
            .per_instance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    })
}

async fn instances(State(gw): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    let list: Vec<String> = gw
        .router
        .instances()
        .instances()
        .list()
        .iter()
        .map(|i| i.id.to_string())
        .collect();
    Json(serde_json::json!({ "instances": list }))
}
