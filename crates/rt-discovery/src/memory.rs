//! [`MemoryBackend`]: an in-process store with etcd's semantics, and no server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::backend::{Backend, BoxFuture, KvEvent, KvWatch, Lease};
use crate::backoff::random_u64;
use crate::error::DiscoveryError;

/// How many events a slow watcher may fall behind before its watch ends (and the cache
/// resyncs from a fresh snapshot).
const EVENT_BUFFER: usize = 4096;

/// The default backend: keys, leases and watches in this process, no server. Leases never
/// expire by themselves (there is no clock to miss), but [`revoke`](Backend::revoke) ends one
/// and deletes its keys, and renewing a revoked lease reports it lost, as etcd does.
///
/// Clones share one store. [`MemoryBackend::shared`] is the process-wide store that
/// `Discovery::from_config` uses, so that a router and workers in one process see each other;
/// [`MemoryBackend::new`] is a private store (tests).
#[derive(Clone, Debug)]
pub struct MemoryBackend {
    store: Arc<Store>,
}

#[derive(Debug)]
struct Store {
    state: Mutex<State>,
    /// Sent under the state lock, so that a watch's snapshot and its events never overlap
    /// or leave a gap.
    events: broadcast::Sender<KvEvent>,
}

#[derive(Debug, Default)]
struct State {
    /// Key → (value, lease).
    keys: BTreeMap<String, (Vec<u8>, u64)>,
    /// Lease → TTL.
    leases: HashMap<u64, Duration>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// A new, empty, private store.
    pub fn new() -> Self {
        Self {
            store: Arc::new(Store {
                state: Mutex::new(State::default()),
                events: broadcast::Sender::new(EVENT_BUFFER),
            }),
        }
    }

    /// The process-wide store.
    pub fn shared() -> Self {
        static SHARED: OnceLock<MemoryBackend> = OnceLock::new();
        SHARED.get_or_init(Self::new).clone()
    }

    /// The number of keys in the store.
    pub fn len(&self) -> usize {
        self.lock().keys.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `entries` under no lease (the static backend's fixed list).
    pub(crate) fn insert_permanent(&self, entries: Vec<(String, Vec<u8>)>) {
        let mut state = self.lock();
        for (key, value) in entries {
            state.keys.insert(key, (value, 0));
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.store
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, event: KvEvent) {
        // No receiver is not an error.
        let _ = self.store.events.send(event);
    }

    fn revoke_now(&self, lease: u64) {
        let mut state = self.lock();
        state.leases.remove(&lease);
        let gone: Vec<String> = state
            .keys
            .iter()
            .filter(|(_, (_, l))| *l == lease)
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            state.keys.remove(&key);
            self.send(KvEvent::Delete(key));
        }
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn grant(&self, ttl: Duration) -> BoxFuture<'_, Result<Lease, DiscoveryError>> {
        Box::pin(async move {
            let mut state = self.lock();
            // Positive 63-bit ids, as etcd's.
            let id = loop {
                let id = random_u64() >> 1;
                if id != 0 && !state.leases.contains_key(&id) {
                    break id;
                }
            };
            state.leases.insert(id, ttl);
            Ok(Lease { id, ttl })
        })
    }

    fn keep_alive(&self, lease: u64) -> BoxFuture<'_, Result<Duration, DiscoveryError>> {
        Box::pin(async move { Ok(self.lock().leases.get(&lease).copied().unwrap_or_default()) })
    }

    fn revoke(&self, lease: u64) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async move {
            self.revoke_now(lease);
            Ok(())
        })
    }

    fn create(
        &self,
        key: String,
        value: Vec<u8>,
        lease: u64,
    ) -> BoxFuture<'_, Result<bool, DiscoveryError>> {
        Box::pin(async move {
            let mut state = self.lock();
            if !state.leases.contains_key(&lease) {
                return Err(DiscoveryError::LeaseNotFound { lease });
            }
            if state.keys.contains_key(&key) {
                return Ok(false);
            }
            state.keys.insert(key.clone(), (value.clone(), lease));
            self.send(KvEvent::Put(key, value));
            Ok(true)
        })
    }

    fn delete(&self, keys: Vec<String>) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async move {
            let mut state = self.lock();
            for key in keys {
                if state.keys.remove(&key).is_some() {
                    self.send(KvEvent::Delete(key));
                }
            }
            Ok(())
        })
    }

    fn watch(&self, prefix: String) -> BoxFuture<'_, Result<KvWatch, DiscoveryError>> {
        Box::pin(async move {
            let (snapshot, mut events) = {
                let state = self.lock();
                let snapshot: Vec<(String, Vec<u8>)> = state
                    .keys
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, (v, _))| (k.clone(), v.clone()))
                    .collect();
                (snapshot, self.store.events.subscribe())
            };
            let (tx, watch) = KvWatch::channel(EVENT_BUFFER);
            tokio::spawn(async move {
                if tx.send(Ok(KvEvent::Snapshot(snapshot))).await.is_err() {
                    return;
                }
                loop {
                    let event = tokio::select! {
                        () = tx.closed() => return,
                        event = events.recv() => event,
                    };
                    let forward = match event {
                        Ok(KvEvent::Put(k, v)) if k.starts_with(&prefix) => Ok(KvEvent::Put(k, v)),
                        Ok(KvEvent::Delete(k)) if k.starts_with(&prefix) => Ok(KvEvent::Delete(k)),
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            Err(DiscoveryError::Backend {
                                backend: "memory",
                                operation: format!("watch {prefix}"),
                                source: format!("the watcher fell {n} events behind").into(),
                            })
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let failed = forward.is_err();
                    if tx.send(forward).await.is_err() || failed {
                        return;
                    }
                }
            });
            Ok(watch)
        })
    }
}
