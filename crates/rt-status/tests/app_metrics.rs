//! Application metrics registered on the runtime appear on `/metrics` (over real loopback
//! HTTP) next to the runtime's and the endpoints', and the whole text passes a strict
//! OpenMetrics parse.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rt_core::config::RuntimeConfig;
use rt_core::metrics::prometheus_client::metrics::counter::Counter;
use rt_core::metrics::prometheus_client::metrics::family::Family;
use rt_core::metrics::prometheus_client::metrics::gauge::Gauge;
use rt_core::metrics::prometheus_client::metrics::histogram::Histogram;
use rt_core::metrics::prometheus_client::registry::Unit;
use rt_core::{Runtime, RuntimeError};
use rt_status::{StatusOptions, StatusServer};

/// Sends one `GET` and reads the answer to the end; (head, body).
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

// ----- a strict OpenMetrics text parser (the rules Prometheus applies to this format) -----

/// Label pairs of one sample, in order.
type Labels = Vec<(String, String)>;

/// Per series of a histogram: its buckets (`le`, cumulative count) and its `_count`.
type Buckets = BTreeMap<Labels, (Vec<(f64, f64)>, Option<f64>)>;

#[derive(Debug)]
struct Fam {
    kind: String,
    unit: Option<String>,
    help: bool,
    /// (sample name, labels, value)
    samples: Vec<(String, Labels, f64)>,
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `{a="x",b="y"} rest` -> labels and rest.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((Vec::new(), s));
    };
    let mut labels = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    '"' => value.push('"'),
                    '\\' => value.push('\\'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, '\n') => return Err("newline in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} twice"));
        }
        labels.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by ','".into());
        }
    }
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// The suffixes a sample of a family of `kind` may have.
fn suffixes(kind: &str) -> &'static [&'static str] {
    match kind {
        "counter" => &["_total", "_created"],
        "gauge" | "unknown" => &[""],
        "histogram" => &["_bucket", "_count", "_sum", "_created"],
        "info" => &["_info"],
        _ => &[],
    }
}

/// Parses `text` strictly; returns its families by name.
fn parse_openmetrics(text: &str) -> Result<BTreeMap<String, Fam>, String> {
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("no `# EOF` line at the end")?;
    let mut families: BTreeMap<String, Fam> = BTreeMap::new();
    let mut closed: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    for (n, line) in body.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.is_empty() {
            return Err(at("empty line".into()));
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let arg = parts.next();
            if !is_name(name) {
                return Err(at(format!("bad family name {name:?}")));
            }
            if current.as_deref() != Some(name) {
                if families.contains_key(name) {
                    return Err(at(format!("family {name} appears twice")));
                }
                if let Some(prev) = current.take() {
                    closed.insert(prev);
                }
                families.insert(
                    name.to_owned(),
                    Fam {
                        kind: "unknown".into(),
                        unit: None,
                        help: false,
                        samples: Vec::new(),
                    },
                );
                current = Some(name.to_owned());
            }
            let family = families.get_mut(name).unwrap();
            if !family.samples.is_empty() {
                return Err(at("metadata after samples".into()));
            }
            match kind {
                "TYPE" => {
                    let t = arg.ok_or_else(|| at("TYPE without a type".into()))?;
                    if ![
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "stateset",
                        "info",
                        "summary",
                        "unknown",
                    ]
                    .contains(&t)
                    {
                        return Err(at(format!("unknown type {t}")));
                    }
                    family.kind = t.to_owned();
                }
                "HELP" => family.help = true,
                "UNIT" => {
                    let u = arg.ok_or_else(|| at("UNIT without a unit".into()))?;
                    if !name.ends_with(&format!("_{u}")) {
                        return Err(at(format!("family {name} does not end with its unit {u}")));
                    }
                    family.unit = Some(u.to_owned());
                }
                other => return Err(at(format!("unknown metadata {other}"))),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("comment that is not HELP, TYPE or UNIT".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        let (labels, rest) = parse_labels(&line[name_end..]).map_err(at)?;
        let mut rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?
            .split(' ');
        let value = parse_value(rest.next().unwrap_or("")).map_err(at)?;
        if rest.next().is_some_and(|t| t.parse::<f64>().is_err()) {
            return Err(at("trailing text that is not a timestamp".into()));
        }
        let family_name = current
            .clone()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        let family = families.get_mut(&family_name).unwrap();
        let suffix = name
            .strip_prefix(family_name.as_str())
            .ok_or_else(|| at(format!("sample {name} outside its family {family_name}")))?;
        if !suffixes(&family.kind).contains(&suffix) {
            return Err(at(format!(
                "suffix {suffix:?} not allowed for a {}",
                family.kind
            )));
        }
        if family.kind == "counter" && value.is_nan() || value < 0.0 {
            return Err(at("negative counter".into()));
        }
        if family
            .samples
            .iter()
            .any(|(n, l, _)| n == name && *l == labels)
        {
            return Err(at("the same series twice".into()));
        }
        family.samples.push((name.to_owned(), labels, value));
    }
    for (name, family) in &families {
        if !family.help {
            return Err(format!("family {name} has no HELP"));
        }
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(families)
}

/// Per series (labels without `le`): buckets in increasing `le`, cumulative, ending at
/// `+Inf`, whose count equals `_count`.
fn check_histogram(name: &str, family: &Fam) -> Result<(), String> {
    let key = |labels: &[(String, String)]| -> Vec<(String, String)> {
        labels.iter().filter(|(n, _)| n != "le").cloned().collect()
    };
    let mut series: Buckets = BTreeMap::new();
    for (sample, labels, value) in &family.samples {
        let entry = series.entry(key(labels)).or_default();
        if sample.ends_with("_bucket") {
            let le = labels
                .iter()
                .find(|(n, _)| n == "le")
                .ok_or(format!("{name}: bucket without le"))?;
            entry.0.push((parse_value(&le.1)?, *value));
        } else if sample.ends_with("_count") {
            entry.1 = Some(*value);
        }
    }
    for (labels, (buckets, count)) in series {
        let ctx = format!("{name}{labels:?}");
        if buckets
            .windows(2)
            .any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1)
        {
            return Err(format!("{ctx}: buckets not increasing and cumulative"));
        }
        match buckets.last() {
            Some((le, n)) if le.is_infinite() && Some(*n) == count => {}
            _ => return Err(format!("{ctx}: no +Inf bucket equal to _count")),
        }
    }
    Ok(())
}

fn value(families: &BTreeMap<String, Fam>, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families
        .values()
        .flat_map(|f| &f.samples)
        .find_map(|(n, l, v)| {
            let same = l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, x)| l.iter().any(|(a, b)| a == k && b == x));
            (n == sample && same).then_some(*v)
        })
}

#[test]
fn the_parser_rejects_what_the_format_forbids() {
    let ok = "# HELP a x\n# TYPE a counter\na_total 1\n# EOF\n";
    assert!(parse_openmetrics(ok).is_ok());
    for bad in [
        "# HELP a x\n# TYPE a counter\na_total 1\n",                        // no EOF
        "# HELP a x\n# TYPE a counter\na 1\n# EOF\n",                       // counter without _total
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n# TYPE a gauge\n# EOF\n", // family twice
        "# HELP a x\n# TYPE a gauge\na{b=\"1\"} 1\na{b=\"1\"} 2\n# EOF\n",  // series twice
        "# HELP a x\n# TYPE a gauge\n# UNIT a seconds\na 1\n# EOF\n",       // unit not in name
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n# EOF\n",
        "# TYPE a gauge\na 1\n# EOF\n",                                      // no HELP
    ] {
        assert!(parse_openmetrics(bad).is_err(), "accepted: {bad:?}");
    }
}

#[test]
fn application_metrics_appear_on_metrics_and_parse_strictly() {
    let config = RuntimeConfig::builder()
        .num_worker_threads(2)
        .compute_threads(1)
        .build()
        .unwrap();
    let runtime = Runtime::from_config(config).unwrap();
    let status = StatusServer::start_with(&runtime, StatusOptions::new("127.0.0.1", 0)).unwrap();
    let metrics = runtime.metrics();

    let jobs: Counter = Counter::default();
    metrics
        .register("myapp_jobs", "Jobs accepted.", jobs.clone())
        .unwrap();
    let latency = Histogram::new([0.01, 0.1, 1.0]);
    metrics
        .register_with_unit(
            "myapp_job_latency",
            "Job latency.",
            Unit::Seconds,
            latency.clone(),
        )
        .unwrap();
    let cache: Gauge = Gauge::default();
    metrics
        .register_with_labels(
            "myapp_cache_entries",
            "Entries \"cached\".",
            &[("cache", "kv\\1")],
            cache.clone(),
        )
        .unwrap();
    let by_model: Family<Vec<(String, String)>, Counter> = Family::default();
    metrics
        .register("myapp_tokens", "Tokens by model.", by_model.clone())
        .unwrap();
    let scrapes = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&scrapes);
    let refreshed = cache.clone();
    metrics.on_scrape(move || {
        refreshed.set(i64::try_from(seen.fetch_add(1, Ordering::SeqCst) + 1).unwrap_or(0));
    });

    jobs.inc_by(3);
    latency.observe(0.05);
    latency.observe(2.0);
    by_model
        .get_or_create(&vec![("model".into(), "llama".into())])
        .inc_by(7);

    // An endpoint, so that the per-endpoint families are there too; the scrape waits until
    // its task has recorded its one request (the task runs on the runtime, not here).
    let rt = runtime.clone();
    let (recorded, was_recorded) = std::sync::mpsc::channel();
    let endpoint = runtime
        .primary()
        .block_on(async move {
            rt.endpoint("generate")
                .namespace("dynamo")
                .component("backend")
                .start(|ctx| async move {
                    ctx.begin_tracked_request()?.finish();
                    let _ = recorded.send(());
                    ctx.cancelled().await;
                    Ok::<(), RuntimeError>(())
                })
        })
        .unwrap();
    was_recorded
        .recv_timeout(Duration::from_secs(10))
        .expect("the endpoint recorded its request");

    let (head, text) = get(status.local_addr(), "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    let families = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

    assert_eq!(value(&families, "myapp_jobs_total", &[]), Some(3.0));
    assert_eq!(
        families["myapp_job_latency_seconds"].unit.as_deref(),
        Some("seconds")
    );
    assert_eq!(
        value(&families, "myapp_job_latency_seconds_count", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &families,
            "myapp_job_latency_seconds_bucket",
            &[("le", "0.1")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&families, "myapp_cache_entries", &[("cache", "kv\\1")]),
        Some(1.0),
        "the callback ran before the scrape"
    );
    assert_eq!(
        value(&families, "myapp_tokens_total", &[("model", "llama")]),
        Some(7.0)
    );
    let endpoint_labels = [
        ("endpoint", "generate"),
        ("namespace", "dynamo"),
        ("component", "backend"),
    ];
    let mut with_outcome = endpoint_labels.to_vec();
    with_outcome.push(("outcome", "ok"));
    assert_eq!(
        value(
            &families,
            "dyn_runtime_endpoint_requests_total",
            &with_outcome
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &families,
            "dyn_runtime_endpoint_in_flight_requests",
            &[("endpoint", "generate")]
        ),
        Some(0.0)
    );
    for family in [
        "dyn_runtime_uptime_seconds",
        "dyn_runtime_tokio_workers",
        "dyn_runtime_event_loop_lateness_seconds",
        "dyn_runtime_compute_threads",
        "dyn_runtime_http_requests_admitted",
    ] {
        assert!(families.contains_key(family), "no {family} in\n{text}");
    }
    assert_eq!(
        value(
            &families,
            "dyn_runtime_tokio_workers",
            &[("runtime", "primary")]
        ),
        Some(2.0)
    );

    // A second scrape runs the callback again.
    let (_, text) = get(status.local_addr(), "/metrics");
    let families = parse_openmetrics(&text).unwrap();
    assert_eq!(
        value(&families, "myapp_cache_entries", &[("cache", "kv\\1")]),
        Some(2.0)
    );

    let report = runtime.primary().block_on(runtime.shutdown_and_wait(None));
    assert!(report.is_clean(), "{report}");
    drop(endpoint);
}

#[test]
fn duplicate_and_reserved_names_are_error_values() {
    let runtime = Runtime::from_config(
        RuntimeConfig::builder()
            .num_worker_threads(1)
            .compute_threads(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    let metrics = runtime.metrics();
    metrics
        .register("svc_requests", "x", Counter::<u64>::default())
        .unwrap();
    for again in [
        metrics.register("svc_requests", "x", Counter::<u64>::default()),
        metrics.register("svc_requests", "x", Gauge::<i64>::default()),
        metrics.register_with_labels("svc_requests", "x", &[("a", "b")], Gauge::<i64>::default()),
    ] {
        let err = again.unwrap_err();
        assert!(
            matches!(err, RuntimeError::MetricAlreadyRegistered { ref name } if name == "svc_requests"),
            "{err}"
        );
        assert!(err.to_string().contains("already registered"), "{err}");
    }
    // The unit is part of the family name.
    metrics
        .register_with_unit("svc_wait", "x", Unit::Seconds, Gauge::<i64>::default())
        .unwrap();
    assert!(metrics
        .register("svc_wait_seconds", "x", Gauge::<i64>::default())
        .is_err());
    for (name, what) in [
        ("dyn_runtime_uptime_seconds", "reserved"),
        ("2fast", "bad first character"),
        ("a-b", "bad character"),
        ("svc_done_total", "counter with _total"),
    ] {
        let err = metrics
            .register(name, "x", Counter::<u64>::default())
            .unwrap_err();
        assert!(
            matches!(err, RuntimeError::InvalidMetricName { .. }),
            "{what}: {err}"
        );
    }
    let err = metrics
        .register_with_labels("svc_x", "x", &[("bad-label", "v")], Gauge::<i64>::default())
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::InvalidMetricName { .. }),
        "{err}"
    );
    // The text still parses: nothing half-registered.
    parse_openmetrics(&metrics.render().unwrap()).unwrap();
}
