//! [`Router`]: sends requests to the instances of one endpoint (round-robin, random, or
//! direct), retrying on another instance only what was never admitted.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rt_core::Runtime;
use serde::Serialize;
use tokio::time::Instant;

use crate::client::InstanceClient;
use crate::discovery::Discovery;
use crate::endpoint_id::EndpointId;
use crate::error::{source_chain, DiscoveryError};
use crate::instance::{Instance, InstanceId, Transport};
use crate::reply::Reply;
use crate::router_settings::RouterSettings;
use crate::wire::{ADMITTED_HEADER, REQUEST_ID_HEADER};

/// How much of a refusal's body is kept for the error message.
const REFUSAL_BODY_SHOWN: usize = 200;
/// How long the router waits for the instance list's first snapshot.
const FIRST_SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

/// How a [`Router`] chooses an instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterMode {
    /// Each request to the next instance (the default).
    #[default]
    RoundRobin,
    /// Each request to an instance chosen at random.
    Random,
    /// Every request to this instance; an id absent from the list is an error, and a refusal
    /// is not sent elsewhere.
    Direct(InstanceId),
}

/// The router's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterMetrics {
    /// Requests given to the router.
    pub requests: u64,
    /// Requests an instance admitted (a [`Reply`] was returned).
    pub admitted: u64,
    /// Sends to another instance after a refusal.
    pub retries: u64,
    /// Refusals seen (connection refused or failed, the edge's 503, not an HTTP transport).
    pub refusals: u64,
    /// Requests that ended in [`DiscoveryError::AllRefused`].
    pub all_refused: u64,
    /// Requests that failed after they were sent (not retried).
    pub failed: u64,
    /// Instances set aside now (until the next reconcile).
    pub inhibited: u64,
}

/// Sends requests to the instances of one endpoint, over the request plane
/// ([`RequestPlane`](crate::RequestPlane)).
///
/// - **Instances** come from an [`InstanceClient`] (the watch cache): a worker that begins its
///   shutdown leaves the list 1–2 ms later on loopback.
/// - **Retries**: a request is sent to another instance (at most
///   [`RouterSettings::retries`] times, never twice to one instance) **only when it was never
///   admitted**: the connection could not be made (refused, timed out), or the HTTP edge
///   answered its drain's `503` (no [`ADMITTED_HEADER`](crate::ADMITTED_HEADER)). Anything
///   else (an answer of any status, a reset after sending, a timeout) is the caller's: a
///   request that may have run is never run twice.
/// - **Inhibition**: an instance that refused is set aside (chosen only when every instance
///   is) until the next reconcile, every [`RouterSettings::reconcile_period`].
/// - **All refused**: one [`DiscoveryError::AllRefused`] naming the endpoint and what each
///   instance answered.
/// - **Connections** are pooled and reused (hyper-util's client, HTTP/1.1, `TCP_NODELAY`).
///
/// Clones share the pool, the counters and the inhibitions; [`with_mode`](Self::with_mode)
/// gives a clone that chooses differently.
#[derive(Clone, Debug)]
pub struct Router {
    inner: Arc<Inner>,
    mode: RouterMode,
}

struct Inner {
    client: InstanceClient,
    endpoint: String,
    settings: RouterSettings,
    http: Client<HttpConnector, Full<Bytes>>,
    next: AtomicUsize,
    rng: AtomicU64,
    inhibited: Mutex<HashMap<InstanceId, Instant>>,
    reconcile_started: AtomicBool,
    counters: Counters,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("endpoint", &self.endpoint)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    admitted: AtomicU64,
    retries: AtomicU64,
    refusals: AtomicU64,
    all_refused: AtomicU64,
    failed: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The outcome of one send.
enum Attempt {
    Admitted(hyper::Response<hyper::body::Incoming>),
    Refused(String),
}

impl Router {
    /// A round-robin router over `client`'s instances.
    pub fn new(client: InstanceClient, settings: RouterSettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.connect_timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector);
        let seed = RandomState::new().hash_one(std::time::SystemTime::now()) | 1;
        Self {
            inner: Arc::new(Inner {
                endpoint: client.endpoint().to_string(),
                client,
                settings,
                http,
                next: AtomicUsize::new(0),
                rng: AtomicU64::new(seed),
                inhibited: Mutex::new(HashMap::new()),
                reconcile_started: AtomicBool::new(false),
                counters: Counters::default(),
            }),
            mode: RouterMode::RoundRobin,
        }
    }

    /// A round-robin router over `endpoint`'s instances as `discovery` sees them, with the
    /// `discovery_router_*` settings of `runtime`'s configuration.
    pub fn from_config(runtime: &Runtime, discovery: &Discovery, endpoint: EndpointId) -> Self {
        Self::new(
            discovery.client(endpoint),
            RouterSettings::from_config(runtime.config()),
        )
    }

    /// A clone (same pool, counters and inhibitions) that chooses by `mode`.
    pub fn with_mode(&self, mode: RouterMode) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            mode,
        }
    }

    /// The mode.
    pub fn mode(&self) -> RouterMode {
        self.mode
    }

    /// The instance list it routes over.
    pub fn instances(&self) -> &InstanceClient {
        &self.inner.client
    }

    /// The settings.
    pub fn settings(&self) -> &RouterSettings {
        &self.inner.settings
    }

    /// The counters now.
    pub fn metrics(&self) -> RouterMetrics {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RouterMetrics {
            requests: load(&c.requests),
            admitted: load(&c.admitted),
            retries: load(&c.retries),
            refusals: load(&c.refusals),
            all_refused: load(&c.all_refused),
            failed: load(&c.failed),
            inhibited: u64::try_from(self.inner.lock_inhibited().len()).unwrap_or(u64::MAX),
        }
    }

    /// Whether `instance` is set aside now (it refused since the last reconcile).
    pub fn is_inhibited(&self, instance: InstanceId) -> bool {
        self.inner.lock_inhibited().contains_key(&instance)
    }

    /// Sends `body` serialised as JSON; see [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Self::send).
    pub async fn call<T: Serialize>(&self, body: &T) -> Result<Reply, DiscoveryError> {
        let bytes = serde_json::to_vec(body).map_err(|source| DiscoveryError::ReplyJson {
            endpoint: self.inner.endpoint.clone(),
            instance: 0,
            source,
        })?;
        self.send(Bytes::from(bytes), None).await
    }

    /// Sends the JSON `body` (with `x-request-id: request_id` when given) to an instance
    /// chosen by the mode, and returns the reply of the instance that admitted it.
    ///
    /// # Errors
    ///
    /// - [`DiscoveryError::NoInstances`]: the list is empty;
    /// - [`DiscoveryError::InstanceNotFound`]: [`RouterMode::Direct`] to an id not listed;
    /// - [`DiscoveryError::AllRefused`]: every instance tried refused (never admitted);
    /// - [`DiscoveryError::Upstream`], [`DiscoveryError::Timeout`]: failed after sending
    ///   (maybe admitted; not retried).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request: one already sent may still run on its
    /// instance (as with any HTTP client); it is never sent anywhere else.
    pub async fn send(
        &self,
        body: Bytes,
        request_id: Option<&str>,
    ) -> Result<Reply, DiscoveryError> {
        let inner = &self.inner;
        inner.start_reconcile();
        bump(&inner.counters.requests);
        let list = self.list().await?;
        let candidates: Vec<&Instance> = match self.mode {
            RouterMode::Direct(id) => match list.iter().find(|i| i.id == id) {
                Some(instance) => vec![instance],
                None => {
                    return Err(DiscoveryError::InstanceNotFound {
                        endpoint: inner.endpoint.clone(),
                        instance: id.0,
                    })
                }
            },
            _ => list.iter().collect(),
        };
        let attempts = match self.mode {
            RouterMode::Direct(_) => 1,
            _ => candidates.len().min(
                usize::try_from(inner.settings.retries)
                    .unwrap_or(usize::MAX)
                    .saturating_add(1),
            ),
        };
        let mut tried: Vec<InstanceId> = Vec::with_capacity(attempts);
        let mut answers: Vec<String> = Vec::with_capacity(attempts);
        for attempt in 0..attempts {
            let Some(instance) = self.choose(&candidates, &tried) else {
                break;
            };
            tried.push(instance.id);
            if attempt > 0 {
                bump(&inner.counters.retries);
            }
            let address = instance.transport.address().to_owned();
            let deadline = Instant::now() + inner.settings.request_timeout;
            match inner.attempt(instance, &body, request_id, deadline).await? {
                Attempt::Admitted(response) => {
                    bump(&inner.counters.admitted);
                    return Ok(Reply::new(
                        inner.endpoint.clone(),
                        instance.id,
                        address,
                        u32::try_from(attempt).unwrap_or(u32::MAX),
                        response,
                        deadline,
                        inner.settings.request_timeout,
                    ));
                }
                Attempt::Refused(answer) => {
                    bump(&inner.counters.refusals);
                    inner.inhibit(instance.id);
                    tracing::debug!(endpoint = %inner.endpoint, instance = %instance.id, %answer, "instance refused; trying another");
                    answers.push(format!("{} ({address}): {answer}", instance.id));
                }
            }
        }
        bump(&inner.counters.all_refused);
        Err(DiscoveryError::AllRefused {
            endpoint: inner.endpoint.clone(),
            tried: tried.len(),
            known: list.len(),
            answers: answers.join("; "),
        })
    }

    /// The instance list, after the watch's first snapshot (waited for, bounded).
    async fn list(&self) -> Result<Arc<[Instance]>, DiscoveryError> {
        let client = &self.inner.client;
        let mut instances = client.instances();
        if !instances.is_synced() && !instances.is_closed() {
            let mut rx = client.subscribe();
            let _ = tokio::time::timeout(
                FIRST_SNAPSHOT_WAIT,
                rx.wait_for(|i| i.is_synced() || i.is_closed()),
            )
            .await;
            instances = client.instances();
        }
        let list = Arc::clone(instances.list());
        if list.is_empty() {
            return Err(DiscoveryError::NoInstances {
                endpoint: self.inner.endpoint.clone(),
            });
        }
        Ok(list)
    }

    /// The next instance by the mode among those not tried yet, preferring those not set
    /// aside.
    fn choose<'a>(
        &self,
        candidates: &[&'a Instance],
        tried: &[InstanceId],
    ) -> Option<&'a Instance> {
        let open: Vec<&Instance> = candidates
            .iter()
            .copied()
            .filter(|i| !tried.contains(&i.id))
            .collect();
        let preferred: Vec<&Instance> = {
            let inhibited = self.inner.lock_inhibited();
            open.iter()
                .copied()
                .filter(|i| !inhibited.contains_key(&i.id))
                .collect()
        };
        let pool = if preferred.is_empty() {
            open
        } else {
            preferred
        };
        if pool.is_empty() {
            return None;
        }
        let index = match self.mode {
            RouterMode::Random => {
                usize::try_from(self.inner.random() % pool.len() as u64).unwrap_or(0)
            }
            _ => self.inner.next.fetch_add(1, Ordering::Relaxed) % pool.len(),
        };
        Some(pool[index])
    }
}

impl Inner {
    fn lock_inhibited(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceId, Instant>> {
        self.inhibited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn inhibit(&self, id: InstanceId) {
        self.lock_inhibited().insert(id, Instant::now());
    }

    /// xorshift64*: enough to spread requests.
    fn random(&self) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Starts the periodic reconcile on the current runtime, once; it ends with the last
    /// clone of the router.
    fn start_reconcile(self: &Arc<Self>) {
        if self.reconcile_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let period = self.settings.reconcile_period;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let restored = std::mem::take(&mut *inner.lock_inhibited());
                if !restored.is_empty() {
                    tracing::debug!(endpoint = %inner.endpoint, restored = restored.len(), "router reconcile: instances restored");
                }
            }
        });
    }

    /// Sends the request to `instance`: admitted (any answer the handler gave), refused
    /// (never admitted), or an error (failed after sending).
    async fn attempt(
        &self,
        instance: &Instance,
        body: &Bytes,
        request_id: Option<&str>,
        deadline: Instant,
    ) -> Result<Attempt, DiscoveryError> {
        let Transport::Http(url) = &instance.transport else {
            return Ok(Attempt::Refused(format!(
                "not an HTTP transport ({:?})",
                instance.transport
            )));
        };
        let Ok(uri) = url.parse::<Uri>() else {
            return Ok(Attempt::Refused(format!("not a valid URL: {url:?}")));
        };
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
            headers.insert(REQUEST_ID_HEADER, id);
        }
        let sent = tokio::time::timeout_at(deadline, self.http.request(request)).await;
        match sent {
            Err(_) => {
                bump(&self.counters.failed);
                Err(DiscoveryError::Timeout {
                    endpoint: self.endpoint.clone(),
                    instance: instance.id.0,
                    address: url.clone(),
                    after: self.settings.request_timeout,
                })
            }
            Ok(Err(error)) if error.is_connect() => Ok(Attempt::Refused(format!(
                "connection failed ({})",
                source_chain(&error)
            ))),
            Ok(Err(error)) => {
                bump(&self.counters.failed);
                Err(DiscoveryError::Upstream {
                    endpoint: self.endpoint.clone(),
                    instance: instance.id.0,
                    address: url.clone(),
                    source: Box::new(error),
                })
            }
            Ok(Ok(response))
                if response.status().as_u16() == 503
                    && !response.headers().contains_key(ADMITTED_HEADER) =>
            {
                let body = tokio::time::timeout_at(deadline, response.into_body().collect())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let shown = String::from_utf8_lossy(&body[..body.len().min(REFUSAL_BODY_SHOWN)])
                    .trim()
                    .to_owned();
                Ok(Attempt::Refused(format!("503 not admitted {shown}")))
            }
            Ok(Ok(response)) => Ok(Attempt::Admitted(response)),
        }
    }
}
