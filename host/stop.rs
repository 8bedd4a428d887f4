//! What ends a wait: a deadline, and cancellation from outside (from
//! another thread, whatever the interpreter is doing).
//!
//! An interpreter is in one of three places when it is cancelled, and each
//! is reached differently:
//! - running Python: the runtime's ticker sees the flag and revokes its
//!   memory (`tripwire.rs`), or, where that cannot work, the store's epoch
//!   callback, called every tick, sees it and traps;
//! - blocked in a host call (a channel, a join, a nested run, a sleep): the
//!   call registered a *nudge* before it waited, and cancelling runs it, so
//!   the wait wakes, sees the flag and stops the guest;
//! - idle: the flag is seen when the next run starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::ids::Party;
use crate::sync::lock;
use crate::tripwire::Tripwire;

type Nudge = Arc<dyn Fn() + Send + Sync>;

/// One interpreter's cancellation flag, and what to nudge when it is set.
#[derive(Default)]
pub(crate) struct CancelFlag {
    cancelled: AtomicBool,
    /// The wait the interpreter is blocked in, if any.
    nudge: Mutex<Option<Nudge>>,
}

impl CancelFlag {
    pub(crate) fn is_set(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Sets the flag and wakes the wait in progress. True the first time.
    pub(crate) fn set(&self) -> bool {
        let first = !self.cancelled.swap(true, Ordering::SeqCst);
        // Called outside the lock: a nudge may cancel another interpreter.
        let nudge = lock(&self.nudge).clone();
        if let Some(nudge) = nudge {
            nudge();
        }
        first
    }

    /// Registers `nudge` as the way to wake the wait that follows, until the
    /// returned guard is dropped.
    ///
    /// The waiter registers first and checks [`is_set`](Self::is_set) after,
    /// while [`set`](Self::set) sets the flag first and reads the nudge
    /// after: whichever comes second sees the other, so no cancellation is
    /// lost between the check and the wait. A nudge must take the lock the
    /// waiter checks the flag under, for the same reason.
    pub(crate) fn watch(&self, nudge: impl Fn() + Send + Sync + 'static) -> Watch<'_> {
        *lock(&self.nudge) = Some(Arc::new(nudge));
        Watch(self)
    }
}

/// Unregisters a nudge when the wait it wakes is over.
pub(crate) struct Watch<'a>(&'a CancelFlag);

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        *lock(&self.0.nudge) = None;
    }
}

/// `Error::Cancelled` if `party` is an interpreter that was cancelled.
pub(crate) fn cancelled(party: Party, cancel: Option<&CancelFlag>) -> Option<Error> {
    match (party, cancel) {
        (Party::Interpreter(id), Some(flag)) if flag.is_set() => Some(Error::Cancelled(id)),
        _ => None,
    }
}

/// Whether a blocking operation may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// PEP 554's `_nowait` forms: succeed only if the other side is there.
    No,
    /// Wait, until the deadline if there is one.
    Until(Option<Instant>),
}

impl Wait {
    pub(crate) fn timeout(timeout: Option<Duration>) -> Self {
        Wait::Until(deadline_after(timeout))
    }
}

/// The moment `timeout` from now, if there is one. A timeout too large for
/// an `Instant` is no timeout.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|timeout| Instant::now().checked_add(timeout))
}

/// The earlier of two optional deadlines: a wait ends at whichever comes
/// first, and at neither if there is none.
pub(crate) fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What ends a run early: its deadline, and its interpreter's cancellation.
/// Every wait a run makes in the host ends at the first of them.
pub(crate) struct Stop {
    deadline: Option<Instant>,
    cancel: Arc<CancelFlag>,
    /// What stops the guest where it runs, if the runtime revokes memory.
    tripwire: Arc<Tripwire>,
}

impl Stop {
    /// No deadline yet, `cancel` for the interpreter's cancellation, and
    /// `tripwire` for its store.
    pub(crate) fn new(cancel: Arc<CancelFlag>, tripwire: Arc<Tripwire>) -> Self {
        Stop { deadline: None, cancel, tripwire }
    }

    /// When the current run must end, if it has a deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
        self.tripwire.set_deadline(deadline);
    }

    /// The store's tripwire.
    pub(crate) fn tripwire(&self) -> &Arc<Tripwire> {
        &self.tripwire
    }

    /// The interpreter's cancellation: blocking calls wake when it is set.
    pub(crate) fn cancel_flag(&self) -> &Arc<CancelFlag> {
        &self.cancel
    }

    /// True when the guest must stop where it is: its run's deadline passed,
    /// or it was cancelled.
    pub(crate) fn must_stop(&self) -> bool {
        self.cancel.is_set() || self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// How a blocking call waits: not at all if `nowait`, else until the
    /// earlier of its own timeout and the run's deadline.
    pub(crate) fn wait(&self, nowait: bool, timeout: Option<Duration>) -> Wait {
        if nowait {
            return Wait::No;
        }
        Wait::Until(self.until(timeout))
    }

    /// When a blocking call with its own `timeout` must end: at that
    /// timeout or the run's deadline, whichever comes first.
    pub(crate) fn until(&self, timeout: Option<Duration>) -> Option<Instant> {
        earlier(deadline_after(timeout), self.deadline)
    }
}
