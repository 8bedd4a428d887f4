//! The names the rest of the crate shares: the ids of interpreters, channels
//! and queues, who uses a channel end, and the handles a value may name.
//!
//! Plain vocabulary, with no behaviour and no imports: every layer uses it,
//! so it sits below them all.

use std::fmt;

/// Identifies an interpreter within its [`Runtime`](crate::Runtime). Ids
/// are never reused; the first interpreter of a runtime is `0`, as
/// CPython's main one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterpreterId(pub(crate) u64);

/// Identifies a channel within its [`Runtime`](crate::Runtime). Ids are
/// never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub(crate) u64);

/// Identifies a queue within its [`Runtime`](crate::Runtime). Ids are never
/// reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub(crate) u64);

macro_rules! id_number {
    ($($id:ident),*) => {$(
        impl $id {
            /// The id as a number.
            pub fn as_u64(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_number!(InterpreterId, ChannelId, QueueId);

/// Who uses a channel end or puts a queue's item: the Rust program, or an
/// interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Party {
    Host,
    Interpreter(InterpreterId),
}

/// Which end of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum End {
    Recv,
    Send,
}

/// A handle named inside an encoded value: a channel end, or a queue.
/// Handles are capabilities: one crosses only from a holder, and the
/// receiver then holds it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HandleId {
    Recv(ChannelId),
    Send(ChannelId),
    Queue(QueueId),
}
