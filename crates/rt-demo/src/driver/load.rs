//! The threads that load the service: the work [`Clients`] (each in a closed loop, one
//! request per connection) and the health [`Prober`]. Each hands back what it saw once
//! stopped: [`ClientCounts`] and the [`Probe`]s.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::options::Options;
use crate::client::{self, Response};
use crate::protocol::{WorkRequest, WorkResponse};
use crate::DemoError;

/// Bound of one request, its send delay included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a client pauses after a refusal (so that it does not spin on a closed port).
const AFTER_REFUSAL: Duration = Duration::from_millis(50);
/// Time between two health probes.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// What the clients saw, once they stopped.
#[derive(Debug, Default)]
pub(super) struct ClientCounts {
    pub(super) sent: u64,
    pub(super) ok: u64,
    pub(super) refused_503: u64,
    pub(super) refused_connect: u64,
    pub(super) refused_unanswered: u64,
    pub(super) other_status: u64,
    pub(super) unexpected: u64,
    pub(super) first_unexpected: Option<String>,
    /// Per 200: (bridge overhead, submit to start, end to resume), µs.
    pub(super) overhead_us: Vec<(u64, u64, u64)>,
}

/// The clients' counts while they run.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    in_flight: AtomicU64,
    ok: AtomicU64,
    refused_503: AtomicU64,
    refused_connect: AtomicU64,
    refused_unanswered: AtomicU64,
    other_status: AtomicU64,
    unexpected: AtomicU64,
    overhead_us: Mutex<Vec<(u64, u64, u64)>>,
    first_unexpected: Mutex<Option<String>>,
}

impl Tally {
    fn note_unexpected(&self, what: String) {
        self.unexpected.fetch_add(1, Ordering::SeqCst);
        let mut first = self
            .first_unexpected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(what);
    }

    /// Counts one request's result; `true` when it was refused (or failed before an answer).
    fn record(&self, result: Result<Response, DemoError>, in_drain: bool) -> bool {
        match result {
            Ok(r) if r.status == 200 => {
                self.ok.fetch_add(1, Ordering::SeqCst);
                match r.json::<WorkResponse>() {
                    Ok(w) => self
                        .overhead_us
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((
                            w.bridge_overhead_us,
                            w.submit_to_start_us,
                            w.end_to_resume_us,
                        )),
                    Err(e) => self.note_unexpected(e.to_string()),
                }
                false
            }
            Ok(r) if r.status == 503 && in_drain => {
                self.refused_503.fetch_add(1, Ordering::SeqCst);
                true
            }
            Ok(r) => {
                self.other_status.fetch_add(1, Ordering::SeqCst);
                self.note_unexpected(format!(
                    "status {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
                false
            }
            Err(e) if e.is_refusal() && in_drain => {
                match e {
                    DemoError::Connect { .. } => &self.refused_connect,
                    _ => &self.refused_unanswered,
                }
                .fetch_add(1, Ordering::SeqCst);
                true
            }
            Err(e) => {
                self.note_unexpected(e.to_string());
                true
            }
        }
    }

    fn counts(&self) -> ClientCounts {
        let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let taken = |m: &Mutex<Vec<(u64, u64, u64)>>| {
            std::mem::take(&mut *m.lock().unwrap_or_else(PoisonError::into_inner))
        };
        ClientCounts {
            sent: n(&self.sent),
            ok: n(&self.ok),
            refused_503: n(&self.refused_503),
            refused_connect: n(&self.refused_connect),
            refused_unanswered: n(&self.refused_unanswered),
            other_status: n(&self.other_status),
            unexpected: n(&self.unexpected),
            first_unexpected: self
                .first_unexpected
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            overhead_us: taken(&self.overhead_us),
        }
    }
}

/// The clients' state shared with the driver.
#[derive(Default)]
struct Shared {
    tally: Tally,
    /// Set at the SIGTERM: refusals are expected from then on.
    draining: AtomicBool,
    stop: AtomicBool,
}

/// The running work clients: one thread each, in a closed loop of `POST /work` until
/// stopped. Dropping them without [`stop`](Self::stop) lets the threads end on their own.
pub(super) struct Clients {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What the progress display shows.
pub(super) struct Live {
    pub(super) sent: u64,
    pub(super) ok: u64,
    pub(super) in_flight: u64,
    pub(super) refused: u64,
}

impl Clients {
    /// Starts `o.clients` clients against `addr`, their first requests spread over one mean
    /// wait (a steady load rather than one burst of jobs queueing on the pool at once).
    pub(super) fn start(addr: SocketAddr, o: &Options) -> Self {
        let shared = Arc::new(Shared::default());
        let threads = (0..o.clients)
            .map(|i| {
                let client = Client {
                    addr,
                    cpu_ms: o.cpu_ms,
                    wait_ms: o.wait_ms,
                    send_delay: o.send_delay,
                    rng: Rng(0x2545_F491_4F6C_DD1D ^ ((i as u64 + 1) * 0x9E37_79B9)),
                    first_after: Duration::from_millis(
                        (o.wait_ms.0 + o.wait_ms.1) / 2 * i as u64 / o.clients.max(1) as u64,
                    ),
                };
                let shared = Arc::clone(&shared);
                thread::spawn(move || client.run(&shared))
            })
            .collect();
        Clients { shared, threads }
    }

    pub(super) fn live(&self) -> Live {
        let t = &self.shared.tally;
        let n = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Live {
            sent: n(&t.sent),
            ok: n(&t.ok),
            in_flight: n(&t.in_flight),
            refused: n(&t.refused_503) + n(&t.refused_connect) + n(&t.refused_unanswered),
        }
    }

    /// Marks the drain as started (from now on a refusal is expected, not an error) and
    /// returns how many requests are in flight.
    pub(super) fn drain_started(&self) -> u64 {
        let in_flight = self.shared.tally.in_flight.load(Ordering::SeqCst);
        self.shared.draining.store(true, Ordering::SeqCst);
        in_flight
    }

    /// Stops the clients, waits for each to finish its request, and returns their counts.
    pub(super) fn stop(mut self) -> ClientCounts {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shared.tally.counts()
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// One client's settings.
struct Client {
    addr: SocketAddr,
    cpu_ms: (u64, u64),
    wait_ms: (u64, u64),
    send_delay: Duration,
    rng: Rng,
    /// When to send the first request.
    first_after: Duration,
}

impl Client {
    fn run(mut self, shared: &Shared) {
        thread::sleep(self.first_after);
        let tally = &shared.tally;
        while !shared.stop.load(Ordering::SeqCst) {
            let req = WorkRequest {
                cpu_ms: self.rng.in_range(self.cpu_ms),
                wait_ms: self.rng.in_range(self.wait_ms),
            };
            tally.sent.fetch_add(1, Ordering::SeqCst);
            tally.in_flight.fetch_add(1, Ordering::SeqCst);
            let result = client::request_after(
                self.addr,
                "POST",
                "/work",
                Some(req.to_json().as_bytes()),
                self.send_delay,
                REQUEST_TIMEOUT,
            );
            tally.in_flight.fetch_sub(1, Ordering::SeqCst);
            if tally.record(result, shared.draining.load(Ordering::SeqCst)) {
                thread::sleep(AFTER_REFUSAL);
            }
        }
    }
}

/// A small deterministic generator (xorshift), one per client.
struct Rng(u64);

impl Rng {
    fn in_range(&mut self, (a, b): (u64, u64)) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        a + self.0 % (b - a + 1)
    }
}

/// One health probe.
#[derive(Clone, Copy, Debug)]
pub(super) struct Probe {
    pub(super) at: Instant,
    pub(super) status: Option<u16>,
}

/// A thread that probes `/health` every 20 ms until stopped.
pub(super) struct Prober {
    probes: Arc<Mutex<Vec<Probe>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    pub(super) fn start(status: SocketAddr) -> Self {
        let probes: Arc<Mutex<Vec<Probe>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (probes, stop) = (Arc::clone(&probes), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let status = client::get(status, "/health", Duration::from_secs(2))
                        .ok()
                        .map(|r| r.status);
                    probes
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Probe {
                            at: Instant::now(),
                            status,
                        });
                    thread::sleep(PROBE_EVERY);
                }
            })
        };
        Prober {
            probes,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the prober and returns its probes, oldest first.
    pub(super) fn stop(mut self) -> Vec<Probe> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.probes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_stays_in_range() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..1000 {
            let n = rng.in_range((3, 7));
            assert!((3..=7).contains(&n), "{n}");
        }
        assert_eq!(rng.in_range((5, 5)), 5);
    }

    #[test]
    fn refusals_count_only_in_the_drain() {
        let tally = Tally::default();
        let refused = || {
            Err(DemoError::NoResponse {
                addr: SocketAddr::from(([127, 0, 0, 1], 1)),
                source: None,
            })
        };
        let answer = |status| {
            Ok(Response {
                status,
                body: Vec::new(),
            })
        };
        assert!(tally.record(refused(), true));
        assert!(tally.record(answer(503), true));
        assert!(tally.record(refused(), false));
        assert!(!tally.record(answer(503), false));
        let c = tally.counts();
        assert_eq!(
            (
                c.refused_unanswered,
                c.refused_503,
                c.other_status,
                c.unexpected
            ),
            (1, 1, 1, 2)
        );
        assert!(c
            .first_unexpected
            .unwrap()
            .contains("closed the connection"));
    }
}
