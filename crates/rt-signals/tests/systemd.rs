//! The `systemd` feature against a notification socket this test creates.
//!
//! `NOTIFY_SOCKET` and the watchdog variables are process-wide, and one test sends a signal to
//! the process, so every test holds `SERIAL`; this file is its own test binary so that no other
//! test sees the variables.
#![cfg(all(unix, feature = "systemd"))]
// Test helpers outside `#[test]` fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rt_signals::{systemd, SignalKind, SignalListener};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

static SERIAL: Mutex<()> = Mutex::const_new(());

/// A bound on a datagram that must come: a failure guard, not a wait that hopes.
const GUARD: Duration = Duration::from_secs(30);

/// A datagram socket standing in for systemd, named by `NOTIFY_SOCKET` while it lives.
struct FakeSystemd {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl FakeSystemd {
    fn start() -> FakeSystemd {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(GUARD)).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        FakeSystemd {
            socket,
            _dir: dir,
            path,
        }
    }

    fn recv(&self) -> String {
        let mut buf = [0u8; 512];
        let n = self.socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn nothing_pending(&self) -> bool {
        self.socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        let empty = self.socket.recv(&mut buf).is_err();
        self.socket.set_nonblocking(false).unwrap();
        empty
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        std::env::remove_var("NOTIFY_SOCKET");
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn ready_stopping_status_and_watchdog_reach_the_socket() {
    let _serial = SERIAL.blocking_lock();
    let systemd = FakeSystemd::start();
    assert!(systemd::is_available());
    systemd::notify_ready().unwrap();
    assert_eq!(systemd.recv(), "READY=1\n");
    systemd::notify_stopping().unwrap();
    assert_eq!(systemd.recv(), "STOPPING=1\n");
    systemd::notify_watchdog().unwrap();
    assert_eq!(systemd.recv(), "WATCHDOG=1\n");
    systemd::notify_status("draining\nREADY=1").unwrap();
    assert_eq!(systemd.recv(), "STATUS=draining READY=1\n");
}

#[test]
fn everything_is_a_no_op_without_notify_socket() {
    let _serial = SERIAL.blocking_lock();
    std::env::remove_var("NOTIFY_SOCKET");
    assert!(!systemd::is_available());
    systemd::notify_ready().unwrap();
    systemd::notify_stopping().unwrap();
    systemd::notify_watchdog().unwrap();
}

#[test]
fn a_socket_that_is_gone_is_an_error_value() {
    let _serial = SERIAL.blocking_lock();
    let systemd = FakeSystemd::start();
    std::fs::remove_file(&systemd.path).unwrap();
    let err = systemd::notify_ready().unwrap_err();
    assert!(err.to_string().contains("READY=1"), "{err}");
    assert!(err.to_string().contains("NOTIFY_SOCKET"), "{err}");
}

#[tokio::test]
async fn the_first_signal_sends_stopping() {
    let _serial = SERIAL.lock().await;
    let systemd = FakeSystemd::start();
    let (tx, mut forced) = tokio::sync::mpsc::unbounded_channel();
    let listener = SignalListener::builder()
        .force_exit_hook(move |f| tx.send(f).unwrap())
        .install()
        .unwrap();
    kill(Pid::this(), Signal::SIGTERM).unwrap();
    let first = tokio::time::timeout(GUARD, listener.graceful_requested())
        .await
        .unwrap();
    assert_eq!(first, Some(SignalKind::Terminate));
    assert_eq!(systemd.recv(), "STOPPING=1\n");
    // A second signal forces the exit; it does not send STOPPING again.
    kill(Pid::this(), Signal::SIGINT).unwrap();
    let second = tokio::time::timeout(GUARD, forced.recv()).await.unwrap();
    assert_eq!(second.unwrap().second, SignalKind::Interrupt);
    assert!(systemd.nothing_pending());
}

#[test]
fn watchdog_interval_reads_the_environment() {
    let _serial = SERIAL.blocking_lock();
    let pid = std::process::id().to_string();
    std::env::set_var("WATCHDOG_USEC", "3000000");
    std::env::set_var("WATCHDOG_PID", &pid);
    assert_eq!(systemd::watchdog_interval(), Some(Duration::from_secs(3)));
    std::env::remove_var("WATCHDOG_PID");
    assert_eq!(systemd::watchdog_interval(), Some(Duration::from_secs(3)));
    std::env::set_var("WATCHDOG_PID", "1");
    assert_eq!(
        systemd::watchdog_interval(),
        None,
        "meant for another process"
    );
    std::env::set_var("WATCHDOG_PID", &pid);
    std::env::set_var("WATCHDOG_USEC", "0");
    assert_eq!(systemd::watchdog_interval(), None);
    std::env::set_var("WATCHDOG_USEC", "soon");
    assert_eq!(systemd::watchdog_interval(), None);
    std::env::remove_var("WATCHDOG_USEC");
    std::env::remove_var("WATCHDOG_PID");
    assert_eq!(systemd::watchdog_interval(), None);
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_pings_at_half_the_interval_until_cancelled() {
    let _serial = SERIAL.lock().await;
    let systemd = FakeSystemd::start();
    std::env::set_var("WATCHDOG_USEC", "10000000"); // 10 s: a ping every 5 s
    std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
    let cancel = CancellationToken::new();
    let task = systemd::spawn_watchdog(cancel.clone()).unwrap();
    std::env::remove_var("WATCHDOG_USEC");
    std::env::remove_var("WATCHDOG_PID");

    // The first ping goes out at once.
    tokio::task::yield_now().await;
    assert_eq!(systemd.recv(), "WATCHDOG=1\n");
    assert!(systemd.nothing_pending());
    for _ in 0..3 {
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert!(systemd.nothing_pending(), "no ping before 5 s");
        tokio::time::advance(Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        assert_eq!(systemd.recv(), "WATCHDOG=1\n");
    }
    cancel.cancel();
    task.await.unwrap();
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(systemd.nothing_pending());
}

#[tokio::test]
async fn the_watchdog_returns_at_once_when_not_configured() {
    let _serial = SERIAL.lock().await;
    std::env::remove_var("WATCHDOG_USEC");
    systemd::run_watchdog(CancellationToken::new()).await;
}
