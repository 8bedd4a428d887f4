//! Stopping a running guest without a check in its loops: its memory is
//! made inaccessible, and its next load or store traps.
//!
//! A guest compiled with epoch interruption checks a counter at every
//! function entry and loop back-edge, and CPython's evaluation loop turns
//! once per bytecode: that costs pure Python a quarter to a third of its
//! time. Where this module works (Linux on x86-64 and Arm64), the guest is
//! compiled without those checks, and a run that must stop (its deadline
//! passed, or it was cancelled) is stopped by *revoking* its linear memory:
//! the runtime's ticker makes the mapping `PROT_NONE`, the guest's next
//! access faults, and wasmtime's signal handler turns a fault at a load or
//! store of compiled guest code into a trap, as it does for an access out
//! of bounds. build.rs makes every such access one wasmtime may trap at
//! (`build/trapping_copies.rs`). The run then ends as a timed-out run
//! always has: `Trap::Interrupt`.
//!
//! Only compiled guest code may ever find the memory revoked. Everything
//! else that touches it is kept from doing so:
//! - host calls (WASI's and isolate's): the store's call hook marks the
//!   guest as out of wasm before any host call and back in after, and the
//!   ticker revokes only a guest in wasm; a hook that finds the memory
//!   revoked gives it back and traps instead of calling the host;
//! - wasmtime's own routines that compiled code calls (`memory.copy`,
//!   `memory.fill`, `memory.init`): they fault in host code, which
//!   wasmtime's handler does not handle; the store's own signal handler
//!   (which wasmtime asks first) sees a fault in the revoked memory at an
//!   address outside the guest's code, gives back the 64 KiB block it
//!   faulted in, and lets the access run again; the rest stays revoked,
//!   and the guest's copies and fills are cut into chunks of that size,
//!   each after a load of its own (build.rs), so the guest traps within a
//!   chunk. The ticker revokes the whole memory again every tick until the
//!   run has stopped;
//! - `memory.grow`: growth takes the same lock as revocation, and a revoked
//!   memory grows without its new pages becoming accessible;
//! - snapshots, forks and everything else the host does between runs: a
//!   run that ends gives its memory back first (the hook on return from
//!   wasm), and an idle guest is never revoked.
//!
//! Each memory is its own private mapping, so revoking one never touches
//! another interpreter's, even of the same image.
//!
//! Host calls check the stop too, in the same hook: a guest that spends
//! nearly all its time in host calls (writing output in a loop) is stopped
//! on its way in or out of one.
//!
//! A signal handler installed after wasmtime's would see these faults
//! first: see [`trap_handler`] for how wasmtime's is kept in front.

// The one module with `unsafe` for stopping guests: `mprotect` of a guest's
// memory, the signal handler, and the program counter of a fault.
#![allow(unsafe_code)]

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use wasmtime::{CallHook, Trap};

use crate::stop::CancelFlag;
use crate::sync::lock;

/// How a runtime stops running guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruption {
    /// Compiled checks of the engine's epoch in every loop and function.
    Epoch,
    /// Revoking the guest's memory (this module).
    Revocation,
}

impl Interruption {
    /// The variable that picks epoch checks where revocation would work:
    /// `ISOLATE_INTERRUPT=epoch`.
    pub(crate) const ENV: &'static str = "ISOLATE_INTERRUPT";

    /// Revocation where it works, unless `ISOLATE_INTERRUPT=epoch`.
    pub(crate) fn for_this_platform() -> Self {
        let asked_for_epochs = std::env::var_os(Self::ENV).is_some_and(|value| value == "epoch");
        if cfg!(revocation_works) && !asked_for_epochs { Interruption::Revocation } else { Interruption::Epoch }
    }
}

/// Where the guest is, as the ticker needs to know.
const OUT_OF_WASM: u8 = 0;
const IN_WASM: u8 = 1;
const REVOKED: u8 = 2;

/// The block of a revoked memory given back to a wasmtime routine that
/// faulted in it: as large as the chunks the guest's copies and fills are
/// cut into, so that one chunk faults a few times at most.
const WINDOW: usize = 64 << 10;

/// One store's tripwire: shared by its call hook and signal handler (on the
/// thread that runs it), its memory (which grows on that thread), and the
/// runtime's ticker.
pub(crate) struct Tripwire {
    state: AtomicU8,
    /// Set by the ticker when the run must stop; host calls trap on it.
    stopping: AtomicBool,
    /// The memory: where it starts, and how many bytes are accessible.
    base: AtomicUsize,
    size: AtomicUsize,
    /// The compiled guest's code: a fault there is wasmtime's to trap.
    code: Range<usize>,
    cancel: Arc<CancelFlag>,
    /// The current run's deadline. Its lock also orders revocation with
    /// growth and with a new deadline.
    deadline: Mutex<Option<Instant>>,
}

impl Tripwire {
    /// A tripwire for a store of the guest whose compiled code is `code`.
    pub(crate) fn new(code: Range<usize>, cancel: Arc<CancelFlag>) -> Arc<Self> {
        Arc::new(Tripwire {
            state: AtomicU8::new(OUT_OF_WASM),
            stopping: AtomicBool::new(false),
            base: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
            code,
            cancel,
            deadline: Mutex::new(None),
        })
    }

    /// The current run's deadline (`None` between runs).
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) {
        let mut guarded = lock(&self.deadline);
        *guarded = deadline;
        self.stopping.store(false, Ordering::SeqCst);
    }

    /// The memory this tripwire revokes: `size` bytes from `base`.
    pub(crate) fn attach(&self, base: *mut u8, size: usize) {
        self.base.store(base as usize, Ordering::SeqCst);
        self.size.store(size, Ordering::SeqCst);
    }

    /// Runs `grow`, which makes the memory `new_size` bytes long: given
    /// `true` if the memory is revoked, when it must only count the new
    /// bytes and leave them inaccessible (they become accessible with the
    /// rest when the memory is given back).
    pub(crate) fn grow<E>(&self, new_size: usize, grow: impl FnOnce(bool) -> Result<(), E>) -> Result<(), E> {
        let _guard = lock(&self.deadline);
        grow(self.state.load(Ordering::SeqCst) == REVOKED)?;
        self.size.store(new_size, Ordering::SeqCst);
        Ok(())
    }

    fn must_stop(&self) -> bool {
        self.stopping.load(Ordering::Relaxed) || self.cancel.is_set()
    }

    /// Called by the ticker: marks the run as stopping if its deadline
    /// passed or it was cancelled, and revokes its memory if it is in wasm.
    /// A memory already revoked is revoked whole again: the blocks that
    /// wasmtime's routines got back (see `on_fault`) are not left to a
    /// guest that would loop in them alone.
    pub(crate) fn check(&self, now: Instant) {
        let deadline = lock(&self.deadline);
        let due = self.cancel.is_set() || deadline.is_some_and(|deadline| now >= deadline);
        if !due {
            return;
        }
        self.stopping.store(true, Ordering::SeqCst);
        // The guest leaves wasm by itself (`leave_wasm`) only through this
        // lock once revoked; entering it needs no lock, hence the exchange.
        if self.state.load(Ordering::SeqCst) == OUT_OF_WASM || !trap_handler::in_front() {
            return;
        }
        let revoked = match self.state.load(Ordering::SeqCst) {
            REVOKED => true,
            IN_WASM => self.state.compare_exchange(IN_WASM, REVOKED, Ordering::SeqCst, Ordering::SeqCst).is_ok(),
            _ => false,
        };
        if revoked {
            // A failure (the kernel out of memory for the mapping's split)
            // may have revoked part of it: it stays marked revoked, given
            // back whole when the guest leaves wasm, and tried again at
            // the next tick.
            let _ = protect(self.base.load(Ordering::SeqCst), self.size.load(Ordering::SeqCst), libc::PROT_NONE);
        }
        drop(deadline);
    }

    /// The store's call hook: keeps `state` saying where the guest is, and
    /// traps a run that must stop on its way into or out of the host.
    pub(crate) fn on_call(&self, hook: CallHook) -> wasmtime::Result<()> {
        let stopped = match hook {
            CallHook::CallingWasm => {
                self.enter_wasm();
                false
            }
            CallHook::ReturningFromHost => {
                self.enter_wasm();
                self.must_stop()
            }
            CallHook::ReturningFromWasm => {
                RUNNING.set(std::ptr::null());
                self.leave_wasm()
            }
            CallHook::CallingHost => {
                RUNNING.set(std::ptr::null());
                self.leave_wasm() || self.must_stop()
            }
        };
        if stopped { Err(Trap::Interrupt.into()) } else { Ok(()) }
    }

    fn enter_wasm(&self) {
        RUNNING.set(self);
        self.state.store(IN_WASM, Ordering::SeqCst);
    }

    /// Marks the guest out of wasm, giving its memory back if the ticker
    /// had revoked it; true if it had (the run was stopped).
    fn leave_wasm(&self) -> bool {
        if self.state.compare_exchange(IN_WASM, OUT_OF_WASM, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return false;
        }
        // Revoked, or being revoked: the ticker holds the lock until the
        // memory is inaccessible, so it is given back after that.
        let _guard = lock(&self.deadline);
        if self.state.swap(OUT_OF_WASM, Ordering::SeqCst) == REVOKED {
            self.give_back();
            return true;
        }
        false
    }

    /// Makes the memory accessible again. A failure here would leave the
    /// host unable to read the guest's memory: it aborts rather than let a
    /// host call fault in it.
    fn give_back(&self) {
        if !protect(
            self.base.load(Ordering::SeqCst),
            self.size.load(Ordering::SeqCst),
            libc::PROT_READ | libc::PROT_WRITE,
        ) {
            std::process::abort();
        }
    }

    /// The store's signal handler, which wasmtime calls first for a fault
    /// on the thread running the store's guest; true if it handled the
    /// fault, and the faulting access may run again.
    ///
    /// It runs in a signal handler: atomics and `mprotect` only.
    #[cfg_attr(not(revocation_works), allow(dead_code))]
    fn on_fault(&self, signum: libc::c_int, address: usize, pc: usize) -> bool {
        if (signum != libc::SIGSEGV && signum != libc::SIGBUS) || self.state.load(Ordering::SeqCst) != REVOKED {
            return false;
        }
        let base = self.base.load(Ordering::SeqCst);
        let size = self.size.load(Ordering::SeqCst);
        if !(base..base + size).contains(&address) || self.code.contains(&pc) {
            // Not the revoked memory, or a load or store of the guest's
            // code: wasmtime traps, and the hook gives the memory back.
            return false;
        }
        // Host code one of the guest's instructions called (a bulk memory
        // routine of wasmtime's): it must finish. Only the block it faulted
        // in is given back, and the memory stays revoked: the routine's
        // chunk (at most 64 KiB, `build/trapping_copies.rs`) faults in a few
        // blocks, and the guest's next access elsewhere traps.
        let offset = (address - base) & !(WINDOW - 1);
        protect(base + offset, WINDOW.min(size - offset), libc::PROT_READ | libc::PROT_WRITE)
    }

    /// Installs this tripwire's signal handler in `store`.
    pub(crate) fn install<T>(self: &Arc<Self>, store: &mut wasmtime::Store<T>) {
        #[cfg(revocation_works)]
        {
            use wasmtime::unix::StoreExt;
            let tripwire = self.clone();
            let handler = move |signum: libc::c_int, info: *const libc::siginfo_t, context: *const libc::c_void| {
                // SAFETY: wasmtime calls this from its handler of a
                // synchronous fault with the kernel's `siginfo_t` and
                // `ucontext_t`, both valid for the call.
                let (address, pc) = unsafe { ((*info).si_addr() as usize, pc_of(context)) };
                tripwire.on_fault(signum, address, pc)
            };
            // SAFETY: the handler is async-signal-safe: it reads atomics
            // and calls `mprotect`, nothing that allocates or locks.
            unsafe { store.set_signal_handler(handler) };
        }
        #[cfg(not(revocation_works))]
        let _ = store;
    }
}

thread_local! {
    /// The tripwire of the store whose guest this thread is running, if it
    /// is running one (null in host calls): what [`trap_handler`]'s front
    /// handler asks whether a fault is a revoked memory's.
    static RUNNING: std::cell::Cell<*const Tripwire> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Keeping wasmtime's signal handler in front of a handler installed after
/// it.
///
/// wasmtime installs its handler of `SIGSEGV` when the first engine is
/// made, and forwards the faults that are not its own to the handler that
/// was there before. A handler installed later comes first, and some do
/// not forward a fault with its context: Python's `faulthandler`, enabled
/// after a runtime was built, prints a "Segmentation fault" traceback and
/// raises the signal again from its own frame, and the process dies of
/// what was a time limit. So before it revokes a memory, the ticker checks
/// that wasmtime's handler is still first; if not, it puts a front handler
/// first, which gives wasmtime the faults of a thread running a guest
/// whose memory is revoked, and every other fault to the handler it
/// displaced, as that handler expects.
mod trap_handler {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicPtr, Ordering};

    use super::{REVOKED, RUNNING};

    /// A signal action, kept for the life of the process.
    struct Action(libc::sigaction);

    // SAFETY: a plain C struct of a function pointer, flags and a mask,
    // only read once stored.
    unsafe impl Send for Action {}
    unsafe impl Sync for Action {}

    /// wasmtime's action for `SIGSEGV`, as the first engine installed it.
    static WASMTIME: OnceLock<Action> = OnceLock::new();
    /// The action the front handler displaced, for the faults that are not
    /// a guest's. Set before the front handler is installed, never freed.
    static DISPLACED: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());

    /// Remembers wasmtime's handler: called right after an engine is made.
    pub(crate) fn remember_wasmtime() {
        if WASMTIME.get().is_none()
            && let Some(action) = current()
        {
            let _ = WASMTIME.set(Action(action));
        }
    }

    /// The process's action for `SIGSEGV` now.
    fn current() -> Option<libc::sigaction> {
        // SAFETY: a query (no new action is given); `action` is written.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut action) == 0).then_some(action)
        }
    }

    /// True if a fault of a thread running a guest reaches wasmtime's
    /// handler, after putting the front handler first if needed; false if
    /// that cannot be made so (then the memory is not revoked).
    pub(crate) fn in_front() -> bool {
        let (Some(wasmtime), Some(now)) = (WASMTIME.get(), current()) else { return false };
        let front = front as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
        if now.sa_sigaction == wasmtime.0.sa_sigaction || now.sa_sigaction == front {
            return true;
        }
        DISPLACED.store(Box::into_raw(Box::new(now)), Ordering::SeqCst);
        // SAFETY: installs `front`, whose every path is async-signal-safe,
        // with the flags wasmtime gives its own (the fault's context, the
        // alternate stack, re-entry).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
            action.sa_sigaction = front;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut()) == 0
        }
    }

    /// The front handler: wasmtime's handler for a fault of a thread
    /// running a guest whose memory is revoked, the displaced one for
    /// anything else.
    extern "C" fn front(signum: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
        let running = RUNNING.get();
        // SAFETY: `running` is null or the tripwire of the store this
        // thread is running, which the store keeps alive while it runs.
        let guest_fault = !running.is_null() && unsafe { (*running).state.load(Ordering::SeqCst) } == REVOKED;
        let action = match (guest_fault, WASMTIME.get()) {
            (true, Some(wasmtime)) => &wasmtime.0,
            // SAFETY: set before `front` was installed, and never freed.
            _ => match unsafe { DISPLACED.load(Ordering::SeqCst).as_ref() } {
                Some(displaced) => displaced,
                None => return,
            },
        };
        // SAFETY: calls a handler as the kernel would have, with the
        // signal's own information and context; a default or ignored
        // disposition is put back, and the fault happens again under it.
        unsafe {
            if action.sa_sigaction == libc::SIG_DFL || action.sa_sigaction == libc::SIG_IGN {
                libc::sigaction(signum, action, std::ptr::null_mut());
            } else if action.sa_flags & libc::SA_SIGINFO != 0 {
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(action.sa_sigaction);
                handler(signum, info, context);
            } else {
                let handler: extern "C" fn(libc::c_int) = std::mem::transmute(action.sa_sigaction);
                handler(signum);
            }
        }
    }
}

pub(crate) use trap_handler::remember_wasmtime as remember_trap_handler;

/// The program counter of the interrupted thread, from the `ucontext_t` a
/// signal handler gets.
///
/// # Safety
///
/// `context` must be the `ucontext_t` of a signal being handled.
#[cfg(revocation_works)]
unsafe fn pc_of(context: *const libc::c_void) -> usize {
    let context = context.cast::<libc::ucontext_t>();
    // SAFETY: the caller vouches for `context`.
    #[cfg(target_arch = "x86_64")]
    return unsafe { (*context).uc_mcontext.gregs[libc::REG_RIP as usize] as usize };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    return unsafe { (*context).uc_mcontext.pc as usize };
}

/// Sets the protection of `len` bytes from `base`, a guest's memory; false
/// if the kernel refused.
fn protect(base: usize, len: usize, protection: libc::c_int) -> bool {
    if len == 0 {
        return true;
    }
    // SAFETY: `[base, base + len)` is the accessible part of a linear
    // memory this module's tripwire was attached to, a mapping that lives
    // as long as its store, which holds the tripwire. Only the protection
    // changes: no byte moves, and nothing but the guest's own code runs
    // while it is revoked (see the module's comment).
    unsafe { libc::mprotect(base as *mut libc::c_void, len, protection) == 0 }
}

/// The tripwires the ticker checks: a runtime's live stores.
#[derive(Default)]
pub(crate) struct Tripwires {
    all: Mutex<Vec<Weak<Tripwire>>>,
}

impl Tripwires {
    pub(crate) fn register(&self, tripwire: &Arc<Tripwire>) {
        lock(&self.all).push(Arc::downgrade(tripwire));
    }

    /// Checks every live tripwire, and forgets those of stores that are
    /// gone.
    pub(crate) fn check_all(&self) {
        let now = Instant::now();
        let live: Vec<Arc<Tripwire>> = {
            let mut all = lock(&self.all);
            all.retain(|tripwire| tripwire.strong_count() > 0);
            all.iter().filter_map(Weak::upgrade).collect()
        };
        for tripwire in live {
            tripwire.check(now);
        }
    }
}
