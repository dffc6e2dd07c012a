//! `cargo xtask bench [--quick] [BENCH...]`: runs the criterion benchmarks of `rt-benches`,
//! collects their summary figures and writes `target/xtask/bench-summary.json`.
//!
//! Convention for bench binaries: when `RT_BENCH_JSONL` is set, a bench appends one JSON
//! object per line to that file, each top-level key a section (`{"bridge": {...}}`); when
//! `RT_BENCH_QUICK` is `1` it shortens its run. This command merges the sections into the
//! summary file, replacing sections of the same name and keeping the others (so benches run
//! separately accumulate), and prints them as a table.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::Value;

use crate::{cargo, workspace_root};

const USAGE: &str = "usage: cargo xtask bench [--quick] [BENCH...]\n\
    \n  --quick   shorter runs (about a minute of measuring)\
    \n  BENCH     bench targets of rt-benches to run (default: all)\
    \n\
    \n  `discovery` runs against a real etcd: it needs the `etcd` server (or RT_ETCD_BIN) and\
    \n  `protoc`; without them it is skipped, saying so (`cargo xtask setup` installs both).\n";

/// The bench that needs etcd and protoc, and the rt-benches feature that builds it.
const DISCOVERY: &str = "discovery";

/// Where the summary lives.
pub(crate) fn summary_path() -> PathBuf {
    workspace_root()
        .join("target")
        .join("xtask")
        .join("bench-summary.json")
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut benches = Vec::new();
    for a in args {
        match a.as_str() {
            "--quick" => quick = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`\n{USAGE}")),
            s => benches.push(s.to_owned()),
        }
    }
    // The discovery bench is built only with its feature, and only when its tools are here.
    let mut features = None;
    if benches.is_empty() || benches.iter().any(|b| b == DISCOVERY) {
        match missing_discovery_tools() {
            None => features = Some(DISCOVERY),
            Some(missing) => {
                println!(
                    "xtask: bench `{DISCOVERY}` skipped: {missing} not found \
                     (`cargo xtask setup` installs them; RT_ETCD_BIN names another etcd)"
                );
                benches.retain(|b| b != DISCOVERY);
                if args.iter().any(|a| a == DISCOVERY) && benches.is_empty() {
                    return Ok(());
                }
            }
        }
    }
    let summary = summary_path();
    let dir = summary.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lines = dir.join("bench-lines.jsonl");
    if lines.exists() {
        std::fs::remove_file(&lines)
            .map_err(|e| format!("cannot remove {}: {e}", lines.display()))?;
    }

    let mut base = vec!["bench".to_owned(), "-p".into(), "rt-benches".into()];
    if let Some(f) = features {
        base.push("--features".into());
        base.push(f.into());
    }
    for b in &benches {
        base.push("--bench".into());
        base.push(b.clone());
    }

    // Compile first, so that the run's time is the measuring alone.
    let t = Instant::now();
    let mut build = base.clone();
    build.push("--no-run".into());
    run_cargo(&build, &lines, quick)?;
    let compiled = t.elapsed();

    let t = Instant::now();
    run_cargo(&base, &lines, quick)?;
    let measured = t.elapsed();

    let text = std::fs::read_to_string(&lines).map_err(|e| {
        format!(
            "the benches wrote no figures to {} ({e}); do they honour RT_BENCH_JSONL?",
            lines.display()
        )
    })?;
    let mut merged = match std::fs::read_to_string(&summary) {
        Ok(old) => serde_json::from_str::<Summary>(&old).unwrap_or_else(|e| {
            eprintln!(
                "xtask: {} is not a JSON object of sections ({e}); starting afresh",
                summary.display()
            );
            Summary::default()
        }),
        Err(_) => Summary::default(),
    };
    let fresh = merge(&mut merged, &text).map_err(|e| format!("{}: {e}", lines.display()))?;
    let pretty = serde_json::to_string_pretty(&merged)
        .map_err(|e| format!("cannot render {}: {e}", summary.display()))?;
    std::fs::write(&summary, pretty + "\n")
        .map_err(|e| format!("cannot write {}: {e}", summary.display()))?;

    print_table(&merged, &fresh);
    println!(
        "\n{} run: compiled in {:.1?}, measured in {:.1?} (compile time excluded). Summary: {}",
        if quick { "quick" } else { "full" },
        compiled,
        measured,
        summary.display()
    );
    Ok(())
}

/// What the discovery bench lacks (`etcd`, `protoc`), if anything: each is run with
/// `--version`, `etcd` as `RT_ETCD_BIN` names it when set (as the bench's fixture does).
fn missing_discovery_tools() -> Option<String> {
    let etcd = std::env::var_os("RT_ETCD_BIN").unwrap_or_else(|| "etcd".into());
    let protoc = std::env::var_os("PROTOC").unwrap_or_else(|| "protoc".into());
    let runs = |program: &std::ffi::OsStr| {
        std::process::Command::new(program)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<String> = [("etcd", etcd), ("protoc", protoc)]
        .into_iter()
        .filter(|(_, program)| !runs(program))
        .map(|(name, program)| {
            if program == name {
                format!("`{name}`")
            } else {
                format!("`{name}` ({})", program.to_string_lossy())
            }
        })
        .collect();
    (!missing.is_empty()).then(|| missing.join(" and "))
}

/// A JSON object whose members keep the order they were written in: the summary's sections in
/// the order they were first measured, each section's figures in the order its bench wrote
/// them. (`serde_json::Map` sorts its keys unless serde_json's `preserve_order` feature is on,
/// and that feature would reorder the JSON of every crate built together with xtask.)
#[derive(Debug, PartialEq)]
struct Object<V>(Vec<(String, V)>);

/// One section: figure name to value.
type Section = Object<Value>;
/// `bench-summary.json`: section name to section.
type Summary = Object<Section>;

impl<V> Default for Object<V> {
    fn default() -> Self {
        Object(Vec::new())
    }
}

impl<V> Object<V> {
    fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, replacing an existing member in place (so it keeps its position).
    fn set(&mut self, key: String, value: V) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Object<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for Members<V> {
            type Value = Object<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<V>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Object(members))
            }
        }

        deserializer.deserialize_map(Members(PhantomData))
    }
}

impl<V: Serialize> Serialize for Object<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// Merges the sections of `lines` (one JSON object of sections per line; blank lines skipped)
/// into `summary`, a section of the same name replacing the old one in place. Returns the
/// names of the sections the lines held, in order.
fn merge(summary: &mut Summary, lines: &str) -> Result<Vec<String>, String> {
    let mut fresh = Vec::new();
    for (n, line) in lines
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let sections: Summary =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        for (name, section) in sections.0 {
            summary.set(name.clone(), section);
            fresh.push(name);
        }
    }
    Ok(fresh)
}

fn run_cargo(args: &[String], lines: &Path, quick: bool) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(args)
        .current_dir(workspace_root())
        .env("RT_BENCH_JSONL", lines)
        .env("RT_BENCH_QUICK", if quick { "1" } else { "0" });
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn num(v: &Summary, section: &str, key: &str) -> Option<f64> {
    v.get(section)?.get(key)?.as_f64()
}

/// `1234567.0` -> `"1.23 ms"`.
fn dur(ns: f64) -> String {
    if !ns.is_finite() {
        "-".into()
    } else if ns < 0.0 {
        format!("-{}", dur(-ns))
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} us", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn print_table(v: &Summary, fresh: &[String]) {
    if v.get("bridge").is_some() {
        let ours = num(v, "bridge", "ours_ns").unwrap_or(f64::NAN);
        println!("\nBridge: round trip of a trivial job from a tokio task (per job, one run)");
        println!(
            "  {:<44} {:>11} {:>11} {:>12}",
            "path", "median", "p99", "ours/this"
        );
        let rows = [
            ("ours", "rt-compute execute (one hop)"),
            ("double_hop", "reference: tokio_rayon::spawn + install"),
            ("tokio_rayon", "tokio_rayon spawn_async, same pool"),
            ("spawn_blocking", "tokio::task::spawn_blocking"),
            ("inline", "inline (no offload)"),
        ];
        for (key, label) in rows {
            let m = num(v, "bridge", &format!("{key}_ns")).unwrap_or(f64::NAN);
            let p = num(v, "bridge", &format!("{key}_p99_ns")).unwrap_or(f64::NAN);
            let ratio = if key == "ours" || key == "inline" {
                "".to_owned()
            } else {
                format!("{:.3}x", ours / m)
            };
            println!("  {label:<44} {:>11} {:>11} {ratio:>12}", dur(m), dur(p));
        }
        if let (Some(dh), Some(sb)) = (
            num(v, "bridge", "double_hop_ns"),
            num(v, "bridge", "spawn_blocking_ns"),
        ) {
            println!(
                "  targets: ours <= 0.35x double hop: {}; ours <= 0.5x spawn_blocking: {}",
                verdict(ours / dh <= 0.35),
                verdict(ours / sb <= 0.5)
            );
        }
    }
    if let Some(o) = num(v, "large_job", "overhead_pct") {
        println!(
            "\nLarge job (2 ms of work): ours {} vs inline {}: overhead {o:.2} % (target < 1 %: {})",
            dur(num(v, "large_job", "ours_ns").unwrap_or(f64::NAN)),
            dur(num(v, "large_job", "inline_ns").unwrap_or(f64::NAN)),
            verdict(o < 1.0)
        );
        if let Some(f) = num(v, "large_job", "plain_thread_overhead_pct") {
            println!(
                "  this machine's floor: the same job on a plain std thread over a channel: {} (overhead {f:.2} %)",
                dur(num(v, "large_job", "plain_thread_ns").unwrap_or(f64::NAN)),
            );
        }
    }
    if let Some(r) = num(v, "parallel_map", "ratio_vs_par_iter") {
        println!(
            "parallel_map vs raw par_iter, same pool: {} vs {}: throughput {r:.3}x (target >= 0.95x: {})",
            dur(num(v, "parallel_map", "ours_ns").unwrap_or(f64::NAN)),
            dur(num(v, "parallel_map", "par_iter_ns").unwrap_or(f64::NAN)),
            verdict(r >= 0.95)
        );
    }
    if let Some(r) = num(v, "saturation", "ratio_vs_spawn_blocking") {
        println!(
            "Saturation, 10,000 concurrent small jobs: ours {} vs spawn_blocking {}: time ratio {r:.3} (lower is better)",
            dur(num(v, "saturation", "ours_ns").unwrap_or(f64::NAN)),
            dur(num(v, "saturation", "spawn_blocking_ns").unwrap_or(f64::NAN)),
        );
    }
    print_tracker(v);
    print_shutdown(v);
    print_http(v);
    print_observability(v);
    print_router(v);
    print_discovery(v);
    // Sections this command has no layout for: key = value.
    const KNOWN: [&str; 10] = [
        "bridge",
        "large_job",
        "parallel_map",
        "saturation",
        "tracker",
        "shutdown",
        "http",
        "observability",
        "router",
        DISCOVERY,
    ];
    for (name, body) in v.0.iter().filter(|(n, _)| !KNOWN.contains(&n.as_str())) {
        let tag = if fresh.contains(name) {
            ""
        } else {
            " (from an earlier run)"
        };
        println!("\n{name}{tag}:");
        for (k, x) in &body.0 {
            match x.as_f64() {
                Some(n) if k.ends_with("_ns") => println!("  {k:<40} {}", dur(n)),
                Some(n) => println!("  {k:<40} {n:.3}"),
                None => println!("  {k:<40} {x:#}"),
            }
        }
    }
    let earlier: Vec<&str> =
        v.0.iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| KNOWN.contains(n) && !fresh.iter().any(|f| f == n))
            .collect();
    if !earlier.is_empty() {
        println!(
            "\nFrom an earlier run, not measured now: {}",
            earlier.join(", ")
        );
    }
}

/// `1.234` -> `"1.23x"`; `-` when missing.
fn times(r: Option<f64>) -> String {
    r.filter(|r| r.is_finite())
        .map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

fn print_tracker(v: &Summary) {
    if v.get("tracker").is_none() {
        return;
    }
    let ns = |key: &str| dur(num(v, "tracker", key).unwrap_or(f64::NAN));
    println!("\nTracker: register + drop of one request's guard (median per operation)");
    println!("  {:<44} {:>11} {:>11}", "path", "uncontended", "2 threads");
    let rows = [
        ("class", "rt-shutdown TaskClass::register"),
        ("named", "rt-shutdown register_task(name)"),
        ("task_tracker", "tokio-util TaskTracker::token (baseline)"),
    ];
    for (key, label) in rows {
        println!(
            "  {label:<44} {:>11} {:>11}",
            ns(&format!("{key}_ns")),
            ns(&format!("{key}_2t_ns"))
        );
    }
    let class = (
        num(v, "tracker", "ratio_uncontended"),
        num(v, "tracker", "ratio_2_threads"),
    );
    println!(
        "  {:<44} {:>11} {:>11}",
        "ratio TaskClass / TaskTracker",
        times(class.0),
        times(class.1)
    );
    println!(
        "  {:<44} {:>11} {:>11}",
        "ratio register_task(name) / TaskTracker",
        times(num(v, "tracker", "named_ratio_uncontended")),
        times(num(v, "tracker", "named_ratio_2_threads"))
    );
    if let (Some(a), Some(b)) = class {
        println!(
            "  target: TaskClass <= 1.2x TaskTracker, uncontended and with 2 threads: {}",
            verdict(a <= 1.2 && b <= 1.2)
        );
    }
}

fn print_shutdown(v: &Summary) {
    if v.get("shutdown").is_none() {
        return;
    }
    let get = |key: &str| num(v, "shutdown", key).unwrap_or(f64::NAN);
    let n = get("in_flight");
    let ms = get("request_ms");
    println!("\nShutdown (per shutdown)");
    println!("  {:<64} {:>11} {:>11}", "case", "median", "p99");
    let rows = [
        (
            "signal_to_exit",
            "SIGTERM to process exit (Worker, nothing in flight)".to_owned(),
        ),
        (
            "coordinator_idle",
            "ShutdownCoordinator::shutdown_and_wait, nothing in flight".to_owned(),
        ),
        (
            "extra_beyond_longest",
            format!("{n:.0} in flight x {ms:.0} ms: extra beyond the longest request"),
        ),
        (
            "runtime_extra_beyond_longest",
            "  the same through Runtime and a graceful endpoint".to_owned(),
        ),
    ];
    for (key, label) in rows {
        println!(
            "  {label:<64} {:>11} {:>11}",
            dur(get(&format!("{key}_ns"))),
            dur(get(&format!("{key}_p99_ns")))
        );
    }
}

/// `12345.0` -> `"12.06 KiB"`; `-` when missing.
fn bytes(b: f64) -> String {
    if !b.is_finite() {
        "-".into()
    } else if b >= 1024.0 {
        format!("{:.2} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn print_http(v: &Summary) {
    if v.get("http").is_none() {
        return;
    }
    let get = |key: &str| num(v, "http", key).unwrap_or(f64::NAN);
    println!(
        "\nHTTP: rt_http::serve vs plain axum::serve, same router and runtime shape \
         ({:.0} keep-alive connections, medians of {:.0} rounds of {:.0} ms; memory at {:.0} \
         requests in flight)",
        get("connections"),
        get("rounds"),
        get("round_ms"),
        get("in_flight")
    );
    println!(
        "  {:<28} {:>12} {:>11} {:>11} {:>12} {:>14}",
        "server", "req/s", "p50", "p99", "CPU/req", "mem/in-flight"
    );
    for (key, label) in [
        ("rt_http", "rt_http::serve"),
        ("axum", "axum::serve (baseline)"),
    ] {
        let mem = if key == "rt_http" {
            get("memory_per_in_flight_bytes")
        } else {
            get("axum_memory_per_in_flight_bytes")
        };
        println!(
            "  {label:<28} {:>12.0} {:>11} {:>11} {:>12} {:>14}",
            get(&format!("{key}_rps")),
            dur(get(&format!("{key}_p50_ns"))),
            dur(get(&format!("{key}_p99_ns"))),
            dur(get(&format!("{key}_cpu_per_request_ns"))),
            bytes(mem)
        );
    }
    let ratio = num(v, "http", "ratio_vs_axum");
    println!(
        "  {:<28} {:>12} {:>11} {:>11} {:>12} {:>14}",
        "ratio rt_http / axum",
        times(ratio),
        "",
        "",
        times(num(v, "http", "cpu_ratio_vs_axum")),
        times(num(v, "http", "memory_ratio_vs_axum"))
    );
    let mem = num(v, "http", "memory_per_in_flight_bytes");
    println!(
        "  targets: throughput >= 0.95x axum: {}; memory per in-flight request <= 12 KiB: {}",
        ratio.map_or("-", |r| verdict(r >= 0.95)),
        mem.map_or("-", |m| verdict(m <= 12.0 * 1024.0))
    );
}

fn print_observability(v: &Summary) {
    if v.get("observability").is_none() {
        return;
    }
    let get = |key: &str| num(v, "observability", key).unwrap_or(f64::NAN);
    println!(
        "\nObservability: rt_http::serve with per-endpoint metrics and request ids on vs off, same runtime \
         ({:.0} keep-alive connections, medians of {:.0} rounds of {:.0} ms)",
        get("connections"),
        get("rounds"),
        get("round_ms")
    );
    println!("  {:<44} {:>12} {:>12}", "server", "req/s", "CPU/req");
    for (key, label) in [
        ("metrics_on", "metrics and request ids on"),
        ("metrics_off", "metrics and request ids off"),
    ] {
        println!(
            "  {label:<44} {:>12.0} {:>12}",
            get(&format!("{key}_rps")),
            dur(get(&format!("{key}_cpu_per_request_ns")))
        );
    }
    let ratio = num(v, "observability", "metrics_ratio");
    println!(
        "  {:<44} {:>12} {:>12}",
        "ratio on / off (throughput), cost (CPU)",
        times(ratio),
        dur(get("metrics_cpu_cost_per_request_ns"))
    );
    println!(
        "  {:<44} {:>12} {:>12}",
        "JSON log line per request: ratio, cost",
        times(num(v, "observability", "log_line_ratio")),
        dur(get("log_line_cpu_cost_per_request_ns"))
    );
    println!(
        "  target: throughput with metrics and request ids >= 0.97x without: {}",
        ratio.map_or("-", |r| verdict(r >= 0.97))
    );
}

fn print_router(v: &Summary) {
    if v.get("router").is_none() {
        return;
    }
    let get = |key: &str| num(v, "router", key).unwrap_or(f64::NAN);
    println!(
        "\nRouter: one request-plane worker, called through rt_discovery::Router vs directly \
         (medians of {:.0} rounds; latency: one caller, {:.0} calls per round; throughput: {:.0} callers)",
        get("rounds"),
        get("calls_per_round"),
        get("callers")
    );
    println!(
        "  {:<44} {:>10} {:>10} {:>12} {:>10}",
        "path", "p50", "p99", "calls/s", "ratio"
    );
    let rows = [
        ("direct_", "direct POST (baseline)", None),
        (
            "library_",
            "Router::send in the caller",
            Some("library_ratio"),
        ),
        ("hop_direct_", "direct POST (baseline, hop rounds)", None),
        (
            "hop_",
            "through a router process (gateway)",
            Some("hop_ratio"),
        ),
    ];
    for (prefix, label, ratio) in rows {
        println!(
            "  {label:<44} {:>10} {:>10} {:>12.0} {:>10}",
            dur(get(&format!("{prefix}p50_ns"))),
            dur(get(&format!("{prefix}p99_ns"))),
            get(&format!("{prefix}rps")),
            times(ratio.and_then(|k| num(v, "router", k)))
        );
    }
    if num(v, "router", "hop_10ms_ratio").is_some() {
        for (key, label, ratio) in [
            (
                "hop_10ms_direct_rps",
                "direct POST, worker takes 10 ms (baseline)",
                None,
            ),
            (
                "hop_10ms_rps",
                "through a router process, worker takes 10 ms",
                Some("hop_10ms_ratio"),
            ),
        ] {
            println!(
                "  {label:<44} {:>10} {:>10} {:>12.0} {:>10}",
                "-",
                "-",
                get(key),
                times(ratio.and_then(|k| num(v, "router", k)))
            );
        }
    }
    let added = get("library_added_p50_ns");
    let ratio = num(v, "router", "library_ratio");
    println!(
        "  router adds {} at p50, {} at p99 (target <= 150 us at p50: {}); throughput {} direct \
         (target >= 0.8x: {})",
        dur(added),
        dur(get("library_added_p99_ns")),
        verdict(added <= 150e3),
        times(ratio),
        ratio.map_or("-", |r| verdict(r >= 0.8))
    );
    println!(
        "  a router process in between adds {} at p50, {} at p99; throughput {} answering at \
         once, {} when the worker takes 10 ms (no target: on one machine the hop's server and \
         client share the cores with both ends)",
        dur(get("hop_added_p50_ns")),
        dur(get("hop_added_p99_ns")),
        times(num(v, "router", "hop_ratio")),
        times(num(v, "router", "hop_10ms_ratio"))
    );
    if let Some(errors) = num(v, "router", "restart_errors") {
        println!(
            "  rolling restart of {:.0} workers under {:.0} callers: {:.0} sent, {:.0} completed, \
             {errors:.0} errors ({:.0} lost after sending), {:.0} retried, {} (target: no error: {})",
            get("restart_workers"),
            get("restart_callers"),
            get("restart_sent"),
            get("restart_completed"),
            get("restart_lost"),
            get("restart_retries"),
            dur(get("restart_ns")),
            verdict(errors == 0.0 && get("restart_sent") > 0.0)
        );
    }
}

fn print_discovery(v: &Summary) {
    if v.get(DISCOVERY).is_none() {
        return;
    }
    let get = |key: &str| num(v, DISCOVERY, key).unwrap_or(f64::NAN);
    println!("\nDiscovery: a real etcd on loopback, a worker and a router's watching client");
    println!(
        "  {:<56} {:>11} {:>11} {:>18}",
        "case", "p50", "p99", "goal"
    );
    let ms10 = 10e6;
    let rows = [
        (
            "register",
            "registration visible, from the start of accepting",
            Some(("p50 <= 10 ms", get("register_p50_ns") <= ms10)),
        ),
        ("deregister", "Registration::deregister visible", None),
        (
            "shutdown",
            "deregistration visible, from shutdown() (SIGTERM)",
            Some(("p50 <= 10 ms", get("shutdown_p50_ns") <= ms10)),
        ),
        (
            "drain_step",
            "  its drain step's time in the shutdown report",
            None,
        ),
        (
            "keepalive_late",
            "keep-alive lateness, primary and pool saturated",
            Some(("p99 <= 50 ms", get("keepalive_late_p99_ns") <= 50e6)),
        ),
    ];
    for (key, label, goal) in rows {
        let goal = goal.map_or(String::new(), |(text, ok)| {
            format!("{text}: {}", verdict(ok))
        });
        println!(
            "  {label:<56} {:>11} {:>11} {goal:>18}",
            dur(get(&format!("{key}_p50_ns"))),
            dur(get(&format!("{key}_p99_ns"))),
        );
    }
    let ttl = get("crash_ttl_ns");
    let max = get("crash_max_ns");
    println!(
        "  {:<56} {:>11} {:>11} {:>18}",
        format!("kill -9 to removal (TTL {:.0} s), p50 and max", ttl / 1e9),
        dur(get("crash_p50_ns")),
        dur(max),
        format!("max <= TTL + 0.5 s: {}", verdict(max <= ttl + 0.5e9)),
    );
}

#[cfg(test)]
mod tests {
    use super::{merge, Summary};

    #[test]
    fn merge_keeps_the_order_and_replaces_sections_in_place() {
        let mut summary: Summary =
            serde_json::from_str(r#"{"tracker": {"b_ns": 2, "a_ns": 1}, "zeta": {"x": "y"}}"#)
                .unwrap();
        let lines =
            "{\"tracker\": {\"z_ns\": 3.500, \"a\": null}}\n\n{\"http\": {\"ratio\": 0.970}}\n";
        assert_eq!(merge(&mut summary, lines).unwrap(), ["tracker", "http"]);
        let names: Vec<&str> = summary.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["tracker", "zeta", "http"]);
        let tracker = summary.get("tracker").unwrap();
        let keys: Vec<&str> = tracker.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z_ns", "a"]);
        assert_eq!(tracker.get("z_ns").and_then(|v| v.as_f64()), Some(3.5));

        let text = serde_json::to_string_pretty(&summary).unwrap();
        assert!(text.starts_with("{\n  \"tracker\": {\n    \"z_ns\": 3.5,\n    \"a\": null\n  },"));
        assert_eq!(serde_json::from_str::<Summary>(&text).unwrap(), summary);
    }

    #[test]
    fn a_line_that_is_not_an_object_of_sections_is_named() {
        let mut summary = Summary::default();
        let err = merge(&mut summary, "{\"a\": {}}\n[1, 2]\n").unwrap_err();
        assert!(err.starts_with("line 2: "), "{err}");
        let err = merge(&mut summary, "{\"a\": 3}").unwrap_err();
        assert!(err.starts_with("line 1: "), "{err}");
    }
}
