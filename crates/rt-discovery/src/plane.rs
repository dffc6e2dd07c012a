//! [`RequestPlane`]: a worker's endpoints served over HTTP (`POST /v1/rpc/{endpoint}`) through
//! `rt-http`'s lossless edge, and published in discovery.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use rt_core::Runtime;
use rt_http::{ServeOptions, Server};
use tokio::net::TcpListener;

use crate::discovery::Discovery;
use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;
use crate::handler::{boxed, Handler, RpcError, RpcReply, RpcRequest};
use crate::instance::InstanceId;
use crate::registration::Registration;
use crate::wire::{rpc_path, REQUEST_ID_HEADER};

/// The least [`ServeOptions::drain_linger`] of a request plane's server: 500 ms, about a
/// hundred times what a watching router needs to see a deregistration on a loopback or LAN
/// etcd (measured p99: 6 ms).
pub const PLANE_DRAIN_LINGER: std::time::Duration = std::time::Duration::from_millis(500);

/// `options` for a server whose routes are published in discovery for routers: its
/// [`drain_linger`](ServeOptions::drain_linger) raised to at least [`PLANE_DRAIN_LINGER`], so
/// that routers that have not seen the deregistration yet get a 503 (and send elsewhere)
/// rather than a closed port. [`RequestPlane::serve`] applies it; apply it to a server of your
/// own that serves a request-plane route.
///
/// ```
/// use std::time::Duration;
/// use rt_http::ServeOptions;
///
/// let options = rt_discovery::routed_serve_options(ServeOptions::default());
/// assert_eq!(options.drain_linger, rt_discovery::PLANE_DRAIN_LINGER);
/// let longer = ServeOptions::default().with_drain_linger(Duration::from_secs(2));
/// assert_eq!(rt_discovery::routed_serve_options(longer).drain_linger, Duration::from_secs(2));
/// ```
pub fn routed_serve_options(options: ServeOptions) -> ServeOptions {
    let linger = options.drain_linger.max(PLANE_DRAIN_LINGER);
    options.with_drain_linger(linger)
}

/// The default name of the request plane's HTTP endpoint in the runtime (the shutdown report
/// names it `endpoint rpc` if it is still busy at the deadline).
pub const RPC_SERVER_NAME: &str = "rpc";

/// A worker's request plane: endpoints and their handlers, served over HTTP and registered in
/// discovery.
///
/// | request | answer |
/// |---|---|
/// | `POST /v1/rpc/{endpoint}`, JSON body | the handler's [`RpcReply`]: `200` JSON, or `200` JSON lines (chunked) for a stream; its [`RpcError`] as `400`/`4xx`/`500` `{"error","detail"}` |
/// | an endpoint this worker does not serve | `404 {"error":"no_such_endpoint"}` |
/// | any request once the drain has started | `503 {"error":"shutting_down"}` from `rt-http` (no [`ADMITTED_HEADER`](crate::ADMITTED_HEADER)): routers send it elsewhere |
///
/// Every answer of a handler carries `x-dyn-rpc: admitted`.
///
/// # Shutdown
///
/// Phase 1 deletes the registrations (discovery) and starts the HTTP drain (`rt-http`) at the
/// same moment: routers that have not seen the delete yet get the 503 and retry elsewhere;
/// every admitted request is served to the end before the process exits.
pub struct RequestPlane {
    name: String,
    handlers: Vec<(EndpointId, Handler)>,
}

impl std::fmt::Debug for RequestPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let endpoints: Vec<String> = self.handlers.iter().map(|(e, _)| e.to_string()).collect();
        f.debug_struct("RequestPlane")
            .field("name", &self.name)
            .field("endpoints", &endpoints)
            .finish()
    }
}

impl Default for RequestPlane {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestPlane {
    /// An empty request plane, served as the runtime endpoint [`RPC_SERVER_NAME`].
    pub fn new() -> Self {
        Self {
            name: RPC_SERVER_NAME.to_owned(),
            handlers: Vec::new(),
        }
    }

    /// Serves under another runtime endpoint name (several request planes in one process).
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds `endpoint`, answered by `handler`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::DuplicateEndpoint`] when an endpoint of the same name (the last part
    /// of the id, which is the URL's) was added already.
    pub fn endpoint<F, Fut>(
        mut self,
        endpoint: EndpointId,
        handler: F,
    ) -> Result<Self, DiscoveryError>
    where
        F: Fn(RpcRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<RpcReply, RpcError>> + Send + 'static,
    {
        if self
            .handlers
            .iter()
            .any(|(e, _)| e.endpoint() == endpoint.endpoint())
        {
            return Err(DiscoveryError::DuplicateEndpoint {
                endpoint: endpoint.to_string(),
            });
        }
        self.handlers.push((endpoint, boxed(handler)));
        Ok(self)
    }

    /// Serves the endpoints on `listener` with [`rt_http::serve`] (a graceful endpoint of
    /// `runtime`), then registers each in `discovery` with the transport
    /// `{"http": "http://{advertise}:{port}/v1/rpc/{endpoint}"}`
    /// ([`Discovery::http_transport`]).
    ///
    /// The server's [`drain_linger`](ServeOptions::drain_linger) is at least
    /// [`PLANE_DRAIN_LINGER`]: routers see the deregistration of phase 1 within milliseconds,
    /// and until then the listener stays open answering 503 (retried elsewhere) rather than
    /// leaving their new connections to be reset, which a router cannot tell from a crash.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Http`] when the server cannot start; the errors of
    /// [`Discovery::http_transport`] and [`Discovery::register`] (the server then stops).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe in effect: dropping the future between the start of the server and
    /// the last registration leaves the server running (it stops with the runtime) with
    /// some endpoints not registered.
    pub async fn serve(
        self,
        runtime: &Runtime,
        discovery: &Discovery,
        listener: TcpListener,
        options: ServeOptions,
    ) -> Result<RequestPlaneServer, DiscoveryError> {
        let endpoints: Vec<EndpointId> = self.handlers.iter().map(|(e, _)| e.clone()).collect();
        let table: HashMap<String, Handler> = self
            .handlers
            .into_iter()
            .map(|(e, h)| (e.endpoint().to_owned(), h))
            .collect();
        let router = axum::Router::new()
            .route("/v1/rpc/{endpoint}", post(call))
            .with_state(Arc::new(table));
        let server = rt_http::serve(
            runtime,
            self.name,
            listener,
            router,
            routed_serve_options(options),
        )?;
        let mut registrations = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let registered = match discovery
                .http_transport(server.local_addr(), &rpc_path(endpoint.endpoint()))
            {
                Ok(transport) => discovery.register(endpoint, transport).await,
                Err(error) => Err(error),
            };
            match registered {
                Ok(registration) => registrations.push(registration),
                Err(error) => {
                    server.stop();
                    return Err(error);
                }
            }
        }
        tracing::info!(
            addr = %server.local_addr(),
            endpoints = registrations.len(),
            instance_id = %discovery.instance_id(),
            "request plane serving and registered"
        );
        Ok(RequestPlaneServer {
            server,
            registrations,
        })
    }
}

/// A running request plane: its HTTP server and its registrations.
#[derive(Debug)]
pub struct RequestPlaneServer {
    server: Server,
    registrations: Vec<Registration>,
}

impl RequestPlaneServer {
    /// The HTTP server (address, metrics, drain, end).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The registrations, in the order the endpoints were added.
    pub fn registrations(&self) -> &[Registration] {
        &self.registrations
    }

    /// This process's instance id now (every registration shares it).
    pub fn instance_id(&self) -> Option<InstanceId> {
        self.registrations.first().map(Registration::instance_id)
    }

    /// Resolves once the server has finished (after phase 1 and the drain).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it can be awaited again.
    pub async fn stopped(&self) {
        self.server.stopped().await;
    }
}

/// `POST /v1/rpc/{endpoint}`.
async fn call(
    State(table): State<Arc<HashMap<String, Handler>>>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(handler) = table.get(&endpoint) else {
        return RpcError::with_status(
            404,
            "no_such_endpoint",
            format!("this worker serves no endpoint {endpoint:?} on its request plane"),
        )
        .into_response();
    };
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match handler(RpcRequest::new(body, request_id)).await {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}
