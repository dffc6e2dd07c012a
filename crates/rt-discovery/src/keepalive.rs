//! The lease keep-alive: renew at TTL/3, deadline from the send of the acknowledged renewal,
//! retries with backoff and jitter while the lease can still be saved.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::{Backend, Lease};
use crate::backoff::Backoff;
use crate::metrics::Counters;

/// How the keep-alive of one lease ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LeaseEnd {
    /// `stop` was cancelled (phase 3): the lease is still alive; the caller revokes it.
    Stopped,
    /// The server reported the lease gone (TTL 0: expired or revoked).
    Expired,
    /// No renewal was acknowledged before the deadline; `last_error` is the last failure.
    DeadlinePassed {
        /// The last renewal error, if any.
        last_error: Option<String>,
    },
}

/// Keeps `lease` alive until `stop` is cancelled or the lease is lost.
///
/// `granted_at` is when the grant (or the last acknowledged renewal) was **sent**: the lease
/// lives at least until `granted_at + TTL` on the server, so that is the deadline, and the
/// next renewal is due at `granted_at + TTL/3`. Each acknowledged renewal moves both from its
/// own send time with the TTL the server reported. A failed renewal is retried after an
/// exponential backoff with full jitter (from 100 ms up to TTL/6), each attempt bounded by
/// TTL/3 and by the deadline; once the deadline passes the lease counts as lost (the server
/// may keep it up to about 0.5 s longer, never shorter).
pub(crate) async fn keep_alive(
    backend: &dyn Backend,
    lease: Lease,
    granted_at: Instant,
    counters: &Counters,
    stop: &CancellationToken,
) -> LeaseEnd {
    let ttl = lease.ttl;
    let mut deadline = granted_at + ttl;
    let mut due = granted_at + ttl / 3;
    let mut retrying = false;
    let mut last_error: Option<String> = None;
    let mut backoff = Backoff::new(Duration::from_millis(100), ttl / 6);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return LeaseEnd::Stopped,
            () = tokio::time::sleep_until(due) => {}
        }
        let sent = Instant::now();
        if sent >= deadline {
            return LeaseEnd::DeadlinePassed { last_error };
        }
        if !retrying {
            counters.record_lateness(sent.saturating_duration_since(due));
        }
        let bound = deadline.min(sent + ttl / 3);
        let attempt = tokio::select! {
            biased;
            () = stop.cancelled() => return LeaseEnd::Stopped,
            r = tokio::time::timeout_at(bound, backend.keep_alive(lease.id)) => r,
        };
        match attempt {
            Ok(Ok(granted)) if granted.is_zero() => return LeaseEnd::Expired,
            Ok(Ok(granted)) => {
                Counters::bump(&counters.renewals);
                deadline = sent + granted;
                due = sent + granted / 3;
                retrying = false;
                last_error = None;
                backoff.reset();
                tracing::trace!(
                    lease = format_args!("{:x}", lease.id),
                    ?granted,
                    "lease renewed"
                );
                continue;
            }
            Ok(Err(error)) => {
                tracing::warn!(lease = format_args!("{:x}", lease.id), %error, left = ?deadline.saturating_duration_since(Instant::now()), "lease renewal failed; retrying");
                last_error = Some(error.to_string());
            }
            Err(_) => {
                tracing::warn!(lease = format_args!("{:x}", lease.id), bound = ?bound.saturating_duration_since(sent), "lease renewal got no answer in time; retrying");
                last_error = Some("no answer in time".to_owned());
            }
        }
        Counters::bump(&counters.renewal_failures);
        retrying = true;
        due = (Instant::now() + backoff.next_delay()).min(deadline);
    }
}
