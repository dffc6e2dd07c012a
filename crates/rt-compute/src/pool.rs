//! [`ComputePool`]: a Rayon thread pool with an async bridge.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use rt_config::ComputeConfig;

use crate::error::ComputeError;
use crate::job::{self, JobHandle, Outcome};
use crate::metrics::{ComputeMetrics, Counters};
use crate::spin::SpinPolicy;
use crate::unwind::{halt_unwinding, panic_message, resume_unwinding};

/// State shared by the pool handle and its in-flight jobs.
#[derive(Debug)]
pub(crate) struct PoolShared {
    pub(crate) counters: Counters,
    pub(crate) spin: SpinPolicy,
    num_threads: usize,
}

impl PoolShared {
    /// A job submitted now would wait for a thread.
    fn busy(&self) -> bool {
        let queued = self.counters.queued();
        queued > 0 || self.counters.active() >= self.num_threads as u64
    }

    /// Runs `f` as a job: skip if cancelled, time it, catch its panic.
    fn run<F, R>(&self, kind: usize, completer: job::Completer<R>, f: F)
    where
        F: FnOnce() -> R,
    {
        if !completer.start() {
            self.counters.on_skip();
            return;
        }
        self.counters.on_start();
        let started = Instant::now();
        let outcome = match halt_unwinding(f) {
            Ok(v) => Outcome::Value(v),
            Err(p) => Outcome::Panic(p),
        };
        let elapsed = started.elapsed();
        self.spin.record(kind, elapsed);
        self.counters
            .on_finish(elapsed, matches!(outcome, Outcome::Panic(_)));
        completer.finish(outcome);
    }
}

/// A pool of threads for CPU-heavy work, reachable from async code in one hop.
///
/// Built on a dedicated [`rayon::ThreadPool`]: jobs sent through [`execute`](Self::execute) and
/// its siblings are pushed straight onto this pool (no detour through Rayon's global pool), and
/// Rayon's parallel APIs (`par_iter`, `join`, `scope`) called inside a job use this pool too.
///
/// # The async methods
///
/// `execute`, `install`, `execute_scoped`, `join`, `parallel_map` and `parallel_batch` return
/// futures. Like every future they do nothing until polled: the job is submitted on the first
/// poll. Then:
///
/// * **Panics.** A panic inside the job is caught on the pool thread and returned as
///   [`ComputeError::Panicked`] with the panic message. The pool keeps all its threads. (The
///   process's panic hook still runs, so the message is also printed as usual.)
/// * **Waiting.** The first poll may spin for up to `bridge_spin_us` microseconds (see
///   [`ComputeConfig`]) waiting for a short job, then parks the task like any other future.
///   Spinning adapts: the pool learns how long the jobs of each call site run and spins only
///   for those shorter than the budget, never when the pool is busy, and backs off when spins
///   keep running out (an oversubscribed machine).
/// * **Spans.** A job runs inside the `tracing` span that was current where it was submitted
///   (an HTTP request's span, say), so that its log lines carry that span's fields (the
///   request id).
/// * **Ordering.** Jobs start roughly in submission order (Rayon's injector queue is FIFO), but
///   with several threads they run concurrently and may finish in any order.
///
/// # Cancel safety
///
/// Every async method is cancel-safe in the same way (each says so under its own heading):
/// dropping its future before a pool thread has picked the job up cancels the job, which is
/// skipped and its closure dropped unrun (counted in [`ComputeMetrics::tasks_skipped`]). Once
/// the job has started it runs to the end; dropping the future then only discards the result
/// (dropped on the pool thread).
///
/// # Blocking
///
/// [`execute_sync`](Self::execute_sync) blocks the calling thread until the job is done; do not
/// call it from an async task (it would stall that tokio worker). Called from one of this pool's
/// own threads it runs the job in place.
///
/// # Example
///
/// ```
/// use rt_compute::ComputePool;
///
/// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
/// # rt.block_on(async {
/// let pool = ComputePool::with_defaults()?;
/// let sum = pool.execute(|| (1..=100u64).sum::<u64>()).await?;
/// assert_eq!(sum, 5050);
/// let squares = pool.parallel_map(vec![1, 2, 3], |x| x * x).await?;
/// assert_eq!(squares, vec![1, 4, 9]);
/// # Ok::<_, rt_compute::ComputeError>(())
/// # }).unwrap();
/// ```
pub struct ComputePool {
    pool: rayon::ThreadPool,
    shared: Arc<PoolShared>,
    config: ComputeConfig,
}

impl fmt::Debug for ComputePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputePool")
            .field("num_threads", &self.num_threads())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ComputePool {
    /// Builds a pool from `config`: `resolved_num_threads()` threads named
    /// `{thread_prefix}-{n}` (n from 0), each with `resolved_stack_size()` bytes of stack,
    /// optionally pinned one per core (`pin_threads`; Linux only, a failure to pin is logged
    /// and otherwise ignored).
    ///
    /// # Errors
    ///
    /// [`ComputeError::InvalidConfig`] when `config` fails [`ComputeConfig::validate`] (the
    /// same rules, and the same [`ConfigError`](rt_config::ConfigError) as its `source`, as
    /// every other entry point): `num_threads` outside 1 to 1024 (use `None` for the default
    /// size, or disable the pool), `stack_size` outside 128 KiB to 1 GiB, `thread_prefix` not
    /// 1 to 32 characters from `A-Z a-z 0-9 - _ .`, `bridge_spin_us` above 1000.
    /// [`ComputeError::ThreadStart`] when the OS refuses the threads.
    ///
    /// ```
    /// use rt_compute::{ComputeConfig, ComputeError, ComputePool};
    ///
    /// let config = ComputeConfig { num_threads: Some(2), ..ComputeConfig::default() };
    /// let pool = ComputePool::new(config).unwrap();
    /// assert_eq!(pool.num_threads(), 2);
    ///
    /// let bad = ComputeConfig { num_threads: Some(0), ..ComputeConfig::default() };
    /// let err = ComputePool::new(bad).unwrap_err();
    /// assert!(
    ///     matches!(&err, ComputeError::InvalidConfig { source } if source.key() == Some("num_threads")),
    ///     "{err}"
    /// );
    /// ```
    pub fn new(config: ComputeConfig) -> Result<Self, ComputeError> {
        config
            .validate()
            .map_err(|source| ComputeError::InvalidConfig { source })?;
        let (threads, stack) = (config.resolved_num_threads(), config.resolved_stack_size());
        let prefix = config.thread_prefix.clone();
        let mut builder = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .stack_size(stack)
            .thread_name(move |i| format!("{prefix}-{i}"))
            .panic_handler(|payload| {
                tracing::error!(
                    panic = %panic_message(&*payload),
                    "a task spawned inside a compute job panicked outside any scope"
                );
            });
        if config.pin_threads {
            let cores = crate::affinity::allowed_cores();
            builder = builder.start_handler(move |i| crate::affinity::pin(i, &cores));
        }
        let pool = builder.build().map_err(|e| ComputeError::ThreadStart {
            message: e.to_string(),
        })?;
        let num_threads = pool.current_num_threads();
        tracing::debug!(
            threads = num_threads,
            stack_size = stack,
            prefix = %config.thread_prefix,
            spin_us = config.bridge_spin_us,
            "compute pool started"
        );
        Ok(Self {
            pool,
            shared: Arc::new(PoolShared {
                counters: Counters::default(),
                spin: SpinPolicy::new(config.bridge_spin_us),
                num_threads,
            }),
            config,
        })
    }

    /// Builds a pool from [`ComputeConfig::default()`].
    ///
    /// # Errors
    ///
    /// [`ComputeError::ThreadStart`] when the OS refuses the threads.
    pub fn with_defaults() -> Result<Self, ComputeError> {
        Self::new(ComputeConfig::default())
    }

    /// Number of threads of the pool.
    pub fn num_threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The configuration the pool was built from.
    pub fn config(&self) -> &ComputeConfig {
        &self.config
    }

    /// A snapshot of the pool's counters (see [`ComputeMetrics`]).
    pub fn metrics(&self) -> ComputeMetrics {
        self.shared.counters.snapshot(self.num_threads())
    }

    /// The underlying Rayon pool, for APIs this type does not wrap. Work sent to it directly
    /// bypasses the bridge's cancellation, panic capture and metrics.
    pub fn rayon_pool(&self) -> &rayon::ThreadPool {
        &self.pool
    }

    /// Submits `f` as a job and returns the future of its outcome.
    pub(crate) fn submit<F, R>(&self, f: F) -> JobHandle<'_, R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let shared = &*self.shared;
        let kind = crate::spin::kind_of::<F>();
        let may_spin = shared.spin.should_spin(kind, || shared.busy());
        let (completer, slot) = job::slot();
        let run_on = Arc::clone(&self.shared);
        // The caller's span (an HTTP request's, with its id) goes with the job, so that what
        // the job logs carries it. Without a subscriber or an active span this is a disabled
        // span: nothing to clone, nothing to enter.
        let span = tracing::Span::current();
        shared.counters.on_submit();
        self.pool
            .spawn(move || span.in_scope(|| run_on.run(kind, completer, f)));
        JobHandle::new(slot, &shared.spin, may_spin)
    }

    /// Runs `f` on the pool and re-raises its panic in the caller (for the macros).
    ///
    /// Panics with `f`'s own payload if `f` panicked, and with [`ComputeError::Discarded`]'s
    /// message if the job was lost unrun.
    pub(crate) async fn execute_unwind<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match self.submit(f).await {
            Outcome::Value(v) => v,
            Outcome::Panic(p) => resume_unwinding(p),
            Outcome::Discarded => panic!("{}", ComputeError::Discarded),
        }
    }

    /// Runs `f` on one of the pool's threads and returns its result.
    ///
    /// One hop: the job goes straight into this pool's queue, and the result comes back through
    /// a one-shot slot. See the [type docs](Self#the-async-methods) for cancellation, panics
    /// and spinning.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a pool thread picked the job up skips the job (its closure
    /// is dropped unrun); once started, the job runs to the end and its result is dropped.
    ///
    /// # Errors
    ///
    /// [`ComputeError::Panicked`] if `f` panicked; [`ComputeError::Discarded`] if the job was
    /// lost unrun (only if the pool's threads died).
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pool = rt_compute::ComputePool::with_defaults().unwrap();
    /// let n = pool.execute(|| 21 * 2).await.unwrap();
    /// assert_eq!(n, 42);
    ///
    /// let err = pool.execute(|| -> u32 { panic!("bad input") }).await.unwrap_err();
    /// assert_eq!(err.to_string(), "compute job panicked: bad input");
    /// # });
    /// ```
    pub async fn execute<F, R>(&self, f: F) -> Result<R, ComputeError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match self.submit(f).await {
            Outcome::Value(v) => Ok(v),
            Outcome::Panic(p) => Err(ComputeError::panicked(&p)),
            Outcome::Discarded => Err(ComputeError::Discarded),
        }
    }

    /// Runs `f` inside the pool, for closures that use Rayon's parallel APIs (`par_iter`,
    /// `rayon::join`, ...): those calls then run on this pool rather than Rayon's global one.
    ///
    /// The same bridge as [`execute`](Self::execute), with the same rules; the name follows
    /// [`rayon::ThreadPool::install`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a pool thread picked the job up skips the job (its closure
    /// is dropped unrun); once started, the job runs to the end and its result is dropped.
    ///
    /// # Errors
    ///
    /// As [`execute`](Self::execute).
    ///
    /// ```
    /// use rayon::prelude::*;
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pool = rt_compute::ComputePool::with_defaults().unwrap();
    /// let total = pool.install(|| (0..1000u64).into_par_iter().sum::<u64>()).await.unwrap();
    /// assert_eq!(total, 499_500);
    /// # });
    /// ```
    pub async fn install<F, R>(&self, f: F) -> Result<R, ComputeError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.execute(f).await
    }

    /// Runs `f` with a [`rayon::Scope`] on the pool; every task spawned on the scope finishes
    /// before the future resolves (fork-join with a dynamic number of tasks).
    ///
    /// Spawned tasks run on this pool. Like `f` itself they must own what they use (move it
    /// in, share it through an `Arc`, send results over a channel): `f` is `'static`, so there
    /// is nothing of the caller's to borrow.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a pool thread picked the job up skips `f` (no task is
    /// spawned on the scope); once `f` has started, it and every task it spawns run to the end
    /// and the result is dropped.
    ///
    /// # Errors
    ///
    /// [`ComputeError::Panicked`] if `f` or any task spawned on the scope panicked (the
    /// scope waits for its other tasks first).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pool = rt_compute::ComputePool::with_defaults().unwrap();
    /// let hits = Arc::new(AtomicUsize::new(0));
    /// let h = Arc::clone(&hits);
    /// pool.execute_scoped(move |scope| {
    ///     for _ in 0..4 {
    ///         let h = Arc::clone(&h);
    ///         scope.spawn(move |_| { h.fetch_add(1, Ordering::Relaxed); });
    ///     }
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(hits.load(Ordering::Relaxed), 4);
    /// # });
    /// ```
    pub async fn execute_scoped<F, R>(&self, f: F) -> Result<R, ComputeError>
    where
        F: for<'s> FnOnce(&rayon::Scope<'s>) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.execute(move || rayon::scope(f)).await
    }

    /// Runs `a` and `b` in parallel on the pool (`rayon::join`) and returns both results.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a pool thread picked the job up skips the job (its closure
    /// is dropped unrun); once started, the job runs to the end and its result is dropped.
    ///
    /// # Errors
    ///
    /// [`ComputeError::Panicked`] if either closure panicked (after both have finished).
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pool = rt_compute::ComputePool::with_defaults().unwrap();
    /// let (a, b) = pool.join(|| 1 + 1, || "two").await.unwrap();
    /// assert_eq!((a, b), (2, "two"));
    /// # });
    /// ```
    pub async fn join<A, B, RA, RB>(&self, a: A, b: B) -> Result<(RA, RB), ComputeError>
    where
        A: FnOnce() -> RA + Send + 'static,
        B: FnOnce() -> RB + Send + 'static,
        RA: Send + 'static,
        RB: Send + 'static,
    {
        self.execute(move || rayon::join(a, b)).await
    }

    /// Applies `f` to every item in parallel on the pool; results keep the input order.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a pool thread picked the job up skips the job (its closure
    /// is dropped unrun); once started, the job runs to the end and its result is dropped.
    ///
    /// # Errors
    ///
    /// [`ComputeError::Panicked`] if `f` panicked on any item (no partial results).
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pool = rt_compute::ComputePool::with_defaults().unwrap();
    /// let lens = pool.parallel_map(vec!["a", "bb", "ccc"], str::len).await.unwrap();
    /// assert_eq!(lens, vec![1, 2, 3]);
    /// # });
    /// ```
    pub async fn parallel_map<T, R, F>(&self, items: Vec<T>, f: F) -> Result<Vec<R>, ComputeError>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        self.execute(move || items.into_par_iter().map(f).collect())
            .await
    }

    /// Splits `items` into consecutive batches of `batch_size` (the last one may be shorter),
    /// runs `f` on the batches in parallel and returns one result per batch, in order.
    ///
    /// Use it when per-item work is too small to schedule item by item, or when `f` has a
    /// per-call setup cost worth sharing across a batch.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a pool thread picked the job up skips the job (its closure
    /// is dropped unrun); once started, the job runs to the end and its result is dropped.
    ///
    /// # Errors
    ///
    /// [`ComputeError::InvalidArgument`] if `batch_size` is 0; [`ComputeError::Panicked`] if
    /// `f` panicked on any batch.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pool = rt_compute::ComputePool::with_defaults().unwrap();
    /// let sums = pool
    ///     .parallel_batch((1..=7).collect(), 3, |b: &[u32]| b.iter().sum::<u32>())
    ///     .await
    ///     .unwrap();
    /// assert_eq!(sums, vec![6, 15, 7]);
    /// # });
    /// ```
    pub async fn parallel_batch<T, R, F>(
        &self,
        items: Vec<T>,
        batch_size: usize,
        f: F,
    ) -> Result<Vec<R>, ComputeError>
    where
        T: Send + Sync + 'static,
        R: Send + 'static,
        F: Fn(&[T]) -> R + Send + Sync + 'static,
    {
        if batch_size == 0 {
            return Err(ComputeError::InvalidArgument {
                name: "batch_size",
                reason: "is 0; pass the number of items per batch (at least 1)".to_owned(),
            });
        }
        self.execute(move || items.par_chunks(batch_size).map(f).collect())
            .await
    }

    /// Runs `f` on the pool and blocks the calling thread until it is done.
    ///
    /// For synchronous callers (a plain thread, `spawn_blocking`). Called from one of this
    /// pool's threads it runs `f` in place. Do not call it from an async task: it would block
    /// that tokio worker (use [`execute`](Self::execute)).
    ///
    /// # Errors
    ///
    /// [`ComputeError::Panicked`] if `f` panicked.
    ///
    /// ```
    /// let pool = rt_compute::ComputePool::with_defaults().unwrap();
    /// let name = pool.execute_sync(|| std::thread::current().name().map(str::to_owned)).unwrap();
    /// assert!(name.unwrap().starts_with("compute-"));
    /// ```
    pub fn execute_sync<F, R>(&self, f: F) -> Result<R, ComputeError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let counters = &self.shared.counters;
        let span = tracing::Span::current();
        counters.on_submit();
        self.pool.install(|| {
            let _span = span.enter();
            counters.on_start();
            let started = Instant::now();
            let r = halt_unwinding(f);
            counters.on_finish(started.elapsed(), r.is_err());
            r.map_err(|p| ComputeError::panicked(&p))
        })
    }
}
