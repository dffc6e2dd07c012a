//! [`Registration`]: one endpoint published under this process's lease.

use std::sync::Arc;

use crate::endpoint_id::EndpointId;
use crate::error::DiscoveryError;
use crate::instance::InstanceId;
use crate::state::Shared;

/// An endpoint published in discovery, from [`Discovery::register`](crate::Discovery::register).
///
/// Its key goes away in phase 1 of the shutdown (with every other key of the process), on
/// [`deregister`](Self::deregister), or, best effort, when the handle is dropped (a delete
/// spawned on the secondary runtime). After a lost lease it is put again under the new
/// lease, hence the new [`instance_id`](Self::instance_id).
#[derive(Debug)]
#[must_use = "dropping a Registration deregisters the endpoint"]
pub struct Registration {
    shared: Arc<Shared>,
    id: u64,
    endpoint: EndpointId,
    done: bool,
}

impl Registration {
    pub(crate) fn new(shared: Arc<Shared>, id: u64, endpoint: EndpointId) -> Self {
        Self {
            shared,
            id,
            endpoint,
            done: false,
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &EndpointId {
        &self.endpoint
    }

    /// This process's instance id now (it changes when the process re-registers under a new
    /// lease).
    pub fn instance_id(&self) -> InstanceId {
        self.shared.instance_id()
    }

    /// The key now.
    pub fn key(&self) -> String {
        self.shared.key_of(&self.endpoint)
    }

    /// Removes the endpoint from discovery and waits for the delete.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError::Backend`] when the backend refused or could not be reached; the key
    /// then goes with the lease (phase 3, or expiry).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe in effect: dropping the future may leave the key in place until the
    /// lease ends (the registration is forgotten either way).
    pub async fn deregister(mut self) -> Result<(), DiscoveryError> {
        self.done = true;
        self.shared.deregister(self.id).await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (shared, id) = (Arc::clone(&self.shared), self.id);
        let endpoint = self.endpoint.to_string();
        // Best effort: a runtime already shut down drops the task; the lease removes the key.
        self.shared.secondary.spawn(async move {
            if let Err(error) = shared.deregister(id).await {
                tracing::warn!(%endpoint, %error, "deregistration on drop failed; the key goes with the lease");
            }
        });
    }
}
