//! [`Etcd`]: a real etcd on free ports of one local address (loopback, or the `--netns`
//! bridge's) with a temporary data dir, stopped by its pid.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::client;
use crate::process::ServiceProcess;
use crate::DemoError;

/// A running etcd (killed by pid on drop, with its data dir removed).
pub struct Etcd {
    process: ServiceProcess,
    host: IpAddr,
    client_port: u16,
    _data: tempfile::TempDir,
}

fn free_port(host: IpAddr) -> Result<u16, DemoError> {
    let port = TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .map_err(|source| DemoError::Bind {
            addr: format!("{host}:0"),
            source,
        })?
        .port();
    Ok(port)
}

impl Etcd {
    /// Starts `bin` (an `etcd` binary) listening on `host` and waits (at most 20 s) until
    /// `/health` answers.
    ///
    /// # Errors
    ///
    /// [`DemoError::Spawn`] when it cannot start, [`DemoError::WaitTimeout`] when it does not
    /// become healthy.
    pub fn start(bin: &PathBuf, host: IpAddr) -> Result<Self, DemoError> {
        let data = tempfile::tempdir().map_err(|source| DemoError::Spawn {
            program: "a temporary directory for etcd".to_owned(),
            source,
        })?;
        let (c, p, m) = (free_port(host)?, free_port(host)?, free_port(host)?);
        let mut command = Command::new(bin);
        command
            .args(["--name", "cluster", "--data-dir"])
            .arg(data.path().join("data"))
            .arg(format!("--listen-client-urls=http://{host}:{c}"))
            .arg(format!("--advertise-client-urls=http://{host}:{c}"))
            .arg(format!("--listen-peer-urls=http://{host}:{p}"))
            .arg(format!("--initial-advertise-peer-urls=http://{host}:{p}"))
            .arg(format!("--initial-cluster=cluster=http://{host}:{p}"))
            .arg(format!("--listen-metrics-urls=http://{host}:{m}"));
        let process = ServiceProcess::spawn(command)?;
        let etcd = Self {
            process,
            host,
            client_port: c,
            _data: data,
        };
        let started = Instant::now();
        let addr = SocketAddr::new(host, c);
        while started.elapsed() < Duration::from_secs(20) {
            if client::get(addr, "/health", Duration::from_secs(1)).is_ok_and(|r| r.status == 200) {
                return Ok(etcd);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(DemoError::WaitTimeout {
            what: format!("etcd on {addr} to become healthy"),
            after: Duration::from_secs(20),
        })
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("http://{}", SocketAddr::new(self.host, self.client_port))
    }

    /// Stops it (SIGTERM, then waits at most 10 s; the drop kills it if needed).
    pub fn stop(mut self) {
        let _ = self.process.signal(Signal::SIGTERM);
        let _ = self.process.wait_exit(Duration::from_secs(10));
    }
}
