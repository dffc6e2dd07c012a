//! `cargo xtask cluster`: installs etcd when missing (the set-up step), builds `rt-demo` with
//! its `etcd` feature in release mode and runs `demo-cluster`: a real etcd on loopback, three
//! `demo-service` workers, a `demo-router`, concurrent clients, a rolling restart and a
//! `kill -9` under load, and the table of what the clients saw. The driver's exit status is
//! passed through (non-zero when a request was lost outside the `kill -9` row or a client saw
//! an error). Extra arguments go to the driver: `--workers N --duration SECS --clients N`, and
//! `--netns` (each worker in a network namespace of its own on a bridge; needs root and
//! iproute2).

use std::process::Command;

use crate::{build_release, setup};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    setup::ensure()?;
    let bin = build_release(&["-p", "rt-demo", "--features", "etcd"])?;
    let driver = bin.join("demo-cluster");
    let etcd = std::env::var("RT_ETCD_BIN").unwrap_or_else(|_| "etcd".to_owned());
    let status = Command::new(&driver)
        .arg("--service")
        .arg(bin.join("demo-service"))
        .arg("--router")
        .arg(bin.join("demo-router"))
        .args(["--etcd", &etcd])
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", driver.display()))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => Err(format!("{} was killed by a signal", driver.display())),
    }
}
