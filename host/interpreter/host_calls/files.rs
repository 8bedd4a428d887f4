//! `os.dup` and `os.dup2`, which WASI preview 1 has no call for: the guest
//! asks the door, and the host's descriptor table
//! ([`descriptors`](crate::wasi::descriptors)) answers.

use crate::door::{Answer, Args};
use crate::interpreter::store::HostState;

/// `fd:u32` (then `to:u32` for a `dup2`) → `errno:u32, fd:u32`. One past the
/// open-handle cap stops the guest, as an open past it does.
pub(super) fn dup(host: &mut HostState, args: &mut Args<'_>, to: bool) -> wasmtime::Result<Answer> {
    let parsed = (|| {
        let fd = args.u32()?;
        let to = if to { Some(args.u32()?) } else { None };
        args.end()?;
        Ok((fd, to))
    })();
    let (fd, to) = match parsed {
        Ok(parsed) => parsed,
        Err(fault) => return Ok(Answer::fault(fault)),
    };
    let (errno, fd) = match crate::wasi::dup(host, fd, to)? {
        Ok(new) => (0, new),
        Err(errno) => (errno as u32, 0),
    };
    Ok(Answer::ok().u32(errno).u32(fd))
}
