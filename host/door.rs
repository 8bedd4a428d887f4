//! The door: the guest's one import, `host.call`, and the frames that pass
//! through it. This file is the protocol's specification; the guest's side
//! is `guest/_isolate_door.py`, and a test checks the two agree.
//!
//! The guest calls `host.call(ptr, len, out_ptr_ptr, out_len_ptr) -> i32`
//! (in Python: `_host.call(frame: bytes) -> bytes`). The host reads the
//! request frame at `ptr..ptr + len` of the guest's memory, answers it,
//! asks the guest for room with its export `host_alloc(n)`, writes the
//! answer there, and stores the answer's address and length at the two
//! out-pointers. Every address and length the guest gives (and the one
//! `host_alloc` returns) is checked against the memory before use; a bad
//! one returns [`BAD_ADDRESS`] and touches nothing.
//!
//! ```text
//! request := op:u8 args
//! answer  := 0x00 result            (ok)
//!          | 0x01 fault:u8 detail   (refused: the guest raises)
//!          | plain                  (ok: a value alone, where an op says so)
//! plain   := a value in `marshal`'s format, whose first byte (a type
//!            code) is 0x28 or more: the guest loads the answer as it is
//! u64     := 8 bytes, little-endian     timeout := u64 nanoseconds, u64::MAX for none
//! blob    := len:u32 (little-endian) then len bytes
//! value   := one value in the encoding of host/value/codec.rs
//!          | VALUE_AT addr:u32 len:u32     (the frame's last bytes: see VALUE_AT)
//! ```
//!
//! The ops, their arguments and their results are the [`Op`] constants.
//! A detail is UTF-8 text, except for [`Fault::RunFailed`]: three blobs
//! (type name, message, traceback).

use crate::error::Error;
use crate::guest_memory::checked_range;
use crate::limits::format_size;

/// The largest request or answer: a message of
/// [`MAX_MESSAGE_SIZE`](crate::MAX_MESSAGE_SIZE) and its frame.
pub(crate) const MAX_FRAME: usize = crate::value::MAX_MESSAGE_SIZE + (1 << 16);

/// From this size on, a received lone `bytes` or buffer is handed over by
/// [`Op::TakePayload`], into a `bytes` the guest made for it: one copy,
/// the host's, and no memory in the guest beyond the value's own.
pub(crate) const LARGE_PAYLOAD: usize = 64 << 10;

/// A value given by reference, in a request that ends with a value: this
/// byte, then the address and length (`u32`, little-endian) of the data of
/// a `bytes` object in the guest's memory. The host reads it there, checked
/// against the memory, as that `bytes`: a large `bytes` crosses with one
/// copy, the host's, where joining it into the frame cost the guest two
/// (8 MiB messages: see the README's figures). No codec tag is this byte.
pub(crate) const VALUE_AT: u8 = 0x1f;

/// How a [`Op::QueueGet`] waits: as long as its timeout says; not at all;
/// or a moment, spinning and never asleep, as a waiter does before it
/// sleeps ([`SPIN`](crate::sync::SPIN)). A guest flushes its stdout and
/// stderr before a real wait, and only then: a blocking `get` waits a
/// moment first, so that an item that comes within microseconds (a round
/// trip between interpreters) is taken without that flush and a second call.
pub(crate) const GET_WAITING: u8 = 0;
pub(crate) const GET_NOW: u8 = 1;
pub(crate) const GET_BRIEFLY: u8 = 2;

/// `host.call`'s return values.
pub(crate) const OK: i32 = 0;
/// An address or length outside the guest's memory, or a frame too large.
pub(crate) const BAD_ADDRESS: i32 = -2;
/// The guest had no memory for the answer (`host_alloc` returned 0).
pub(crate) const NO_MEMORY: i32 = -3;

/// The requests a guest may make. Arguments follow the op byte, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    /// Boot: the driver's compiled code (`marshal`), or nothing if this
    /// runtime has none yet. → blob bytes, possibly empty.
    DriverCode = 0x01,
    /// Boot: the source of the driver's module `name` (rest). → source.
    DriverSource = 0x02,
    /// Boot: the driver's compiled code (rest), kept for the next interpreters.
    KeepDriverCode = 0x03,
    /// Boot: the driver is ready; the entry point to call for each run is
    /// the Python callable at address u32. → `sys.argv` as a value.
    Ready = 0x04,
    /// The run to do. → flags:u8 (bit 0: it has bindings; bit 1: it is a
    /// copy's first, and a blob with its setup follows the filename: the
    /// value `(argv, environ, module_paths)` or `None`; bits 2–3: what to
    /// do, 0 run the source, 1 evaluate it as an expression, 2 call the
    /// callable it names with the arguments bound as the one binding, 3 a
    /// PEP 734 invoke, whose request (a value) is the source), filename
    /// blob (none for an invoke), [setup blob], then the source (rest).
    /// An invoke with neither bindings nor setup whose request is in
    /// `marshal`'s format is answered plain: the request alone.
    TakeRun = 0x10,
    /// The run's bindings. → value: a tuple of `(name, value)` tuples.
    TakeBindings = 0x11,
    /// The run ended by an exception or `SystemExit`: a value (rest),
    /// `(0, status)` or `(1, ((type_name, message, traceback, link), ...))`
    /// with link 0 none, 1 cause, 2 context. No report means success.
    RunOutcome = 0x12,
    /// An `eval` or `call` run's result (rest): 0 then the value (lists and
    /// dicts allowed), or 1 then why it cannot be copied (UTF-8). An
    /// invoke's: 0 then its outcome, or 2 then a plain value it returned,
    /// in `marshal`'s format, which its caller gets as a plain answer.
    RunResult = 0x13,
    /// → u64: this interpreter's id.
    CurrentInterpreter = 0x20,
    /// → u64 each: the interpreters of the caller's sandbox.
    ListInterpreters = 0x21,
    /// → u64: a new interpreter's id.
    CreateInterpreter = 0x22,
    /// id:u64 → u8: whether it is running.
    InterpreterIsRunning = 0x23,
    /// id:u64 → nothing.
    DestroyInterpreter = 0x24,
    /// id:u64, source blob, bindings value (a tuple of `(name, value)`):
    /// runs it on this thread and waits. → nothing.
    RunInterpreter = 0x25,
    /// As `RunInterpreter`, on a new host thread. → u64: a run handle.
    StartInterpreter = 0x26,
    /// handle:u64, timeout → nothing, once the run ended; for a run from
    /// `StartInvoke`, the value it reported.
    JoinRun = 0x27,
    /// handle:u64 → u8: whether the run ended.
    RunIsDone = 0x28,
    /// id:u64 → u64: a fork's id (a copy of that idle interpreter, owned
    /// by the caller).
    ForkInterpreter = 0x29,
    /// id:u64, then a value (rest): a PEP 734 exec or call, run in that
    /// interpreter on this thread (see `guest/driver.py`, `_invoke`).
    /// → the value the guest reported: what it returned or raised; a plain
    /// answer for a plain value returned.
    InvokeInterpreter = 0x2a,
    /// As `InvokeInterpreter`, on a new host thread. → u64: a run handle,
    /// whose `JoinRun` answers with the reported value.
    StartInvoke = 0x2b,
    /// → u64: a new channel's id.
    CreateChannel = 0x30,
    /// → u64 each: the open channels the caller holds an end of.
    ListChannels = 0x31,
    /// id:u64, nowait:u8, timeout, then the value (rest) → nothing.
    ChannelSend = 0x32,
    /// id:u64, nowait:u8, timeout → u8 0 (nothing waiting, for nowait),
    /// 1 then the value, or 2 then its tag and length:u32 for a lone
    /// `bytes` or buffer of [`LARGE_PAYLOAD`] bytes or more, which
    /// [`Op::TakePayload`] hands over. Until it is taken, a receive on that
    /// channel answers 2 again.
    ChannelRecv = 0x33,
    /// id:u64, end:u8 (0 recv, 1 send) → u8: whether it was released now.
    ChannelRelease = 0x34,
    /// id:u64, end:u8, force:u8 → nothing.
    ChannelClose = 0x35,
    /// id:u64, end:u8 → u64 each: the interpreters associated with it.
    ChannelInterpreters = 0x36,
    /// at:u32, len:u32 → nothing: the host writes the bytes of the value a
    /// receive answered with 2 (see [`Op::ChannelRecv`], [`Op::QueueGet`])
    /// at `at..at + len` of the guest's memory, checked, where `len` is
    /// that value's length: the data of a `bytes` the guest made for it.
    TakePayload = 0x37,
    /// maxsize:u64 (an i64: zero or less, no bound), unbound:u8 (the
    /// default policy, CPython's flag) → u64: a new queue's id, held by
    /// the caller.
    QueueCreate = 0x50,
    /// id:u64 → nothing: one more Python object stands for the queue. The
    /// caller holds it, or an interpreter of its sandbox created it (then
    /// the caller holds it from now): CPython's interpreters reach a queue
    /// by its id, and so do a sandbox's; another sandbox's, never.
    QueueBind = 0x51,
    /// id:u64 → nothing: one fewer; with the last, the caller lets go.
    QueueRelease = 0x52,
    /// id:u64, nowait:u8, timeout, unbound:u8 (0: the queue's default),
    /// pickled:u8, then the value (rest; lists and dicts allowed) → nothing.
    QueuePut = 0x53,
    /// id:u64, how:u8 (see [`GET_WAITING`]), timeout → a plain answer for an item in
    /// `marshal`'s format (not a pickle), else u8 0 then pickled:u8 and the
    /// value, u8 1 then the unbound policy of an item whose interpreter is gone,
    /// or u8 2 then the tag and length:u32 of a lone `bytes` or buffer of
    /// [`LARGE_PAYLOAD`] bytes or more, as [`Op::ChannelRecv`] answers.
    /// Until it is taken, a get from that queue answers 2 again.
    QueueGet = 0x54,
    /// id:u64 → maxsize:u64 (the i64 it was created with), count:u64,
    /// default unbound:u8.
    QueueInfo = 0x55,
    /// tag:u64, then [`Op::QueuePut`]'s arguments → nothing: a put whose
    /// item the caller may withdraw by its tag while it waits in the queue.
    QueuePutTagged = 0x56,
    /// id:u64, tag:u64, keep:u8 → u8: whether the item the caller put with
    /// that tag is still in the queue (no one took it); unless keep, it is
    /// removed.
    QueueWithdraw = 0x57,
    /// fd:u32 → errno:u32 then fd:u32: `os.dup`, a new descriptor (the
    /// lowest free) for what `fd` stands for. A WASI errno (wasi-libc's
    /// `errno` numbers) if it failed, with fd 0.
    Dup = 0x60,
    /// fd:u32, to:u32 → as [`Op::Dup`]: `os.dup2`, `to` standing for what
    /// `fd` does, closing what it stood for.
    DupOnto = 0x61,
    /// → value: a tuple of the names of the host functions the caller may
    /// call.
    ListFunctions = 0x40,
    /// name blob, then the arguments (rest: a tuple value, lists and dicts
    /// allowed) → the function's result as a value; a function's error is
    /// [`Fault::FunctionFailed`].
    CallFunction = 0x41,
}

impl Op {
    pub(crate) fn from_byte(byte: u8) -> Option<Op> {
        use Op::*;
        Some(match byte {
            0x01 => DriverCode,
            0x02 => DriverSource,
            0x03 => KeepDriverCode,
            0x04 => Ready,
            0x10 => TakeRun,
            0x11 => TakeBindings,
            0x12 => RunOutcome,
            0x13 => RunResult,
            0x20 => CurrentInterpreter,
            0x21 => ListInterpreters,
            0x22 => CreateInterpreter,
            0x23 => InterpreterIsRunning,
            0x24 => DestroyInterpreter,
            0x25 => RunInterpreter,
            0x26 => StartInterpreter,
            0x27 => JoinRun,
            0x28 => RunIsDone,
            0x29 => ForkInterpreter,
            0x2a => InvokeInterpreter,
            0x2b => StartInvoke,
            0x30 => CreateChannel,
            0x31 => ListChannels,
            0x32 => ChannelSend,
            0x33 => ChannelRecv,
            0x34 => ChannelRelease,
            0x35 => ChannelClose,
            0x36 => ChannelInterpreters,
            0x37 => TakePayload,
            0x50 => QueueCreate,
            0x51 => QueueBind,
            0x52 => QueueRelease,
            0x53 => QueuePut,
            0x54 => QueueGet,
            0x55 => QueueInfo,
            0x56 => QueuePutTagged,
            0x57 => QueueWithdraw,
            0x60 => Dup,
            0x61 => DupOnto,
            0x40 => ListFunctions,
            0x41 => CallFunction,
            _ => return None,
        })
    }
}

/// Why the host refused a request; the guest raises the matching exception.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    ChannelNotFound,
    ChannelClosed,
    ChannelReleased,
    ChannelNotEmpty,
    NotReceived,
    Timeout,
    /// A malformed frame or value, or one too deep or large.
    InvalidValue(String),
    InterpreterNotFound,
    /// The interpreter is running (to run it, or to destroy it).
    InterpreterRunning,
    /// The interpreter cannot run: it was destroyed, it trapped, or the
    /// engine failed.
    InterpreterFailed(String),
    /// The code raised: type name, message, the report CPython prints.
    RunFailed {
        type_name: String,
        message: String,
        traceback: String,
    },
    /// The code raised `SystemExit` with this status.
    RunExited(i32),
    /// A limit of the sandbox forbids it; the message names the limit.
    LimitReached(String),
    /// A host function returned an error, or panicked: its message.
    FunctionFailed(String),
    QueueNotFound,
    QueueEmpty,
    QueueFull,
}

impl Fault {
    fn code(&self) -> u8 {
        match self {
            Fault::ChannelNotFound => 1,
            Fault::ChannelClosed => 2,
            Fault::ChannelReleased => 3,
            Fault::ChannelNotEmpty => 4,
            Fault::NotReceived => 5,
            Fault::Timeout => 6,
            Fault::InvalidValue(_) => 7,
            Fault::InterpreterNotFound => 8,
            Fault::InterpreterRunning => 9,
            Fault::InterpreterFailed(_) => 10,
            Fault::RunFailed { .. } => 11,
            Fault::RunExited(_) => 12,
            Fault::LimitReached(_) => 13,
            Fault::FunctionFailed(_) => 14,
            Fault::QueueNotFound => 15,
            Fault::QueueEmpty => 16,
            Fault::QueueFull => 17,
        }
    }

    /// A request the host cannot take: `why` says what is wrong with it.
    pub(crate) fn invalid(why: impl Into<String>) -> Fault {
        Fault::InvalidValue(why.into())
    }

    /// The sandbox's memory limit refused what the guest asked for (`doing`).
    pub(crate) fn memory_limit(doing: &str, limit: usize) -> Fault {
        Fault::LimitReached(format!("{doing}the sandbox's memory limit of {} is reached", format_size(limit)))
    }
}

impl From<Error> for Fault {
    fn from(err: Error) -> Fault {
        match err {
            Error::ChannelNotFound(_) => Fault::ChannelNotFound,
            Error::ChannelClosed(_) => Fault::ChannelClosed,
            Error::ChannelReleased(_) => Fault::ChannelReleased,
            Error::ChannelNotEmpty(_) => Fault::ChannelNotEmpty,
            Error::NotReceived(_) => Fault::NotReceived,
            Error::Timeout => Fault::Timeout,
            Error::QueueNotFound(_) => Fault::QueueNotFound,
            Error::QueueEmpty(_) => Fault::QueueEmpty,
            Error::QueueFull(_) => Fault::QueueFull,
            Error::InvalidValue(why) => Fault::InvalidValue(why),
            Error::AlreadyRunning(_) => Fault::InterpreterRunning,
            Error::RunFailed(exception) => Fault::RunFailed {
                type_name: exception.type_name().to_owned(),
                message: exception.message().to_owned(),
                traceback: exception.traceback(),
            },
            Error::SystemExit { code } => Fault::RunExited(code),
            Error::CannotCopy { reason, .. } => Fault::InterpreterFailed(format!("cannot be copied: {reason}")),
            other => Fault::InterpreterFailed(other.to_string()),
        }
    }
}

/// An answer being built: a head, and a body moved in whole (a message's
/// bytes), so that a large value is not copied into the answer before it
/// is copied into the guest.
pub(crate) struct Answer {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Answer {
    pub(crate) fn ok() -> Self {
        Answer { head: vec![0], body: Vec::new() }
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut head = Vec::with_capacity(capacity + 1);
        head.push(0);
        Answer { head, body: Vec::new() }
    }

    pub(crate) fn fault(fault: Fault) -> Self {
        let mut bytes = vec![1, fault.code()];
        match fault {
            Fault::InvalidValue(text)
            | Fault::InterpreterFailed(text)
            | Fault::LimitReached(text)
            | Fault::FunctionFailed(text) => bytes.extend_from_slice(text.as_bytes()),
            Fault::RunFailed { type_name, message, traceback } => {
                for text in [type_name, message, traceback] {
                    put_blob(&mut bytes, text.as_bytes());
                }
            }
            Fault::RunExited(status) => bytes.extend_from_slice(&status.to_le_bytes()),
            _ => {}
        }
        Answer { head: bytes, body: Vec::new() }
    }

    /// A plain answer: `marshal`'s bytes of a value, alone.
    pub(crate) fn plain(value: Vec<u8>) -> Self {
        debug_assert!(crate::value::format::is_marshal(&value), "a plain answer starts with a type code");
        Answer { head: Vec::new(), body: value }
    }

    pub(crate) fn u8(mut self, value: u8) -> Self {
        self.head.push(value);
        self
    }

    pub(crate) fn u32(mut self, value: u32) -> Self {
        self.head.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn u64(mut self, value: u64) -> Self {
        self.head.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub(crate) fn blob(mut self, bytes: &[u8]) -> Self {
        put_blob(&mut self.head, bytes);
        self
    }

    pub(crate) fn bytes(mut self, bytes: &[u8]) -> Self {
        self.head.extend_from_slice(bytes);
        self
    }

    /// Ends the answer with `body`, moved rather than copied.
    pub(crate) fn body(mut self, body: Vec<u8>) -> Self {
        debug_assert!(self.body.is_empty());
        self.body = body;
        self
    }

    /// Its length, in bytes.
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Whether it says ok, then `prefix`.
    pub(crate) fn starts_with(&self, prefix: &[u8]) -> bool {
        self.head.starts_with(prefix)
    }

    /// Copies the answer into `out`, which is [`len`](Self::len) long.
    pub(crate) fn write_to(&self, out: &mut [u8]) {
        let (head, body) = out.split_at_mut(self.head.len());
        head.copy_from_slice(&self.head);
        body.copy_from_slice(&self.body);
    }
}

impl From<Result<Answer, Fault>> for Answer {
    fn from(result: Result<Answer, Fault>) -> Answer {
        result.unwrap_or_else(Answer::fault)
    }
}

fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every frame is below 4 GiB: MAX_FRAME.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a request's arguments; a short or malformed frame is
/// [`Fault::InvalidValue`], never a panic.
#[derive(Clone)]
pub(crate) struct Args<'a> {
    bytes: &'a [u8],
    /// The guest's whole memory, where a value given by reference
    /// ([`VALUE_AT`]) lies.
    memory: &'a [u8],
}

impl<'a> Args<'a> {
    /// The arguments `bytes` of a request from a guest whose memory is
    /// `memory`.
    pub(crate) fn new(bytes: &'a [u8], memory: &'a [u8]) -> Self {
        Args { bytes, memory }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Fault> {
        if self.bytes.len() < n {
            return Err(Fault::InvalidValue("a request frame ends early".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Fault> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn flag(&mut self) -> Result<bool, Fault> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(Fault::InvalidValue(format!("a flag of {other}"))),
        }
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Fault> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Fault> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// A timeout: `None` for none.
    pub(crate) fn timeout(&mut self) -> Result<Option<std::time::Duration>, Fault> {
        Ok(match self.u64()? {
            u64::MAX => None,
            ns => Some(std::time::Duration::from_nanos(ns)),
        })
    }

    pub(crate) fn blob(&mut self) -> Result<&'a [u8], Fault> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    /// Everything left, as a value's bytes: as they are, or read from the
    /// guest's memory if given by reference ([`VALUE_AT`]), as `marshal`
    /// writes a `bytes`. At most `max` bytes of data.
    pub(crate) fn value(&mut self, max: usize) -> Result<Vec<u8>, Fault> {
        let too_large = || Fault::InvalidValue(format!("a value larger than {max} bytes"));
        if self.bytes.first() != Some(&VALUE_AT) {
            return if self.bytes.len() > max { Err(too_large()) } else { Ok(self.rest().to_vec()) };
        }
        self.take(1)?;
        let (at, len) = (self.u32()?, self.u32()?);
        self.end()?;
        let range = checked_range(at, len, self.memory.len())
            .ok_or_else(|| Fault::InvalidValue("a value outside the guest's memory".into()))?;
        if range.len() + 5 > max {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(range.len() + 5);
        bytes.push(b's');
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&self.memory[range]);
        Ok(bytes)
    }

    /// Refuses trailing bytes.
    pub(crate) fn end(&self) -> Result<(), Fault> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(Fault::InvalidValue("a request frame has trailing bytes".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_byte_maps_back_to_its_op() {
        for byte in 0..=255u8 {
            if let Some(op) = Op::from_byte(byte) {
                assert_eq!(op as u8, byte);
            }
        }
        assert_eq!(Op::from_byte(0x36), Some(Op::ChannelInterpreters));
        assert_eq!(Op::from_byte(0x00), None);
    }

    #[test]
    fn a_value_by_reference_is_read_from_the_memory_checked() {
        let memory: Vec<u8> = (0..64).collect();
        let at = |at: u32, len: u32| [&[VALUE_AT][..], &at.to_le_bytes(), &len.to_le_bytes()].concat();
        // Inline: as it is.
        assert_eq!(Args::new(&[0x06, 1, 9], &memory).value(100).unwrap(), [0x06, 1, 9]);
        // By reference: `marshal`'s `bytes`, read where it lies.
        assert_eq!(Args::new(&at(10, 3), &memory).value(100).unwrap(), [b's', 3, 0, 0, 0, 10, 11, 12]);
        for bad in [at(62, 3), at(u32::MAX, 2), [at(0, 1), vec![0]].concat(), at(0, 1)[..6].to_vec()] {
            assert!(matches!(Args::new(&bad, &memory).value(100), Err(Fault::InvalidValue(_))), "{bad:?}");
        }
        // The size limit counts what the host would copy.
        assert!(Args::new(&at(0, 60), &memory).value(64).is_err());
        assert!(Args::new(&[0; 65], &memory).value(64).is_err());
    }

    /// The guest's constants, `NAME = value` at the start of a line, in
    /// its order.
    fn guest_constants(guest: &str) -> Vec<(&str, u64)> {
        guest
            .lines()
            .filter_map(|line| line.split_once(" = "))
            .filter(|(name, _)| !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
            .filter_map(|(name, value)| {
                let value = value.split('#').next().unwrap().trim();
                let value = match value.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).ok()?,
                    None => value.parse().ok()?,
                };
                Some((name, value))
            })
            .collect()
    }

    /// `CamelCase` as `CAMEL_CASE`.
    fn screaming(name: &str) -> String {
        let mut out = String::new();
        for (at, c) in name.char_indices() {
            if c.is_ascii_uppercase() && at > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    /// The guest's one copy of the protocol (`guest/_isolate_door.py`)
    /// names every op and fault of this file, by the same number, and no
    /// other.
    #[test]
    fn the_guest_speaks_this_protocol() {
        let guest = include_str!("../guest/_isolate_door.py");
        let section = |from: &str, to: &str| {
            let start = guest.find(from).unwrap_or_else(|| panic!("{from}"));
            let end = guest[start..].find(to).map_or(guest.len(), |end| start + end);
            guest_constants(&guest[start..end])
        };
        let ops = section("# Ops (host/door.rs", "# Faults");
        let host_ops: Vec<(String, u64)> =
            (0..=255u8).filter_map(Op::from_byte).map(|op| (screaming(&format!("{op:?}")), op as u64)).collect();
        let mut guest_ops: Vec<(String, u64)> = ops.iter().map(|(name, op)| ((*name).to_owned(), *op)).collect();
        guest_ops.sort_by_key(|(_, op)| *op);
        assert_eq!(guest_ops, host_ops);

        let faults = section("# Faults (host/door.rs", "# Arguments");
        let text = String::new;
        let host_faults = [
            ("CHANNEL_NOT_FOUND", Fault::ChannelNotFound),
            ("CHANNEL_CLOSED", Fault::ChannelClosed),
            ("CHANNEL_RELEASED", Fault::ChannelReleased),
            ("CHANNEL_NOT_EMPTY", Fault::ChannelNotEmpty),
            ("NOT_RECEIVED", Fault::NotReceived),
            ("TIMEOUT", Fault::Timeout),
            ("INVALID_VALUE", Fault::InvalidValue(text())),
            ("INTERPRETER_NOT_FOUND", Fault::InterpreterNotFound),
            ("INTERPRETER_RUNNING", Fault::InterpreterRunning),
            ("INTERPRETER_FAILED", Fault::InterpreterFailed(text())),
            ("RUN_FAILED", Fault::RunFailed { type_name: text(), message: text(), traceback: text() }),
            ("RUN_EXITED", Fault::RunExited(0)),
            ("LIMIT_REACHED", Fault::LimitReached(text())),
            ("FUNCTION_FAILED", Fault::FunctionFailed(text())),
            ("QUEUE_NOT_FOUND", Fault::QueueNotFound),
            ("QUEUE_EMPTY", Fault::QueueEmpty),
            ("QUEUE_FULL", Fault::QueueFull),
        ];
        let host_faults: Vec<(&str, u64)> =
            host_faults.iter().map(|(name, fault)| (*name, u64::from(fault.code()))).collect();
        assert_eq!(faults, host_faults);
        // Every code is there, once: a new fault needs a line above.
        let mut codes: Vec<u64> = host_faults.iter().map(|(_, code)| *code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes, (1..=17).collect::<Vec<_>>());

        let arguments = section("# Arguments", "\ndef ");
        let argument = |name: &str| arguments.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(argument("VALUE_AT"), Some(u64::from(VALUE_AT)));
        assert_eq!(
            [argument("GET_WAITING"), argument("GET_NOW"), argument("GET_BRIEFLY")],
            [Some(u64::from(GET_WAITING)), Some(u64::from(GET_NOW)), Some(u64::from(GET_BRIEFLY))]
        );
    }

    /// The guest's codec has the host's limits, and tells the two formats
    /// apart by the host's rule.
    #[test]
    fn the_guest_codec_has_the_hosts_limits() {
        let codec = guest_constants(include_str!("../guest/_isolate_codec.py"));
        let constant = |name: &str| codec.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(constant("MAX_DEPTH"), Some(crate::value::MAX_DEPTH as u64));
        // Its tags, in order, are the host's.
        assert!(codec_source_tags().ends_with("QUEUE, ARRAY = range(15)"));
        assert_eq!(crate::value::tag::ARRAY, 14);
        let first = constant("MARSHAL_FIRST").unwrap() as u8;
        assert!(crate::value::format::is_marshal(&[first]) && !crate::value::format::is_marshal(&[first - 1]));
        // The unbound policies' flags are CPython's, on both sides.
        let pep_734 = include_str!("../guest/concurrent_interpreters.py");
        assert!(pep_734.contains("_UNBOUND_TO_FLAG = {UNBOUND_REMOVE: 1, UNBOUND_ERROR: 2, UNBOUND: 3}"));
        use crate::queue::fifo::Unbound;
        assert_eq!([Unbound::Remove as u8, Unbound::Error as u8, Unbound::Replace as u8], [1, 2, 3]);
    }

    fn codec_source_tags() -> &'static str {
        let source = include_str!("../guest/_isolate_codec.py");
        source
            .lines()
            .find(|line| line.starts_with("NONE, FALSE, TRUE, INT, FLOAT, STR, BYTES, BUFFER, TUPLE,"))
            .unwrap_or("")
    }

    #[test]
    fn short_frames_are_invalid_values_not_panics() {
        let mut args = Args::new(&[1, 2, 3], &[]);
        assert!(matches!(args.u64(), Err(Fault::InvalidValue(_))));
        let mut args = Args::new(&[9, 0, 0, 0, 1], &[]);
        assert!(matches!(args.blob(), Err(Fault::InvalidValue(_))));
    }
}
