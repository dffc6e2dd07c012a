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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::instance::Transport;

    fn setup() -> (KeyLayout, EndpointId, InstanceCache) {
        let layout = KeyLayout::new("t");
        let ep: EndpointId = "ns/backend/generate".parse().unwrap();
        let cache = InstanceCache::new(layout.clone(), ep.clone());
        (layout, ep, cache)
    }

    fn entry(layout: &KeyLayout, ep: &EndpointId, id: u64, url: &str) -> (String, Vec<u8>) {
        let i = Instance::new(ep.clone(), InstanceId(id), Transport::Http(url.into()));
        (layout.key_of(&i), i.to_value())
    }

    #[test]
    fn resync_diffs_removals_first_and_skips_the_unchanged() {
        let (layout, ep, mut cache) = setup();
        let (a, b, c) = (
            entry(&layout, &ep, 1, "http://a"),
            entry(&layout, &ep, 2, "http://b"),
            entry(&layout, &ep, 3, "http://c"),
        );
        let first = cache.apply(KvEvent::Snapshot(vec![a.clone(), b.clone()]));
        assert_eq!(first.len(), 2);
        // A resync after a gap: 2 vanished, 3 appeared, 1 unchanged.
        let changes = cache.apply(KvEvent::Snapshot(vec![a.clone(), c.clone()]));
        assert_eq!(changes[0], Change::Removed(InstanceId(2)));
        assert!(matches!(&changes[1], Change::Added(i) if i.id == InstanceId(3)));
        assert_eq!(changes.len(), 2);
        assert_eq!(
            cache.list().iter().map(|i| i.id.0).collect::<Vec<_>>(),
            [1, 3]
        );
        // A changed value counts as added again.
        let c2 = entry(&layout, &ep, 3, "http://c2");
        assert_eq!(cache.apply(KvEvent::Put(c2.0, c2.1)).len(), 1);
    }

    #[test]
    fn puts_deletes_and_foreign_or_bad_entries() {
        let (layout, ep, mut cache) = setup();
        let a = entry(&layout, &ep, 10, "http://a");
        assert_eq!(cache.apply(KvEvent::Put(a.0.clone(), a.1.clone())).len(), 1);
        assert!(
            cache
                .apply(KvEvent::Put(a.0.clone(), a.1.clone()))
                .is_empty(),
            "no change"
        );
        // Another endpoint's key, a bad key, a bad value: skipped.
        let other: EndpointId = "ns/backend2/generate".parse().unwrap();
        let o = entry(&layout, &other, 11, "http://o");
        assert!(cache.apply(KvEvent::Put(o.0, o.1)).is_empty());
        assert!(cache
            .apply(KvEvent::Put("t/v1/instances/x".into(), vec![]))
            .is_empty());
        let bad_key = layout.key(&ep, InstanceId(12));
        assert!(cache
            .apply(KvEvent::Put(bad_key, b"not json".to_vec()))
            .is_empty());
        // The id comes from the key on delete (no value).
        assert_eq!(
            cache.apply(KvEvent::Delete(a.0.clone())),
            [Change::Removed(InstanceId(10))]
        );
        assert!(cache.apply(KvEvent::Delete(a.0)).is_empty());
        assert!(cache.list().is_empty());
    }
}
