//! The load: concurrent clients posting the demo's request shape to the router, tallied per
//! phase of the run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::client;
use crate::protocol::WorkRequest;

/// The phases a run goes through, in order; the load tallies each separately.
pub const PHASES: [&str; 4] = ["steady", "rolling restart", "drain and resume", "kill -9"];

/// One phase's tally.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Answered 200.
    pub completed: AtomicU64,
    /// Failed at a worker killed with SIGKILL after it admitted them (`upstream_failed`
    /// naming the killed instance).
    pub lost_to_crash: AtomicU64,
    /// Any other failure a client saw.
    pub client_errors: AtomicU64,
}

/// The running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// The phase requests are counted in now (index into [`PHASES`]).
    pub phase: Arc<AtomicUsize>,
    /// One tally per phase.
    pub tallies: Arc<[Tally; 4]>,
    /// The instance killed with SIGKILL (hex), once it is.
    pub killed: Arc<Mutex<Option<String>>>,
    /// The first client errors, for the report.
    pub errors: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` threads posting to `router`'s `POST /work`.
    pub fn start(router: SocketAddr, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(AtomicUsize::new(0));
        let tallies: Arc<[Tally; 4]> = Arc::new(Default::default());
        let killed = Arc::new(Mutex::new(None));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|n| {
                let (stop, phase, tallies, killed, errors) = (
                    Arc::clone(&stop),
                    Arc::clone(&phase),
                    Arc::clone(&tallies),
                    Arc::clone(&killed),
                    Arc::clone(&errors),
                );
                std::thread::spawn(move || {
                    let mut seed = 0x9E37_79B9_7F4A_7C15_u64
                        ^ (n as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    while !stop.load(Ordering::Relaxed) {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // The demo's shape: 1-4 ms of CPU, 100-800 ms of waiting.
                        let request = WorkRequest {
                            cpu_ms: 1 + seed % 4,
                            wait_ms: 100 + (seed >> 8) % 701,
                        };
                        let tally = &tallies[phase.load(Ordering::Relaxed).min(3)];
                        tally.sent.fetch_add(1, Ordering::Relaxed);
                        let answer = client::post_json(
                            router,
                            "/work",
                            &request.to_json(),
                            Duration::from_secs(30),
                        );
                        match answer {
                            Ok(r) if r.status == 200 => {
                                tally.completed.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                let text = match &other {
                                    Ok(r) => {
                                        format!("{} {}", r.status, String::from_utf8_lossy(&r.body))
                                    }
                                    Err(e) => e.to_string(),
                                };
                                let crashed = killed
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .as_ref()
                                    .is_some_and(|id: &String| {
                                        text.contains("upstream_failed")
                                            && text.contains(&format!("\"instance\":\"{id}\""))
                                    });
                                if crashed {
                                    tally.lost_to_crash.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    tally.client_errors.fetch_add(1, Ordering::Relaxed);
                                    let mut errors =
                                        errors.lock().unwrap_or_else(PoisonError::into_inner);
                                    if errors.len() < 10 {
                                        errors.push(text);
                                    }
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            phase,
            tallies,
            killed,
            errors,
            threads,
        }
    }

    /// Requests sent so far, completed so far, failures so far (all phases).
    pub fn totals(&self) -> (u64, u64, u64) {
        self.tallies.iter().fold((0, 0, 0), |(s, c, e), t| {
            (
                s + t.sent.load(Ordering::Relaxed),
                c + t.completed.load(Ordering::Relaxed),
                e + t.client_errors.load(Ordering::Relaxed)
                    + t.lost_to_crash.load(Ordering::Relaxed),
            )
        })
    }

    /// Stops the clients and waits for their last requests.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
