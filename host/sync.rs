//! Locking that survives a panic elsewhere.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even if a thread panicked while holding it.
///
/// Every lock in this crate guards state that is consistent whenever the
/// lock is released (no invariant spans an unlock), so a panic in another
/// thread is no reason to fail here; the panic itself is reported where it
/// happened.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
