//! [`KeyLayout`]: where instances live in the key space, `{prefix}v1/instances/{namespace}/
//! {component}/{endpoint}/{instance_id:x}`, as the reference runtime writes them.

use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;
use crate::instance::{Instance, InstanceId};

/// The reference's instance root.
const INSTANCES: &str = "v1/instances/";

/// The key layout under an optional root prefix (`DYN_DISCOVERY_PREFIX`; empty by default, as
/// the reference writes).
///
/// ```
/// use rt_discovery::{EndpointId, InstanceId, KeyLayout};
///
/// let layout = KeyLayout::new("");
/// let ep = EndpointId::new("dynamo", "backend", "generate")?;
/// let key = layout.key(&ep, InstanceId(0x694d_9a3b_5f00_0101));
/// assert_eq!(key, "v1/instances/dynamo/backend/generate/694d9a3b5f000101");
/// assert_eq!(layout.parse(&key)?, (ep.clone(), InstanceId(0x694d_9a3b_5f00_0101)));
/// // Watches end at a path boundary: `backend` never matches `backend2`.
/// assert_eq!(layout.prefix(&ep), "v1/instances/dynamo/backend/generate/");
/// # Ok::<(), rt_discovery::DiscoveryError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLayout {
    /// Empty, or ending in `/`.
    root: String,
}

impl KeyLayout {
    /// The layout under `root` (a `/` is appended to a non-empty root that lacks one).
    pub fn new(root: &str) -> Self {
        let mut root = root.to_owned();
        if !root.is_empty() && !root.ends_with('/') {
            root.push('/');
        }
        Self { root }
    }

    /// The root prefix: empty, or ending in `/`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The key of instance `id` of `endpoint`.
    pub fn key(&self, endpoint: &EndpointId, id: InstanceId) -> String {
        format!("{}{id}", self.prefix(endpoint))
    }

    /// The key of `instance`.
    pub fn key_of(&self, instance: &Instance) -> String {
        self.key(&instance.endpoint, instance.id)
    }

    /// The watch prefix of `endpoint`, ending in `/` so that it matches on a path boundary.
    pub fn prefix(&self, endpoint: &EndpointId) -> String {
        format!(
            "{}{INSTANCES}{}/{}/{}/",
            self.root,
            endpoint.namespace(),
            endpoint.component(),
            endpoint.endpoint()
        )
    }

    /// Splits a key into its endpoint and instance id (the id is the key's last segment, in
    /// hex: the authority, also for a delete, which carries no value).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::InvalidKey`] when `key` is not in this layout;
    /// [`DiscoveryError::InvalidName`] when a name segment is not valid.
    pub fn parse(&self, key: &str) -> Result<(EndpointId, InstanceId), DiscoveryError> {
        let invalid = || DiscoveryError::InvalidKey {
            key: key.to_owned(),
        };
        let rest = key
            .strip_prefix(self.root.as_str())
            .and_then(|k| k.strip_prefix(INSTANCES))
            .ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [ns, comp, ep, id] = parts[..] else {
            return Err(invalid());
        };
        if id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let id = u64::from_str_radix(id, 16).map_err(|_| invalid())?;
        Ok((EndpointId::new(ns, comp, ep)?, InstanceId(id)))
    }
}
