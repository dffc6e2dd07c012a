//! [`InstanceClient`]: one endpoint's instance list, kept by a watch on the secondary runtime.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::backend::{Backend, KvEvent};
use crate::backoff::Backoff;
use crate::cache::{Change, InstanceCache};
use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;
use crate::instance::Instance;
use crate::key::KeyLayout;
use crate::metrics::Counters;

/// How many [`Change`]s a slow subscriber may fall behind.
const CHANGE_BUFFER: usize = 1024;

/// One endpoint's instance list at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Instances {
    list: Arc<[Instance]>,
    synced: bool,
    closed: bool,
}

impl Instances {
    /// The instances, ordered by id.
    pub fn list(&self) -> &Arc<[Instance]> {
        &self.list
    }

    /// Whether the watch has delivered its first snapshot (before that, an empty list means
    /// "not known yet", not "none").
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Whether the watch stopped (the local shutdown reached phase 3, or the client was
    /// dropped): the list is the last one seen, not emptied.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// The client side of one endpoint: its instance list as a `watch` channel, kept up to date
/// by one shared watch per endpoint and process (initial snapshot, then changes; after any
/// error, a fresh snapshot diffed into removals). Clones share the watch; it stops when the
/// last clone is dropped or at phase 3 of the local shutdown, keeping the last list, marked
/// closed.
#[derive(Clone, Debug)]
pub struct InstanceClient {
    shared: Arc<ClientShared>,
}

#[derive(Debug)]
pub(crate) struct ClientShared {
    endpoint: EndpointId,
    list: watch::Receiver<Instances>,
    changes: broadcast::Sender<Change>,
    _stop: DropGuard,
}

impl InstanceClient {
    /// Starts the watch of `endpoint` on `runtime`, stopped by `stop` (and by dropping the
    /// last clone).
    pub(crate) fn start(
        backend: Arc<dyn Backend>,
        layout: KeyLayout,
        endpoint: EndpointId,
        runtime: &tokio::runtime::Handle,
        stop: CancellationToken,
        counters: Arc<Counters>,
    ) -> Self {
        let (tx, list) = watch::channel(Instances::default());
        let changes = broadcast::Sender::new(CHANGE_BUFFER);
        let task = WatchTask {
            backend,
            cache: InstanceCache::new(layout.clone(), endpoint.clone()),
            prefix: layout.prefix(&endpoint),
            tx,
            changes: changes.clone(),
            stop: stop.clone(),
            counters,
        };
        runtime.spawn(task.run());
        Self {
            shared: Arc::new(ClientShared {
                endpoint,
                list,
                changes,
                _stop: stop.drop_guard(),
            }),
        }
    }

    pub(crate) fn from_shared(shared: Arc<ClientShared>) -> Self {
        Self { shared }
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<ClientShared> {
        Arc::downgrade(&self.shared)
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &EndpointId {
        &self.shared.endpoint
    }

    /// The current list.
    pub fn instances(&self) -> Instances {
        self.shared.list.borrow().clone()
    }

    /// A receiver of every new list (the `watch` channel itself).
    pub fn subscribe(&self) -> watch::Receiver<Instances> {
        self.shared.list.clone()
    }

    /// A receiver of the individual changes from now on (a resync reports removals before
    /// additions). A receiver that falls more than 1024 changes behind gets
    /// `RecvError::Lagged`; read [`instances`](Self::instances) then.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.shared.changes.subscribe()
    }

    /// Waits until the list holds at least one instance and returns it.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Closed`] when the watch stopped (local shutdown) with no instance.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads the `watch` channel. It waits as long as no instance
    /// appears: bound it with `tokio::time::timeout`.
    pub async fn wait_for_instances(&self) -> Result<Arc<[Instance]>, DiscoveryError> {
        let mut rx = self.shared.list.clone();
        let closed = || DiscoveryError::Closed {
            endpoint: self.shared.endpoint.to_string(),
        };
        let seen = rx
            .wait_for(|i| !i.list.is_empty() || i.closed)
            .await
            .map_err(|_| closed())?;
        if seen.list.is_empty() {
            return Err(closed());
        }
        Ok(Arc::clone(&seen.list))
    }
}

/// The task behind one [`InstanceClient`].
struct WatchTask {
    backend: Arc<dyn Backend>,
    cache: InstanceCache,
    prefix: String,
    tx: watch::Sender<Instances>,
    changes: broadcast::Sender<Change>,
    stop: CancellationToken,
    counters: Arc<Counters>,
}

impl WatchTask {
    async fn run(mut self) {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let mut synced = false;
        'watching: loop {
            let started = tokio::select! {
                () = self.stop.cancelled() => break 'watching,
                w = self.backend.watch(self.prefix.clone()) => w,
            };
            match started {
                Ok(mut watch) => loop {
                    let event = tokio::select! {
                        () = self.stop.cancelled() => break 'watching,
                        e = watch.next() => e,
                    };
                    match event {
                        Some(Ok(event)) => {
                            if matches!(event, KvEvent::Snapshot(_)) {
                                if synced {
                                    Counters::bump(&self.counters.resyncs);
                                    tracing::info!(prefix = %self.prefix, "discovery watch resynchronised");
                                }
                                synced = true;
                                backoff.reset();
                            }
                            let changes = self.cache.apply(event);
                            self.publish(&changes);
                        }
                        Some(Err(error)) => {
                            tracing::warn!(prefix = %self.prefix, %error, "discovery watch failed; resyncing");
                            break;
                        }
                        None => {
                            tracing::info!(prefix = %self.prefix, "discovery watch ended; resyncing");
                            break;
                        }
                    }
                },
                Err(error) => {
                    tracing::warn!(prefix = %self.prefix, %error, "discovery watch could not start; retrying");
                }
            }
            let delay = backoff.next_delay();
            tokio::select! {
                () = self.stop.cancelled() => break 'watching,
                () = tokio::time::sleep(delay) => {}
            }
        }
        // Keep the last list, marked closed: never replace it by an empty one.
        self.tx.send_modify(|i| i.closed = true);
    }

    fn publish(&self, changes: &[Change]) {
        if changes.is_empty() && self.tx.borrow().synced {
            return;
        }
        let list: Arc<[Instance]> = self.cache.list().into();
        self.tx.send_modify(|i| {
            i.list = list;
            i.synced = true;
        });
        for change in changes {
            // No subscriber is not an error.
            let _ = self.changes.send(change.clone());
        }
    }
}
