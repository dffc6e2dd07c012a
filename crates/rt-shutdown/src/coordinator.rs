//! [`ShutdownCoordinator`]: the three phases under one deadline.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::task_set::{boxed, sorted_names, TaskFn, TaskSet};
use crate::{
    DrainStep, DrainStepOutcome, GracefulShutdownTracker, InFlight, ShutdownError, ShutdownOptions,
    ShutdownPhase, ShutdownReport,
};

/// What the log calls a drain step.
const DRAIN_STEP: &str = "shutdown phase 1: drain step";
/// What the log calls a teardown task.
const TEARDOWN_TASK: &str = "shutdown phase 3: teardown task";

/// Bounds longer than this are treated as this (tokio timers reach about two years).
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

struct Inner {
    options: ShutdownOptions,
    primary: CancellationToken,
    endpoint: CancellationToken,
    tracker: Arc<GracefulShutdownTracker>,
    phase: watch::Sender<ShutdownPhase>,
    /// The earliest deadline any `shutdown_and_wait` caller asked for.
    deadline: watch::Sender<Option<Instant>>,
    /// `None` once phase 3 has taken the list.
    teardowns: Mutex<Option<Vec<(String, TaskFn)>>>,
    /// `None` once phase 1 has taken the list.
    drain_steps: Mutex<Option<Vec<(String, TaskFn)>>>,
    /// The drain steps started in phase 1, polled by whoever drives phase 2 (kept here, so
    /// that a driver taking over from a lost one goes on polling them); `None` before phase 1
    /// and once phase 2 has recorded them.
    running_steps: Mutex<Option<TaskSet>>,
    /// Closed in phase 1, before the endpoint token is cancelled; `None` once phase 1 has
    /// taken the list (later ones are closed at once).
    to_close: Mutex<Option<Vec<InFlight>>>,
    /// Set once, at the end of phase 3, before the phase becomes `Stopped`.
    report: OnceLock<ShutdownReport>,
    started: AtomicBool,
    /// Whether some task or thread has taken on driving phases 2 and 3.
    driver_claimed: AtomicBool,
    /// Notified when a driver is dropped before it finished (its runtime shut down, or the
    /// `shutdown_and_wait` future driving inline was dropped): a waiter takes over.
    driver_lost: tokio::sync::Notify,
    /// How long phase 1 took (set before the driver is started).
    phase1: OnceLock<Duration>,
}

/// Runs the three-phase graceful shutdown: stop accepting, drain, tear down.
///
/// * **Phase 1** (in [`shutdown`](Self::shutdown) itself): every [`InFlight`] given to
///   [`close_on_shutdown`](Self::close_on_shutdown) is [closed](InFlight::close), the tracker
///   is [closed](GracefulShutdownTracker::close) to new top-level registrations and the endpoint
///   token is cancelled (endpoints stop accepting; the primary token stays live, so connections
///   to backends keep working); the [drain steps](Self::add_drain_step) are started; then the
///   phase becomes [`Draining`](ShutdownPhase::Draining).
/// * **Phase 2**: wait for the tracker's count to reach zero and for every drain step to end,
///   bounded by min([`graceful_timeout`](ShutdownOptions::graceful_timeout), what is left of
///   the earliest caller deadline). The names still active are logged every
///   [`progress_interval`](ShutdownOptions::progress_interval); if the bound cuts the phase
///   short, the count and names go into the report, and drain steps still running are dropped
///   and named there.
/// * **Phase 3** (always runs, also after a deadline hit): the primary token is cancelled, the
///   phase becomes [`Stopping`](ShutdownPhase::Stopping), and the teardown tasks from
///   [`add_teardown`](Self::add_teardown) run concurrently, bounded by
///   min([`teardown_timeout`](ShutdownOptions::teardown_timeout), what is left of the deadline);
///   each is polled at least once even when nothing is left. Then the [`ShutdownReport`] is
///   stored and the phase becomes [`Stopped`](ShutdownPhase::Stopped).
///
/// A phase is published only after its effects: whoever sees a phase on
/// [`phase`](Self::phase) or [`subscribe`](Self::subscribe), from any thread, also sees what it
/// promises (the registered [`InFlight`]s and the tracker closed and the endpoint token
/// cancelled and the drain steps started from `Draining` on, the primary
/// token cancelled from `Stopping` on, the report available at `Stopped`).
///
/// The phases run once per coordinator, however many callers ask for them.
///
/// # Where phases 2 and 3 run
///
/// They run as one task on, in order of preference: the runtime given in
/// [`ShutdownOptions::handle`]; the runtime [`shutdown`](Self::shutdown) is called from; a
/// dedicated thread named `rt-shutdown` with a current-thread runtime (when `shutdown` is
/// called from plain synchronous code). Teardown tasks are polled on that task, so they must not
/// block the thread: put blocking work in `spawn_blocking`. If that runtime shuts down before
/// the phases end, the next (or a pending) [`shutdown_and_wait`](Self::shutdown_and_wait) call
/// drives the rest itself: phase 2 waits afresh under the same deadlines, and teardown tasks
/// that phase 3 had already started are not run again.
///
/// `Clone` is cheap (one `Arc`); all clones share one shutdown.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), rt_shutdown::ShutdownError> {
/// use std::time::Duration;
/// use rt_shutdown::{ShutdownCoordinator, ShutdownOptions, ShutdownPhase};
///
/// let coordinator = ShutdownCoordinator::new(
///     ShutdownOptions::default().with_graceful_timeout(Duration::from_secs(30)),
/// );
/// let endpoint = coordinator.endpoint_token();
/// let request = coordinator.tracker().register_task("request")?;
/// tokio::spawn(async move {
///     endpoint.cancelled().await; // phase 1: stop accepting, finish what is in flight
///     tokio::time::sleep(Duration::from_secs(2)).await;
///     drop(request);
/// });
/// coordinator.add_teardown("close backend connections", || async {});
///
/// let report = coordinator.shutdown_and_wait(Some(Duration::from_secs(60))).await;
/// assert!(report.is_clean());
/// assert_eq!(report.drain, Duration::from_secs(2));
/// assert_eq!(coordinator.phase(), ShutdownPhase::Stopped);
/// assert!(coordinator.primary_token().is_cancelled());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ShutdownCoordinator {
    inner: Arc<Inner>,
}

impl ShutdownCoordinator {
    /// A coordinator in phase [`Running`](ShutdownPhase::Running) with fresh tokens and tracker.
    pub fn new(options: ShutdownOptions) -> Self {
        let primary = CancellationToken::new();
        let endpoint = primary.child_token();
        Self {
            inner: Arc::new(Inner {
                options,
                primary,
                endpoint,
                tracker: Arc::new(GracefulShutdownTracker::new()),
                phase: watch::Sender::new(ShutdownPhase::Running),
                deadline: watch::Sender::new(None),
                teardowns: Mutex::new(Some(Vec::new())),
                drain_steps: Mutex::new(Some(Vec::new())),
                running_steps: Mutex::new(None),
                to_close: Mutex::new(Some(Vec::new())),
                report: OnceLock::new(),
                started: AtomicBool::new(false),
                driver_claimed: AtomicBool::new(false),
                driver_lost: tokio::sync::Notify::new(),
                phase1: OnceLock::new(),
            }),
        }
    }

    /// The options this coordinator was built with.
    pub fn options(&self) -> &ShutdownOptions {
        &self.inner.options
    }

    /// The primary token (the spec's "main token"): cancelled at the start of phase 3 (global
    /// termination; disconnect backends). Cancelling it by hand also cancels the endpoint token
    /// and its children, but does not run the phases: call [`shutdown`](Self::shutdown) for
    /// that.
    pub fn primary_token(&self) -> CancellationToken {
        self.inner.primary.clone()
    }

    /// The endpoint-shutdown token, a child of the primary token: cancelled in phase 1 (stop
    /// accepting new requests).
    pub fn endpoint_token(&self) -> CancellationToken {
        self.inner.endpoint.clone()
    }

    /// A new child of the endpoint token: cancelled in phase 1, or when it is cancelled itself.
    pub fn child_token(&self) -> CancellationToken {
        self.inner.endpoint.child_token()
    }

    /// The tracker phase 2 waits for.
    pub fn tracker(&self) -> Arc<GracefulShutdownTracker> {
        Arc::clone(&self.inner.tracker)
    }

    /// The current phase. Its effects have already happened (see the phase list above): a
    /// caller that reads [`Draining`](ShutdownPhase::Draining) finds the endpoint token
    /// cancelled, one that reads [`Stopped`](ShutdownPhase::Stopped) finds the
    /// [`report`](Self::report).
    pub fn phase(&self) -> ShutdownPhase {
        *self.inner.phase.borrow()
    }

    /// A receiver that sees every phase change (a health endpoint reports "not ready" from
    /// [`Draining`](ShutdownPhase::Draining) on). Like any `watch`, a slow reader may skip an
    /// intermediate phase but always sees the latest one; each phase is sent only after its
    /// effects, as for [`phase`](Self::phase).
    pub fn subscribe(&self) -> watch::Receiver<ShutdownPhase> {
        self.inner.phase.subscribe()
    }

    /// The report, once the phases have ended (`Some` from the moment the phase is
    /// [`Stopped`](ShutdownPhase::Stopped), and only then).
    pub fn report(&self) -> Option<ShutdownReport> {
        self.inner.report.get().cloned()
    }

    /// Registers a task to run in phase 3, after the primary token is cancelled (closing
    /// connections to backends, flushing). `task` is called once, at the start of phase 3; its
    /// future is polled on the task that drives the phases, so it must not block the thread.
    ///
    /// A task added once phase 3 has started does not run; that is logged as a warning (use
    /// [`try_add_teardown`](Self::try_add_teardown) to get an error value instead).
    pub fn add_teardown<F, Fut>(&self, name: impl Into<String>, task: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Err(e) = self.try_add_teardown(name, task) {
            tracing::warn!("{e}");
        }
    }

    /// Like [`add_teardown`](Self::add_teardown), with an error value.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::TeardownTooLate`] once phase 3 has started.
    pub fn try_add_teardown<F, Fut>(
        &self,
        name: impl Into<String>,
        task: F,
    ) -> Result<(), ShutdownError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        push_task(&self.inner.teardowns, name.into(), boxed(task))
            .map_err(|name| ShutdownError::TeardownTooLate { name })
    }

    /// Registers a step of phase 1 that runs beside the drain: leaving a service registry,
    /// telling a load balancer, flushing what routers must know before the drain ends.
    ///
    /// `step` is called once, in phase 1, right after the endpoint token is cancelled and
    /// before [`Draining`](ShutdownPhase::Draining) is published, **on the thread that called
    /// [`shutdown`](Self::shutdown)**: that may be outside any tokio runtime (a signal thread,
    /// plain synchronous code), so the closure must not block and must not rely on
    /// `tokio::spawn`; spawn on a [`Handle`] it holds, or leave the work to the future. The
    /// future it returns is polled on the task that drives phase 2, concurrently with the
    /// drain: phase 2 ends when the tracker's count is zero **and** every step has ended, or
    /// at its bound, which drops the steps still running. The [`ShutdownReport`] lists every
    /// step in [`drain_steps`](ShutdownReport::drain_steps) with its time (from its start in
    /// phase 1) and its outcome; a step cut or panicking makes the report not clean.
    ///
    /// A step added once phase 1 has started does not run; that is logged as a warning (use
    /// [`try_add_drain_step`](Self::try_add_drain_step) to get an error value instead).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use rt_shutdown::{DrainStepOutcome, ShutdownCoordinator};
    ///
    /// let coordinator = ShutdownCoordinator::default();
    /// coordinator.add_drain_step("leave the registry", || async {
    ///     tokio::time::sleep(Duration::from_millis(3)).await; // a delete sent to the registry
    /// });
    /// let report = coordinator.shutdown_and_wait(None).await;
    /// let step = &report.drain_steps[0];
    /// assert_eq!(step.name, "leave the registry");
    /// assert_eq!(step.took, Duration::from_millis(3));
    /// assert_eq!(step.outcome, DrainStepOutcome::Completed);
    /// assert_eq!(report.drain, Duration::from_millis(3), "phase 2 waited for it");
    /// # }
    /// ```
    pub fn add_drain_step<F, Fut>(&self, name: impl Into<String>, step: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Err(e) = self.try_add_drain_step(name, step) {
            tracing::warn!("{e}");
        }
    }

    /// Like [`add_drain_step`](Self::add_drain_step), with an error value.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::DrainStepTooLate`] once phase 1 has started.
    pub fn try_add_drain_step<F, Fut>(
        &self,
        name: impl Into<String>,
        step: F,
    ) -> Result<(), ShutdownError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        push_task(&self.inner.drain_steps, name.into(), boxed(step))
            .map_err(|name| ShutdownError::DrainStepTooLate { name })
    }

    /// Closes `in_flight` in phase 1 of the shutdown, synchronously with the request: before
    /// [`shutdown`](Self::shutdown) returns, before the endpoint token is cancelled and before
    /// [`Draining`](ShutdownPhase::Draining) is published. So a request refused "because the
    /// shutdown started" is refused from the moment `shutdown()` returned, on every thread,
    /// without the counter's owner having to watch a token first.
    ///
    /// When the shutdown has already started, `in_flight` is closed before this returns. The
    /// coordinator keeps a clone (one `Arc`) until phase 1; counters closed meanwhile (an
    /// endpoint stopped on its own) are dropped from the list on the next call, so the list
    /// holds at most the counters still open plus the one added.
    ///
    /// ```
    /// use rt_shutdown::{InFlight, ShutdownCoordinator};
    ///
    /// let coordinator = ShutdownCoordinator::default();
    /// let requests = InFlight::new();
    /// coordinator.close_on_shutdown(requests.clone());
    /// assert!(requests.try_enter().is_some());
    /// coordinator.shutdown();
    /// assert!(requests.is_closed(), "closed as soon as shutdown() returned");
    /// assert!(requests.try_enter().is_none());
    ///
    /// let late = InFlight::new();
    /// coordinator.close_on_shutdown(late.clone());
    /// assert!(late.is_closed(), "the shutdown had started: closed at once");
    /// ```
    pub fn close_on_shutdown(&self, in_flight: InFlight) {
        let mut list = self
            .inner
            .to_close
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match list.as_mut() {
            Some(list) => {
                list.retain(|open| !open.is_closed());
                list.push(in_flight);
            }
            None => {
                drop(list);
                in_flight.close();
            }
        }
    }

    /// Starts the shutdown and returns at once. Idempotent; callable from sync and async code.
    ///
    /// The first call runs phase 1 before it returns (the counters given to
    /// [`close_on_shutdown`](Self::close_on_shutdown) and the tracker are closed, the endpoint
    /// token cancelled, the [drain steps](Self::add_drain_step) started, then the phase set to
    /// [`Draining`](ShutdownPhase::Draining)) and starts a
    /// task that drives phases 2 and 3 (see "Where phases 2 and 3 run" above). Later calls,
    /// concurrent ones included, do nothing: one of them may return while the first is still
    /// in phase 1.
    pub fn shutdown(&self) {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let t0 = Instant::now();
        let inner = &self.inner;
        let to_close = inner
            .to_close
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        for in_flight in &to_close {
            in_flight.close();
        }
        inner.tracker.close();
        inner.endpoint.cancel();
        let steps = inner
            .drain_steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        let steps = TaskSet::start(DRAIN_STEP, steps);
        let step_names = steps.running_names().join(", ");
        *inner
            .running_steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(steps);
        // Published after its effects: a reader that sees `Draining` sees them all.
        inner.phase.send_replace(ShutdownPhase::Draining);
        let _ = inner.phase1.set(t0.elapsed());
        let count = inner.tracker.get_count();
        tracing::info!(
            in_flight = count,
            active = ?inner.tracker.active_counts(),
            graceful_timeout = ?inner.options.graceful_timeout,
            drain_steps = step_names,
            "shutdown phase 1: stopped accepting new work (endpoint token cancelled)"
        );
        self.spawn_driver();
    }

    /// Whether [`shutdown`](Self::shutdown) has been called (by anyone).
    pub fn is_shutdown_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    /// Starts the shutdown if needed, and waits for phase 3 to end.
    ///
    /// `deadline` (measured from this call) bounds the rest of the shutdown: phase 2 takes at
    /// most min(graceful timeout, what is left of it) and phase 3 min(teardown timeout, what is
    /// left). `None` leaves only the configured timeouts. The same as
    /// [`shutdown_and_wait_until`](Self::shutdown_and_wait_until) with `Instant::now() +
    /// deadline`: when several callers give deadlines, the earliest wins.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: the phases run on their own task, so dropping this future
    /// only stops the waiting (the deadline it gave still applies).
    pub async fn shutdown_and_wait(&self, deadline: Option<Duration>) -> ShutdownReport {
        // A deadline too far away to represent is no deadline.
        let at = deadline.and_then(|d| Instant::now().checked_add(d.min(FAR)));
        self.join(at).await
    }

    /// Starts the shutdown if needed, and waits for phase 3 to end, all of it by `deadline`.
    ///
    /// `deadline` is one absolute instant (computed once by the caller, e.g. a worker's budget
    /// from the moment its signal arrived) that bounds phases 2 and 3 together: phase 2 ends
    /// at the earlier of its graceful timeout and `deadline`, phase 3 at the earlier of its
    /// teardown timeout and `deadline` (each teardown task is still polled once). When several
    /// callers give deadlines, the earliest wins, also for a shutdown already running; a later,
    /// looser deadline never loosens it. A deadline already past leaves phase 2 no time and
    /// phase 3 one poll of each teardown task.
    ///
    /// It is a [`tokio::time::Instant`], so a paused test clock applies to it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), rt_shutdown::ShutdownError> {
    /// use std::time::Duration;
    /// use rt_shutdown::ShutdownCoordinator;
    /// use tokio::time::Instant;
    ///
    /// let coordinator = ShutdownCoordinator::default();
    /// let _stuck = coordinator.tracker().register_task("stuck-request")?;
    /// let deadline = Instant::now() + Duration::from_secs(20);
    /// let report = coordinator.shutdown_and_wait_until(deadline).await;
    /// assert!(report.deadline_hit);
    /// assert_eq!(report.still_active, ["stuck-request"]);
    /// assert_eq!(Instant::now(), deadline);
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: the phases run on their own task, so dropping this future
    /// only stops the waiting (the deadline it gave still applies).
    pub async fn shutdown_and_wait_until(&self, deadline: Instant) -> ShutdownReport {
        self.join(Some(deadline)).await
    }

    /// Lowers the shared deadline to `deadline` (the earliest wins), starts the shutdown if
    /// needed, and waits for `Stopped`, driving the phases here if nothing else can.
    async fn join(&self, deadline: Option<Instant>) -> ShutdownReport {
        if let Some(at) = deadline {
            self.inner.deadline.send_if_modified(|cur| match cur {
                Some(c) if *c <= at => false,
                _ => {
                    *cur = Some(at);
                    true
                }
            });
        }
        let mut phases = self.inner.phase.subscribe();
        self.shutdown();
        loop {
            // Created before the claim is checked, so that a driver lost after the check
            // still wakes this waiter.
            let lost = self.inner.driver_lost.notified();
            if !self.inner.driver_claimed.swap(true, Ordering::AcqRel) {
                // No runtime or thread could drive the phases, or their driver was dropped
                // before it finished: drive them here.
                drive(Arc::clone(&self.inner)).await;
            }
            tokio::select! {
                biased;
                // The report is stored before `Stopped` is sent. The sender lives in `inner`,
                // so the wait cannot fail while `self` exists.
                _ = phases.wait_for(|p| *p == ShutdownPhase::Stopped) => {
                    return self.report().unwrap_or_default();
                }
                () = lost => {}
            }
        }
    }

    fn spawn_driver(&self) {
        if self.inner.driver_claimed.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        if let Some(handle) = &self.inner.options.handle {
            handle.spawn(drive(inner));
            return;
        }
        if let Ok(handle) = Handle::try_current() {
            handle.spawn(drive(inner));
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("rt-shutdown".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                {
                    Ok(rt) => rt.block_on(drive(inner)),
                    Err(e) => {
                        release_driver(&inner);
                        tracing::error!(
                            error = %e,
                            "could not build a runtime to drive the shutdown phases; \
                             they will run when shutdown_and_wait is awaited"
                        );
                    }
                }
            });
        if let Err(source) = spawned {
            release_driver(&self.inner);
            tracing::error!(
                "{}; phases 2 and 3 will run when shutdown_and_wait is awaited",
                ShutdownError::DriverThread { source }
            );
        }
    }
}

impl Default for ShutdownCoordinator {
    fn default() -> Self {
        Self::new(ShutdownOptions::default())
    }
}

impl fmt::Debug for ShutdownCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownCoordinator")
            .field("phase", &self.phase())
            .field("in_flight", &self.inner.tracker.get_count())
            .field(
                "close_on_shutdown",
                &self
                    .inner
                    .to_close
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map_or(0, Vec::len),
            )
            .field("options", &self.inner.options)
            .finish()
    }
}

/// `start + bound`, capped so that timers accept it.
fn end_of(start: Instant, bound: Duration) -> Instant {
    start + bound.min(FAR)
}

/// Whether `fut` completed before `own_end` or the caller deadline (whichever is earlier, and
/// re-read when the deadline changes). `fut` is polled at least once. Calls `progress` every
/// `interval` (if non-zero) while waiting. Returns the completion flag and the end that applied.
async fn bounded<F: Future<Output = ()>>(
    fut: F,
    start: Instant,
    own_end: Instant,
    deadline: &mut watch::Receiver<Option<Instant>>,
    interval: Duration,
    mut progress: impl FnMut(),
) -> (bool, Instant) {
    tokio::pin!(fut);
    let mut next_log = (!interval.is_zero()).then(|| end_of(start, interval));
    let mut deadline_open = true;
    loop {
        let end = match *deadline.borrow_and_update() {
            Some(d) if d < own_end => d,
            _ => own_end,
        };
        let wake = next_log.map_or(end, |n| n.min(end));
        tokio::select! {
            biased;
            () = &mut fut => return (true, end),
            () = tokio::time::sleep_until(wake) => {
                if Instant::now() >= end {
                    return (false, end);
                }
                progress();
                next_log = next_log.map(|n| end_of(n, interval));
            }
            changed = deadline.changed(), if deadline_open => {
                deadline_open = changed.is_ok();
            }
        }
    }
}

/// Gives up the claim on driving phases 2 and 3 and wakes the pending `shutdown_and_wait`
/// callers, so that one of them drives the phases itself. A waiter that found the claim taken
/// is waiting for `driver_lost`: releasing the claim without the wake-up would leave it waiting
/// for a report that nobody produces.
fn release_driver(inner: &Inner) {
    inner.driver_claimed.store(false, Ordering::Release);
    inner.driver_lost.notify_waiters();
}

/// Releases the claim on driving the phases if the driver is dropped before it publishes the
/// report, and wakes the waiters so that one of them takes over.
struct DriverClaim(Arc<Inner>);

impl Drop for DriverClaim {
    fn drop(&mut self) {
        if self.0.report.get().is_none() {
            tracing::warn!(
                "the task driving the shutdown phases ended early (its runtime shut down?); \
                 the next shutdown_and_wait call drives them"
            );
            release_driver(&self.0);
        }
    }
}

/// Phases 2 and 3, then the report. The claim is taken outside the `async` block, so that it
/// is released even when the future is dropped before its first poll.
fn drive(inner: Arc<Inner>) -> impl Future<Output = ()> + Send {
    let claim = DriverClaim(Arc::clone(&inner));
    async move {
        let _claim = claim;
        drive_phases(inner).await;
    }
}

async fn drive_phases(inner: Arc<Inner>) {
    let stop_accepting = inner.phase1.get().copied().unwrap_or_default();
    let mut deadline = inner.deadline.subscribe();
    let tracker = Arc::clone(&inner.tracker);

    // Phase 2: drain, and the drain steps phase 1 started.
    let start2 = Instant::now();
    let mut drained = false;
    let steps = std::future::poll_fn(|cx| {
        match inner
            .running_steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            Some(set) => set.poll_all(cx),
            None => Poll::Ready(()),
        }
    });
    let drain_and_steps = async {
        tokio::join!(
            async {
                tracker.wait_for_completion().await;
                drained = true;
            },
            steps
        );
    };
    let (_, end2) = bounded(
        drain_and_steps,
        start2,
        end_of(start2, inner.options.graceful_timeout),
        &mut deadline,
        inner.options.progress_interval,
        || {
            tracing::info!(
                in_flight = tracker.get_count(),
                active = ?tracker.active_counts(),
                drain_steps = ?running_step_names(&inner),
                elapsed = ?start2.elapsed(),
                "shutdown phase 2: waiting for in-flight work"
            );
        },
    )
    .await;
    let drain = start2.elapsed();
    let drain_steps = take_drain_steps(&inner);
    let drain_bound = end2.saturating_duration_since(start2);
    let (active_at_deadline, still_active_counts) = if drained {
        tracing::info!(?drain, "shutdown phase 2: all in-flight work finished");
        (0, Vec::new())
    } else {
        let counts = tracker.active_counts();
        let count = tracker.get_count();
        tracing::warn!(
            in_flight = count,
            active = ?counts,
            bound = ?drain_bound,
            "shutdown phase 2: deadline hit with work still in flight; tearing down anyway"
        );
        (count, counts)
    };

    // Phase 3: tear down. `Stopping` is published after the primary token is cancelled.
    inner.primary.cancel();
    inner.phase.send_replace(ShutdownPhase::Stopping);
    let tasks = inner
        .teardowns
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    let start3 = Instant::now();
    tracing::info!(
        teardown_tasks = tasks.len(),
        names = ?tasks.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "shutdown phase 3: primary token cancelled; running teardown tasks"
    );
    let mut set = TaskSet::start(TEARDOWN_TASK, tasks);
    let (_, end3) = bounded(
        std::future::poll_fn(|cx| set.poll_all(cx)),
        start3,
        end_of(start3, inner.options.teardown_timeout),
        &mut deadline,
        Duration::ZERO,
        || {},
    )
    .await;
    let teardown = start3.elapsed();
    let teardown_timed_out = sorted_names(&set.abandon());
    if !teardown_timed_out.is_empty() {
        tracing::warn!(
            timed_out = ?teardown_timed_out,
            "shutdown phase 3: teardown tasks did not finish in time and were dropped"
        );
    }
    let teardown_completed = sorted_names(&set.completed);
    let teardown_panicked = sorted_names(&set.panicked);

    let report = ShutdownReport {
        stop_accepting,
        drain,
        drain_bound,
        drain_steps,
        teardown,
        teardown_bound: end3.saturating_duration_since(start3),
        total: stop_accepting + start2.elapsed(),
        deadline_hit: !drained,
        active_at_deadline,
        still_active: still_active_counts.iter().map(|(n, _)| n.clone()).collect(),
        still_active_counts,
        teardown_completed,
        teardown_timed_out,
        teardown_panicked,
    };
    if report.is_clean() {
        tracing::info!("{report}");
    } else {
        tracing::warn!("{report}");
    }
    // `Stopped` is published after the report is stored: whoever sees it finds the report.
    // Only the claimed driver gets here, once, so the cell is empty.
    let _ = inner.report.set(report);
    inner.phase.send_replace(ShutdownPhase::Stopped);
}

/// The names of the drain steps still running.
fn running_step_names(inner: &Inner) -> Vec<String> {
    inner
        .running_steps
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|set| set.running_names().into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Ends phase 2's drain steps: those still running are dropped (phase 2's bound ran out);
/// each is logged and returned with its outcome, sorted by name.
fn take_drain_steps(inner: &Inner) -> Vec<DrainStep> {
    let Some(mut set) = inner
        .running_steps
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    else {
        return Vec::new();
    };
    let cut = set.abandon();
    let mut steps: Vec<DrainStep> = [
        (
            std::mem::take(&mut set.completed),
            DrainStepOutcome::Completed,
        ),
        (
            std::mem::take(&mut set.panicked),
            DrainStepOutcome::Panicked,
        ),
        (cut, DrainStepOutcome::TimedOut),
    ]
    .into_iter()
    .flat_map(|(list, outcome)| {
        list.into_iter().map(move |(name, took)| DrainStep {
            name,
            took,
            outcome,
        })
    })
    .collect();
    steps.sort_by(|a, b| a.name.cmp(&b.name));
    for step in &steps {
        if step.outcome == DrainStepOutcome::Completed {
            tracing::info!(step = %step.name, took = ?step.took, "shutdown phase 2: drain step done");
        } else {
            tracing::warn!(step = %step.name, took = ?step.took, outcome = ?step.outcome, "shutdown phase 2: drain step did not complete");
        }
    }
    steps
}

/// Adds a named task to a phase's list, unless the phase has taken the list (it started):
/// then the name comes back for the caller's error.
fn push_task(
    list: &Mutex<Option<Vec<(String, TaskFn)>>>,
    name: String,
    task: TaskFn,
) -> Result<(), String> {
    match list.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
        Some(list) => {
            list.push((name, task));
            Ok(())
        }
        None => Err(name),
    }
}
