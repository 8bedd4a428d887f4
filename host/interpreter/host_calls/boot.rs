//! The driver's boot, and the exchange of a run between host and driver:
//! the host sets a [`RunRequest`](crate::interpreter::instance::RunRequest),
//! the driver takes it and its bindings, runs it and reports how it ended.

use crate::door::{Answer, Args, Fault};
use crate::error::{ChainLink, ChainNode, Error};
use crate::guest;
use crate::ids::HandleId;
use crate::interpreter::instance::{RunKind, RunOutcome};
use crate::interpreter::store::HostState;
use crate::value::{self, Message, Value, format, marshal};

/// The driver's compiled code that a template kept ([`keep_driver_code`]),
/// or nothing: the driver then compiles its source.
pub(super) fn driver_code(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    args.end()?;
    Ok(Answer::ok().bytes(&host.link.runtime.driver_code().unwrap_or_default()))
}

/// The source of one of the driver's modules.
pub(super) fn driver_source(args: &mut Args<'_>) -> Result<Answer, Fault> {
    let source = guest::driver_source(args.rest()).ok_or_else(|| Fault::invalid("no such driver module"))?;
    Ok(Answer::ok().bytes(source.as_bytes()))
}

/// Keeps the driver's compiled code for the runtime's next boots.
pub(super) fn keep_driver_code(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let link = &mut host.link;
    // Only while booting: after, the driver is the guest's to change, and
    // no other interpreter may take its word.
    if link.entry.is_none() {
        link.runtime.keep_driver_code(args.rest().to_vec());
    }
    Ok(Answer::ok())
}

/// The driver booted: its entry point; the answer is `sys.argv`.
pub(super) fn ready(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let link = &mut host.link;
    let entry = args.u32()?;
    args.end()?;
    if link.entry.is_some() {
        return Err(Fault::invalid("the driver is already booted"));
    }
    link.entry = Some(entry as i32);
    let argv = Value::Tuple(link.argv.iter().map(|arg| Value::from(arg.as_str())).collect());
    Ok(Answer::ok().bytes(&value::encode(&argv)))
}

/// The run the host set, once per run: the driver takes it as it starts.
pub(super) fn take_run(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let link = &mut host.link;
    args.end()?;
    let me = link.me()?;
    let request = link.request.as_mut().filter(|r| !r.taken).ok_or_else(|| Fault::invalid("no run to take"))?;
    if request.kind == RunKind::Invoke
        && let Some((_, message)) = request.bindings.pop()
    {
        // An invoke's request is its source: one step less.
        me.grant(message.ends);
        request.source = message.bytes;
    }
    if request.kind == RunKind::Invoke
        && request.bindings.is_empty()
        && request.setup.is_none()
        && format::is_marshal(&request.source)
    {
        // The most common run, a PEP 734 call or exec: its request alone,
        // which the driver loads as it is.
        request.taken = true;
        return Ok(Answer::plain(std::mem::take(&mut request.source)));
    }
    let flags =
        u8::from(!request.bindings.is_empty()) | (u8::from(request.setup.is_some()) << 1) | ((request.kind as u8) << 2);
    let setup = request.setup.take();
    let capacity = request.source.len() + request.filename.len() + setup.as_ref().map_or(0, Vec::len) + 12;
    let mut answer = Answer::with_capacity(capacity).u8(flags);
    if request.kind != RunKind::Invoke {
        answer = answer.blob(request.filename.as_bytes());
    }
    if let Some(setup) = &setup {
        answer = answer.blob(setup);
    }
    let answer = answer.bytes(&request.source);
    request.source = Vec::new();
    request.taken = true;
    Ok(answer)
}

/// The run's bindings; the guest then holds what they name.
pub(super) fn take_bindings(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let link = &mut host.link;
    args.end()?;
    let request = link.request.as_mut().ok_or_else(|| Fault::invalid("no run to take"))?;
    let bindings = std::mem::take(&mut request.bindings);
    let me = link.me()?;
    // In `marshal`'s format if it can carry them (the guest's C reads it in
    // a tenth of the time), else the codec's.
    if let Some(encoded) = marshalled_bindings(&bindings) {
        return Ok(Answer::ok().body(encoded));
    }
    let mut encoded = vec![value::tag::TUPLE];
    value::put_varint(&mut encoded, bindings.len() as u64);
    for (name, message) in bindings {
        encoded.push(value::tag::TUPLE);
        value::put_varint(&mut encoded, 2);
        encoded.push(value::tag::STR);
        value::put_varint(&mut encoded, name.len() as u64);
        encoded.extend_from_slice(name.as_bytes());
        encoded.extend_from_slice(&message.bytes);
        me.grant(message.ends);
    }
    Ok(Answer::ok().bytes(&encoded))
}

/// How the run ended: its exit status, or its exception's chain.
pub(super) fn run_outcome(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    host.link.outcome = Some(decode_outcome(args.rest())?);
    Ok(Answer::ok())
}

/// An eval's or call's result, encoded.
pub(super) fn run_result(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let link = &mut host.link;
    // Checked when the host decodes it, after the run.
    let wanted = link.request.as_ref().is_some_and(|request| request.taken && request.kind != RunKind::Exec);
    if !wanted || link.result.is_some() {
        return Err(Fault::invalid("no eval or call to report the result of"));
    }
    link.result = Some(args.rest().to_vec());
    Ok(Answer::ok())
}

/// A run's bindings as a `marshal`ed tuple of `(name, value)` pairs, if
/// none holds a channel end, a queue or a buffer (which `marshal` cannot
/// carry). A value that came in `marshal`'s format is copied as it is.
fn marshalled_bindings(bindings: &[(String, Message)]) -> Option<Vec<u8>> {
    if bindings.iter().any(|(_, message)| !message.ends.is_empty()) {
        return None;
    }
    let mut out = vec![b'('];
    out.extend_from_slice(&u32::try_from(bindings.len()).ok()?.to_le_bytes());
    for (name, message) in bindings {
        out.push(b'(');
        out.extend_from_slice(&2u32.to_le_bytes());
        marshal::write(&mut out, &Value::from(name.as_str()))?;
        if format::is_marshal(&message.bytes) {
            out.extend_from_slice(&message.bytes);
        } else {
            let value = value::decode(&message.bytes, |end| Err(Error::not_found(end))).ok()?;
            marshal::write(&mut out, &value)?;
        }
    }
    Some(out)
}

/// The driver's report of how a run ended ([`Op::RunOutcome`](crate::door::Op::RunOutcome)).
fn decode_outcome(bytes: &[u8]) -> Result<RunOutcome, Fault> {
    let no_ends = |end: HandleId| Err(Error::not_found(end));
    let bad = || Fault::invalid("a malformed run outcome");
    let Value::Tuple(items) = value::decode(bytes, no_ends)? else { return Err(bad()) };
    let [kind, detail]: [Value; 2] = items.try_into().map_err(|_| bad())?;
    match (i64::try_from(kind).map_err(|_| bad())?, detail) {
        (0, status) => Ok(RunOutcome::Exit(i32::try_from(status).map_err(|_| bad())?)),
        (1, Value::Tuple(chain)) => chain
            .into_iter()
            .map(|node| {
                let Value::Tuple(node) = node else { return Err(bad()) };
                let [type_name, message, traceback, link]: [Value; 4] = node.try_into().map_err(|_| bad())?;
                let text = |value: Value| String::try_from(value).map_err(|_| bad());
                let link = match u8::try_from(link).map_err(|_| bad())? {
                    1 => Some(ChainLink::Cause),
                    2 => Some(ChainLink::Context),
                    _ => None,
                };
                Ok(ChainNode {
                    type_name: text(type_name)?,
                    message: text(message)?,
                    traceback: text(traceback)?,
                    link,
                })
            })
            .collect::<Result<_, Fault>>()
            .map(RunOutcome::Exception),
        _ => Err(bad()),
    }
}
