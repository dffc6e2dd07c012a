//! Feature `compute-validation`: the macros time their work and count misplaced tiers.
#![cfg(feature = "compute-validation")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::pool;
use rt_compute::validation::{self, stats, ValidationStats};
use rt_compute::{compute_large, compute_medium, compute_small, Tier};

/// The counters are process-wide: tests that read differences take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn delta(before: ValidationStats) -> ValidationStats {
    let a = stats();
    let mut d = ValidationStats::default();
    d.checked = a.checked - before.checked;
    d.small_too_slow = a.small_too_slow - before.small_too_slow;
    d.medium_too_fast = a.medium_too_fast - before.medium_too_fast;
    d.medium_too_slow = a.medium_too_slow - before.medium_too_slow;
    d.large_too_fast = a.large_too_fast - before.large_too_fast;
    d.inline_fallbacks = a.inline_fallbacks - before.inline_fallbacks;
    d
}

#[test]
fn thresholds_are_100us_and_1ms() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let us = Duration::from_micros;
    assert_eq!(validation::check(Tier::Small, us(99)), None);
    assert_eq!(validation::check(Tier::Small, us(100)), Some(Tier::Medium));
    assert_eq!(validation::check(Tier::Medium, us(99)), Some(Tier::Small));
    assert_eq!(validation::check(Tier::Medium, us(1000)), Some(Tier::Large));
    assert_eq!(validation::check(Tier::Large, us(999)), Some(Tier::Medium));
    assert_eq!(validation::check(Tier::Large, us(1000)), None);
}

#[test]
fn slow_work_in_a_small_or_medium_tier_is_counted() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = stats();
    // Sleeping guarantees at least the duration: deterministic "too slow" work.
    compute_small!(std::thread::sleep(Duration::from_micros(150)));
    let d = delta(before);
    assert_eq!((d.checked, d.small_too_slow), (1, 1));

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let p = pool();
    let before = stats();
    rt.block_on(async {
        compute_medium!(p, std::thread::sleep(Duration::from_millis(2)));
    });
    let d = delta(before);
    assert_eq!((d.checked, d.medium_too_slow), (1, 1));
}

#[test]
fn every_macro_form_is_timed_on_both_flavours() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let p = pool();
    for multi in [false, true] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        };
        let before = stats();
        let p2 = Arc::clone(&p);
        rt.block_on(async move {
            tokio::spawn(async move {
                compute_small!(1 + 1);
                compute_small!(p2, 1 + 1);
                compute_medium!(p2, 1 + 1);
                compute_large!(p2, std::thread::sleep(Duration::from_millis(1)));
                // No context: inline fallbacks, still timed.
                compute_medium!(1 + 1);
                compute_large!(1 + 1);
            })
            .await
            .unwrap()
        });
        let d = delta(before);
        assert_eq!(d.checked, 6, "multi={multi}");
        assert_eq!(d.inline_fallbacks, 2, "multi={multi}");
        // The 1 ms sleep in compute_large! is never "too fast".
        assert!(
            d.large_too_fast <= 1,
            "only the trivial bare compute_large! may count"
        );
    }
}
