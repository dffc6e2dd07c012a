//! Source order (defaults < system files < explicit file < environment), origins, explain().

#![cfg(feature = "loader")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::collections::BTreeMap;
use std::path::PathBuf;

use rt_config::{ConfigLoader, HealthStatus, Origin, RuntimeConfig};

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn later_sources_override_earlier_ones_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = write(
        dir.path(),
        "defaults.toml",
        "max_blocking_threads = 100\ncompute_threads = 3\nhttp_port = 1000\nsignal_debounce_ms = 50\n",
    );
    let etc = write(
        dir.path(),
        "etc.toml",
        "compute_threads = 4\nhttp_port = 2000\nsignal_debounce_ms = 60\n",
    );
    let explicit = write(
        dir.path(),
        "explicit.toml",
        "http_port = 3000\nsignal_debounce_ms = 70\n",
    );
    let missing = dir.path().join("missing.toml");

    let config = ConfigLoader::new()
        .system_files([&defaults, &missing, &etc])
        .env_map([
            ("DYN_RUNTIME_CONFIG_FILE", explicit.to_str().unwrap()),
            ("DYN_SIGNAL_DEBOUNCE_MS", "80"),
        ])
        .load()
        .unwrap();

    assert_eq!(config.teardown_timeout_secs, 10);
    assert_eq!(config.max_blocking_threads, 100);
    assert_eq!(config.compute_threads, Some(4));
    assert_eq!(config.http_port, 3000);
    assert_eq!(config.signal_debounce_ms, 80);

    assert_eq!(
        config.origin_of("teardown_timeout_secs"),
        Some(Origin::Default)
    );
    assert_eq!(
        config.origin_of("max_blocking_threads"),
        Some(Origin::File(defaults.clone()))
    );
    assert_eq!(
        config.origin_of("compute_threads"),
        Some(Origin::File(etc.clone()))
    );
    assert_eq!(
        config.origin_of("http_port"),
        Some(Origin::File(explicit.clone()))
    );
    assert_eq!(
        config.origin_of("signal_debounce_ms"),
        Some(Origin::Env("DYN_SIGNAL_DEBOUNCE_MS".into()))
    );
    assert_eq!(config.origin_of("no_such_key"), None);

    let explain = config.explain();
    assert!(
        explain.contains("default\tteardown_timeout_secs = 10\n"),
        "{explain}"
    );
    assert!(
        explain.contains(&format!(
            "file:{}\tmax_blocking_threads = 100\n",
            defaults.display()
        )),
        "{explain}"
    );
    assert!(
        explain.contains(&format!("file:{}\tcompute_threads = 4\n", etc.display())),
        "{explain}"
    );
    assert!(
        explain.contains(&format!("file:{}\thttp_port = 3000\n", explicit.display())),
        "{explain}"
    );
    assert!(
        explain.contains("env:DYN_SIGNAL_DEBOUNCE_MS\tsignal_debounce_ms = 80\n"),
        "{explain}"
    );
}

/// Hand-picked values that exercise the conversions of variables' text (suffixes, words,
/// case). Coverage of every key is `every_key_can_be_set_from_a_variable`'s business.
#[test]
fn variables_convert_their_text() {
    let values = [
        ("DYN_RUNTIME_NUM_WORKER_THREADS", "3"),
        ("DYN_RUNTIME_MAX_BLOCKING_THREADS", "7"),
        ("DYN_RUNTIME_GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "11"),
        ("DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS", "12"),
        ("DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT", "13"),
        ("DYN_COMPUTE_THREADS", "0"),
        ("DYN_COMPUTE_STACK_SIZE", "4MiB"),
        ("DYN_COMPUTE_THREAD_PREFIX", "cpu"),
        ("DYN_COMPUTE_PIN_THREADS", "yes"),
        ("DYN_COMPUTE_BRIDGE_SPIN_US", "20"),
        ("DYN_SIGNAL_DEBOUNCE_MS", "250"),
        ("DYN_SYSTEM_HOST", "127.0.0.1"),
        ("DYN_SYSTEM_PORT", "0"),
        ("DYN_SYSTEM_HEALTH_PATH", "/ready"),
        ("DYN_SYSTEM_LIVE_PATH", "/alive"),
        ("DYN_SYSTEM_STARTING_HEALTH_STATUS", "Ready"),
        ("DYN_HTTP_HOST", "::1"),
        ("DYN_HTTP_PORT", "9001"),
        ("DYN_DISCOVERY_BACKEND", "etcd"),
        ("DYN_DISCOVERY_ETCD_ENDPOINTS", "http://10.0.0.1:2379"),
        ("DYN_DISCOVERY_LEASE_TTL_SECS", "20"),
        ("DYN_DISCOVERY_CONNECT_TIMEOUT_SECS", "40"),
        ("DYN_DISCOVERY_ON_LEASE_LOST", "shutdown"),
        ("DYN_DISCOVERY_LOST_TIMEOUT_SECS", "50"),
        ("DYN_DISCOVERY_ADVERTISE_HOST", "10.0.0.5"),
        ("DYN_DISCOVERY_PREFIX", "test/"),
        ("DYN_DISCOVERY_STATIC", "a/b/c=http://h:1"),
    ];
    let config = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map(values)
        .load()
        .unwrap();
    let mut expected = RuntimeConfig::default();
    expected.num_worker_threads = Some(3);
    expected.max_blocking_threads = 7;
    expected.graceful_shutdown_timeout_secs = 11;
    expected.teardown_timeout_secs = 12;
    expected.worker_graceful_shutdown_timeout_secs = 13;
    expected.compute_threads = Some(0);
    expected.compute_stack_size = Some(4 << 20);
    expected.compute_thread_prefix = "cpu".to_string();
    expected.compute_pin_threads = true;
    expected.compute_bridge_spin_us = 20;
    expected.signal_debounce_ms = 250;
    expected.system_host = "127.0.0.1".to_string();
    expected.system_port = Some(0);
    expected.system_health_path = "/ready".to_string();
    expected.system_live_path = "/alive".to_string();
    expected.system_starting_health_status = HealthStatus::Ready;
    expected.http_host = "::1".to_string();
    expected.http_port = 9001;
    expected.discovery_backend = "etcd".to_string();
    expected.discovery_etcd_endpoints = "http://10.0.0.1:2379".to_string();
    expected.discovery_lease_ttl_secs = 20;
    expected.discovery_connect_timeout_secs = 40;
    expected.discovery_on_lease_lost = "shutdown".to_string();
    expected.discovery_lost_timeout_secs = 50;
    expected.discovery_advertise_host = "10.0.0.5".to_string();
    expected.discovery_prefix = "test/".to_string();
    expected.discovery_static = "a/b/c=http://h:1".to_string();
    assert_eq!(config, expected);
    assert!(config.compute_config().is_none());
    for (var, _) in values {
        let spec = rt_config::keys().iter().find(|k| k.env == var).unwrap();
        assert_eq!(
            config.origin_of(spec.name),
            Some(Origin::Env(var.to_string())),
            "{var}"
        );
    }
}

/// The example file of docs/configuration.md, which sets every key (`tests/docs.rs` checks).
fn example_toml() -> &'static str {
    const PAGE: &str = include_str!("../../../docs/configuration.md");
    let start = PAGE.find("```toml\n").unwrap() + "```toml\n".len();
    let len = PAGE[start..].find("```").unwrap();
    &PAGE[start..start + len]
}

/// `key -> (origin, value)` from `explain()`.
fn explained(config: &RuntimeConfig) -> BTreeMap<String, (String, String)> {
    config
        .explain()
        .lines()
        .map(|line| {
            let (origin, pair) = line.split_once('\t').unwrap();
            let (key, value) = pair.split_once(" = ").unwrap();
            (key.to_string(), (origin.to_string(), value.to_string()))
        })
        .collect()
}

/// Every key of the table, set by its variable alone, reaches its own field (and no other) with
/// the value the same text gives in a file. Table-driven: a new row needs no change here.
#[test]
fn every_key_can_be_set_from_a_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "example.toml", example_toml());
    let from_file = explained(&ConfigLoader::new().system_files([&file]).load().unwrap());
    let defaults = explained(&RuntimeConfig::default());
    let example: BTreeMap<&str, &str> = example_toml()
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .collect();

    let mut all = Vec::new();
    for spec in rt_config::keys() {
        let text = example[spec.name].trim_matches('"');
        all.push((spec.env, text));
        let config = ConfigLoader::new()
            .system_files::<[&str; 0], &str>([])
            .env_map([(spec.env, text)])
            .load()
            .unwrap();
        for (key, (origin, value)) in explained(&config) {
            if key == spec.name {
                assert_eq!(origin, format!("env:{}", spec.env), "{key}");
                assert_eq!(value, from_file[&key].1, "{} = {text}", spec.env);
            } else {
                assert_eq!(
                    (origin, value),
                    defaults[&key],
                    "{} changed {key}",
                    spec.env
                );
            }
        }
    }

    let config = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map(all)
        .load()
        .unwrap();
    assert_eq!(
        config,
        ConfigLoader::new().system_files([&file]).load().unwrap()
    );
}

#[test]
fn explain_output_is_toml_that_loads_back_to_the_same_config() {
    let original = RuntimeConfig::builder()
        .num_worker_threads(6)
        .compute_stack_size(512 * 1024)
        .compute_pin_threads(true)
        .system_port(9090)
        .system_starting_health_status(HealthStatus::Ready)
        .http_host("localhost")
        .build()
        .unwrap();
    let toml: String = original
        .explain()
        .lines()
        .map(|line| line.split_once('\t').unwrap().1.to_string() + "\n")
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "round.toml", &toml);
    let loaded = ConfigLoader::new().system_files([&file]).load().unwrap();
    assert_eq!(loaded, original);

    // Optional keys written as their "not set" words load as None.
    let file = write(
        dir.path(),
        "words.toml",
        "num_worker_threads = \"auto\"\ncompute_stack_size = \"default\"\nsystem_port = \"disabled\"\n",
    );
    let loaded = ConfigLoader::new()
        .system_files([&file])
        .env_map([("DYN_COMPUTE_THREADS", "AUTO")])
        .load()
        .unwrap();
    assert_eq!(loaded.num_worker_threads, None);
    assert_eq!(loaded.compute_stack_size, None);
    assert_eq!(loaded.system_port, None);
    assert_eq!(loaded.compute_threads, None);
}

#[test]
fn a_field_assigned_after_loading_is_not_credited_to_its_old_source() {
    let mut config = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map([("DYN_HTTP_PORT", "9000")])
        .load()
        .unwrap();
    assert_eq!(
        config.origin_of("http_port"),
        Some(Origin::Env("DYN_HTTP_PORT".into()))
    );
    config.http_port = 9100;
    assert_eq!(
        config.origin_of("http_port"),
        Some(Origin::Code("field assigned"))
    );
    assert!(config
        .explain()
        .contains("code:field assigned\thttp_port = 9100"));
}

#[test]
fn standard_system_files_are_the_opt_paths() {
    assert_eq!(
        rt_config::SYSTEM_CONFIG_FILES,
        [
            "/opt/dynamo/defaults/runtime.toml",
            "/opt/dynamo/etc/runtime.toml"
        ]
    );
}
