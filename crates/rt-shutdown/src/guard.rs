//! [`GracefulTaskGuard`]: one registration held for as long as the guard lives.

use std::fmt;
use std::sync::Arc;

use crate::class::ClassCore;

/// One registration in a [`GracefulShutdownTracker`](crate::GracefulShutdownTracker), released
/// when the guard is dropped.
///
/// The guard is `Send + Sync + 'static`: move it into the task that does the work. Dropping it
/// releases the registration, and so does a panic that unwinds through its owner and an abort
/// of the tokio task that holds it (tokio drops an aborted task's future, and with it the
/// guard). When the release takes the tracker's count to zero, every
/// [`wait_for_completion`](crate::GracefulShutdownTracker::wait_for_completion) waiter wakes.
///
/// Created by [`GracefulShutdownTracker::register_task`](crate::GracefulShutdownTracker::register_task),
/// [`TaskClass::register`](crate::TaskClass::register) and [`GracefulTaskGuard::child`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rt_shutdown::ShutdownError> {
/// use rt_shutdown::GracefulShutdownTracker;
///
/// let tracker = GracefulShutdownTracker::new();
/// let guard = tracker.register_task("http-request")?;
/// let worker = tokio::spawn(async move {
///     let _guard = guard; // released when this task ends, however it ends
/// });
/// tracker.wait_for_completion().await;
/// assert_eq!(tracker.get_count(), 0);
/// # worker.await.ok();
/// # Ok(()) }
/// ```
#[must_use = "dropping the guard releases the registration at once"]
pub struct GracefulTaskGuard {
    class: Arc<ClassCore>,
}

impl GracefulTaskGuard {
    /// Wraps a registration that the caller has already added to the counter.
    pub(crate) fn new(class: Arc<ClassCore>) -> Self {
        Self { class }
    }

    /// Registers sub-work of this guard's work under `name`.
    ///
    /// Unlike the top-level registrations this is allowed after shutdown has begun: a request
    /// that is still in flight can track the sub-tasks it needs to finish. The tracker's count
    /// cannot reach zero between this call and the child's release, because this guard is live
    /// while the child is created. The child is independent afterwards: either may be dropped
    /// first.
    ///
    /// ```
    /// # fn main() -> Result<(), rt_shutdown::ShutdownError> {
    /// use rt_shutdown::GracefulShutdownTracker;
    ///
    /// let tracker = GracefulShutdownTracker::new();
    /// let request = tracker.register_task("request")?;
    /// tracker.close(); // shutdown began: no new requests...
    /// assert!(tracker.register_task("request").is_err());
    /// let upload = request.child("request/upload"); // ...but this one may finish its parts
    /// assert_eq!(tracker.get_count(), 2);
    /// drop((request, upload));
    /// assert_eq!(tracker.get_count(), 0);
    /// # Ok(()) }
    /// ```
    pub fn child(&self, name: impl AsRef<str>) -> GracefulTaskGuard {
        let shared = self.class.shared();
        shared.counter.add();
        GracefulTaskGuard::new(shared.class_core(name.as_ref()))
    }

    /// The name this guard was registered under.
    pub fn name(&self) -> &str {
        self.class.name()
    }
}

impl Drop for GracefulTaskGuard {
    #[inline]
    fn drop(&mut self) {
        self.class.shared().counter.release();
    }
}

impl fmt::Debug for GracefulTaskGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulTaskGuard")
            .field("name", &self.name())
            .finish()
    }
}
