//! The tools the tests need besides Rust, installed when missing.
//!
//! The etcd backend of `rt-discovery` is tested against a real `etcd` server, and its gRPC
//! client is generated at build time by `protoc`. On a fresh machine neither is there: this
//! step finds them on `PATH` or installs them from Debian's packages (`etcd-server`,
//! `protobuf-compiler`), saying what it installs. Without root (or without `apt-get`) it
//! stops with the exact command to run instead.

use std::process::Command;

/// One tool: the program looked up on `PATH` and the Debian package that ships it.
struct Tool {
    program: &'static str,
    package: &'static str,
    why: &'static str,
}

const TOOLS: [Tool; 2] = [
    Tool {
        program: "etcd",
        package: "etcd-server",
        why: "the etcd server the discovery tests run against",
    },
    Tool {
        program: "protoc",
        package: "protobuf-compiler",
        why: "the protobuf compiler the etcd client's build needs",
    },
];

/// Makes sure every tool is on `PATH`, installing the missing ones.
///
/// # Errors
///
/// A message naming the missing packages and the command that installs them, when they are
/// missing and cannot be installed here (not root, no `apt-get`, or the install failed).
pub(crate) fn ensure() -> Result<(), String> {
    let missing: Vec<&Tool> = TOOLS.iter().filter(|t| !on_path(t.program)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    let command = format!(
        "apt-get update && apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    );
    for t in &missing {
        eprintln!(
            "setup: `{}` is missing: installing Debian package `{}` ({})",
            t.program, t.package, t.why
        );
    }
    if !is_root() || !on_path("apt-get") {
        return Err(format!(
            "missing {}; install them as root with:\n    {command}",
            packages.join(", ")
        ));
    }
    run("apt-get", &["update", "-q"], &command)?;
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(packages.iter().copied());
    run("apt-get", &install, &command)?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|t| !on_path(t.program))
        .map(|t| t.program)
        .collect();
    if still.is_empty() {
        eprintln!("setup: installed {}", packages.join(", "));
        Ok(())
    } else {
        Err(format!(
            "after installing {}, still not on PATH: {}",
            packages.join(", "),
            still.join(", ")
        ))
    }
}

fn run(program: &str, args: &[&str], command: &str) -> Result<(), String> {
    let status = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("cannot run {program}: {e}; run yourself:\n    {command}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed ({status}); run yourself:\n    {command}",
            args.join(" ")
        ))
    }
}

/// Whether `program` is an executable file in one of `PATH`'s folders.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let candidate = dir.join(program);
            candidate.is_file() && is_executable(&candidate)
        })
    })
}

#[cfg(unix)]
fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &std::path::Path) -> bool {
    true
}

/// Whether this process runs as root (`id -u` prints 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_on_path_is_found_and_a_made_up_one_is_not() {
        assert!(on_path("sh"));
        assert!(!on_path("no-such-program-rt-xtask"));
    }

    #[test]
    fn every_tool_names_its_package() {
        for t in &TOOLS {
            assert!(!t.package.is_empty() && !t.why.is_empty(), "{}", t.program);
        }
    }
}
