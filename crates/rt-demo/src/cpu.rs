//! Real CPU work of a requested length: the `cpu_ms` of a `POST /work`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

/// What a [`burn`] did.
#[derive(Clone, Debug)]
pub struct Burnt {
    /// When the job started on its thread.
    pub started: Instant,
    /// When it ended.
    pub ended: Instant,
    /// CPU time it used (the thread's CPU clock; wall time where that clock is unavailable).
    pub cpu: Duration,
    /// The value computed.
    pub checksum: u64,
    /// The thread it ran on.
    pub thread: String,
}

/// Burns `cpu` of CPU time on the calling thread: a xorshift loop, checking the thread's CPU
/// clock every few thousand rounds, so that time the thread spends preempted does not count.
/// Blocks the calling thread for at least `cpu`: call it on the compute pool, not on an
/// async worker. Never panics.
///
/// ```
/// use std::time::Duration;
/// let burnt = rt_demo::cpu::burn(Duration::from_millis(2));
/// assert!(burnt.cpu >= Duration::from_millis(2));
/// assert!(burnt.ended - burnt.started >= Duration::from_millis(2));
/// ```
pub fn burn(cpu: Duration) -> Burnt {
    let started = Instant::now();
    let clock_start = thread_cpu();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut used = Duration::ZERO;
    while used < cpu {
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x = black_box(x);
        }
        used = match (clock_start, thread_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => started.elapsed(),
        };
    }
    Burnt {
        started,
        ended: Instant::now(),
        cpu: used,
        checksum: x,
        thread: std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned(),
    }
}

fn thread_cpu() -> Option<Duration> {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}
