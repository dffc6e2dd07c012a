//! Pinning compute threads to cores (`pin_threads`). Linux only; elsewhere a no-op with a log.

/// The cores this process may run on, in order.
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cores() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    use nix::unistd::Pid;
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "pin_threads: cannot read the CPU affinity; threads stay unpinned");
            Vec::new()
        }
    }
}

/// Pins the calling thread (compute thread `index`) to one of `cores`, round robin.
#[cfg(target_os = "linux")]
pub(crate) fn pin(index: usize, cores: &[usize]) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let Some(&core) = cores.get(index % cores.len().max(1)) else {
        return;
    };
    let mut set = CpuSet::new();
    let result = set
        .set(core)
        .and_then(|()| sched_setaffinity(Pid::from_raw(0), &set));
    match result {
        Ok(()) => tracing::debug!(thread = index, core, "compute thread pinned"),
        Err(e) => {
            tracing::warn!(thread = index, core, error = %e, "pin_threads: could not pin a compute thread; it stays unpinned")
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed_cores() -> Vec<usize> {
    tracing::warn!("pin_threads is only supported on Linux; threads stay unpinned");
    Vec::new()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pin(_index: usize, _cores: &[usize]) {}
