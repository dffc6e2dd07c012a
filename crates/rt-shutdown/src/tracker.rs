//! [`GracefulShutdownTracker`]: counts live endpoints and in-flight work, wakes waiters at zero.

use std::fmt;
use std::sync::Arc;

use crate::class::{ClassSlot, Shared};
use crate::guard::GracefulTaskGuard;
use crate::sync::{AtomicUsize, Ordering};
use crate::ShutdownError;

/// The name under which [`GracefulShutdownTracker::active_names`] lists endpoints registered
/// with [`register_endpoint`](GracefulShutdownTracker::register_endpoint), which carry no name.
pub const UNNAMED_ENDPOINT: &str = "<endpoint>";

/// Counts live endpoints and in-flight work, and wakes waiters when the count reaches zero.
///
/// Two ways to register:
///
/// * [`register_endpoint`](Self::register_endpoint) / [`unregister_endpoint`](Self::unregister_endpoint):
///   a bare count, paired by hand (the established API).
/// * [`register_task`](Self::register_task) (or the pre-resolved [`TaskClass::register`]):
///   a named RAII [`GracefulTaskGuard`] that releases on drop, on panic and on abort, and whose
///   name is listed by [`active_names`](Self::active_names) while it lives. Prefer this.
///
/// Once [`close`](Self::close) has been called (phase 1 of the shutdown does it), new
/// top-level registrations are refused with [`ShutdownError::Closed`], while work that belongs
/// to a live guard can still be tracked with [`GracefulTaskGuard::child`].
///
/// Names are classes ("http-request", "kv-transfer"), not per-request identifiers: the tracker
/// keeps one small entry per distinct name for its lifetime.
///
/// The count, the close and the wake-ups are the drain counter that [`InFlight`](crate::InFlight)
/// is made of (one implementation, checked under loom); the tracker adds the names. Where the
/// names are not needed, an [`InFlight`](crate::InFlight) is the plainer choice.
///
/// # Cost
///
/// A [`TaskClass::register`] plus the guard's drop is four uncontended atomic operations, the
/// same as `tokio_util::task::TaskTracker::token`: one word holds the count and the flags, and
/// a class's live-guard count is the reference count its guards already pay for.
/// [`register_task`](Self::register_task) first compares the name with the class the calling
/// thread registered last; only a different name adds a read-locked map lookup.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rt_shutdown::ShutdownError> {
/// use rt_shutdown::GracefulShutdownTracker;
///
/// let tracker = GracefulShutdownTracker::new();
/// tracker.register_endpoint()?;
/// let guard = tracker.register_task("generate")?;
/// assert_eq!(tracker.get_count(), 2);
/// assert_eq!(tracker.active_names(), ["<endpoint>", "generate"]);
///
/// tracker.unregister_endpoint()?;
/// drop(guard);
/// tracker.wait_for_completion().await; // the count is zero: returns at once
/// assert!(tracker.unregister_endpoint().is_err()); // refused at zero, never wraps
/// assert_eq!(tracker.get_count(), 0);
/// # Ok(()) }
/// ```
pub struct GracefulShutdownTracker {
    shared: Arc<Shared>,
    /// Registrations made with `register_endpoint` and not yet unregistered.
    endpoints: AtomicUsize,
}

impl GracefulShutdownTracker {
    /// An open tracker with a count of zero.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared::new()),
            endpoints: AtomicUsize::new(0),
        }
    }

    /// Counts one more live endpoint.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Closed`] once the tracker is closed (shutdown has begun): the endpoint
    /// must not start serving.
    pub fn register_endpoint(&self) -> Result<(), ShutdownError> {
        if !self.shared.counter.try_add() {
            return Err(ShutdownError::Closed {
                what: "endpoint".to_string(),
            });
        }
        self.endpoints.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Counts one endpoint fewer; wakes the waiters if that takes the count to zero.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::NotRegistered`] (also logged as a warning) when no endpoint registered
    /// with [`register_endpoint`](Self::register_endpoint) is left: the count is not changed,
    /// and never wraps. Task guards are not endpoints and are never released by this call.
    pub fn unregister_endpoint(&self) -> Result<(), ShutdownError> {
        let taken = self
            .endpoints
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if taken.is_err() {
            tracing::warn!(
                count = self.get_count(),
                "unregister_endpoint called with no endpoint registered; ignored"
            );
            return Err(ShutdownError::NotRegistered);
        }
        self.shared.counter.release();
        Ok(())
    }

    /// The number of live registrations: endpoints plus task guards.
    pub fn get_count(&self) -> usize {
        self.shared.counter.count()
    }

    /// Waits until the count is zero.
    ///
    /// Returns at once if the count is zero when called. Otherwise returns when a release takes
    /// the count to zero; no such release is missed, including one that races with this call.
    /// Once the tracker is closed, zero is final (only children of live guards may register),
    /// so returning means all tracked work is done; before that, the count may already have
    /// risen again by the time the caller runs.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it changes nothing but a sticky "someone waits" flag, so
    /// dropping the future loses nothing, and a new call waits afresh.
    pub async fn wait_for_completion(&self) {
        self.shared.counter.wait_zero().await;
    }

    /// Registers one unit of work named `name` and returns the guard that releases it.
    ///
    /// Each thread remembers the class it registered last, so repeating a name costs a string
    /// comparison; a different name is resolved through a read-mostly map. On a hot path that
    /// alternates names, resolve each once with [`task_class`](Self::task_class) and call
    /// [`TaskClass::register`].
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Closed`] once the tracker is closed (shutdown has begun). Sub-work of
    /// a request in flight registers through [`GracefulTaskGuard::child`] instead.
    pub fn register_task(&self, name: impl AsRef<str>) -> Result<GracefulTaskGuard, ShutdownError> {
        let name = name.as_ref();
        if !self.shared.counter.try_add() {
            return Err(closed_task(name));
        }
        Ok(GracefulTaskGuard::new(self.shared.class_core(name)))
    }

    /// A handle that registers tasks named `name` with atomics only (no map lookup).
    pub fn task_class(&self, name: impl AsRef<str>) -> TaskClass {
        TaskClass {
            slot: self.shared.slot(name.as_ref()),
        }
    }

    /// The distinct names still registered, sorted; endpoints registered without a name appear
    /// as [`UNNAMED_ENDPOINT`].
    ///
    /// A snapshot: a guard released while this runs may or may not appear.
    pub fn active_names(&self) -> Vec<String> {
        self.active_counts()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Like [`active_names`](Self::active_names), with the number of live registrations of each.
    pub fn active_counts(&self) -> Vec<(String, usize)> {
        if self.shared.counter.count() == 0 {
            return Vec::new();
        }
        let mut out = self.shared.class_counts();
        let endpoints = self.endpoints.load(Ordering::Acquire);
        if endpoints > 0 {
            out.push((UNNAMED_ENDPOINT.to_string(), endpoints));
        }
        out.sort();
        out
    }

    /// Refuses new top-level registrations from now on ([`register_endpoint`](Self::register_endpoint),
    /// [`register_task`](Self::register_task), [`TaskClass::register`]). Idempotent; there is no
    /// way to reopen.
    pub fn close(&self) {
        self.shared.counter.close();
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.shared.counter.is_closed()
    }
}

impl Default for GracefulShutdownTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for GracefulShutdownTracker {
    fn drop(&mut self) {
        // The classes point back at the shared state; drop the map so that it can be freed
        // once the last guard and task class are gone.
        self.shared.orphan();
    }
}

impl fmt::Debug for GracefulShutdownTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulShutdownTracker")
            .field("count", &self.get_count())
            .field("closed", &self.is_closed())
            .finish()
    }
}

fn closed_task(name: &str) -> ShutdownError {
    ShutdownError::Closed {
        what: format!("task \"{name}\""),
    }
}

/// A task name resolved once, whose [`register`](Self::register) costs only atomics.
///
/// Cheap to clone; `Send + Sync`. Obtained from [`GracefulShutdownTracker::task_class`].
///
/// ```
/// # fn main() -> Result<(), rt_shutdown::ShutdownError> {
/// use rt_shutdown::GracefulShutdownTracker;
///
/// let tracker = GracefulShutdownTracker::new();
/// let requests = tracker.task_class("http-request");
/// let a = requests.register()?;
/// let b = requests.register()?;
/// assert_eq!(tracker.active_counts(), [("http-request".to_string(), 2)]);
/// drop((a, b));
/// assert!(tracker.active_names().is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TaskClass {
    slot: Arc<ClassSlot>,
}

impl TaskClass {
    /// Registers one unit of work under this class's name.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Closed`] once the tracker is closed (shutdown has begun).
    #[inline]
    pub fn register(&self) -> Result<GracefulTaskGuard, ShutdownError> {
        let core = self.slot.core();
        if !core.shared().counter.try_add() {
            return Err(closed_task(core.name()));
        }
        Ok(GracefulTaskGuard::new(Arc::clone(core)))
    }

    /// The name guards of this class are registered under.
    pub fn name(&self) -> &str {
        self.slot.core().name()
    }
}

impl fmt::Debug for TaskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskClass")
            .field("name", &self.name())
            .finish()
    }
}
