//! Drain without exit: take the process out of rotation and bring it back, alive all along
//! (see [`DrainControl`]).

mod gate;
mod report;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use rt_shutdown::{InFlight, ShutdownCoordinator};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

pub(crate) use gate::{Gate, Refused};
pub use report::{DrainReport, DrainState, HookOutcome};

use crate::error::{BoxError, RuntimeError};

/// The future a [`DrainHook`] returns.
pub type HookFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// What a layer above the runtime does when the process leaves and rejoins the rotation;
/// added with [`DrainControl::add_hook`]. rt-discovery's hook deletes the process's keys on
/// a drain and registers them again, under a new instance id, on a resume.
///
/// The endpoints need no hook: they refuse requests by themselves while the process is
/// drained ([`EndpointContext::begin_request`](crate::EndpointContext::begin_request) answers
/// [`NotAcceptingReason::Drained`](crate::NotAcceptingReason::Drained), which rt-http turns
/// into the same 503 as during the shutdown's drain).
///
/// Hooks run one at a time, in the order they were added, each bounded by the runtime's
/// teardown timeout (`DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS`); a drain's hooks and a resume's
/// never overlap, and they alternate: a hook's `resume` follows its `drain`, never a second
/// `drain`. A drain immediately undone by a resume (before the hooks ran) runs neither.
pub trait DrainHook: Send + Sync + 'static {
    /// Takes this layer out of rotation (e.g. deregisters from discovery).
    fn drain(&self) -> HookFuture;
    /// Puts this layer back in rotation (e.g. registers again).
    fn resume(&self) -> HookFuture;
}

/// The drain state machine; [`Runtime::drain_control`](crate::Runtime::drain_control).
///
/// | call | effect |
/// |---|---|
/// | [`drain`](Self::drain) | **before it returns**, every endpoint refuses new requests; then, in the background, the hooks' `drain` (leave discovery) and the wait for the requests in flight; the state goes `serving` → `draining` → `drained` |
/// | [`drain_and_wait`](Self::drain_and_wait) | the same, and waits for `drained` (bounded) |
/// | [`resume`](Self::resume) | endpoints admit again at once, then the hooks' `resume` (register again, under a new instance id); the state goes back to `serving` |
///
/// Drained, the process stays alive: its status server answers `/health` 503 with
/// `"drain": "drained"` (and `/live` 200), its HTTP servers keep their listeners and answer
/// every request 503 with `Connection: close` and `Retry-After`, so routers retry elsewhere.
/// All calls are idempotent and may race from any number of threads: a drain during a drain
/// joins it, a resume while serving does nothing.
///
/// With the shutdown, the shutdown wins: a drain or a resume once it has started is refused
/// ([`RuntimeError::DrainDuringShutdown`]); a shutdown during a drain runs its three phases
/// as usual (phase 1 closes the endpoints, paused or not, and phase 2 waits for the same
/// requests the drain waits for).
///
/// ```
/// use std::time::Duration;
/// use rt_core::config::RuntimeConfig;
/// use rt_core::drain::DrainState;
/// use rt_core::{NotAcceptingReason, Runtime, RuntimeError};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = RuntimeConfig::builder().num_worker_threads(1).compute_threads(0).build()?;
/// let runtime = Runtime::from_config(config)?;
/// let rt = runtime.clone();
/// runtime.primary().block_on(async move {
///     let (ctx_tx, ctx_rx) = tokio::sync::oneshot::channel();
///     let _endpoint = rt.endpoint("work").start(|ctx| {
///         let _ = ctx_tx.send(ctx.clone());
///         async move { ctx.cancelled().await; Ok::<(), RuntimeError>(()) }
///     })?;
///     let ctx = ctx_rx.await?;
///     let request = ctx.begin_request()?;               // admitted before the drain
///
///     let control = rt.drain_control();
///     control.drain()?;                                  // out of rotation from here on
///     let refused = ctx.begin_request().map(drop).unwrap_err();
///     assert!(matches!(refused, RuntimeError::NotAccepting { reason: NotAcceptingReason::Drained, .. }));
///     assert_eq!(control.state(), DrainState::Draining); // the admitted request runs on
///     drop(request);
///     let report = control.drain_and_wait(Some(Duration::from_secs(5))).await?;
///     assert_eq!(report.state, DrainState::Drained);
///
///     rt.resume().await?;                                // back in rotation
///     assert!(ctx.begin_request().is_ok());
///     rt.shutdown_and_wait(None).await;
///     // Once the shutdown has started, both are refused.
///     assert!(matches!(control.drain(), Err(RuntimeError::DrainDuringShutdown { .. })));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct DrainControl {
    inner: Arc<Inner>,
}

struct Inner {
    ctl: Mutex<Ctl>,
    state: watch::Sender<DrainState>,
    /// Hooks added and not yet taken into `hooks`.
    added: Mutex<Vec<HookEntry>>,
    /// Held while hooks run: a drain's and a resume's never overlap.
    hooks: tokio::sync::Mutex<Hooks>,
    coordinator: ShutdownCoordinator,
    /// Where the drain's background work runs (the runtime's secondary runtime).
    handle: Handle,
    /// The bound of one hook call.
    hook_timeout: Duration,
    /// The bound of [`DrainControl::drain_and_wait`] when given none.
    default_wait: Duration,
}

/// What the state lock guards: the state, its epoch and the endpoints' gates change together.
struct Ctl {
    state: DrainState,
    /// Bumped by every state change that a drain or a resume makes.
    epoch: u64,
    gates: Vec<Weak<Gate>>,
}

/// One hook and where it stands.
struct HookEntry {
    name: String,
    hook: Arc<dyn DrainHook>,
    /// Whether its `drain` ran last (it is out of rotation).
    out: bool,
}

/// The hooks and what they last did.
struct Hooks {
    entries: Vec<HookEntry>,
    last: Vec<HookOutcome>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a few plain assignments: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DrainControl {
    /// A control serving, running its background work on `handle`, refusing once
    /// `coordinator`'s shutdown started; one hook call is bounded by `hook_timeout`, a
    /// [`drain_and_wait`](Self::drain_and_wait) without a bound by `default_wait`.
    pub(crate) fn new(
        coordinator: ShutdownCoordinator,
        handle: Handle,
        hook_timeout: Duration,
        default_wait: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                ctl: Mutex::new(Ctl {
                    state: DrainState::Serving,
                    epoch: 0,
                    gates: Vec::new(),
                }),
                state: watch::Sender::new(DrainState::Serving),
                added: Mutex::new(Vec::new()),
                hooks: tokio::sync::Mutex::new(Hooks {
                    entries: Vec::new(),
                    last: Vec::new(),
                }),
                coordinator,
                handle,
                hook_timeout,
                default_wait,
            }),
        }
    }

    /// The admission gate of a new endpoint over its counter: paused when the process is not
    /// serving.
    pub(crate) fn gate(&self, in_flight: InFlight) -> Arc<Gate> {
        let mut ctl = lock(&self.inner.ctl);
        let gate = Arc::new(Gate::new(in_flight, ctl.state != DrainState::Serving));
        ctl.gates.retain(|g| g.strong_count() > 0);
        ctl.gates.push(Arc::downgrade(&gate));
        gate
    }

    /// The state now.
    pub fn state(&self) -> DrainState {
        *self.inner.state.borrow()
    }

    /// A receiver of every state change.
    pub fn subscribe(&self) -> watch::Receiver<DrainState> {
        self.inner.state.subscribe()
    }

    /// Requests in flight now, on every live endpoint together.
    pub fn in_flight(&self) -> usize {
        let ctl = lock(&self.inner.ctl);
        ctl.gates
            .iter()
            .filter_map(Weak::upgrade)
            .map(|g| g.in_flight().count())
            .sum()
    }

    /// Adds `hook` under `name` (for the logs and the [`DrainReport`]). The hook starts in
    /// rotation: added while the process is out of rotation, its `drain` runs at once (in the
    /// background), so that it joins the drain.
    pub fn add_hook(&self, name: impl Into<String>, hook: Arc<dyn DrainHook>) {
        lock(&self.inner.added).push(HookEntry {
            name: name.into(),
            hook,
            out: false,
        });
        if self.state() != DrainState::Serving {
            let control = self.clone();
            self.inner
                .handle
                .spawn(async move { control.apply_hooks().await });
        }
    }

    /// Starts a drain and returns at once; idempotent (a drain already under way, or done,
    /// is left as it is); callable from sync and async code.
    ///
    /// Every endpoint refuses new requests from the moment this returns
    /// ([`NotAcceptingReason::Drained`](crate::NotAcceptingReason::Drained)); the requests
    /// admitted before finish. In the background (on the secondary runtime) the hooks' `drain`
    /// runs (rt-discovery deletes the process's keys), then the drain waits until no request
    /// is in flight and the state becomes [`DrainState::Drained`].
    ///
    /// # Errors
    ///
    /// [`RuntimeError::DrainDuringShutdown`] once the runtime's shutdown has started.
    pub fn drain(&self) -> Result<(), RuntimeError> {
        let mut ctl = lock(&self.inner.ctl);
        if self.inner.coordinator.is_shutdown_started() {
            return Err(RuntimeError::DrainDuringShutdown { action: "drain" });
        }
        if ctl.state != DrainState::Serving {
            return Ok(());
        }
        ctl.epoch += 1;
        ctl.state = DrainState::Draining;
        for gate in ctl.gates.iter().filter_map(Weak::upgrade) {
            gate.pause();
        }
        self.inner.state.send_replace(DrainState::Draining);
        let epoch = ctl.epoch;
        drop(ctl);
        tracing::info!(
            in_flight = self.in_flight(),
            "drain: endpoints refuse new requests; leaving discovery, finishing what was admitted"
        );
        let control = self.clone();
        self.inner.handle.spawn(async move {
            control.apply_hooks().await;
            control.wait_idle(epoch).await;
        });
        Ok(())
    }

    /// Starts a drain ([`drain`](Self::drain)) or joins the one under way, and waits until
    /// the process is drained, the bound passes (`timeout`, else the runtime's graceful
    /// shutdown timeout), a resume ends the drain, or phase 3 of a shutdown begins. The
    /// report says which: its `state` is `drained` after a complete drain.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: the drain goes on in the background; dropping the future
    /// only stops the waiting.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::DrainDuringShutdown`] once the runtime's shutdown has started.
    pub async fn drain_and_wait(
        &self,
        timeout: Option<Duration>,
    ) -> Result<DrainReport, RuntimeError> {
        let started = Instant::now();
        let mut states = self.inner.state.subscribe();
        self.drain()?;
        let primary = self.inner.coordinator.primary_token();
        let bound = timeout.unwrap_or(self.inner.default_wait);
        let _ = tokio::time::timeout(bound, async {
            while *states.borrow_and_update() == DrainState::Draining {
                tokio::select! {
                    changed = states.changed() => if changed.is_err() { break },
                    () = primary.cancelled() => break,
                }
            }
        })
        .await;
        Ok(self.report(started))
    }

    /// Puts the process back in rotation: endpoints admit requests again from the moment the
    /// state is [`DrainState::Serving`] (before the hooks run), then the hooks' `resume` runs
    /// (rt-discovery registers every endpoint again, under a new instance id), and this
    /// returns once they are done. A resume while serving does nothing but wait for the
    /// hooks of an earlier drain or resume to finish. A resume during a drain ends it.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe in effect: the state changes before the first await, and
    /// hooks that did not run are run by the next drain or resume (a hook cut off while
    /// running may be left half done, as by its time bound).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::DrainDuringShutdown`] once the runtime's shutdown has started.
    pub async fn resume(&self) -> Result<DrainReport, RuntimeError> {
        let started = Instant::now();
        {
            let mut ctl = lock(&self.inner.ctl);
            if self.inner.coordinator.is_shutdown_started() {
                return Err(RuntimeError::DrainDuringShutdown { action: "resume" });
            }
            if ctl.state != DrainState::Serving {
                ctl.epoch += 1;
                ctl.state = DrainState::Serving;
                for gate in ctl.gates.iter().filter_map(Weak::upgrade) {
                    gate.unpause();
                }
                self.inner.state.send_replace(DrainState::Serving);
                drop(ctl);
                tracing::info!("resume: endpoints accept requests again; registering again");
            }
        }
        self.apply_hooks().await;
        Ok(self.report(started))
    }

    /// Brings the hooks in line with the state: runs the `drain` of each hook in rotation
    /// when the process is out of it, the `resume` of each hook out of rotation when the
    /// process is serving, nothing otherwise.
    async fn apply_hooks(&self) {
        let mut hooks = self.inner.hooks.lock().await;
        let added = std::mem::take(&mut *lock(&self.inner.added));
        hooks.entries.extend(added);
        let out = self.state() != DrainState::Serving;
        let action = if out { "drain" } else { "resume" };
        let mut outcomes = Vec::new();
        for entry in hooks.entries.iter_mut().filter(|e| e.out != out) {
            let started = Instant::now();
            let call = if out {
                entry.hook.drain()
            } else {
                entry.hook.resume()
            };
            let error = match tokio::time::timeout(self.inner.hook_timeout, call).await {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some(format!(
                    "did not finish within {:?} (DYN_RUNTIME_TEARDOWN_TIMEOUT_SECS)",
                    self.inner.hook_timeout
                )),
            };
            let took = started.elapsed();
            match &error {
                None => tracing::info!(hook = %entry.name, action, ?took, "drain hook done"),
                Some(error) => {
                    tracing::warn!(hook = %entry.name, action, %error, "drain hook failed")
                }
            }
            entry.out = out;
            outcomes.push(HookOutcome {
                name: entry.name.clone(),
                action,
                error,
                took,
            });
        }
        if !outcomes.is_empty() {
            hooks.last = outcomes;
        }
    }

    /// Waits until no request is in flight, then marks the drain of `epoch` done; returns
    /// early when a resume (or another drain) replaced it, or at phase 3 of the shutdown.
    ///
    /// The gates are paused, so their counts only fall: it waits on each busy counter's
    /// [`InFlight::idle`] in turn (woken by the release that reaches zero, never by a timer),
    /// and on the state watch, which a resume or a new drain changes.
    async fn wait_idle(&self, epoch: u64) {
        let primary = self.inner.coordinator.primary_token();
        let mut state = self.inner.state.subscribe();
        loop {
            let busy = {
                let mut ctl = lock(&self.inner.ctl);
                if ctl.epoch != epoch {
                    return;
                }
                let busy = ctl
                    .gates
                    .iter()
                    .filter_map(Weak::upgrade)
                    .find(|g| g.in_flight().count() > 0);
                if busy.is_none() {
                    ctl.state = DrainState::Drained;
                    self.inner.state.send_replace(DrainState::Drained);
                    drop(ctl);
                    tracing::info!("drained: out of rotation, nothing in flight; alive until resume or shutdown");
                    return;
                }
                busy
            };
            let Some(gate) = busy else { return };
            tokio::select! {
                () = gate.in_flight().idle() => {}
                changed = state.changed() => if changed.is_err() { return },
                () = primary.cancelled() => return,
            }
        }
    }

    /// The report now; the hooks' last outcomes unless hooks are running.
    fn report(&self, started: Instant) -> DrainReport {
        let hooks = match self.inner.hooks.try_lock() {
            Ok(hooks) => hooks.last.clone(),
            Err(_) => Vec::new(),
        };
        DrainReport {
            state: self.state(),
            waited: started.elapsed(),
            in_flight: self.in_flight(),
            hooks,
            shutdown_started: self.inner.coordinator.is_shutdown_started(),
        }
    }
}

impl fmt::Debug for DrainControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainControl")
            .field("state", &self.state())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}
