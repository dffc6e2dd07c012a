//! `cargo xtask bench [--quick] [BENCH...]`: runs the criterion benchmarks of `rt-benches`,
//! collects their summary figures and writes `target/xtask/bench-summary.json`.
//!
//! Convention for bench binaries: when `RT_BENCH_JSONL` is set, a bench appends one JSON
//! object per line to that file, each top-level key a section (`{"bridge": {...}}`); when
//! `RT_BENCH_QUICK` is `1` it shortens its run. This command merges the sections into the
//! summary file, replacing sections of the same name and keeping the others (so benches run
//! separately accumulate), and prints them as a table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::json::{self, Json};
use crate::{cargo, workspace_root};

const USAGE: &str = "usage: cargo xtask bench [--quick] [BENCH...]\n\
    \n  --quick   shorter runs (about a minute of measuring)\
    \n  BENCH     bench targets of rt-benches to run (default: all)\n";

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
    let summary = summary_path();
    let dir = summary.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lines = dir.join("bench-lines.jsonl");
    if lines.exists() {
        std::fs::remove_file(&lines)
            .map_err(|e| format!("cannot remove {}: {e}", lines.display()))?;
    }

    let mut base = vec!["bench".to_owned(), "-p".into(), "rt-benches".into()];
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
        Ok(old) => match json::parse(&old) {
            Ok(v @ Json::Obj(_)) => v,
            _ => {
                eprintln!(
                    "xtask: {} was not a JSON object; starting afresh",
                    summary.display()
                );
                Json::Obj(Vec::new())
            }
        },
        Err(_) => Json::Obj(Vec::new()),
    };
    let mut fresh = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v =
            json::parse(line).map_err(|e| format!("{} line {}: {e}", lines.display(), n + 1))?;
        let Json::Obj(sections) = v else {
            return Err(format!(
                "{} line {}: not a JSON object",
                lines.display(),
                n + 1
            ));
        };
        for (k, v) in sections {
            merged.set(&k, v);
            fresh.push(k);
        }
    }
    std::fs::write(&summary, merged.pretty())
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

fn num(v: &Json, section: &str, key: &str) -> Option<f64> {
    v.get(section)?.get(key)?.num()
}

/// `1234567.0` -> `"1.23 ms"`.
fn dur(ns: f64) -> String {
    if !ns.is_finite() {
        "-".into()
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

fn print_table(v: &Json, fresh: &[String]) {
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
    // Sections this command has no layout for: key = value.
    const KNOWN: [&str; 6] = [
        "bridge",
        "large_job",
        "parallel_map",
        "saturation",
        "tracker",
        "shutdown",
    ];
    if let Json::Obj(sections) = v {
        for (name, body) in sections
            .iter()
            .filter(|(n, _)| !KNOWN.contains(&n.as_str()))
        {
            let tag = if fresh.contains(name) {
                ""
            } else {
                " (from an earlier run)"
            };
            println!("\n{name}{tag}:");
            if let Json::Obj(kv) = body {
                for (k, x) in kv {
                    match x.num() {
                        Some(n) if k.ends_with("_ns") => println!("  {k:<40} {}", dur(n)),
                        Some(n) => println!("  {k:<40} {n:.3}"),
                        None => println!("  {k:<40} {}", x.pretty().trim_end()),
                    }
                }
            }
        }
        let earlier: Vec<&str> = sections
            .iter()
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
}

/// `1.234` -> `"1.23x"`; `-` when missing.
fn times(r: Option<f64>) -> String {
    r.filter(|r| r.is_finite())
        .map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

fn print_tracker(v: &Json) {
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

fn print_shutdown(v: &Json) {
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
