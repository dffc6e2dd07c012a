//! `cargo xtask demo`: builds the demo service and its driver in release mode, runs the driver
//! and passes its exit code through.
//!
//! The driver starts `demo-service` on loopback ports, loads it for a few seconds, sends
//! SIGTERM with requests in flight and prints a table of what the shutdown did (see
//! `crates/rt-demo/src/driver/`). Extra arguments go to the driver, e.g.
//! `cargo xtask demo --clients 64 --duration 5`.

use std::process::Command;

use crate::build_release;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let bin = build_release(&["-p", "rt-demo"])?;
    let driver = bin.join("demo-driver");
    let service = bin.join("demo-service");
    let status = Command::new(&driver)
        .arg("--service")
        .arg(&service)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", driver.display()))?;
    match status.code() {
        Some(0) => Ok(()),
        // Pass the driver's verdict through as the exit status.
        Some(code) => std::process::exit(code),
        None => Err(format!("{} was killed by a signal", driver.display())),
    }
}
