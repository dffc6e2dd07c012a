//! [`EtcdServer`]: a real `etcd` on free loopback ports with a temporary data dir, run under
//! `timeout` (so that an aborted test leaves no orphan) and stopped by its pid.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The hint printed (or raised, under CI) when `etcd` is missing.
pub const INSTALL_HINT: &str =
    "etcd not found: install it (Debian: `apt-get install -y etcd-server`) or set RT_ETCD_BIN";

pub struct EtcdServer {
    child: Option<Child>,
    bin: PathBuf,
    pub data: tempfile::TempDir,
    pub client_port: u16,
    peer_port: u16,
    metrics_port: u16,
}

/// The `etcd` binary: `RT_ETCD_BIN`, else `etcd` on PATH. Under CI (`CI` set) or with
/// `RT_REQUIRE_ETCD=1`, a missing binary fails the test: a skip would let a fresh CI machine go
/// green without etcd.
pub fn etcd_binary() -> Option<PathBuf> {
    let found = match std::env::var_os("RT_ETCD_BIN") {
        Some(bin) => Some(PathBuf::from(bin)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("etcd"))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        let required = std::env::var_os("CI").is_some()
            || std::env::var("RT_REQUIRE_ETCD").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{INSTALL_HINT} (required: CI or RT_REQUIRE_ETCD=1 is set)"
        );
        eprintln!("SKIPPED: {INSTALL_HINT}");
    }
    found
}

/// A loopback port free now, for etcd to bind a moment later. Taken below the kernel's
/// ephemeral range (which port-0 binds and outgoing connections draw from), so that the other
/// tests of the process, which bind port 0, cannot be handed it in between; distinct within
/// the process. Falls back to a port-0 pick when that range is too small.
fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral_low.saturating_sub(FIRST);
    if span >= 1_000 {
        let base = std::process::id().wrapping_mul(97);
        for _ in 0..span {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let Ok(port) = u16::try_from(FIRST + base.wrapping_add(n) % span) else {
                continue;
            };
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl EtcdServer {
    /// Starts etcd, or `None` (skipped) when the binary is missing outside CI.
    pub fn start() -> Option<Self> {
        let bin = etcd_binary()?;
        let mut server = Self {
            child: None,
            bin,
            data: tempfile::tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
            metrics_port: free_port(),
        };
        server.run();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Starts (or restarts, on the same data dir and ports) and waits until healthy.
    pub fn run(&mut self) {
        let (c, p, m) = (self.client_port, self.peer_port, self.metrics_port);
        let log = std::fs::File::create(self.data.path().join("etcd.log")).unwrap();
        let child = Command::new("timeout")
            .args(["-k", "5", "300"])
            .arg(&self.bin)
            .args(["--name", "t", "--data-dir"])
            .arg(self.data.path().join("data"))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{c}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{c}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{p}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{p}"
            ))
            .arg(format!("--initial-cluster=t=http://127.0.0.1:{p}"))
            .arg(format!("--listen-metrics-urls=http://127.0.0.1:{m}"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start etcd under timeout");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.healthy() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.data.path().join("etcd.log")).unwrap_or_default();
        panic!("etcd did not become healthy within 20 s; its log:\n{log}");
    }

    fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let request = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if s.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.contains("\"health\":\"true\"")
    }

    /// Stops etcd (SIGTERM through `timeout`, which forwards it) and waits for it, by pid.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}
