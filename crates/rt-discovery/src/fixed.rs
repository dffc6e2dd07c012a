//! [`StaticBackend`]: a fixed list of instances from configuration (`DYN_DISCOVERY_STATIC`),
//! for a router in another process without a discovery server.

use std::time::Duration;

use rt_core::config::Origin;

use crate::backend::{Backend, BoxFuture, KvWatch, Lease};
use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;
use crate::instance::{Instance, InstanceId, Transport};
use crate::key::KeyLayout;
use crate::memory::MemoryBackend;

/// A backend that lists the instances of its configuration and nothing else: registrations
/// are accepted and not stored (the workers are declared on the router's side), leases never
/// expire, and a watch reports the list once. Liveness comes from the router's handling of
/// failed requests.
///
/// The list: `namespace/component/endpoint=URL[,URL...]` entries separated by `;`. Instance
/// ids are stable hashes of endpoint and URL, so that every router computes the same ids.
///
/// ```
/// use rt_discovery::{KeyLayout, StaticBackend};
///
/// let backend = StaticBackend::from_list(
///     &KeyLayout::new(""),
///     "demo/backend/generate=http://127.0.0.2:8001/v1/rpc/generate,http://127.0.0.3:8002/v1/rpc/generate",
/// )?;
/// assert_eq!(backend.instances().len(), 2);
/// # Ok::<(), rt_discovery::DiscoveryError>(())
/// ```
#[derive(Clone, Debug)]
pub struct StaticBackend {
    store: MemoryBackend,
    instances: Vec<Instance>,
}

/// FNV-1a, 64 bits: a stable id for a static instance.
fn stable_id(endpoint: &EndpointId, url: &str) -> InstanceId {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in endpoint
        .to_string()
        .bytes()
        .chain([b'='])
        .chain(url.bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    InstanceId(hash >> 1)
}

/// Parses a static list (see [`StaticBackend`]) that came from `origin`.
pub(crate) fn parse_list(list: &str, origin: &Origin) -> Result<Vec<Instance>, DiscoveryError> {
    let mut instances = Vec::new();
    for entry in list.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (endpoint, urls) = entry.split_once('=').ok_or_else(|| {
            bad_list(
                list,
                origin,
                format!("entry {entry:?} lacks '=' between endpoint and URLs"),
            )
        })?;
        let endpoint: EndpointId = endpoint.trim().parse()?;
        for url in urls.split(',').map(str::trim) {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 9 {
                return Err(bad_list(
                    list,
                    origin,
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
            let id = stable_id(&endpoint, url);
            instances.push(Instance::new(
                endpoint.clone(),
                id,
                Transport::Http(url.to_owned()),
            ));
        }
    }
    Ok(instances)
}

fn bad_list(list: &str, origin: &Origin, problem: String) -> DiscoveryError {
    let allowed = rt_core::config::keys()
        .iter()
        .find(|k| k.name == "discovery_static")
        .map_or_else(String::new, |k| k.allowed.to_string());
    DiscoveryError::Config(rt_core::config::ConfigError::InvalidValue {
        key: "discovery_static",
        value: format!("{list:?}"),
        origin: origin.clone(),
        problem,
        allowed,
    })
}

impl StaticBackend {
    /// The backend for `list` (see [`StaticBackend`]), its keys in `layout`.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Config`] naming `discovery_static` when the list does not parse;
    /// [`DiscoveryError::InvalidName`] for a bad endpoint name.
    pub fn from_list(layout: &KeyLayout, list: &str) -> Result<Self, DiscoveryError> {
        Self::new(
            layout,
            parse_list(list, &Origin::Code("StaticBackend::from_list"))?,
        )
    }

    /// The backend listing `instances`, their keys in `layout`.
    ///
    /// # Errors
    ///
    /// None today; the signature leaves room for checks.
    pub fn new(layout: &KeyLayout, instances: Vec<Instance>) -> Result<Self, DiscoveryError> {
        let store = MemoryBackend::new();
        store.insert_permanent(
            instances
                .iter()
                .map(|i| (layout.key_of(i), i.to_value()))
                .collect(),
        );
        Ok(Self { store, instances })
    }

    /// The configured instances.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }
}

impl Backend for StaticBackend {
    fn name(&self) -> &'static str {
        "static"
    }

    fn grant(&self, ttl: Duration) -> BoxFuture<'_, Result<Lease, DiscoveryError>> {
        self.store.grant(ttl)
    }

    fn keep_alive(&self, lease: u64) -> BoxFuture<'_, Result<Duration, DiscoveryError>> {
        self.store.keep_alive(lease)
    }

    fn revoke(&self, lease: u64) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        self.store.revoke(lease)
    }

    /// Accepted and not stored: a static list does not change.
    fn create(
        &self,
        _key: String,
        _value: Vec<u8>,
        _lease: u64,
    ) -> BoxFuture<'_, Result<bool, DiscoveryError>> {
        Box::pin(async { Ok(true) })
    }

    fn delete(&self, _keys: Vec<String>) -> BoxFuture<'_, Result<(), DiscoveryError>> {
        Box::pin(async { Ok(()) })
    }

    fn watch(&self, prefix: String) -> BoxFuture<'_, Result<KvWatch, DiscoveryError>> {
        self.store.watch(prefix)
    }
}
