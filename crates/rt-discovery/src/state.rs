//! The state shared by a [`Discovery`](crate::Discovery), its registrations and its tasks: the
//! current lease, the live registrations, and [`LeaseState`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;

use crate::backend::{Backend, Lease};
use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;
use crate::instance::{Instance, InstanceId, Transport};
use crate::key::KeyLayout;
use crate::metrics::Counters;
use crate::settings::DiscoverySettings;

/// Where this process stands in discovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LeaseState {
    /// The lease is alive and every registration is published.
    Live,
    /// The lease was lost (expired, revoked, or not renewed in time); readiness is false.
    Lost,
    /// A new lease is being granted and the registrations put again.
    Reregistering,
    /// Phase 1 of the shutdown removed this process's keys; the lease lives until phase 3.
    Deregistered,
    /// The process is drained without exit (`rt_core::drain`): its keys are deleted, the
    /// lease lives; a resume registers every endpoint again under a new lease (a new
    /// instance id).
    Drained,
    /// Phase 3 revoked the lease (or the process is stopping after a loss).
    Closed,
}

impl LeaseState {
    /// The state in words: `live`, `lost`, `reregistering`, `deregistered`, `drained`,
    /// `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Live => "live",
            LeaseState::Lost => "lost",
            LeaseState::Reregistering => "reregistering",
            LeaseState::Deregistered => "deregistered",
            LeaseState::Drained => "drained",
            LeaseState::Closed => "closed",
        }
    }
}

impl fmt::Display for LeaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One live registration.
#[derive(Clone, Debug)]
pub(crate) struct Reg {
    pub(crate) endpoint: EndpointId,
    pub(crate) transport: Transport,
    pub(crate) metadata: Option<Value>,
}

/// What the async lock guards: the lease and the registrations change together.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) lease: Lease,
    /// Whether `lease` is alive (false between a loss and the re-registration).
    pub(crate) live: bool,
    /// Phase 1 ran: no new registrations.
    pub(crate) closed: bool,
    /// The process is drained without exit: registrations are kept, not published.
    pub(crate) paused: bool,
    pub(crate) regs: BTreeMap<u64, Reg>,
    next_reg: u64,
}

/// Shared by the handle, the registrations and the background tasks.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) layout: KeyLayout,
    pub(crate) settings: DiscoverySettings,
    pub(crate) counters: Arc<Counters>,
    pub(crate) secondary: Handle,
    pub(crate) core: Mutex<Core>,
    /// `core.lease.id`, readable without the lock.
    instance_id: AtomicU64,
    pub(crate) state: watch::Sender<LeaseState>,
    /// A lease installed by a resume, with the instant its grant was sent: the supervisor
    /// keeps it alive from then on.
    pub(crate) switched: watch::Sender<Option<(Lease, Instant)>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("backend", &self.backend.name())
            .field("instance_id", &self.instance_id())
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        settings: DiscoverySettings,
        secondary: Handle,
        lease: Lease,
    ) -> Self {
        Self {
            backend,
            layout: KeyLayout::new(&settings.prefix),
            settings,
            counters: Arc::new(Counters::new()),
            secondary,
            core: Mutex::new(Core {
                lease,
                live: true,
                closed: false,
                paused: false,
                regs: BTreeMap::new(),
                next_reg: 0,
            }),
            instance_id: AtomicU64::new(lease.id),
            state: watch::Sender::new(LeaseState::Live),
            switched: watch::Sender::new(None),
        }
    }

    pub(crate) fn instance_id(&self) -> InstanceId {
        InstanceId(self.instance_id.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: LeaseState) {
        self.state.send_replace(state);
    }

    /// Installs a new live lease (after a re-registration).
    pub(crate) fn install_lease(&self, core: &mut Core, lease: Lease) {
        core.lease = lease;
        core.live = true;
        self.instance_id.store(lease.id, Ordering::Release);
    }

    fn instance(&self, lease: u64, reg: &Reg) -> Instance {
        let mut instance = Instance::new(
            reg.endpoint.clone(),
            InstanceId(lease),
            reg.transport.clone(),
        );
        instance.metadata = reg.metadata.clone();
        instance
    }

    /// Creates the key of `reg` on `lease`.
    pub(crate) async fn put(&self, lease: u64, reg: &Reg) -> Result<(), DiscoveryError> {
        let instance = self.instance(lease, reg);
        let key = self.layout.key_of(&instance);
        if self
            .backend
            .create(key.clone(), instance.to_value(), lease)
            .await?
        {
            tracing::debug!(%key, "registered");
            Ok(())
        } else {
            Err(DiscoveryError::AlreadyRegistered { key })
        }
    }

    /// Adds a registration and publishes it (now, when the lease is live; at the
    /// re-registration otherwise). Returns its id.
    pub(crate) async fn register(&self, reg: Reg) -> Result<u64, DiscoveryError> {
        let mut core = self.core.lock().await;
        if core.closed {
            return Err(DiscoveryError::ShuttingDown { what: "register" });
        }
        if core.live && !core.paused {
            self.put(core.lease.id, &reg).await?;
        }
        let id = core.next_reg;
        core.next_reg += 1;
        core.regs.insert(id, reg);
        Ok(id)
    }

    /// The key `reg_id` has now, if it is live.
    pub(crate) fn key_of(&self, endpoint: &EndpointId) -> String {
        self.layout.key(endpoint, self.instance_id())
    }

    /// Removes registration `reg_id` and deletes its key.
    pub(crate) async fn deregister(&self, reg_id: u64) -> Result<(), DiscoveryError> {
        let mut core = self.core.lock().await;
        let Some(reg) = core.regs.remove(&reg_id) else {
            return Ok(());
        };
        if core.live && !core.closed {
            let key = self.layout.key(&reg.endpoint, InstanceId(core.lease.id));
            self.backend.delete(vec![key]).await?;
        }
        Ok(())
    }

    /// Every key of this process under `lease`, sorted, once each.
    fn keys(&self, core: &Core, lease: InstanceId) -> Vec<String> {
        let mut keys: Vec<String> = core
            .regs
            .values()
            .map(|r| self.layout.key(&r.endpoint, lease))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// A drain without exit: deletes every key of this process in one step and keeps the
    /// registrations (unpublished) for the resume. The lease stays alive. Returns how many keys
    /// were deleted; nothing to do once phase 1 ran or when already paused.
    pub(crate) async fn pause(&self) -> Result<usize, DiscoveryError> {
        let mut core = self.core.lock().await;
        if core.closed || core.paused {
            return Ok(0);
        }
        core.paused = true;
        let n = if core.live {
            let keys = self.keys(&core, InstanceId(core.lease.id));
            let n = keys.len();
            if n > 0 {
                if let Err(error) = self.backend.delete(keys).await {
                    core.paused = false;
                    return Err(error);
                }
            }
            n
        } else {
            0
        };
        self.set_state(LeaseState::Drained);
        Ok(n)
    }

    /// The resume after [`pause`](Self::pause): grants a new lease (a new instance id), puts
    /// every registration on it, installs it, hands it to the supervisor and revokes the old
    /// one. Returns the new instance id, or `None` when there was nothing to resume (not
    /// paused, or phase 1 ran). While the lease is lost, the registrations are published by
    /// the supervisor's re-registration instead.
    ///
    /// On an error the process stays paused (the new lease, if any, is revoked).
    pub(crate) async fn resume(&self) -> Result<Option<InstanceId>, DiscoveryError> {
        let mut core = self.core.lock().await;
        if core.closed || !core.paused {
            return Ok(None);
        }
        if !core.live {
            core.paused = false;
            return Ok(None);
        }
        let sent = Instant::now();
        let lease = self.backend.grant(self.settings.lease_ttl).await?;
        for reg in core.regs.values() {
            if let Err(error) = self.put(lease.id, reg).await {
                // Revoking removes what was put on the new lease.
                let _ = self.backend.revoke(lease.id).await;
                return Err(error);
            }
        }
        let old = core.lease.id;
        self.install_lease(&mut core, lease);
        core.paused = false;
        self.switched.send_replace(Some((lease, sent)));
        drop(core);
        self.set_state(LeaseState::Live);
        if let Err(error) = self.backend.revoke(old).await {
            tracing::warn!(lease = format_args!("{old:x}"), %error, "resume: the old discovery lease could not be revoked; it expires by itself");
        }
        Ok(Some(InstanceId(lease.id)))
    }

    /// Phase 1: refuses new registrations and deletes every key of this process in one step.
    /// Returns how many keys were deleted.
    pub(crate) async fn deregister_all(&self) -> Result<usize, DiscoveryError> {
        let mut core = self.core.lock().await;
        core.closed = true;
        // Paused: a drain without exit deleted the keys already.
        if !core.live || core.paused {
            return Ok(0);
        }
        let keys = self.keys(&core, InstanceId(core.lease.id));
        let n = keys.len();
        if n > 0 {
            self.backend.delete(keys).await?;
        }
        Ok(n)
    }
}
