//! Builder, single_threaded, Display, durations, compute config.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::time::Duration;

use rt_config::{ComputeConfig, HealthStatus, Origin, RuntimeConfig};

#[test]
fn defaults_match_the_spec() {
    let c = RuntimeConfig::default();
    assert_eq!(c.num_worker_threads, None);
    assert_eq!(c.max_blocking_threads, 512);
    assert_eq!(c.graceful_shutdown_timeout(), Duration::from_secs(900));
    assert_eq!(c.teardown_timeout(), Duration::from_secs(10));
    let worker = if cfg!(debug_assertions) { 5 } else { 30 };
    assert_eq!(
        c.worker_graceful_shutdown_timeout(),
        Duration::from_secs(worker)
    );
    assert_eq!(c.compute_threads, None);
    assert_eq!(c.compute_stack_size, Some(2 * 1024 * 1024));
    assert_eq!(c.compute_thread_prefix, "compute");
    assert!(!c.compute_pin_threads);
    assert_eq!(c.compute_bridge_spin_us, rt_config::DEFAULT_BRIDGE_SPIN_US);
    assert_eq!(c.signal_debounce(), Duration::ZERO);
    assert_eq!(c.system_host, "0.0.0.0");
    assert_eq!(c.system_port, None);
    assert_eq!(c.system_health_path, "/health");
    assert_eq!(c.system_live_path, "/live");
    assert_eq!(c.system_starting_health_status, HealthStatus::NotReady);
    assert_eq!(c.http_host, "0.0.0.0");
    assert_eq!(c.http_port, 8080);
    c.validate().unwrap();
    assert!(c.resolved_num_worker_threads() >= 1);
}

#[test]
fn compute_config_follows_the_runtime_config() {
    let c = RuntimeConfig::default();
    let compute = c.compute_config().unwrap();
    assert_eq!(compute.num_threads, None);
    let n = compute.resolved_num_threads();
    assert!((2..=16).contains(&n), "{n}");
    assert_eq!(compute.resolved_stack_size(), 2 * 1024 * 1024);
    compute.validate().unwrap();

    let c = RuntimeConfig::builder().compute_threads(0).build().unwrap();
    assert_eq!(c.compute_config(), None);

    let plain = ComputeConfig::default();
    assert_eq!(plain.stack_size, None);
    assert_eq!(plain.resolved_stack_size(), 2 * 1024 * 1024);
    assert_eq!(plain.thread_prefix, "compute");
    for bad in [
        ComputeConfig {
            num_threads: Some(0),
            ..Default::default()
        },
        ComputeConfig {
            stack_size: Some(1024),
            ..Default::default()
        },
        ComputeConfig {
            thread_prefix: String::new(),
            ..Default::default()
        },
        ComputeConfig {
            thread_prefix: "a\0b".into(),
            ..Default::default()
        },
        ComputeConfig {
            bridge_spin_us: 1001,
            ..Default::default()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
    let line = ComputeConfig {
        num_threads: Some(3),
        ..Default::default()
    }
    .to_string();
    assert_eq!(
        line,
        "num_threads=3 stack_size=default(2097152) thread_prefix=\"compute\" pin_threads=false bridge_spin_us=50"
    );
}

#[test]
fn display_is_one_line_with_every_key() {
    let c = RuntimeConfig::builder().system_port(9090).build().unwrap();
    let line = c.to_string();
    assert!(!line.contains('\n'));
    for spec in rt_config::keys() {
        assert!(
            line.contains(&format!("{}=", spec.name)),
            "{} missing from {line}",
            spec.name
        );
    }
    assert!(line.contains("system_port=9090"));
    assert!(line.contains("compute_thread_prefix=\"compute\""));
    assert!(line.contains("system_starting_health_status=\"notready\""));
}

#[test]
fn builder_validates_and_records_its_origin() {
    let c = RuntimeConfig::builder()
        .num_worker_threads(2)
        .max_blocking_threads(32)
        .teardown_timeout_secs(3)
        .worker_graceful_shutdown_timeout_secs(20)
        .compute_thread_prefix("cpu")
        .signal_debounce_ms(500)
        .build()
        .unwrap();
    assert_eq!(c.num_worker_threads, Some(2));
    assert_eq!(c.resolved_num_worker_threads(), 2);
    assert_eq!(c.signal_debounce(), Duration::from_millis(500));
    assert_eq!(
        c.origin_of("max_blocking_threads"),
        Some(Origin::Code("RuntimeConfigBuilder"))
    );
    assert_eq!(c.origin_of("http_port"), Some(Origin::Default));

    for bad in [
        RuntimeConfig::builder().num_worker_threads(0),
        RuntimeConfig::builder().max_blocking_threads(0),
        RuntimeConfig::builder().graceful_shutdown_timeout_secs(86_401),
        RuntimeConfig::builder().compute_stack_size(usize::MAX),
        RuntimeConfig::builder().system_health_path("health"),
        RuntimeConfig::builder().http_host(""),
    ] {
        let err = bad.build().unwrap_err();
        assert!(
            err.to_string().contains("Rust code (RuntimeConfigBuilder)"),
            "{err}"
        );
    }

    // to_builder keeps the values and their origins.
    let again = c.to_builder().http_port(1).build().unwrap();
    assert_eq!(again.max_blocking_threads, 32);
    assert_eq!(
        again.origin_of("max_blocking_threads"),
        Some(Origin::Code("RuntimeConfigBuilder"))
    );
    assert_eq!(again.http_port, 1);
}

#[test]
fn single_threaded_is_one_worker_small_blocking_pool_one_compute_thread() {
    let c = RuntimeConfig::single_threaded();
    c.validate().unwrap();
    assert_eq!(c.resolved_num_worker_threads(), 1);
    assert_eq!(c.max_blocking_threads, 8);
    assert_eq!(c.compute_config().unwrap().resolved_num_threads(), 1);
    assert_eq!(
        c.origin_of("num_worker_threads"),
        Some(Origin::Code("RuntimeConfig::single_threaded"))
    );
    assert_eq!(c.graceful_shutdown_timeout_secs, 900);
}

#[test]
fn health_status_parses_and_prints_lowercase() {
    assert_eq!("ready".parse::<HealthStatus>(), Ok(HealthStatus::Ready));
    assert_eq!(
        "NotReady".parse::<HealthStatus>(),
        Ok(HealthStatus::NotReady)
    );
    assert_eq!(HealthStatus::Ready.to_string(), "ready");
    assert_eq!(HealthStatus::default(), HealthStatus::NotReady);
}
