//! The keep-alive stays on time with the primary runtime and the compute pool saturated: it
//! runs on the secondary runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rt_core::config::RuntimeConfig;
use rt_core::Runtime;
use rt_discovery::{Discovery, DiscoverySettings, MemoryBackend};

/// Spins the calling thread until `until`.
fn spin(until: Instant) {
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[test]
fn keep_alive_lateness_stays_small_with_the_primary_runtime_and_the_pool_saturated() {
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(2)
        .build()
        .unwrap();
    let runtime = Runtime::from_config(config).unwrap();
    let mut settings = DiscoverySettings::default();
    settings.lease_ttl = Duration::from_secs(2); // a renewal every 667 ms
    let discovery = runtime
        .secondary()
        .block_on(Discovery::with_backend(
            &runtime,
            Arc::new(MemoryBackend::new()),
            settings,
        ))
        .unwrap();

    let until = Instant::now() + Duration::from_millis(3_500);
    // Every primary worker busy without yielding, every compute thread busy.
    for _ in 0..2 {
        runtime.primary().spawn(async move { spin(until) });
        let rt = runtime.clone();
        runtime
            .primary()
            .spawn(async move { rt.compute(move || spin(until)).await });
    }
    std::thread::sleep(Duration::from_millis(3_700));

    let m = discovery.metrics();
    assert!(m.lease_renewals >= 4, "{m:?}");
    assert!(
        m.keep_alive_lateness_p99 <= Duration::from_millis(50),
        "keep-alive lateness p99 {:?} (max {:?}) under load",
        m.keep_alive_lateness_p99,
        m.keep_alive_lateness_max
    );
    eprintln!(
        "keep-alive lateness under load: p50 {:?}, p99 {:?}, max {:?}, renewals {}",
        m.keep_alive_lateness_p50,
        m.keep_alive_lateness_p99,
        m.keep_alive_lateness_max,
        m.lease_renewals
    );
    let report = runtime
        .secondary()
        .block_on(runtime.shutdown_and_wait(Some(Duration::from_secs(10))));
    assert!(report.is_clean(), "{report}");
}
