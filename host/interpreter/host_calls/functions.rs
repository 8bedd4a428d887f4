//! The host functions the embedder offers the guest
//! ([`Functions`](crate::host_function::Functions)).

use crate::door::{Answer, Args, Fault};
use crate::host_function::Called;
use crate::interpreter::store::HostState;
use crate::value::{self, Copies, Message, Value, marshal};

/// The names of the functions offered.
pub(super) fn list(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    args.end()?;
    let me = host.link.me()?;
    let names = me.functions().names().map(Value::from).collect();
    Ok(Answer::ok().bytes(&value::encode(&Value::Tuple(names))))
}

/// Calls a host function on one of the runtime's workers and waits for it,
/// as long as the run may.
pub(super) fn call(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let link = &host.link;
    let name = std::str::from_utf8(args.blob()?).map_err(|_| Fault::invalid("a function name that is not UTF-8"))?;
    let me = link.me()?;
    let function = me
        .functions()
        .get(name)
        .cloned()
        .ok_or_else(|| Fault::FunctionFailed(format!("the host offers no function named {name:?}")))?;
    // Checked whole; a channel end must be one the caller holds.
    let decoded = me.decode_held(args.rest())?;
    let Value::Tuple(arguments) = decoded else { return Err(Fault::invalid("arguments that are not a tuple")) };
    match link.runtime.workers().call(name, function, arguments, || link.stop.must_stop())? {
        Called::Returned(Ok(result)) => {
            // The codec's checks (depth, size) first, then `marshal`'s format
            // if it can carry it (see `boot::take_bindings`).
            let message = Message::from_value(&result, Copies::Allowed).map_err(|err| {
                Fault::FunctionFailed(format!("host function `{name}` returned what cannot be copied: {err}"))
            })?;
            if message.ends.is_empty()
                && let Some(encoded) = marshal::to_marshal(&result)
            {
                return Ok(Answer::ok().body(encoded));
            }
            me.grant(message.ends);
            Ok(Answer::ok().body(message.bytes))
        }
        Called::Returned(Err(message)) => Err(Fault::FunctionFailed(message)),
        Called::Interrupted => Err(Fault::Timeout),
    }
}
