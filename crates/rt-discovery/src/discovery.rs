//! [`Discovery`]: the process's presence in discovery (lease, registrations) and its view of
//! other processes' endpoints (instance clients), tied to the runtime's shutdown phases.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rt_core::registry::ComponentState;
use rt_core::Runtime;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, Lease};
use crate::backoff::Backoff;
use crate::client::{ClientShared, InstanceClient};
use crate::drain_hook::{DiscoveryDrain, DRAIN_HOOK};
use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;
use crate::fixed::StaticBackend;
use crate::health::HealthComponent;
use crate::instance::{InstanceId, Transport};
use crate::key::KeyLayout;
use crate::memory::MemoryBackend;
use crate::metrics::DiscoveryMetrics;
use crate::registration::Registration;
use crate::settings::{BackendKind, DiscoverySettings};
use crate::state::{LeaseState, Reg, Shared};
use crate::supervise::Supervisor;

/// The name of the drain step (started in phase 1, listed in the shutdown report with its
/// time) that deletes this process's keys.
pub const DEREGISTER_STEP: &str = "discovery: deregister";
/// The name of the phase-3 teardown task that revokes the lease.
pub const REVOKE_TEARDOWN: &str = "discovery: revoke lease";

/// This process in discovery: one lease, the endpoints registered under it, and clients
/// watching other processes' endpoints. Cheap to clone.
///
/// # Lifecycle
///
/// | when | what |
/// |---|---|
/// | [`from_config`](Self::from_config) | connect (retrying an unreachable server up to `discovery_connect_timeout_secs`), grant the lease, start the keep-alive on the secondary runtime, show `discovery` in the registry (`/health`) |
/// | [`register`](Self::register) | publish an endpoint: call it once the endpoint accepts requests |
/// | phase 1 of the shutdown | **one delete of every key of this process**, before the drain, so routers stop choosing it; the lease stays alive. A drain step ([`DEREGISTER_STEP`]): phase 2 waits for it, the shutdown report lists it with its time |
/// | a drain without exit ([`Runtime::drain`](rt_core::Runtime::drain), `POST /drain`) | the same delete, through the drain hook [`DRAIN_HOOK`]; registrations are kept, unpublished ([`LeaseState::Drained`]) |
/// | its resume ([`Runtime::resume`](rt_core::Runtime::resume), `POST /resume`) | a new lease, every registration put on it (a **new instance id**), the old lease revoked |
/// | phase 3 | the keep-alive stops; the lease is revoked (teardown [`REVOKE_TEARDOWN`]); watches stop and keep their last list, marked closed |
///
/// A lost lease follows `discovery_on_lease_lost` ([`LeaseLossPolicy`](crate::LeaseLossPolicy)).
#[derive(Clone, Debug)]
pub struct Discovery {
    shared: Arc<Shared>,
    clients: Arc<Mutex<HashMap<EndpointId, Weak<ClientShared>>>>,
    /// Cancelled in phase 3: watches stop.
    primary: CancellationToken,
    health: Arc<HealthComponent>,
}

impl Discovery {
    /// Discovery as the runtime's configuration says (`discovery_*` keys): the process-wide
    /// memory store by default, the static list, or etcd.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Config`] for a bad setting; [`DiscoveryError::EtcdNotBuilt`] for
    /// `etcd` without the feature; [`DiscoveryError::Unreachable`] (naming the endpoints and
    /// their variable) when the server did not answer within the connect timeout;
    /// [`DiscoveryError::ShuttingDown`] when the runtime's shutdown already began.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future before it returns leaves nothing running (a lease
    /// granted meanwhile expires by itself).
    pub async fn from_config(runtime: &Runtime) -> Result<Self, DiscoveryError> {
        let settings = DiscoverySettings::from_config(runtime.config())?;
        let deadline = Instant::now() + settings.connect_timeout;
        let backend: Arc<dyn Backend> = match settings.backend {
            BackendKind::Memory => Arc::new(MemoryBackend::shared()),
            BackendKind::Static => Arc::new(StaticBackend::new(
                &KeyLayout::new(&settings.prefix),
                settings.static_instances.clone(),
            )?),
            BackendKind::Etcd => connect_etcd(&settings, deadline).await?,
        };
        Self::start(runtime, backend, settings, deadline).await
    }

    /// Discovery on `backend` with `settings` (tests, or a backend of your own).
    ///
    /// # Errors
    ///
    /// As [`from_config`](Self::from_config), without the configuration errors.
    ///
    /// # Cancel safety
    ///
    /// As [`from_config`](Self::from_config).
    pub async fn with_backend(
        runtime: &Runtime,
        backend: Arc<dyn Backend>,
        settings: DiscoverySettings,
    ) -> Result<Self, DiscoveryError> {
        let deadline = Instant::now() + settings.connect_timeout;
        Self::start(runtime, backend, settings, deadline).await
    }

    async fn start(
        runtime: &Runtime,
        backend: Arc<dyn Backend>,
        settings: DiscoverySettings,
        deadline: Instant,
    ) -> Result<Self, DiscoveryError> {
        let coordinator = runtime.shutdown_coordinator().clone();
        if coordinator.is_shutdown_started() {
            return Err(DiscoveryError::ShuttingDown {
                what: "starting discovery",
            });
        }
        let (lease, granted_at) = grant_until(&*backend, &settings, deadline).await?;
        let secondary = runtime.secondary();
        let shared = Arc::new(Shared::new(backend, settings, secondary.clone(), lease));
        let health = Arc::new(HealthComponent::start(Arc::clone(runtime.registry())));
        let primary = coordinator.primary_token();
        tracing::info!(backend = shared.backend.name(), instance_id = %InstanceId(lease.id), ttl = ?lease.ttl, component = health.name(), "discovery started");

        // Phase 1: delete every key of this process, on the secondary runtime (the step is
        // called on whatever thread calls shutdown()); phase 2 waits for it.
        let (s, h, rt) = (Arc::clone(&shared), Arc::clone(&health), secondary.clone());
        let step = move || {
            let deleted = rt.spawn(deregister_in_phase_one(s, h));
            async move {
                let _ = deleted.await;
            }
        };
        coordinator
            .try_add_drain_step(DEREGISTER_STEP, step)
            .map_err(|_| DiscoveryError::ShuttingDown {
                what: "starting discovery",
            })?;

        // A drain without exit deletes the keys; a resume registers again under a new lease.
        runtime.drain_control().add_hook(
            DRAIN_HOOK,
            Arc::new(DiscoveryDrain {
                shared: Arc::clone(&shared),
            }),
        );

        // The keep-alive and the lease-loss policy, until phase 3.
        let supervisor = Supervisor {
            shared: Arc::clone(&shared),
            health: Arc::clone(&health),
            coordinator: coordinator.clone(),
            stop: primary.clone(),
        };
        let supervised = secondary.spawn(supervisor.run(lease, granted_at));

        // Phase 3: stop the keep-alive, revoke the lease.
        let (s, h) = (Arc::clone(&shared), Arc::clone(&health));
        coordinator.add_teardown(REVOKE_TEARDOWN, move || async move {
            let _ = supervised.await;
            let core = s.core.lock().await;
            let id = core.lease.id;
            match s.backend.revoke(id).await {
                Ok(()) => tracing::info!(lease = format_args!("{id:x}"), "shutdown phase 3: discovery lease revoked"),
                Err(error) => tracing::warn!(%error, "shutdown phase 3: discovery could not revoke its lease; it expires by itself"),
            }
            drop(core);
            s.set_state(LeaseState::Closed);
            h.set(ComponentState::Stopped);
        });

        let discovery = Self {
            shared,
            clients: Arc::new(Mutex::new(HashMap::new())),
            primary,
            health,
        };
        // On the runtime's `/metrics`: lease renewals, lateness, losses, resyncs, instances.
        let reader = discovery.clone();
        if let Err(error) = DiscoveryMetrics::register(runtime.metrics(), move || reader.metrics())
        {
            tracing::debug!(%error, "discovery metrics already shown for this runtime (another Discovery)");
        }
        Ok(discovery)
    }

    /// This process's instance id (under etcd, its lease id); it changes after a
    /// re-registration.
    pub fn instance_id(&self) -> InstanceId {
        self.shared.instance_id()
    }

    /// The current state.
    pub fn state(&self) -> LeaseState {
        *self.shared.state.borrow()
    }

    /// A receiver of every state change.
    pub fn subscribe_state(&self) -> watch::Receiver<LeaseState> {
        self.shared.state.subscribe()
    }

    /// The settings in use.
    pub fn settings(&self) -> &DiscoverySettings {
        &self.shared.settings
    }

    /// The key layout in use.
    pub fn layout(&self) -> &KeyLayout {
        &self.shared.layout
    }

    /// The backend in use.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.shared.backend
    }

    /// Publishes `endpoint`, reachable through `transport`, under this process's lease
    /// (create-if-absent). Call it once the endpoint accepts requests.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::AlreadyRegistered`] when this process registered the endpoint
    /// already; [`DiscoveryError::ShuttingDown`] from phase 1 on;
    /// [`DiscoveryError::Backend`] when the server refused or could not be reached.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe in effect: a put sent before the future is dropped may stay until
    /// phase 1 (or the lease's end) without a [`Registration`] to remove it.
    pub async fn register(
        &self,
        endpoint: EndpointId,
        transport: Transport,
    ) -> Result<Registration, DiscoveryError> {
        self.register_with_metadata(endpoint, transport, None).await
    }

    /// [`register`](Self::register) with application data stored in the value's
    /// `"metadata"`.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    ///
    /// # Cancel safety
    ///
    /// As [`register`](Self::register).
    pub async fn register_with_metadata(
        &self,
        endpoint: EndpointId,
        transport: Transport,
        metadata: Option<Value>,
    ) -> Result<Registration, DiscoveryError> {
        let reg = Reg {
            endpoint: endpoint.clone(),
            transport,
            metadata,
        };
        let id = self.shared.register(reg).await?;
        Ok(Registration::new(Arc::clone(&self.shared), id, endpoint))
    }

    /// The instance list of `endpoint`: one shared watch per endpoint and process, on the
    /// secondary runtime, until phase 3 of the shutdown or the last clone is dropped.
    ///
    /// # Panics
    ///
    /// Never: a poisoned lock is recovered.
    pub fn client(&self, endpoint: EndpointId) -> InstanceClient {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|_, weak| weak.strong_count() > 0);
        if let Some(shared) = clients.get(&endpoint).and_then(Weak::upgrade) {
            return InstanceClient::from_shared(shared);
        }
        let client = InstanceClient::start(
            Arc::clone(&self.shared.backend),
            self.shared.layout.clone(),
            endpoint.clone(),
            &self.shared.secondary,
            self.primary.child_token(),
            Arc::clone(&self.shared.counters),
        );
        clients.insert(endpoint, client.downgrade());
        client
    }

    /// The HTTP transport of an endpoint bound at `bound` and served under `path`
    /// (`http://{host}:{port}{path}`): the host is `discovery_advertise_host` when set, else
    /// the bound IP. A wildcard bind (`0.0.0.0`, `::`) without an advertise host is an error
    /// under etcd (other hosts cannot reach it); under the memory and static backends (one
    /// host) it advertises `127.0.0.1`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Config`] naming `discovery_advertise_host` in the etcd case above.
    pub fn http_transport(
        &self,
        bound: SocketAddr,
        path: &str,
    ) -> Result<Transport, DiscoveryError> {
        let settings = &self.shared.settings;
        let host = match (&settings.advertise_host, bound.ip()) {
            (Some(host), _) => host.clone(),
            (None, ip) if ip.is_unspecified() => {
                if settings.backend == BackendKind::Etcd {
                    return Err(DiscoveryError::Config(rt_core::config::ConfigError::InvalidValue {
                        key: "discovery_advertise_host",
                        value: "\"\"".to_owned(),
                        origin: rt_core::config::Origin::Default,
                        problem: format!("unset while the endpoint is bound to the wildcard {bound}; other hosts cannot reach it"),
                        allowed: "an IP address or host name (RFC 1123) of this host".to_owned(),
                    }));
                }
                IpAddr::V4(Ipv4Addr::LOCALHOST).to_string()
            }
            (None, IpAddr::V6(ip)) => format!("[{ip}]"),
            (None, ip) => ip.to_string(),
        };
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Ok(Transport::Http(format!(
            "http://{host}:{}{path}",
            bound.port()
        )))
    }

    /// Counters of the lease, the watches and the deregistration, with the instance counts
    /// of the endpoints this process watches.
    pub fn metrics(&self) -> DiscoveryMetrics {
        let mut instances: Vec<(String, usize)> = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|(ep, weak)| {
                weak.upgrade().map(|c| {
                    (
                        ep.to_string(),
                        InstanceClient::from_shared(c).instances().list().len(),
                    )
                })
            })
            .collect();
        instances.sort();
        self.shared.counters.snapshot(instances)
    }

    /// The registry name of discovery's component (`discovery`, or `discovery-N` when
    /// several run in one runtime).
    pub fn component_name(&self) -> &str {
        self.health.name()
    }
}

/// Phase 1's drain step: one delete of every key of this process, bounded by the connect
/// timeout; the lease stays alive.
async fn deregister_in_phase_one(s: Arc<Shared>, h: Arc<HealthComponent>) {
    let started = std::time::Instant::now();
    let bound = s.settings.connect_timeout;
    match tokio::time::timeout(bound, s.deregister_all()).await {
        Ok(Ok(n)) => {
            let took = started.elapsed();
            s.counters.record_deregistration(took);
            tracing::info!(
                keys = n,
                ?took,
                "shutdown phase 1: discovery deregistered this process"
            );
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "shutdown phase 1: discovery could not delete this process's keys; they go with the lease in phase 3")
        }
        Err(_) => tracing::warn!(
            ?bound,
            "shutdown phase 1: discovery delete timed out; the keys go with the lease in phase 3"
        ),
    }
    if matches!(*s.state.borrow(), LeaseState::Live | LeaseState::Drained) {
        s.set_state(LeaseState::Deregistered);
    }
    h.set(ComponentState::Draining);
}

/// Grants the first lease, retrying with backoff until `deadline`.
async fn grant_until(
    backend: &dyn Backend,
    settings: &DiscoverySettings,
    deadline: Instant,
) -> Result<(Lease, Instant), DiscoveryError> {
    let started = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let sent = Instant::now();
        let left = deadline
            .saturating_duration_since(sent)
            .max(Duration::from_millis(100));
        let error = match tokio::time::timeout(left, backend.grant(settings.lease_ttl)).await {
            Ok(Ok(lease)) => return Ok((lease, sent)),
            Ok(Err(error)) => error,
            Err(_) => DiscoveryError::Backend {
                backend: backend.name(),
                operation: "lease grant".to_owned(),
                source: "no answer before the connect timeout".into(),
            },
        };
        if Instant::now() >= deadline {
            return Err(DiscoveryError::Unreachable {
                backend: backend.name(),
                endpoints: endpoints_of(settings),
                variable: variable_of(settings),
                waited: started.elapsed(),
                attempts,
                source: Box::new(error),
            });
        }
        tracing::warn!(%error, attempt = attempts, "discovery server not reachable yet; retrying");
        // The last attempt is made at the deadline itself.
        tokio::time::sleep_until((Instant::now() + backoff.next_delay()).min(deadline)).await;
    }
}

fn variable_of(settings: &DiscoverySettings) -> &'static str {
    match settings.etcd_endpoints_source {
        "default" => "DYN_DISCOVERY_ETCD_ENDPOINTS (or ETCD_ENDPOINTS)",
        var => var,
    }
}

fn endpoints_of(settings: &DiscoverySettings) -> String {
    match settings.backend {
        BackendKind::Etcd => settings.etcd_endpoints.join(","),
        BackendKind::Memory => "the in-process store".to_owned(),
        BackendKind::Static => "the static list".to_owned(),
    }
}

#[cfg(feature = "etcd")]
async fn connect_etcd(
    settings: &DiscoverySettings,
    deadline: Instant,
) -> Result<Arc<dyn Backend>, DiscoveryError> {
    Ok(Arc::new(
        crate::etcd::EtcdBackend::connect(settings, deadline).await?,
    ))
}

#[cfg(not(feature = "etcd"))]
async fn connect_etcd(
    _settings: &DiscoverySettings,
    _deadline: Instant,
) -> Result<Arc<dyn Backend>, DiscoveryError> {
    Err(DiscoveryError::EtcdNotBuilt)
}
