//! The bad-input table: every error names the key (or variable), the bad value and its source.

#![cfg(feature = "loader")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rt_config::{ConfigError, ConfigLoader, Origin};

struct Case {
    name: &'static str,
    /// Files written into the temp dir, then used as system files, in order.
    system: Vec<(&'static str, &'static str)>,
    /// Variables; `{dir}` in a value is replaced by the temp dir.
    env: Vec<(&'static str, OsString)>,
    /// Substrings the message must contain; `{dir}` is replaced by the temp dir.
    expect: Vec<&'static str>,
}

fn case(
    name: &'static str,
    system: &[(&'static str, &'static str)],
    env: &[(&'static str, &str)],
    expect: &[&'static str],
) -> Case {
    Case {
        name,
        system: system.to_vec(),
        env: env.iter().map(|(k, v)| (*k, OsString::from(*v))).collect(),
        expect: expect.to_vec(),
    }
}

fn run(case: &Case, dir: &Path) -> Result<rt_config::RuntimeConfig, ConfigError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, text) in &case.system {
        let path = dir.join(name);
        if *text == "<dir>" {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::write(&path, text).unwrap();
        }
        files.push(path);
    }
    let dir_str = dir.display().to_string();
    let env: Vec<(OsString, OsString)> = case
        .env
        .iter()
        .map(|(k, v)| {
            let v = match v.to_str() {
                Some(s) => OsString::from(s.replace("{dir}", &dir_str)),
                None => v.clone(),
            };
            (OsString::from(k), v)
        })
        .collect();
    ConfigLoader::new().system_files(files).env_map(env).load()
}

#[cfg(unix)]
fn not_utf8() -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(vec![b'c', b'p', b'u', 0xff, 0xfe])
}

fn table() -> Vec<Case> {
    let mut cases = vec![
        case(
            "malformed TOML",
            &[("a.toml", "num_worker_threads = = 4\n")],
            &[],
            &["malformed TOML", "{dir}/a.toml", "line 1"],
        ),
        case(
            "string where a number goes (file)",
            &[("a.toml", "max_blocking_threads = \"many\"\n")],
            &[],
            &[
                "`max_blocking_threads`",
                "\"many\"",
                "file {dir}/a.toml",
                "quoted string",
                "allowed: 1 to 65536",
            ],
        ),
        case(
            "quoted number in a file",
            &[("a.toml", "http_port = \"8080\"\n")],
            &[],
            &[
                "`http_port`",
                "\"8080\"",
                "file {dir}/a.toml",
                "without quotes",
            ],
        ),
        case(
            "string where a number goes (variable)",
            &[],
            &[("DYN_RUNTIME_MAX_BLOCKING_THREADS", "lots")],
            &[
                "`max_blocking_threads`",
                "\"lots\"",
                "environment variable DYN_RUNTIME_MAX_BLOCKING_THREADS",
                "not a whole number",
            ],
        ),
        case(
            "0 worker threads",
            &[],
            &[("DYN_RUNTIME_NUM_WORKER_THREADS", "0")],
            &[
                "`num_worker_threads`",
                "value 0 ",
                "environment variable DYN_RUNTIME_NUM_WORKER_THREADS",
                "from 1 to 1024",
            ],
        ),
        case(
            "0 blocking threads",
            &[("a.toml", "max_blocking_threads = 0\n")],
            &[],
            &[
                "`max_blocking_threads`",
                "value 0 ",
                "file {dir}/a.toml",
                "from 1 to 65536",
            ],
        ),
        case(
            "negative number (file)",
            &[("a.toml", "teardown_timeout_secs = -5\n")],
            &[],
            &[
                "`teardown_timeout_secs`",
                "-5",
                "file {dir}/a.toml",
                "negative numbers are not allowed",
                "0 to 3600",
            ],
        ),
        case(
            "negative number (variable)",
            &[],
            &[("DYN_COMPUTE_THREADS", "-1")],
            &[
                "`compute_threads`",
                "\"-1\"",
                "environment variable DYN_COMPUTE_THREADS",
                "negative",
            ],
        ),
        case(
            "stack below 128 KiB",
            &[],
            &[("DYN_COMPUTE_STACK_SIZE", "65536")],
            &[
                "`compute_stack_size`",
                "65536",
                "environment variable DYN_COMPUTE_STACK_SIZE",
                "131072 (128 KiB)",
            ],
        ),
        case(
            "stack absurdly large",
            &[("a.toml", "compute_stack_size = \"64GiB\"\n")],
            &[],
            &[
                "`compute_stack_size`",
                "68719476736",
                "file {dir}/a.toml",
                "1073741824 (1 GiB)",
            ],
        ),
        case(
            "unknown key in a file",
            &[("a.toml", "max_blocking_thread = 64\n")],
            &[],
            &[
                "unknown key `max_blocking_thread`",
                "value 64",
                "file {dir}/a.toml",
                "did you mean `max_blocking_threads`?",
            ],
        ),
        case(
            "variable name written as a file key",
            &[("a.toml", "DYN_COMPUTE_THREADS = 4\n")],
            &[],
            &[
                "unknown key `DYN_COMPUTE_THREADS`",
                "file {dir}/a.toml",
                "did you mean `compute_threads`?",
            ],
        ),
        case(
            "a section instead of top-level keys",
            &[("a.toml", "[compute]\nthreads = 4\n")],
            &[],
            &["unknown key `compute`", "a table", "file {dir}/a.toml"],
        ),
        case(
            "explicitly named file does not exist",
            &[],
            &[("DYN_RUNTIME_CONFIG_FILE", "{dir}/nope.toml")],
            &[
                "{dir}/nope.toml",
                "environment variable DYN_RUNTIME_CONFIG_FILE",
                "does not exist",
            ],
        ),
        case(
            "directory where a file is expected (system file)",
            &[("etc", "<dir>")],
            &[],
            &["{dir}/etc", "not a regular file", "system config file list"],
        ),
        case(
            "directory where a file is expected (explicit file)",
            &[],
            &[("DYN_RUNTIME_CONFIG_FILE", "{dir}")],
            &[
                "config file {dir} ",
                "environment variable DYN_RUNTIME_CONFIG_FILE",
                "not a regular file",
            ],
        ),
        case(
            "over-range timeout (variable)",
            &[],
            &[("DYN_RUNTIME_GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "100000")],
            &[
                "`graceful_shutdown_timeout_secs`",
                "100000",
                "environment variable DYN_RUNTIME_GRACEFUL_SHUTDOWN_TIMEOUT_SECS",
                "from 0 to 86400",
            ],
        ),
        case(
            "over-range timeout (explicit file)",
            &[("x.toml", "worker_graceful_shutdown_timeout_secs = 999999\n")],
            &[],
            &[
                "`worker_graceful_shutdown_timeout_secs`",
                "999999",
                "file {dir}/x.toml",
                "from 0 to 86400",
            ],
        ),
        case(
            "port out of range",
            &[],
            &[("DYN_SYSTEM_PORT", "70000")],
            &[
                "`system_port`",
                "\"70000\"",
                "environment variable DYN_SYSTEM_PORT",
                "too large",
                "0 to 65535",
            ],
        ),
        case(
            "not a boolean",
            &[],
            &[("DYN_COMPUTE_PIN_THREADS", "maybe")],
            &[
                "`compute_pin_threads`",
                "\"maybe\"",
                "environment variable DYN_COMPUTE_PIN_THREADS",
                "not a boolean",
            ],
        ),
        case(
            "unknown health status",
            &[("a.toml", "system_starting_health_status = \"sleepy\"\n")],
            &[],
            &[
                "`system_starting_health_status`",
                "\"sleepy\"",
                "file {dir}/a.toml",
                "\"ready\" or \"notready\"",
            ],
        ),
        case(
            "thread prefix with a space",
            &[],
            &[("DYN_COMPUTE_THREAD_PREFIX", "my pool")],
            &[
                "`compute_thread_prefix`",
                "\"my pool\"",
                "environment variable DYN_COMPUTE_THREAD_PREFIX",
                "1 to 32 characters",
            ],
        ),
        case(
            "health and live paths equal",
            &[("a.toml", "system_live_path = \"/health\"\n")],
            &[],
            &[
                "`system_live_path`",
                "\"/health\"",
                "file {dir}/a.toml",
                "different from system_health_path",
            ],
        ),
        case(
            "spin time over range",
            &[],
            &[("DYN_COMPUTE_BRIDGE_SPIN_US", "5000")],
            &[
                "`compute_bridge_spin_us`",
                "5000",
                "environment variable DYN_COMPUTE_BRIDGE_SPIN_US",
                "0 to 1000",
            ],
        ),
        case(
            "HTTP shutdown grace of 0 (variable)",
            &[],
            &[("DYN_HTTP_SHUTDOWN_GRACE_SECS", "0")],
            &[
                "`http_shutdown_grace_secs`",
                "value 0 ",
                "environment variable DYN_HTTP_SHUTDOWN_GRACE_SECS",
                "out of range",
                "from 1 to 3600",
            ],
        ),
        case(
            "HTTP header limit below 1 KiB (file, with a suffix)",
            &[("a.toml", "http_max_header_bytes = \"512B\"\n")],
            &[],
            &[
                "`http_max_header_bytes`",
                "value 512 ",
                "file {dir}/a.toml",
                "from 1024 to 262144",
            ],
        ),
        case(
            "HTTP body limit that is not a size (variable)",
            &[],
            &[("DYN_HTTP_MAX_BODY_BYTES", "2 parsecs")],
            &[
                "`http_max_body_bytes`",
                "\"2 parsecs\"",
                "environment variable DYN_HTTP_MAX_BODY_BYTES",
                "KiB/MiB/GiB suffix",
            ],
        ),
    ];
    #[cfg(unix)]
    cases.push(Case {
        name: "non-UTF-8 variable value",
        system: vec![],
        env: vec![("DYN_COMPUTE_THREAD_PREFIX", not_utf8())],
        expect: vec![
            "environment variable DYN_COMPUTE_THREAD_PREFIX",
            "key `compute_thread_prefix`",
            "not valid UTF-8",
            "cpu",
        ],
    });
    cases
}

#[test]
fn every_bad_input_names_key_value_and_source() {
    let cases = table();
    assert!(cases.len() >= 12);
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let dir_str = dir.path().display().to_string();
        let err = match run(case, dir.path()) {
            Ok(config) => panic!("case {:?}: expected an error, got {config}", case.name),
            Err(err) => err.to_string(),
        };
        eprintln!("{}: {err}", case.name);
        for want in &case.expect {
            let want = want.replace("{dir}", &dir_str);
            assert!(
                err.contains(&want),
                "case {:?}: message lacks {want:?}:\n{err}",
                case.name
            );
        }
    }
}

#[test]
fn invalid_value_errors_carry_structured_fields() {
    let err = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map([("DYN_RUNTIME_NUM_WORKER_THREADS", "0")])
        .load()
        .unwrap_err();
    match err {
        ConfigError::InvalidValue {
            key, value, origin, ..
        } => {
            assert_eq!(key, "num_worker_threads");
            assert_eq!(value, "0");
            assert_eq!(origin, Origin::Env("DYN_RUNTIME_NUM_WORKER_THREADS".into()));
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn empty_variable_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.toml");
    std::fs::write(&file, "http_port = 9000\n").unwrap();
    let config = ConfigLoader::new()
        .system_files([&file])
        .env_map([
            ("DYN_RUNTIME_MAX_BLOCKING_THREADS", ""),
            ("DYN_HTTP_PORT", ""),
            ("DYN_RUNTIME_CONFIG_FILE", ""),
        ])
        .load()
        .unwrap();
    assert_eq!(config.max_blocking_threads, 512);
    assert_eq!(
        config.origin_of("max_blocking_threads"),
        Some(Origin::Default)
    );
    // An empty variable does not erase what a file set either.
    assert_eq!(config.http_port, 9000);
    assert_eq!(config.origin_of("http_port"), Some(Origin::File(file)));
}

#[test]
fn unknown_dyn_variables_are_not_errors() {
    let config = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map([
            ("DYN_COMPUTE_THREAD", "3"),
            ("DYN_UNRELATED_TOOL_SETTING", "debug"),
            ("PATH", "/bin"),
        ])
        .load()
        .unwrap();
    assert_eq!(config, rt_config::RuntimeConfig::default());
}

/// A named file that cannot be looked up for another reason than being absent (here a symlink
/// loop; also a directory on the way that cannot be searched) is reported with the operating
/// system's reason, not as "does not exist".
#[cfg(unix)]
#[test]
fn an_explicit_file_that_cannot_be_looked_up_is_a_read_error_not_missing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    for err in [
        ConfigLoader::new()
            .system_files::<[&str; 0], &str>([])
            .env_map([("DYN_RUNTIME_CONFIG_FILE", a.as_os_str())])
            .load()
            .unwrap_err(),
        ConfigLoader::new().system_files([&a]).load().unwrap_err(),
    ] {
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&a.display().to_string()), "{text}");
        assert!(!text.contains("does not exist"), "{text}");
    }
}

#[test]
fn a_file_that_is_not_utf8_says_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runtime.toml");
    std::fs::write(&file, b"http_port = 9000 # \xff\xfe\n").unwrap();
    let err = ConfigLoader::new()
        .system_files([&file])
        .load()
        .unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("system config file list"), "{text}");
    assert!(text.contains("keep the file UTF-8 text"), "{text}");
}

/// Issue 12, defect 6: two keys that must differ are reported against the key the user set
/// (its value and source), and the message names the other key, its value and source. Before
/// the fix, `DYN_SYSTEM_HEALTH_PATH=/live` was reported against `system_live_path` "from
/// built-in default" and never named the variable.
#[test]
fn a_conflict_names_the_key_that_was_set_and_the_other_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.toml");
    std::fs::write(&file, "system_live_path = \"/probe\"\n").unwrap();
    /// The variables, the system files, then the key, value and origin blamed, and how the
    /// other key must be mentioned ("": no conflict expected).
    type Conflict<'a> = (
        &'a [(&'a str, &'a str)],
        &'a [&'a Path],
        Blamed<'a>,
        &'a str,
    );
    type Blamed<'a> = (&'a str, &'a str, Origin);
    let cases: [Conflict<'_>; 4] = [
        // The variable names the default of the other key.
        (
            &[("DYN_SYSTEM_HEALTH_PATH", "/live")],
            &[],
            (
                "system_health_path",
                "\"/live\"",
                Origin::Env("DYN_SYSTEM_HEALTH_PATH".into()),
            ),
            "`system_live_path` (\"/live\" from built-in default)",
        ),
        (
            &[("DYN_SYSTEM_LIVE_PATH", "/health")],
            &[],
            (
                "system_live_path",
                "\"/health\"",
                Origin::Env("DYN_SYSTEM_LIVE_PATH".into()),
            ),
            "`system_health_path` (\"/health\" from built-in default)",
        ),
        // A variable overrides a file: the variable is blamed, the file is mentioned.
        (
            &[("DYN_SYSTEM_HEALTH_PATH", "/probe")],
            &[file.as_path()],
            (
                "system_health_path",
                "\"/probe\"",
                Origin::Env("DYN_SYSTEM_HEALTH_PATH".into()),
            ),
            "`system_live_path` (\"/probe\" from file ",
        ),
        // A file whose value meets a default.
        (
            &[("DYN_SYSTEM_LIVE_PATH", "")],
            &[file.as_path()],
            ("system_live_path", "\"/probe\"", Origin::File(file.clone())),
            "",
        ),
    ];
    for (env, files, (key, value, origin), other) in cases {
        let loaded = ConfigLoader::new()
            .system_files(files.iter().copied())
            .env_map(env.iter().copied())
            .load();
        if other.is_empty() {
            // "/probe" differs from the default health path: no conflict.
            assert!(loaded.is_ok(), "{loaded:?}");
            continue;
        }
        let err = loaded.unwrap_err();
        let text = err.to_string();
        match &err {
            ConfigError::InvalidValue {
                key: k,
                value: v,
                origin: o,
                ..
            } => {
                assert_eq!((*k, v.as_str(), o), (key, value, &origin), "{text}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(text.contains(&format!("from {origin}")), "{text}");
        assert!(text.contains(other), "{text}");
        assert!(
            !text.contains(&format!("`{key}` from built-in default")),
            "{text}"
        );
    }

    // In code, the setter called last is the one blamed.
    let err = rt_config::RuntimeConfig::builder()
        .system_live_path("/x")
        .system_health_path("/x")
        .build()
        .unwrap_err();
    assert_eq!(err.key(), Some("system_health_path"), "{err}");
    assert!(err.to_string().contains("`system_live_path`"), "{err}");
}

/// Issue 12, defect 7: a host that is neither an IP address nor an RFC 1123 host name is a
/// configuration error naming key, value and source, for every host key and every source.
/// Before the fix `DYN_HTTP_HOST=256.1.1.1` loaded, and the bind failed later.
#[test]
fn a_host_that_is_neither_an_address_nor_a_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (key, var) in [
        ("system_host", "DYN_SYSTEM_HOST"),
        ("http_host", "DYN_HTTP_HOST"),
    ] {
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "999",
            "my_host",
            "-edge.example.com",
            "a..b",
            "[::1]",
        ] {
            let err = ConfigLoader::new()
                .system_files::<[&str; 0], &str>([])
                .env_map([(var, bad)])
                .load()
                .unwrap_err();
            let text = err.to_string();
            assert_eq!(err.key(), Some(key), "{text}");
            assert!(text.contains(&format!("{bad:?}")), "{text}");
            assert!(
                text.contains(&format!("environment variable {var}")),
                "{text}"
            );
            assert!(
                text.contains("neither an IP address nor a valid host name"),
                "{text}"
            );

            let file = dir.path().join("hosts.toml");
            std::fs::write(&file, format!("{key} = {bad:?}\n")).unwrap();
            let err = ConfigLoader::new()
                .system_files([&file])
                .load()
                .unwrap_err();
            let text = err.to_string();
            assert_eq!(err.key(), Some(key), "{text}");
            assert!(text.contains(&format!("file {}", file.display())), "{text}");
        }
        for good in ["0.0.0.0", "::1", "localhost", "edge-1.example.com"] {
            let config = ConfigLoader::new()
                .system_files::<[&str; 0], &str>([])
                .env_map([(var, good)])
                .load()
                .unwrap();
            assert!(config.explain().contains(&format!("{key} = {good:?}")));
        }
    }
    let err = rt_config::RuntimeConfig::builder()
        .http_host("256.1.1.1")
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("Rust code (RuntimeConfigBuilder)"),
        "{err}"
    );
}
