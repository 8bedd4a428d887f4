//! Locking that survives a panic elsewhere, and waiting for a change.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

/// Locks `mutex`, even if a thread panicked while holding it.
///
/// Every lock in this crate guards state that is consistent whenever the
/// lock is released (no invariant spans an unlock), so a panic in another
/// thread is no reason to fail here; the panic itself is reported where it
/// happened.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A condition variable for state under a [`Mutex`], which waiters watch a
/// moment before they sleep on it.
///
/// A hand-over between interpreters (a channel's rendezvous, a queue's
/// item) is usually answered within microseconds, while putting a thread
/// to sleep and waking it costs tens: a waiter first [`spin`]s with the
/// lock released, watching a counter of changes, and only then sleeps.
#[derive(Default)]
pub(crate) struct Signal {
    changed: Condvar,
    /// Counts the notifications. On a cache line of its own: waiters spin
    /// reading it, and on the line of the lock (and state) they wait on,
    /// which the notifier holds meanwhile, each read took the line from
    /// the notifier.
    changes: CachePadded<AtomicU64>,
    /// The waiters asleep on `changed` (or about to be): a notification
    /// with none skips the condition variable, whose wake is a system call
    /// even when nobody sleeps (it was most of a queue put's kernel time).
    sleepers: AtomicU32,
}

/// How long a waiter spins on its core watching for a change, then how
/// many times it yields the core, before it sleeps. Yielding at once made
/// the scheduler half of a queue round trip's profile.
pub(crate) const SPIN: Duration = Duration::from_micros(20);
const YIELD_ROUNDS: u32 = 50;

impl Signal {
    /// Wakes every waiter. Called with the state locked, after changing it.
    pub(crate) fn notify(&self) {
        // Sequentially consistent, as is the sleeper's side (`wait`): of a
        // notifier and a sleeper, at least one sees the other's write, so
        // either this wakes the sleeper or it sees the change and stays up.
        self.changes.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.changed.notify_all();
        }
    }

    /// Releases `guard`, waits for a change of the state `mutex` guards,
    /// until `deadline`, and locks it again; false once the deadline passed.
    pub(crate) fn wait<'a, T>(
        &self,
        mutex: &'a Mutex<T>,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let seen = self.changes.load(Ordering::Acquire);
        drop(guard);
        match spin(|| (self.changes.load(Ordering::Acquire) != seen).then_some(()), deadline) {
            Spun::Ready(()) => return (lock(mutex), true),
            Spun::Passed => return (lock(mutex), false),
            Spun::Tired => {}
        }
        let guard = lock(mutex);
        let _asleep = Asleep::count(&self.sleepers);
        // Counted as a sleeper first: a change made since `seen` is visible
        // now, and any later one will notify the condition variable.
        if self.changes.load(Ordering::SeqCst) != seen {
            return (guard, true);
        }
        match deadline {
            None => (self.changed.wait(guard).unwrap_or_else(|p| p.into_inner()), true),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return (guard, false);
                }
                let (guard, _) = self.changed.wait_timeout(guard, deadline - now).unwrap_or_else(|p| p.into_inner());
                (guard, true)
            }
        }
    }
}

/// State under a mutex, with the [`Signal`] its changes notify: what every
/// wait of the crate waits on (a channel's rendezvous, a queue, a run's
/// result, a guest's sleep).
pub(crate) struct Watched<S> {
    state: Mutex<S>,
    changed: Signal,
}

impl<S> Watched<S> {
    pub(crate) fn new(state: S) -> Self {
        Watched { state: Mutex::new(state), changed: Signal::default() }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        lock(&self.state)
    }

    /// Wakes every waiter. Called with the state locked, after changing it.
    pub(crate) fn notify(&self) {
        self.changed.notify();
    }

    /// Releases `guard`, waits for the state to change, until `deadline`,
    /// and locks it again; false once the deadline passed.
    pub(crate) fn wait<'a>(&'a self, guard: MutexGuard<'a, S>, deadline: Option<Instant>) -> (MutexGuard<'a, S>, bool) {
        self.changed.wait(&self.state, guard, deadline)
    }

    /// Wakes the waiters, so that they look again at what may have stopped
    /// them (a cancelled interpreter). Under the lock: a waiter between its
    /// check and its wait would miss a notification sent now.
    pub(crate) fn nudge(&self) {
        let _state = self.lock();
        self.changed.notify();
    }
}

/// How a [`spin`] ended.
pub(crate) enum Spun<T> {
    /// What it watched for came.
    Ready(T),
    /// The deadline passed first.
    Passed,
    /// Neither, for as long as a wait spins: time to sleep.
    Tired,
}

/// Watches `ready` for a value a moment before a wait sleeps: on this core
/// for [`SPIN`] (the other side is most likely running on another one and
/// answers within microseconds), then yielding the core [`YIELD_ROUNDS`]
/// times; until `deadline` at most. The one spin policy of the crate's
/// waits ([`Signal::wait`], the host functions' workers and callers).
pub(crate) fn spin<T>(mut ready: impl FnMut() -> Option<T>, deadline: Option<Instant>) -> Spun<T> {
    let passed = || deadline.is_some_and(|deadline| Instant::now() >= deadline);
    let start = Instant::now();
    while start.elapsed() < SPIN {
        for _ in 0..64 {
            if let Some(value) = ready() {
                return Spun::Ready(value);
            }
            std::hint::spin_loop();
        }
        if passed() {
            return Spun::Passed;
        }
    }
    for _ in 0..YIELD_ROUNDS {
        if let Some(value) = ready() {
            return Spun::Ready(value);
        }
        if passed() {
            return Spun::Passed;
        }
        std::thread::yield_now();
    }
    Spun::Tired
}

/// Counts a waiter in [`Signal::sleepers`] while it lives.
struct Asleep<'a>(&'a AtomicU32);

impl<'a> Asleep<'a> {
    fn count(sleepers: &'a AtomicU32) -> Self {
        sleepers.fetch_add(1, Ordering::SeqCst);
        Asleep(sleepers)
    }
}

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
