//! The readiness rule and the JSON bodies of the health and liveness probes.

use rt_core::config::HealthStatus;
use rt_core::drain::DrainState;
use rt_core::registry::{ComponentSnapshot, ComponentState};
use rt_core::shutdown::ShutdownPhase;
use serde::Serialize;

use crate::sources::Sources;

/// The readiness of a process in `phase` and `drain` state whose registry holds `components`
/// (in registration order):
///
/// - not ready from phase 1 of the shutdown on, and while drained or draining;
/// - otherwise, with no entries, `when_empty` (the starting health status, or what the
///   application set);
/// - otherwise ready only when every entry is `running` (a stopped or failed entry stays in
///   the registry until its name is registered again, which replaces it).
pub(crate) fn readiness(
    phase: ShutdownPhase,
    drain: DrainState,
    components: &[ComponentSnapshot],
    when_empty: HealthStatus,
) -> HealthStatus {
    if phase != ShutdownPhase::Running || drain != DrainState::Serving {
        return HealthStatus::NotReady;
    }
    if components.is_empty() {
        return when_empty;
    }
    if components
        .iter()
        .all(|c| c.state == ComponentState::Running)
    {
        HealthStatus::Ready
    } else {
        HealthStatus::NotReady
    }
}

/// The body of the health probe.
#[derive(Debug, Serialize)]
pub(crate) struct HealthBody {
    /// `"ready"` or `"notready"`: the status code says the same (200 or 503).
    pub(crate) status: HealthStatus,
    /// The shutdown phase: `running`, `draining`, `stopping`, `stopped`.
    pub(crate) phase: &'static str,
    /// The drain without exit: `serving`, `draining`, `drained`.
    pub(crate) drain: &'static str,
    /// The runtime's identifier.
    pub(crate) runtime: String,
    /// Seconds since the status server started.
    pub(crate) uptime_seconds: f64,
    /// Endpoints and tasks the shutdown's drain waits for (the tracker's count).
    pub(crate) in_flight: usize,
    /// Every registry entry, in registration order.
    pub(crate) components: Vec<ComponentSnapshot>,
}

impl HealthBody {
    pub(crate) fn read(sources: &Sources) -> Self {
        let phase = sources.coordinator.phase();
        let drain = sources.drain.state();
        let components = sources.registry.snapshot();
        Self {
            status: readiness(
                phase,
                drain,
                &components,
                sources.health_status_when_empty(),
            ),
            phase: phase.as_str(),
            drain: drain.as_str(),
            runtime: sources.runtime_id.clone(),
            uptime_seconds: sources.started.elapsed().as_secs_f64(),
            in_flight: sources.coordinator.tracker().get_count(),
            components,
        }
    }
}

/// Whether the liveness probe passes in `phase`: until phase 3.
pub(crate) fn is_live(phase: ShutdownPhase) -> bool {
    phase < ShutdownPhase::Stopping
}

/// The body of the liveness probe.
#[derive(Debug, Serialize)]
pub(crate) struct LiveBody {
    /// `"live"` or `"stopping"`: the status code says the same (200 or 503).
    pub(crate) status: &'static str,
    /// The shutdown phase.
    pub(crate) phase: &'static str,
}

impl LiveBody {
    pub(crate) fn read(sources: &Sources) -> Self {
        let phase = sources.coordinator.phase();
        Self {
            status: if is_live(phase) { "live" } else { "stopping" },
            phase: phase.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rt_core::registry::{ComponentKind, Registry};
    use rt_core::RuntimeError;

    use super::*;

    const ALL_PHASES: [ShutdownPhase; 4] = [
        ShutdownPhase::Running,
        ShutdownPhase::Draining,
        ShutdownPhase::Stopping,
        ShutdownPhase::Stopped,
    ];

    #[test]
    fn empty_registry_reports_the_starting_status_until_shutdown() {
        let none = [];
        assert_eq!(
            readiness(
                ShutdownPhase::Running,
                DrainState::Serving,
                &none,
                HealthStatus::Ready
            ),
            HealthStatus::Ready
        );
        assert_eq!(
            readiness(
                ShutdownPhase::Running,
                DrainState::Serving,
                &none,
                HealthStatus::NotReady
            ),
            HealthStatus::NotReady
        );
        for phase in &ALL_PHASES[1..] {
            assert_eq!(
                readiness(*phase, DrainState::Serving, &none, HealthStatus::Ready),
                HealthStatus::NotReady
            );
        }
    }

    #[test]
    fn ready_only_when_every_entry_runs() -> Result<(), Box<RuntimeError>> {
        let registry = Registry::new();
        let a = registry.register("a", ComponentKind::Endpoint)?;
        let b = registry.register("b", ComponentKind::Component)?;
        let check = |when_empty| {
            readiness(
                ShutdownPhase::Running,
                DrainState::Serving,
                &registry.snapshot(),
                when_empty,
            )
        };
        // Registered, not running yet: not ready, whatever the starting status.
        assert_eq!(check(HealthStatus::Ready), HealthStatus::NotReady);
        a.set_state(ComponentState::Running)?;
        assert_eq!(check(HealthStatus::Ready), HealthStatus::NotReady);
        b.set_state(ComponentState::Initialised)?;
        assert_eq!(check(HealthStatus::Ready), HealthStatus::NotReady);
        b.set_state(ComponentState::Running)?;
        assert_eq!(check(HealthStatus::NotReady), HealthStatus::Ready);
        // From phase 1 on: not ready although everything runs.
        for phase in &ALL_PHASES[1..] {
            assert_eq!(
                readiness(
                    *phase,
                    DrainState::Serving,
                    &registry.snapshot(),
                    HealthStatus::Ready
                ),
                HealthStatus::NotReady
            );
        }
        // Drained or draining without exit: not ready although everything runs.
        for drain in [DrainState::Draining, DrainState::Drained] {
            assert_eq!(
                readiness(
                    ShutdownPhase::Running,
                    drain,
                    &registry.snapshot(),
                    HealthStatus::Ready
                ),
                HealthStatus::NotReady
            );
        }
        // A failed entry makes the process not ready.
        b.fail("backend unreachable")?;
        assert_eq!(check(HealthStatus::Ready), HealthStatus::NotReady);
        Ok(())
    }

    #[test]
    fn a_stopped_entry_is_not_ready_until_its_name_is_registered_again(
    ) -> Result<(), Box<RuntimeError>> {
        let registry = Registry::new();
        let old = registry.register("model", ComponentKind::Component)?;
        old.set_state(ComponentState::Running)?;
        old.set_state(ComponentState::Stopped)?;
        assert_eq!(
            readiness(
                ShutdownPhase::Running,
                DrainState::Serving,
                &registry.snapshot(),
                HealthStatus::Ready
            ),
            HealthStatus::NotReady
        );
        // Registering the name again replaces the stopped entry.
        let new = registry.register("model", ComponentKind::Component)?;
        new.set_state(ComponentState::Running)?;
        assert_eq!(registry.snapshot().len(), 1);
        assert_eq!(
            readiness(
                ShutdownPhase::Running,
                DrainState::Serving,
                &registry.snapshot(),
                HealthStatus::NotReady
            ),
            HealthStatus::Ready
        );
        Ok(())
    }

    #[test]
    fn live_until_phase_three() {
        let live: Vec<bool> = ALL_PHASES.iter().map(|p| is_live(*p)).collect();
        assert_eq!(live, [true, true, false, false]);
    }
}
