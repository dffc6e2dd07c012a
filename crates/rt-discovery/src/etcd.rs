//! [`EtcdBackend`]: discovery on a real etcd (feature `etcd`), through the `etcd-client` crate.

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, LeaseKeepAliveStream,
    LeaseKeeper, PutOptions, Txn, TxnOp, WatchOptions,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::backend::{Backend, BoxFuture, KvEvent, KvWatch, Lease};
use crate::backoff::Backoff;
use crate::error::DiscoveryError;
use crate::settings::DiscoverySettings;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Events a watch may buffer for a slow cache before etcd's stream is back-pressured.
const WATCH_BUFFER: usize = 4096;

/// A backend on a real etcd: leases, create-if-absent transactions, prefix watches from the
/// snapshot's revision + 1 (a compaction or a broken stream ends the watch with an error,
/// and the cache resyncs from a fresh snapshot). The lease keep-alive stream is re-created
/// after any error.
pub struct EtcdBackend {
    client: Client,
    endpoints: String,
    /// The keep-alive stream of the current lease; taken while in use, so that a renewal
    /// whose future is dropped (a timeout) leaves none half-used behind.
    keeper: Mutex<Option<(i64, LeaseKeeper, LeaseKeepAliveStream)>>,
}

impl std::fmt::Debug for EtcdBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdBackend")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn failed(operation: impl Into<String>, error: etcd_client::Error) -> DiscoveryError {
    DiscoveryError::Backend {
        backend: "etcd",
        operation: operation.into(),
        source: Box::new(error),
    }
}

fn lease_id(lease: u64) -> i64 {
    i64::try_from(lease).unwrap_or(i64::MAX)
}

impl EtcdBackend {
    /// Connects to `settings.etcd_endpoints`, retrying with backoff until `deadline` (an
    /// etcd that is not up yet is waited for, within the bound, never crash-looped on).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Unreachable`] naming the endpoints and the variable they came from.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is left behind.
    pub async fn connect(
        settings: &DiscoverySettings,
        deadline: Instant,
    ) -> Result<Self, DiscoveryError> {
        let started = Instant::now();
        let endpoints = settings.etcd_endpoints.join(",");
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let options = ConnectOptions::new()
                .with_connect_timeout(REQUEST_TIMEOUT)
                .with_timeout(REQUEST_TIMEOUT);
            let error = match Client::connect(&settings.etcd_endpoints, Some(options)).await {
                Ok(mut client) => match client.status().await {
                    Ok(_) => {
                        tracing::info!(%endpoints, attempts, "connected to etcd");
                        return Ok(Self {
                            client,
                            endpoints,
                            keeper: Mutex::new(None),
                        });
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                let variable = match settings.etcd_endpoints_source {
                    "default" => "DYN_DISCOVERY_ETCD_ENDPOINTS (or ETCD_ENDPOINTS)",
                    var => var,
                };
                return Err(DiscoveryError::Unreachable {
                    backend: "etcd",
                    endpoints,
                    variable,
                    waited: started.elapsed(),
                    attempts,
                    source: Box::new(error),
                });
            }
            tracing::warn!(%endpoints, %error, attempt = attempts, "etcd not reachable yet; retrying");
            // The last attempt is made at the deadline itself.
            tokio::time::sleep_until((Instant::now() + backoff.next_delay()).min(deadline)).await;
        }
    }

    /// The underlying client (a cheap clone), for what discovery does not cover.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    async fn renew(&self, lease: u64) -> Result<Duration, DiscoveryError> {
        let id = lease_id(lease);
        let mut slot = self.keeper.lock().await;
        let (mut keeper, mut stream) = match slot.take() {
            Some((held, keeper, stream)) if held == id => (keeper, stream),
            _ => self
                .client
                .clone()
                .lease_keep_alive(id)
                .await
                .map_err(|e| failed(format!("lease keep-alive {lease:x}"), e))?,
        };
        keeper
            .keep_alive()
            .await
            .map_err(|e| failed(format!("lease keep-alive {lease:x}"), e))?;
        let answer = stream
            .message()
            .await
            .map_err(|e| failed(format!("lease keep-alive {lease:x}"), e))?;
        let Some(answer) = answer else {
            return Err(DiscoveryError::Backend {
                backend: "etcd",
                operation: format!("lease keep-alive {lease:x}"),
                source: "the keep-alive stream closed".into(),
            });
        };
        // Healthy: keep the stream for the next renewal.
        *slot = Some((id, keeper, stream));
        Ok(Duration::from_secs(
            u64::try_from(answer.ttl()).unwrap_or(0),
        ))
    }

    async fn watch_prefix(&self, prefix: String) -> Result<KvWatch, DiscoveryError> {
        let mut client = self.client.clone();
        let got = client
            .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(|e| failed(format!("get {prefix}"), e))?;
        let revision = got.header().map_or(0, |h| h.revision());
        let snapshot: Vec<(String, Vec<u8>)> = got
            .kvs()
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    kv.value().to_vec(),
                )
            })
            .collect();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1)
            .with_prev_key();
        let mut stream = client
            .watch(prefix.clone(), Some(options))
            .await
            .map_err(|e| failed(format!("watch {prefix}"), e))?;
        let (tx, watch) = KvWatch::channel(WATCH_BUFFER);
        tokio::spawn(async move {
            if tx.send(Ok(KvEvent::Snapshot(snapshot))).await.is_err() {
                return;
            }
            loop {
                let message = tokio::select! {
                    () = tx.closed() => return,
                    m = stream.message() => m,
                };
                let response = match message {
                    Ok(Some(response)) => response,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(failed(format!("watch {prefix}"), e))).await;
                        return;
                    }
                };
                if response.canceled() || response.compact_revision() > 0 {
                    let reason = if response.compact_revision() > 0 {
                        format!("revision compacted (at {})", response.compact_revision())
                    } else {
                        format!("watch canceled by the server: {}", response.cancel_reason())
                    };
                    let _ = tx
                        .send(Err(DiscoveryError::Backend {
                            backend: "etcd",
                            operation: format!("watch {prefix}"),
                            source: reason.into(),
                        }))
                        .await;
                    return;
                }
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    let key = String::from_utf8_lossy(kv.key()).into_owned();
                    let forward = match event.event_type() {
                        EventType::Put => KvEvent::Put(key, kv.value().to_vec()),
                        EventType::Delete => KvEvent::Delete(key),
                    };
                    if tx.send(Ok(forward)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(watch)
    }
}

impl Backend for EtcdBackend {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn grant(&self, ttl: Duration) -> BoxFuture<'_, Result<Lease, DiscoveryError>> {
        Box::pin(async move {
            let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
            let granted = self
                .client
                .clone()
                .lease_grant(secs, None)
                .await
                .map_err(|e| failed("lease grant", e))?;
            Ok(Lease {
                id: u64::try_from(granted.id()).unwrap_or(0),
                ttl: Duration::from_secs(u64::try_from(granted.ttl()).unwrap_or(0)),
            })
        })
    }

    fn keep_alive(&self, lease: u64) -> BoxFuture<'_, Result<Duration, DiscoveryError>> {
        Box::pin(self.renew(lease))
    }

    fn revoke(&self, lease: u64) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async move {
            *self.keeper.lock().await = None;
            match self.client.clone().lease_revoke(lease_id(lease)).await {
                Ok(_) => Ok(()),
                // Already gone: what revoke wants.
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(failed(format!("lease revoke {lease:x}"), e)),
            }
        })
    }

    fn create(
        &self,
        key: String,
        value: Vec<u8>,
        lease: u64,
    ) -> BoxFuture<'_, Result<bool, DiscoveryError>> {
        Box::pin(async move {
            let txn = Txn::new()
                .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(
                    key.clone(),
                    value,
                    Some(PutOptions::new().with_lease(lease_id(lease))),
                )]);
            match self.client.clone().txn(txn).await {
                Ok(response) => Ok(response.succeeded()),
                Err(e) if is_not_found(&e) => Err(DiscoveryError::LeaseNotFound { lease }),
                Err(e) => Err(failed(format!("create {key}"), e)),
            }
        })
    }

    fn delete(&self, keys: Vec<String>) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async move {
            let mut keys = keys;
            keys.sort();
            keys.dedup();
            if keys.is_empty() {
                return Ok(());
            }
            let ops: Vec<TxnOp> = keys
                .iter()
                .map(|k| TxnOp::delete(k.clone(), None))
                .collect();
            self.client
                .clone()
                .txn(Txn::new().and_then(ops))
                .await
                .map_err(|e| failed(format!("delete {} keys", keys.len()), e))?;
            Ok(())
        })
    }

    fn watch(&self, prefix: String) -> BoxFuture<'_, Result<KvWatch, DiscoveryError>> {
        Box::pin(self.watch_prefix(prefix))
    }
}

/// Whether `error` is gRPC's NOT_FOUND (code 5), etcd's answer for an unknown lease.
fn is_not_found(error: &etcd_client::Error) -> bool {
    matches!(error, etcd_client::Error::GRpcStatus(s) if s.code() as i32 == 5)
}
