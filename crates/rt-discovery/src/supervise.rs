//! The lease supervisor: keeps the lease alive and applies the lease-loss policy.

use std::sync::Arc;
use std::time::Duration;

use rt_core::shutdown::ShutdownCoordinator;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::Lease;
use crate::backoff::Backoff;
use crate::health::HealthComponent;
use crate::keepalive::{keep_alive, LeaseEnd};
use crate::metrics::Counters;
use crate::settings::LeaseLossPolicy;
use crate::state::{LeaseState, Shared};

/// What the supervisor needs besides the shared state.
pub(crate) struct Supervisor {
    pub(crate) shared: Arc<Shared>,
    pub(crate) health: Arc<HealthComponent>,
    pub(crate) coordinator: ShutdownCoordinator,
    /// Cancelled in phase 3: the keep-alive stops and teardown revokes.
    pub(crate) stop: CancellationToken,
}

impl Supervisor {
    /// Runs until phase 3, or until a loss that ends in the shutdown.
    pub(crate) async fn run(self, mut lease: Lease, mut granted_at: Instant) {
        let shared = &self.shared;
        let mut switched = shared.switched.subscribe();
        loop {
            let end = tokio::select! {
                biased;
                Ok(()) = switched.changed() => None,
                end = keep_alive(
                    &*shared.backend,
                    lease,
                    granted_at,
                    &shared.counters,
                    &self.stop,
                ) => Some(end),
            };
            // A resume after a drain without exit installed a new lease (and revokes the
            // old one): keep the new one alive.
            let end = match end {
                Some(end) if !switched.has_changed().unwrap_or(false) => end,
                _ => {
                    if let Some(next) = *switched.borrow_and_update() {
                        (lease, granted_at) = next;
                    }
                    continue;
                }
            };
            let reason = match end {
                LeaseEnd::Stopped => return,
                LeaseEnd::Expired => "the server reports it expired or revoked".to_owned(),
                LeaseEnd::DeadlinePassed { last_error } => format!(
                    "no renewal acknowledged within its TTL ({:?}); last error: {}",
                    lease.ttl,
                    last_error.as_deref().unwrap_or("none")
                ),
            };
            {
                let mut core = shared.core.lock().await;
                if core.lease.id != lease.id {
                    // A resume replaced this lease while its loss was being noticed.
                    drop(core);
                    if let Some(next) = *switched.borrow_and_update() {
                        (lease, granted_at) = next;
                    }
                    continue;
                }
                core.live = false;
            }
            Counters::bump(&shared.counters.losses);
            let draining = self.coordinator.is_shutdown_started();
            if !draining {
                shared.set_state(LeaseState::Lost);
            }
            let next = match (draining, shared.settings.on_lease_lost) {
                (true, _) => "draining",
                (false, LeaseLossPolicy::Reregister) => "re-registering",
                (false, LeaseLossPolicy::Shutdown) => "shutting down",
            };
            self.health.fail(&format!(
                "discovery lease {:x} lost ({reason}); {next}",
                lease.id
            ));
            tracing::error!(lease = format_args!("{:x}", lease.id), %reason, policy = ?shared.settings.on_lease_lost, "discovery lease lost");
            if draining {
                // Phase 1 already removed the keys; phase 3 comes.
                return;
            }
            match shared.settings.on_lease_lost {
                LeaseLossPolicy::Shutdown => {
                    tracing::error!("discovery lease lost and DYN_DISCOVERY_ON_LEASE_LOST=shutdown: starting the graceful shutdown");
                    self.coordinator.shutdown();
                    return;
                }
                LeaseLossPolicy::Reregister => {
                    shared.set_state(LeaseState::Reregistering);
                    let bound = shared.settings.lost_timeout;
                    match tokio::time::timeout(bound, self.reregister()).await {
                        Ok(Some((new, at, paused))) => {
                            tracing::info!(
                                old = format_args!("{:x}", lease.id),
                                new = format_args!("{:x}", new.id),
                                "discovery re-registered under a new lease"
                            );
                            (lease, granted_at) = (new, at);
                            Counters::bump(&shared.counters.reregistrations);
                            shared.set_state(if paused {
                                LeaseState::Drained
                            } else {
                                LeaseState::Live
                            });
                            self.health.recovered();
                        }
                        Ok(None) => return,
                        Err(_) => {
                            tracing::error!(?bound, "discovery could not re-register within DYN_DISCOVERY_LOST_TIMEOUT_SECS: starting the graceful shutdown");
                            self.coordinator.shutdown();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Grants a new lease and puts every live registration on it (none while the process is
    /// drained without exit), retrying with backoff. Returns the lease, when its grant was
    /// sent and whether the process is drained; `None` when stopped or when the shutdown
    /// began meanwhile.
    async fn reregister(&self) -> Option<(Lease, Instant, bool)> {
        let shared = &self.shared;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        loop {
            if self.stop.is_cancelled() {
                return None;
            }
            let sent = Instant::now();
            match shared.backend.grant(shared.settings.lease_ttl).await {
                Ok(lease) => {
                    let mut core = shared.core.lock().await;
                    if core.closed {
                        drop(core);
                        let _ = shared.backend.revoke(lease.id).await;
                        return None;
                    }
                    let mut failed = None;
                    let published = if core.paused { 0 } else { core.regs.len() };
                    for reg in core.regs.values().take(published) {
                        if let Err(error) = shared.put(lease.id, reg).await {
                            failed = Some(error);
                            break;
                        }
                    }
                    match failed {
                        None => {
                            shared.install_lease(&mut core, lease);
                            return Some((lease, sent, core.paused));
                        }
                        Some(error) => {
                            drop(core);
                            tracing::warn!(%error, "re-registration failed; retrying");
                            // Revoking removes what was put on the new lease.
                            let _ = shared.backend.revoke(lease.id).await;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "could not grant a new discovery lease; retrying")
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }
}
