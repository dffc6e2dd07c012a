//! The tracker's shared state: the counter and the named task classes its guards point at.
//!
//! Private, and a leaf: `tracker.rs` (the tracker and its `TaskClass`) and `guard.rs` (the
//! guard) both build on it, and neither imports the other's internals.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, PoisonError, RwLock};

use crate::counter::Counter;

/// State shared by the tracker, its task classes and its guards.
pub(crate) struct Shared {
    pub(crate) counter: Counter,
    /// One entry per distinct task name. Read-mostly: a name is inserted once.
    classes: RwLock<HashMap<Box<str>, Arc<ClassSlot>>>,
    /// Set when the tracker handle is dropped: the map is cleared and no longer filled (its
    /// entries point back here, so filling it would keep this state alive forever).
    orphaned: AtomicBool,
}

/// A per-thread memory of the class this thread registered last, so that a loop registering
/// tasks of the same name (the usual case: one name per endpoint or job kind) skips the map
/// lookup and its lock. It holds the class's slot, not its core, so a remembered class never
/// counts as a live guard; the cost is that a thread keeps the state of the last tracker it
/// registered on (a few words, its name map cleared) until it registers on another one.
#[cfg(not(loom))]
mod last_class {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::{ClassCore, ClassSlot, Shared};

    std::thread_local! {
        static LAST: RefCell<Option<Arc<ClassSlot>>> = const { RefCell::new(None) };
    }

    /// A new reference to the remembered class's core, when it is `name` of `shared`.
    pub(super) fn get(shared: &Arc<Shared>, name: &str) -> Option<Arc<ClassCore>> {
        LAST.try_with(|last| {
            let last = last.borrow();
            let core = &last.as_ref()?.core;
            (Arc::ptr_eq(&core.shared, shared) && *core.name == *name).then(|| Arc::clone(core))
        })
        .ok()
        .flatten()
    }

    /// Remembers `slot` for this thread (a no-op while the thread is being torn down).
    pub(super) fn set(slot: &Arc<ClassSlot>) {
        let _ = LAST.try_with(|last| *last.borrow_mut() = Some(Arc::clone(slot)));
    }
}

/// The one holder of a class's core besides its guards, so that the core's strong count minus
/// one is the number of live guards of that class (no second counter on the hot path).
pub(crate) struct ClassSlot {
    core: Arc<ClassCore>,
}

impl ClassSlot {
    pub(crate) fn core(&self) -> &Arc<ClassCore> {
        &self.core
    }
}

/// What a guard points at: its name and the shared state.
pub(crate) struct ClassCore {
    name: Box<str>,
    shared: Arc<Shared>,
}

impl ClassCore {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            counter: Counter::new(),
            classes: RwLock::new(HashMap::new()),
            orphaned: AtomicBool::new(false),
        }
    }

    /// The slot for `name`, created on first use.
    pub(crate) fn slot(self: &Arc<Self>, name: &str) -> Arc<ClassSlot> {
        {
            let classes = self.classes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(slot) = classes.get(name) {
                return Arc::clone(slot);
            }
        }
        let new_slot = || {
            Arc::new(ClassSlot {
                core: Arc::new(ClassCore {
                    name: name.into(),
                    shared: Arc::clone(self),
                }),
            })
        };
        let mut classes = self.classes.write().unwrap_or_else(PoisonError::into_inner);
        if self.orphaned.load(std::sync::atomic::Ordering::Acquire) {
            return new_slot();
        }
        Arc::clone(classes.entry(name.into()).or_insert_with(new_slot))
    }

    /// A new reference to the class core for `name` (one more live guard of that class).
    pub(crate) fn class_core(self: &Arc<Self>, name: &str) -> Arc<ClassCore> {
        #[cfg(not(loom))]
        if let Some(core) = last_class::get(self, name) {
            return core;
        }
        let slot = self.slot(name);
        #[cfg(not(loom))]
        last_class::set(&slot);
        Arc::clone(&slot.core)
    }

    /// The classes with live guards and the number of each, unsorted.
    pub(crate) fn class_counts(&self) -> Vec<(String, usize)> {
        let classes = self.classes.read().unwrap_or_else(PoisonError::into_inner);
        classes
            .iter()
            .filter_map(|(name, slot)| {
                let live = Arc::strong_count(&slot.core).saturating_sub(1);
                (live > 0).then(|| (name.to_string(), live))
            })
            .collect()
    }

    /// Clears the name map and stops filling it: the tracker handle is gone, and the entries
    /// point back here, so keeping them would keep this state alive forever.
    pub(crate) fn orphan(&self) {
        let mut classes = self.classes.write().unwrap_or_else(PoisonError::into_inner);
        self.orphaned
            .store(true, std::sync::atomic::Ordering::Release);
        classes.clear();
    }
}
