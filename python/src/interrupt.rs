//! Ctrl-C while the host's main thread waits for a run: the run is
//! cancelled and the wait raises `KeyboardInterrupt`, as a native call
//! that blocks does.
//!
//! Python handles SIGINT only between bytecodes of its main thread, which
//! waits in Rust without the GIL for as long as the run lasts: without
//! this, an endless loop in a sandbox with no time limit could not be
//! interrupted. A signal-hook handler is added after Python's own (which
//! it chains to, so Python still sees the signal), and a watcher thread
//! woken by it cancels the runs the main thread waits for, if SIGINT's
//! handler is still Python's default (a program that set its own keeps
//! its behaviour). Nothing is installed until the main thread first runs
//! an interpreter, and nothing if SIGINT is not Python's default then.

use std::sync::{Mutex, OnceLock};

use isolate::CancelHandle;
use pyo3::prelude::*;

/// The cancel handles of the runs the main thread waits for now.
static WAITING: Mutex<Vec<(u64, CancelHandle)>> = Mutex::new(Vec::new());
/// Whether the watcher runs (set once, by the first main-thread run).
static WATCHING: OnceLock<bool> = OnceLock::new();

/// Whether SIGINT's handler is Python's `default_int_handler`.
fn default_handler(py: Python<'_>) -> bool {
    let signal = match py.import("signal") {
        Ok(signal) => signal,
        Err(_) => return false,
    };
    let (Ok(handler), Ok(default)) = (
        signal.getattr("getsignal").and_then(|getsignal| getsignal.call1((signal.getattr("SIGINT")?,))),
        signal.getattr("default_int_handler"),
    ) else {
        return false;
    };
    handler.is(&default)
}

fn on_main_thread(py: Python<'_>) -> bool {
    let current = py.import("threading").and_then(|threading| {
        Ok(threading.call_method0("current_thread")?.is(&threading.call_method0("main_thread")?))
    });
    current.unwrap_or(false)
}

fn start_watching(py: Python<'_>) -> bool {
    if !default_handler(py) {
        return false;
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT]) else {
        return false;
    };
    let watcher = std::thread::Builder::new().name("isolate_wasm ctrl-c".into()).spawn(move || {
        for _ in signals.forever() {
            let cancel = Python::attach(default_handler);
            if cancel {
                let waiting = WAITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                for (_, handle) in waiting.iter() {
                    handle.cancel();
                }
            }
        }
    });
    watcher.is_ok()
}

/// A run the main thread waits for, cancelled by Ctrl-C while it lasts.
pub(crate) struct Waiting(Option<u64>);

impl Waiting {
    /// Registers `handle` if this is the main thread (and SIGINT can be
    /// watched); the registration ends when the value is dropped.
    pub(crate) fn new(py: Python<'_>, handle: &CancelHandle) -> Self {
        if !on_main_thread(py) || !*WATCHING.get_or_init(|| start_watching(py)) {
            return Self(None);
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let token = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        WAITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((token, handle.clone()));
        Self(Some(token))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(token) = self.0 {
            WAITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).retain(|(t, _)| *t != token);
        }
    }
}
