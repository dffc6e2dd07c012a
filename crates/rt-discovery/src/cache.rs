//! [`InstanceCache`]: the client side's copy of one endpoint's instances, kept from a watch's
//! snapshot and changes, and the [`Change`]s each step makes.

use std::collections::BTreeMap;

use crate::backend::KvEvent;
use crate::endpoint_id::EndpointId;
use crate::instance::{Instance, InstanceId};
use crate::key::KeyLayout;

/// One change of an endpoint's instance list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// An instance appeared (or its value changed).
    Added(Instance),
    /// An instance went away (deregistered, expired, or missing from a resync's snapshot).
    Removed(InstanceId),
}

/// The instances of one endpoint by id, updated from [`KvEvent`]s.
#[derive(Clone, Debug)]
pub(crate) struct InstanceCache {
    layout: KeyLayout,
    endpoint: EndpointId,
    instances: BTreeMap<InstanceId, Instance>,
}

impl InstanceCache {
    pub(crate) fn new(layout: KeyLayout, endpoint: EndpointId) -> Self {
        Self {
            layout,
            endpoint,
            instances: BTreeMap::new(),
        }
    }

    /// The instances, ordered by id.
    pub(crate) fn list(&self) -> Vec<Instance> {
        self.instances.values().cloned().collect()
    }

    /// Applies one event; returns the changes it made (a snapshot is diffed against the
    /// current list: removals first, then additions; the unchanged are not reported).
    pub(crate) fn apply(&mut self, event: KvEvent) -> Vec<Change> {
        match event {
            KvEvent::Snapshot(entries) => {
                let fresh: BTreeMap<InstanceId, Instance> = entries
                    .iter()
                    .filter_map(|(k, v)| self.decode(k, v))
                    .map(|i| (i.id, i))
                    .collect();
                let mut changes: Vec<Change> = self
                    .instances
                    .keys()
                    .filter(|id| !fresh.contains_key(id))
                    .map(|id| Change::Removed(*id))
                    .collect();
                changes.extend(
                    fresh
                        .values()
                        .filter(|i| self.instances.get(&i.id) != Some(i))
                        .cloned()
                        .map(Change::Added),
                );
                self.instances = fresh;
                changes
            }
            KvEvent::Put(key, value) => match self.decode(&key, &value) {
                Some(instance) if self.instances.get(&instance.id) != Some(&instance) => {
                    self.instances.insert(instance.id, instance.clone());
                    vec![Change::Added(instance)]
                }
                _ => Vec::new(),
            },
            KvEvent::Delete(key) => match self.layout.parse(&key) {
                Ok((ep, id)) if ep == self.endpoint && self.instances.remove(&id).is_some() => {
                    vec![Change::Removed(id)]
                }
                _ => Vec::new(),
            },
        }
    }

    /// Decodes a key and value of this endpoint; anything else is logged and skipped (one bad
    /// entry must not hide the good ones).
    fn decode(&self, key: &str, value: &[u8]) -> Option<Instance> {
        let decoded = self.layout.parse(key).and_then(|(ep, id)| {
            let mut instance = Instance::from_value(key, value)?;
            if instance.id != id {
                tracing::debug!(key, value_id = %instance.id, "instance id in the value differs from the key's; the key wins");
            }
            instance.id = id;
            instance.endpoint = ep;
            Ok(instance)
        });
        match decoded {
            Ok(instance) if instance.endpoint == self.endpoint => Some(instance),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, "skipping a discovery entry");
                None
            }
        }
    }
}
