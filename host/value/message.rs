//! What is in flight between interpreters, as types: a checked value
//! ([`Message`]) and the handles it may hold, the Rust program's handles
//! ([`RecvChannel`], [`SendChannel`], [`Queue`]), and a queue's [`Item`].
//!
//! They are defined here, below the channels and queues whose algorithms
//! carry them (`channel/rendezvous.rs`, `queue/fifo.rs`, which know nothing
//! of values), and their behaviour lives with their concern:
//! `value/format.rs` makes and reads messages, `channel/mod.rs` and
//! `queue/mod.rs` hold the handles' methods.

use std::sync::Arc;

use crate::channel::rendezvous::Rendezvous;
use crate::ids::{HandleId, InterpreterId};
use crate::limits::MemoryCharge;
use crate::queue::fifo::Fifo;

/// What a handle stands for.
#[derive(Clone)]
pub(crate) enum Held {
    /// A channel, for one of its ends.
    Channel(Arc<Rendezvous<Message>>),
    Queue(Arc<Fifo<Item>>),
}

/// An encoded, validated value in flight, with the handles it carries.
pub(crate) struct Message {
    pub(crate) bytes: Vec<u8>,
    /// The handles the value names (channel ends, queues), each with what
    /// it stands for. The message holds them: a channel or queue whose
    /// every other holder goes while the message is on its way (the Rust
    /// program dropped the `Value`, the sender released its end) is still
    /// there for the receiver.
    pub(crate) ends: Vec<(HandleId, Held)>,
}

/// One item: a checked value, and whether it is a pickle (a Python object
/// that is not shareable, which only Python can read).
pub(crate) struct Item {
    pub(crate) message: Message,
    pub(crate) pickled: bool,
    /// The sandbox (its first interpreter's id) of the interpreter that put
    /// it; `None` for the Rust program. A pickle is code for the
    /// interpreter that loads it: it only goes to the sandbox it came from.
    pub(crate) sandbox: Option<InterpreterId>,
    /// The item's bytes, counted against its sandbox's memory limit while
    /// the queue holds it: an unbounded queue is no way around the limit.
    pub(crate) _charge: Option<MemoryCharge>,
    /// A number its sender gave it, to take it back by while it waits in
    /// the queue (see [`Fifo::withdraw`]).
    pub(crate) tag: Option<u64>,
}

/// The receiving end of a channel, held by the Rust program. Its methods
/// are in `channel/mod.rs`.
///
/// Cheap to clone; clones are the same end. The Rust program is one
/// participant, like an interpreter: its association and `release` are
/// shared by all its handles.
#[derive(Clone)]
pub struct RecvChannel {
    pub(crate) channel: Arc<Rendezvous<Message>>,
}

/// The sending end of a channel, held by the Rust program.
///
/// Cheap to clone; clones are the same end.
#[derive(Clone)]
pub struct SendChannel {
    pub(crate) channel: Arc<Rendezvous<Message>>,
}

/// Builds a channel's two handles (crate-internal).
pub(crate) fn channel_ends(channel: Arc<Rendezvous<Message>>) -> (RecvChannel, SendChannel) {
    (RecvChannel { channel: channel.clone() }, SendChannel { channel })
}

/// A queue, held by the Rust program: PEP 734's `Queue`. Its methods are
/// in `queue/mod.rs`.
///
/// Cheap to clone; clones are the same queue. Pass it to an interpreter as
/// a [`Value`](crate::Value) (a binding, a call's argument, an item of another queue),
/// and Python code there gets a `concurrent.interpreters.Queue` for it. The
/// queue lives while the Rust program or an interpreter holds it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = isolate::Runtime::new()?;
/// let (tasks, results) = (runtime.create_queue(0), runtime.create_queue(0));
/// let worker = runtime.create_interpreter()?;
/// let bindings = [("tasks", tasks.clone().into()), ("results", results.clone().into())];
/// let run = std::thread::spawn(move || {
///     worker.run_with("for n in iter(tasks.get, None):\n    results.put(n * n)", bindings)
/// });
/// tasks.put(7)?;
/// assert_eq!(results.get()?, isolate::Value::from(49));
/// tasks.put(())?; // None: the loop ends
/// run.join().unwrap()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Queue {
    pub(crate) state: Arc<Fifo<Item>>,
}
