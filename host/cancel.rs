//! Stopping an interpreter from outside: from another thread, whatever it
//! is doing.
//!
//! An interpreter is in one of three places when it is cancelled, and each
//! is reached differently:
//! - running Python: the store's epoch callback, called every tick, sees
//!   the flag and traps;
//! - blocked in a host call (a channel, a join, a nested run, a sleep): the
//!   call registered a *nudge* before it waited, and cancelling runs it, so
//!   the wait wakes, sees the flag and stops the guest;
//! - idle: the flag is seen when the next run starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::interpreter::InterpreterInner;
use crate::sync::lock;

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

/// Stops an interpreter from any thread; from
/// [`Interpreter::cancel_handle`](crate::Interpreter::cancel_handle).
///
/// [`cancel`](Self::cancel) stops the interpreter promptly whether it is
/// running Python (within one epoch tick, 5 ms), blocked in a channel's
/// `send`/`recv`, a `join`, a nested run or `time.sleep`, or idle. A
/// cancelled interpreter is discarded: the run in progress and every later
/// call return [`Error::Cancelled`](crate::Error::Cancelled), its channel
/// ends are released, and the interpreters its Python code created are
/// cancelled too.
///
/// The handle does not keep the interpreter alive; cancelling one that is
/// gone does nothing. It is `Clone + Send + Sync`.
#[derive(Clone)]
pub struct CancelHandle {
    pub(crate) interpreter: Weak<InterpreterInner>,
}

impl CancelHandle {
    /// Cancels the interpreter. Returns at once, without waiting for it to
    /// stop; true if this call cancelled it, false if it was already
    /// cancelled or is gone.
    pub fn cancel(&self) -> bool {
        self.interpreter.upgrade().is_some_and(|interpreter| interpreter.cancel())
    }
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.interpreter.upgrade().map(|interpreter| interpreter.id());
        f.debug_struct("CancelHandle").field("interpreter", &id).finish()
    }
}
