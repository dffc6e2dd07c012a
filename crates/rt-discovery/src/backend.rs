//! [`Backend`]: the key-value store with leases that discovery runs on (memory, static, etcd).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::DiscoveryError;

/// A boxed, sendable future (keeps [`Backend`] object-safe without `async-trait`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A lease granted by a backend: the process's identity and the time its keys outlive it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lease id (under etcd, the instance id).
    pub id: u64,
    /// The TTL the server granted (it may raise the requested one).
    pub ttl: Duration,
}

/// One event of a prefix watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvEvent {
    /// Every key under the prefix at the watch's start (the first event of every watch; a
    /// watch re-started after an error begins with a fresh one: the resync).
    Snapshot(Vec<(String, Vec<u8>)>),
    /// A key was created or changed.
    Put(String, Vec<u8>),
    /// A key was deleted (or expired with its lease).
    Delete(String),
}

/// The events of one prefix watch: a [`KvEvent::Snapshot`] first, then changes. An `Err`, or
/// the end of the stream, means events may have been missed: watch again (a fresh snapshot).
#[derive(Debug)]
pub struct KvWatch {
    rx: mpsc::Receiver<Result<KvEvent, DiscoveryError>>,
}

impl KvWatch {
    /// A watch fed through a channel; the backend's feeding task sends into `tx` and stops
    /// when it is closed.
    pub fn channel(capacity: usize) -> (mpsc::Sender<Result<KvEvent, DiscoveryError>>, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (tx, Self { rx })
    }

    /// The next event; `None` when the watch ended.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an event is never lost by dropping the future (it is `mpsc::Receiver::recv`).
    pub async fn next(&mut self) -> Option<Result<KvEvent, DiscoveryError>> {
        self.rx.recv().await
    }
}

/// A key-value store with leases, the interface every discovery backend implements.
///
/// The contract (checked by the crate's contract test suite on every backend):
///
/// - [`grant`](Self::grant) creates a lease; every key is created **on a lease**
///   ([`create`](Self::create) takes one), so no instance key outlives its process.
/// - [`keep_alive`](Self::keep_alive) renews once and returns the remaining TTL; `Duration::ZERO`
///   means the lease is gone (expired or revoked).
/// - [`revoke`](Self::revoke) ends the lease and deletes its keys at once.
/// - [`create`](Self::create) is create-if-absent: `Ok(false)` when the key exists.
/// - [`delete`](Self::delete) removes several keys in one step (one transaction).
/// - [`watch`](Self::watch) reports every key under a prefix, then each change; a watch that
///   fails ends with an error, and watching again starts with a fresh snapshot.
pub trait Backend: Send + Sync + 'static {
    /// The backend's name for messages: `memory`, `static`, `etcd`.
    fn name(&self) -> &'static str;

    /// Grants a lease of `ttl` (the server may raise it).
    fn grant(&self, ttl: Duration) -> BoxFuture<'_, Result<Lease, DiscoveryError>>;

    /// Renews `lease` once; returns the TTL the server reports (`Duration::ZERO`: lost).
    fn keep_alive(&self, lease: u64) -> BoxFuture<'_, Result<Duration, DiscoveryError>>;

    /// Revokes `lease`, deleting every key on it.
    fn revoke(&self, lease: u64) -> BoxFuture<'_, Result<(), DiscoveryError>>;

    /// Creates `key` with `value` on `lease` unless it exists; `Ok(true)` when created.
    fn create(
        &self,
        key: String,
        value: Vec<u8>,
        lease: u64,
    ) -> BoxFuture<'_, Result<bool, DiscoveryError>>;

    /// Deletes `keys` in one step (absent keys are ignored).
    fn delete(&self, keys: Vec<String>) -> BoxFuture<'_, Result<(), DiscoveryError>>;

    /// Watches every key starting with `prefix`.
    fn watch(&self, prefix: String) -> BoxFuture<'_, Result<KvWatch, DiscoveryError>>;
}
