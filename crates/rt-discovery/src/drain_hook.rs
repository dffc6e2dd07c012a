//! [`DrainHook`]: discovery's part in a drain without exit (`rt_core::drain`): leave on a
//! drain, come back under a new instance id on a resume.

use std::sync::Arc;

use rt_core::drain::{DrainHook, HookFuture};

use crate::state::Shared;

/// The name discovery's hook is added under (in the drain report and the logs).
pub const DRAIN_HOOK: &str = "discovery";

/// Deletes this process's keys on a drain, registers every endpoint again under a new lease
/// on a resume. The work runs on the secondary runtime, so that a caller that stops waiting
/// (the drain's bound) does not cut it in half.
pub(crate) struct DiscoveryDrain {
    pub(crate) shared: Arc<Shared>,
}

impl DrainHook for DiscoveryDrain {
    fn drain(&self) -> HookFuture {
        let shared = Arc::clone(&self.shared);
        let task = self.shared.secondary.spawn(async move {
            let started = std::time::Instant::now();
            let bound = shared.settings.connect_timeout;
            match tokio::time::timeout(bound, shared.pause()).await {
                Ok(Ok(keys)) => {
                    tracing::info!(keys, took = ?started.elapsed(), "drain: discovery deleted this process's keys; the lease stays alive");
                    Ok(())
                }
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!(
                    "the delete got no answer within {bound:?} (DYN_DISCOVERY_CONNECT_TIMEOUT_SECS)"
                )),
            }
        });
        Box::pin(async move { task.await.map_err(|e| e.to_string())?.map_err(Into::into) })
    }

    fn resume(&self) -> HookFuture {
        let shared = Arc::clone(&self.shared);
        let task = self.shared.secondary.spawn(async move {
            let bound = shared.settings.connect_timeout;
            match tokio::time::timeout(bound, shared.resume()).await {
                Ok(Ok(Some(id))) => {
                    tracing::info!(instance_id = %id, "resume: discovery registered this process again under a new lease");
                    Ok(())
                }
                Ok(Ok(None)) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!(
                    "registering again got no answer within {bound:?} (DYN_DISCOVERY_CONNECT_TIMEOUT_SECS)"
                )),
            }
        });
        Box::pin(async move { task.await.map_err(|e| e.to_string())?.map_err(Into::into) })
    }
}
