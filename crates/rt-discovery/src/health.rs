//! [`HealthComponent`]: discovery's entry in the runtime's component registry, which `/health`
//! reports: `running` while the lease is live, `failed` (with the reason) while it is lost or
//! being re-registered, `draining` after phase 1, `stopped` after phase 3.

use std::sync::{Arc, Mutex, PoisonError};

use rt_core::registry::{ComponentHandle, ComponentKind, ComponentState, Registry};

/// Discovery's registry entry. Registry states only move forward, so a recovery after a lost
/// lease registers the entry anew under the same name (a failed entry may be replaced).
#[derive(Debug)]
pub(crate) struct HealthComponent {
    registry: Arc<Registry>,
    name: String,
    handle: Mutex<Option<ComponentHandle>>,
}

impl HealthComponent {
    /// Registers `discovery` (or `discovery-2`, ... when taken) as running.
    pub(crate) fn start(registry: Arc<Registry>) -> Self {
        for n in 1..=64u32 {
            let name = if n == 1 {
                "discovery".to_owned()
            } else {
                format!("discovery-{n}")
            };
            if let Ok(handle) = registry.register(name.clone(), ComponentKind::Component) {
                let _ = handle.set_state(ComponentState::Running);
                return Self {
                    registry,
                    name,
                    handle: Mutex::new(Some(handle)),
                };
            }
        }
        tracing::warn!("64 discovery components in one runtime: this one is not shown in /health");
        Self {
            registry,
            name: String::new(),
            handle: Mutex::new(None),
        }
    }

    /// The registry name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn with(&self, f: impl FnOnce(&ComponentHandle)) {
        if let Some(handle) = &*self.handle.lock().unwrap_or_else(PoisonError::into_inner) {
            f(handle);
        }
    }

    /// Lost or re-registering: readiness false, with the reason.
    pub(crate) fn fail(&self, reason: &str) {
        self.with(|h| {
            let _ = h.fail(reason);
        });
    }

    /// Live again after a re-registration.
    pub(crate) fn recovered(&self) {
        let mut slot = self.handle.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            return;
        }
        match self
            .registry
            .register(self.name.clone(), ComponentKind::Component)
        {
            Ok(handle) => {
                let _ = handle.set_state(ComponentState::Running);
                *slot = Some(handle);
            }
            Err(error) => {
                tracing::warn!(%error, "could not mark discovery running again in the registry")
            }
        }
    }

    /// A state change that may not apply (already failed, already further): ignored.
    pub(crate) fn set(&self, state: ComponentState) {
        self.with(|h| {
            let _ = h.set_state(state);
        });
    }
}
