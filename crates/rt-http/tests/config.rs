//! `ServeOptions::from_config`: the `DYN_HTTP_*` variables and files reach the server's options,
//! later sources winning.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failure is a test failure

use std::time::Duration;

use rt_core::config::{ConfigLoader, Origin};
use rt_http::ServeOptions;

/// A TOML file of its own in the temp dir, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("rt-http-config-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_dyn_http_variable_reaches_serve_options_over_a_file() {
    let file = TempFile::new(
        "runtime.toml",
        "http_retry_after_secs = 3\nhttp_idle_timeout_secs = 90\n",
    );
    let config = ConfigLoader::new()
        .system_files([&file.0])
        .env_map([
            ("DYN_HTTP_RETRY_AFTER_SECS", "7"),
            ("DYN_HTTP_MAX_BODY_BYTES", "8MiB"),
            ("DYN_HTTP_SHUTDOWN_GRACE_SECS", "2"),
        ])
        .load()
        .unwrap();
    assert_eq!(
        config.origin_of("http_retry_after_secs"),
        Some(Origin::Env("DYN_HTTP_RETRY_AFTER_SECS".into()))
    );

    let options = ServeOptions::from_config(&config);
    let expected = ServeOptions::default()
        .with_retry_after(Duration::from_secs(7)) // the variable beats the file
        .with_idle_timeout(Duration::from_secs(90)) // the file beats the default
        .with_max_body_bytes(8 << 20)
        .with_shutdown_grace(Duration::from_secs(2));
    assert_eq!(options, expected);
    assert!(options.validate().is_ok());
}

#[test]
fn defaults_of_the_configuration_are_the_default_options() {
    let config = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .load()
        .unwrap();
    assert_eq!(ServeOptions::from_config(&config), ServeOptions::default());
}

#[test]
fn a_bad_dyn_http_variable_is_a_configuration_error_naming_it() {
    let error = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map([("DYN_HTTP_MAX_CONNECTIONS", "0")])
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`http_max_connections`")
            && error.contains("environment variable DYN_HTTP_MAX_CONNECTIONS")
            && error.contains("from 1 to 1048576"),
        "{error}"
    );
}
