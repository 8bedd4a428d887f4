//! The interpreters of the caller's sandbox: listing, creating, forking and
//! destroying them, runs nested in the caller's, and runs on threads.

use std::sync::Arc;

use crate::door::{Answer, Args, Fault};
use crate::error::Error;
use crate::ids::InterpreterId;
use crate::interpreter::runs::ThreadRun;
use crate::interpreter::store::{GuestLink, HostState};
use crate::interpreter::{InterpreterBuilder, InterpreterInner, Invoked};
use crate::limits::Limit;
use crate::value::Copies;

use super::{bindings, ids};

impl GuestLink {
    /// An interpreter of the caller's sandbox.
    fn interpreter(&self, id: u64) -> Result<Arc<InterpreterInner>, Fault> {
        self.me()?.sandbox().member(InterpreterId(id)).ok_or(Fault::InterpreterNotFound)
    }

    /// Runs `run`, a run of `target` nested in the caller's: it ends by the
    /// caller's deadline too, and cancelling the caller cancels it; if that
    /// is what ended it, the caller stops as well.
    fn nested(
        &self,
        target: &Arc<InterpreterInner>,
        run: impl FnOnce() -> Result<Answer, Fault>,
    ) -> wasmtime::Result<Answer> {
        let _watch = self.watch(target, |nested| {
            nested.cancel();
        });
        if self.stop.cancel_flag().is_set() {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        super::waited(run(), &self.stop)
    }
}

pub(super) fn current(host: &mut HostState, _args: &mut Args<'_>) -> Result<Answer, Fault> {
    Ok(Answer::ok().u64(host.link.me()?.id().as_u64()))
}

/// The ids of the caller's sandbox's interpreters.
pub(super) fn list(host: &mut HostState, _args: &mut Args<'_>) -> Result<Answer, Fault> {
    Ok(ids(host.link.me()?.sandbox().member_ids().into_iter().map(InterpreterId::as_u64)))
}

/// A new interpreter in the caller's sandbox, or (`fork`) a copy of one.
pub(super) fn create(host: &mut HostState, args: &mut Args<'_>, fork: bool) -> Result<Answer, Fault> {
    let link = &host.link;
    let original = if fork { Some(link.interpreter(args.u64()?)?) } else { None };
    args.end()?;
    let me = link.me()?;
    let limit = me.limits().max_interpreters;
    // The sandbox's root was created by the host; the rest by Python.
    if me.sandbox().member_ids().len() > limit {
        return Err(Fault::LimitReached(format!(
            "cannot create an interpreter: the limit of {limit} interpreters per sandbox is reached"
        )));
    }
    let created = match original {
        Some(original) => original.fork(Some(&me)),
        None => InterpreterBuilder::for_child(link.runtime.clone(), &me).create(Some(&me)),
    };
    let child = created.map_err(|err| match err {
        Error::LimitExceeded { limit: Limit::Memory(limit), .. } => {
            Fault::memory_limit("cannot create an interpreter: ", limit)
        }
        other => other.into(),
    })?;
    let id = child.id().as_u64();
    me.adopt(child);
    Ok(Answer::ok().u64(id))
}

pub(super) fn is_running(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let id = args.u64()?;
    args.end()?;
    Ok(Answer::ok().u8(u8::from(host.link.interpreter(id)?.is_running())))
}

pub(super) fn destroy(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let id = args.u64()?;
    args.end()?;
    let target = host.link.interpreter(id)?;
    if target.is_running() {
        return Err(Fault::InterpreterRunning);
    }
    // The host owns the interpreters it created; Python code may only
    // destroy those that Python code created (CPython likewise refuses to
    // destroy its main interpreter).
    if target.id() == target.sandbox().root() {
        return Err(Fault::InterpreterFailed("it was created by the host, which alone can destroy it".into()));
    }
    target.destroy()?;
    Ok(Answer::ok())
}

/// PEP 554's `run`: source and bindings, run in the target and waited for.
pub(super) fn run(host: &mut HostState, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
    let link = &host.link;
    let parsed = (|| {
        let id = args.u64()?;
        let source = args.blob()?;
        let bindings = bindings(&*link.me()?, args.rest())?;
        Ok::<_, Fault>((link.interpreter(id)?, source, bindings))
    })();
    let (target, source, bindings) = match parsed {
        Ok(parsed) => parsed,
        Err(fault) => return Ok(Answer::fault(fault)),
    };
    link.nested(&target, || {
        let result = target.run(source, crate::STRING_FILENAME, bindings, link.stop.deadline());
        result.map(|()| Answer::ok()).map_err(Fault::from)
    })
}

/// PEP 734's `exec` or `call`: a request, run in the target and waited for.
pub(super) fn invoke(host: &mut HostState, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
    let link = &host.link;
    let parsed = (|| {
        let id = args.u64()?;
        let request = link.message(args, Copies::Allowed)?;
        Ok::<_, Fault>((link.interpreter(id)?, request))
    })();
    let (target, request) = match parsed {
        Ok(parsed) => parsed,
        Err(fault) => return Ok(Answer::fault(fault)),
    };
    link.nested(&target, || {
        let invoked = target.invoke(request, link.stop.deadline())?;
        Ok(invoked.answer(&*link.me()?))
    })
}

/// `run_in_thread` or (`invoke`) PEP 734's `call_in_thread`: the run goes
/// on a new host thread; the answer is its handle.
pub(super) fn start(host: &mut HostState, args: &mut Args<'_>, invoke: bool) -> Result<Answer, Fault> {
    let link = &host.link;
    let id = args.u64()?;
    let run: Box<ThreadRun> = if invoke {
        let request = link.message(args, Copies::Allowed)?;
        Box::new(move |target| target.invoke(request).map(Some))
    } else {
        let source = args.blob()?.to_vec();
        let bindings = bindings(&*link.me()?, args.rest())?;
        Box::new(move |target| target.run(&source, bindings).map(|()| None))
    };
    // Running from now: nothing may run or destroy it before the thread does.
    let target = link.interpreter(id)?.reserve().map_err(|_| Fault::InterpreterRunning)?;
    Ok(Answer::ok().u64(host.runs.start(id, target, run)?))
}

pub(super) fn run_is_done(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let handle = args.u64()?;
    args.end()?;
    Ok(Answer::ok().u8(u8::from(host.runs.is_done(handle))))
}

/// Waits for a run on a thread to end, and answers how it did.
pub(super) fn join_run(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let (handle, timeout) = (args.u64()?, args.timeout()?);
    args.end()?;
    let me = host.link.me()?;
    match host.runs.join(handle, me.id(), &host.link.stop, timeout)? {
        // What a call in a thread returned is dropped, as CPython's thread
        // drops it; how it failed is not.
        Ok(None | Some(Invoked::Returned(_))) => Ok(Answer::ok()),
        Ok(Some(invoked)) => Ok(invoked.answer(&me)),
        Err(err) => Err(Fault::from(err)),
    }
}
