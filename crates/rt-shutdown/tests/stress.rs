//! Several threads register and drop guards in a loop while a waiter waits: the waiter returns
//! exactly when the last guard goes, never earlier, never missing it. Repeated many times.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use rt_shutdown::GracefulShutdownTracker;

const ROUNDS: usize = 200;
const THREADS: usize = 4;
const ITERATIONS: usize = 200;

#[test]
fn waiter_returns_exactly_when_the_last_guard_goes() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for round in 0..ROUNDS {
        let tracker = Arc::new(GracefulShutdownTracker::new());
        let class = tracker.task_class("stress");
        // Counts threads that are about to drop their last guard.
        let finishing = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(THREADS + 1));
        std::thread::scope(|s| {
            for t in 0..THREADS {
                // Each thread's base guard keeps the count above zero until it is done.
                let base = class.register().unwrap();
                let class = class.clone();
                let tracker = Arc::clone(&tracker);
                let finishing = Arc::clone(&finishing);
                let barrier = Arc::clone(&barrier);
                s.spawn(move || {
                    barrier.wait();
                    for i in 0..ITERATIONS {
                        let g = if (i + t) % 3 == 0 {
                            tracker.register_task("stress-named").unwrap()
                        } else {
                            class.register().unwrap()
                        };
                        let child = ((i + round) % 7 == 0).then(|| g.child("stress-child"));
                        drop(g);
                        drop(child);
                    }
                    finishing.fetch_add(1, Ordering::SeqCst);
                    drop(base);
                });
            }
            barrier.wait();
            // A hang guard only: every thread ends after a bounded loop.
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(60), tracker.wait_for_completion())
                    .await
                    .expect("waiter missed the last release");
            });
            // Returned no earlier than the last base guard's drop.
            assert_eq!(finishing.load(Ordering::SeqCst), THREADS, "round {round}");
            assert_eq!(tracker.get_count(), 0, "round {round}");
        });
        assert!(tracker.active_names().is_empty(), "round {round}");
    }
}
