//! The escalation rule, apart from any I/O: first signal graceful, later ones forced,
//! identical repeats inside the debounce window ignored.

use std::time::Duration;

use tokio::time::Instant;

use crate::forced::{ForcedExit, EXIT_CODE_FORCED};
use crate::kind::SignalKind;

/// What one incoming signal means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The first counted signal: request a graceful shutdown.
    Graceful(SignalKind),
    /// A later counted signal: force the exit.
    Forced(ForcedExit),
    /// The same signal as the last counted one, inside the debounce window: ignored.
    Debounced {
        /// The repeated signal.
        kind: SignalKind,
        /// How long after the counted one it came.
        after: Duration,
    },
}

/// The state of the escalation rule.
#[derive(Debug)]
pub(crate) struct Escalation {
    debounce: Duration,
    first: Option<SignalKind>,
    last_counted: Option<(SignalKind, Instant)>,
}

impl Escalation {
    /// A rule that ignores an identical repeat arriving less than `debounce` after the last
    /// counted signal (`Duration::ZERO`: every signal counts).
    pub(crate) fn new(debounce: Duration) -> Self {
        Self {
            debounce,
            first: None,
            last_counted: None,
        }
    }

    /// The debounce window this rule was made with.
    pub(crate) fn debounce(&self) -> Duration {
        self.debounce
    }

    /// Classifies a signal of `kind` that arrived at `now`.
    pub(crate) fn on_signal(&mut self, kind: SignalKind, now: Instant) -> Decision {
        if let Some((last, at)) = self.last_counted {
            let after = now.saturating_duration_since(at);
            if last == kind && after < self.debounce {
                // The window is measured from the last *counted* signal, so a steady stream of
                // repeats still escalates once the window has passed.
                return Decision::Debounced { kind, after };
            }
        }
        self.last_counted = Some((kind, now));
        match self.first {
            None => {
                self.first = Some(kind);
                Decision::Graceful(kind)
            }
            Some(first) => Decision::Forced(ForcedExit {
                first,
                second: kind,
                exit_code: EXIT_CODE_FORCED,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SignalKind::{Interrupt, Terminate};

    const MS: Duration = Duration::from_millis(1);

    fn forced(first: SignalKind, second: SignalKind) -> Decision {
        Decision::Forced(ForcedExit {
            first,
            second,
            exit_code: 130,
        })
    }

    #[test]
    fn first_is_graceful_second_is_forced() {
        let t0 = Instant::now();
        let mut e = Escalation::new(Duration::ZERO);
        assert_eq!(e.on_signal(Terminate, t0), Decision::Graceful(Terminate));
        assert_eq!(
            e.on_signal(Interrupt, t0 + MS),
            forced(Terminate, Interrupt)
        );
        // Every later signal forces again, naming the latest one.
        assert_eq!(
            e.on_signal(Terminate, t0 + 2 * MS),
            forced(Terminate, Terminate)
        );
    }

    #[test]
    fn zero_debounce_counts_an_identical_repeat_even_at_the_same_instant() {
        let t0 = Instant::now();
        let mut e = Escalation::new(Duration::ZERO);
        assert_eq!(e.on_signal(Interrupt, t0), Decision::Graceful(Interrupt));
        assert_eq!(e.on_signal(Interrupt, t0), forced(Interrupt, Interrupt));
    }

    #[test]
    fn identical_repeat_inside_the_window_counts_once() {
        let t0 = Instant::now();
        let mut e = Escalation::new(100 * MS);
        assert_eq!(e.on_signal(Terminate, t0), Decision::Graceful(Terminate));
        assert_eq!(
            e.on_signal(Terminate, t0 + 99 * MS),
            Decision::Debounced {
                kind: Terminate,
                after: 99 * MS
            }
        );
        // The window runs from the counted signal, not from the ignored repeat.
        assert_eq!(
            e.on_signal(Terminate, t0 + 100 * MS),
            forced(Terminate, Terminate)
        );
    }

    #[test]
    fn a_different_signal_inside_the_window_still_counts() {
        let t0 = Instant::now();
        let mut e = Escalation::new(Duration::from_secs(5));
        assert_eq!(e.on_signal(Terminate, t0), Decision::Graceful(Terminate));
        assert_eq!(
            e.on_signal(Interrupt, t0 + MS),
            forced(Terminate, Interrupt)
        );
        // ... and now the window is measured from that SIGINT.
        assert!(matches!(
            e.on_signal(Interrupt, t0 + 2 * MS),
            Decision::Debounced { .. }
        ));
    }

    #[test]
    fn debounce_also_applies_after_the_shutdown_was_forced() {
        let t0 = Instant::now();
        let mut e = Escalation::new(10 * MS);
        e.on_signal(Terminate, t0);
        assert_eq!(
            e.on_signal(Interrupt, t0 + 20 * MS),
            forced(Terminate, Interrupt)
        );
        assert!(matches!(
            e.on_signal(Interrupt, t0 + 25 * MS),
            Decision::Debounced { .. }
        ));
        assert_eq!(
            e.on_signal(Interrupt, t0 + 30 * MS),
            forced(Terminate, Interrupt)
        );
    }
}
