//! Shared by the test files: the backend contract suite, a fake lease, runtimes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rt_core::config::RuntimeConfig;
use rt_core::Runtime;
use rt_discovery::{Backend, BoxFuture, DiscoveryError, KvEvent, KvWatch, Lease, MemoryBackend};
use tokio::time::{timeout, Instant};

/// A runtime on the current tokio runtime (paused clock friendly), no compute pool.
pub fn runtime_here() -> Runtime {
    let config = RuntimeConfig::builder()
        .compute_threads(0)
        .graceful_shutdown_timeout_secs(30)
        .teardown_timeout_secs(5)
        .build()
        .unwrap();
    Runtime::from_handle_with_config(tokio::runtime::Handle::current(), config).unwrap()
}

/// The next event of `watch`, within 5 s.
pub async fn next(watch: &mut KvWatch) -> KvEvent {
    timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("a watch event within 5 s")
        .expect("the watch goes on")
        .expect("no watch error")
}

/// The backend contract: what every backend must do, under keys starting with `root`.
pub async fn contract(backend: Arc<dyn Backend>, root: &str) {
    let a = format!("{root}v1/instances/ns/backend/generate/");
    let a2 = format!("{root}v1/instances/ns/backend2/generate/");

    // A watch starts with a snapshot (empty).
    let mut watch = backend.watch(a.clone()).await.unwrap();
    assert_eq!(next(&mut watch).await, KvEvent::Snapshot(vec![]));

    // Keys live on a lease; create is create-if-absent.
    let lease = backend.grant(Duration::from_secs(10)).await.unwrap();
    assert!(lease.ttl >= Duration::from_secs(10));
    let k1 = format!("{a}{:x}", lease.id);
    assert!(backend
        .create(k1.clone(), b"one".to_vec(), lease.id)
        .await
        .unwrap());
    assert!(
        !backend
            .create(k1.clone(), b"two".to_vec(), lease.id)
            .await
            .unwrap(),
        "create-if-absent"
    );
    assert_eq!(
        next(&mut watch).await,
        KvEvent::Put(k1.clone(), b"one".to_vec())
    );

    // Path boundary: backend2 is not seen by a watch of backend.
    let other = format!("{a2}{:x}", lease.id);
    assert!(backend
        .create(other.clone(), b"x".to_vec(), lease.id)
        .await
        .unwrap());

    // A second lease, a second key; then one delete of both keys of `a` plus an absent one.
    let lease2 = backend.grant(Duration::from_secs(10)).await.unwrap();
    assert_ne!(lease2.id, lease.id);
    let k2 = format!("{a}{:x}", lease2.id);
    assert!(backend
        .create(k2.clone(), b"2".to_vec(), lease2.id)
        .await
        .unwrap());
    assert_eq!(
        next(&mut watch).await,
        KvEvent::Put(k2.clone(), b"2".to_vec())
    );

    // A fresh watch's snapshot holds both, and not backend2's key.
    let mut second = backend.watch(a.clone()).await.unwrap();
    match next(&mut second).await {
        KvEvent::Snapshot(mut entries) => {
            entries.sort();
            let mut want = vec![(k1.clone(), b"one".to_vec()), (k2.clone(), b"2".to_vec())];
            want.sort();
            assert_eq!(entries, want);
        }
        other => panic!("{other:?}"),
    }

    backend
        .delete(vec![k1.clone(), format!("{a}absent")])
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, KvEvent::Delete(k1.clone()));
    assert_eq!(next(&mut second).await, KvEvent::Delete(k1.clone()));

    // Renewing a live lease reports its TTL.
    let ttl = backend.keep_alive(lease2.id).await.unwrap();
    assert!(ttl > Duration::ZERO && ttl <= lease2.ttl, "{ttl:?}");

    // Revoking a lease deletes its keys at once; renewing it then reports it lost.
    backend.revoke(lease2.id).await.unwrap();
    assert_eq!(next(&mut watch).await, KvEvent::Delete(k2.clone()));
    assert_eq!(
        backend.keep_alive(lease2.id).await.unwrap_or_default(),
        Duration::ZERO
    );

    // A key on a lease that does not exist is refused: never a key without a live lease.
    let refused = backend
        .create(format!("{a}dead"), b"x".to_vec(), lease2.id)
        .await;
    assert!(
        matches!(refused, Err(DiscoveryError::LeaseNotFound { .. })),
        "{refused:?}"
    );

    backend.revoke(lease.id).await.unwrap();
    let mut after = backend.watch(a2.clone()).await.unwrap();
    assert_eq!(
        next(&mut after).await,
        KvEvent::Snapshot(vec![]),
        "revoke removed {other}"
    );
}

/// A backend whose lease answers as the test says: wraps a [`MemoryBackend`], records the
/// time of every renewal sent.
#[derive(Clone, Default)]
pub struct FakeLease {
    pub store: MemoryBackend,
    pub ctl: Arc<Mutex<FakeCtl>>,
}

#[derive(Default)]
pub struct FakeCtl {
    /// Renewals answer after this long.
    pub answer_after: Duration,
    /// Renewals fail (a network error).
    pub fail_renewals: bool,
    /// Grants fail (the server is unreachable).
    pub fail_grants: bool,
    /// Deletes never answer (a server that hangs).
    pub hang_deletes: bool,
    /// Send times of renewals.
    pub renewals: Vec<Instant>,
}

impl FakeLease {
    pub fn set(&self, f: impl FnOnce(&mut FakeCtl)) {
        f(&mut self.ctl.lock().unwrap());
    }

    pub fn renewals(&self) -> Vec<Instant> {
        self.ctl.lock().unwrap().renewals.clone()
    }
}

fn unreachable(operation: &str) -> DiscoveryError {
    DiscoveryError::Backend {
        backend: "fake",
        operation: operation.to_owned(),
        source: "connection refused".into(),
    }
}

impl Backend for FakeLease {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn grant(&self, ttl: Duration) -> BoxFuture<'_, Result<Lease, DiscoveryError>> {
        Box::pin(async move {
            if self.ctl.lock().unwrap().fail_grants {
                return Err(unreachable("lease grant"));
            }
            self.store.grant(ttl).await
        })
    }

    fn keep_alive(&self, lease: u64) -> BoxFuture<'_, Result<Duration, DiscoveryError>> {
        Box::pin(async move {
            let (delay, fail) = {
                let mut ctl = self.ctl.lock().unwrap();
                ctl.renewals.push(Instant::now());
                (ctl.answer_after, ctl.fail_renewals)
            };
            tokio::time::sleep(delay).await;
            if fail {
                return Err(unreachable("lease keep-alive"));
            }
            self.store.keep_alive(lease).await
        })
    }

    fn revoke(&self, lease: u64) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        self.store.revoke(lease)
    }

    fn create(
        &self,
        key: String,
        value: Vec<u8>,
        lease: u64,
    ) -> BoxFuture<'_, Result<bool, DiscoveryError>> {
        self.store.create(key, value, lease)
    }

    fn delete(&self, keys: Vec<String>) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async move {
            if self.ctl.lock().unwrap().hang_deletes {
                std::future::pending::<()>().await;
            }
            self.store.delete(keys).await
        })
    }

    fn watch(&self, prefix: String) -> BoxFuture<'_, Result<KvWatch, DiscoveryError>> {
        self.store.watch(prefix)
    }
}

#[cfg(feature = "etcd")]
pub mod etcd_server;
#[cfg(feature = "etcd")]
pub mod tcp_proxy;
