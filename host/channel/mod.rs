//! Channels: PEP 554's unbuffered, many-to-many pipes between interpreters,
//! owned by the host: what the Rust program's ends do. The rendezvous is in
//! `rendezvous.rs`; the two handle structs are beside `Message`, in
//! `value/message.rs`.

pub(crate) mod rendezvous;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::ids::{ChannelId, End, InterpreterId, Party};
use crate::stop::Wait;
use crate::value::{Copies, Message, RecvChannel, SendChannel, Value};

/// A channel of the crate: the rendezvous of checked values.
pub(crate) type Channel = rendezvous::Rendezvous<Message>;

impl RecvChannel {
    /// The channel's id.
    pub fn id(&self) -> ChannelId {
        self.channel.id()
    }

    /// Waits for the next object and returns it.
    ///
    /// Fails with [`Error::ChannelClosed`](crate::Error::ChannelClosed) if the channel is or gets closed,
    /// [`Error::ChannelReleased`](crate::Error::ChannelReleased) if this program released this end.
    pub fn recv(&self) -> Result<Value> {
        self.recv_with(Wait::Until(None)).map(|value| value.expect("a blocking recv returns a value"))
    }

    /// Like [`recv`](Self::recv), but fails with [`Error::Timeout`](crate::Error::Timeout) after
    /// `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Value> {
        self.recv_with(Wait::timeout(Some(timeout))).map(|value| value.expect("a blocking recv returns a value"))
    }

    /// Takes an object only if a sender is waiting with one: PEP 554's
    /// `recv_nowait`. `Ok(None)` when none is.
    pub fn try_recv(&self) -> Result<Option<Value>> {
        self.recv_with(Wait::No)
    }

    fn recv_with(&self, wait: Wait) -> Result<Option<Value>> {
        let Some(message) = self.channel.recv(Party::Host, wait, None)? else {
            return Ok(None);
        };
        message.decode().map(Some)
    }

    /// The interpreters associated with this end.
    pub fn interpreters(&self) -> Result<Vec<InterpreterId>> {
        self.channel.interpreters(End::Recv)
    }

    /// This program stops using this end, for good: PEP 554's `release()`.
    /// True the first time.
    pub fn release(&self) -> Result<bool> {
        self.channel.release(Party::Host, End::Recv)
    }

    /// Closes the channel for everyone. Fails with
    /// [`Error::ChannelNotEmpty`](crate::Error::ChannelNotEmpty) if a sender is waiting, unless `force`,
    /// which discards the waiting objects.
    pub fn close(&self, force: bool) -> Result<()> {
        self.channel.close(End::Recv, force)
    }
}

impl SendChannel {
    /// The channel's id.
    pub fn id(&self) -> ChannelId {
        self.channel.id()
    }

    /// Sends `value` and returns once a receiver has taken it.
    pub fn send(&self, value: impl Into<Value>) -> Result<()> {
        self.send_with(&value.into(), Wait::Until(None))
    }

    /// Like [`send`](Self::send), but fails with [`Error::Timeout`](crate::Error::Timeout) after
    /// `timeout` (the value was then not received).
    pub fn send_timeout(&self, value: impl Into<Value>, timeout: Duration) -> Result<()> {
        self.send_with(&value.into(), Wait::timeout(Some(timeout)))
    }

    /// Sends only if a receiver is waiting, else fails with
    /// [`Error::NotReceived`](crate::Error::NotReceived): PEP 554's `send_nowait`.
    pub fn try_send(&self, value: impl Into<Value>) -> Result<()> {
        self.send_with(&value.into(), Wait::No)
    }

    /// Sends `bytes` as a buffer: a Python receiver gets a read-only
    /// `memoryview`. PEP 554's `send_buffer`.
    pub fn send_buffer(&self, bytes: impl Into<Vec<u8>>) -> Result<()> {
        self.send_with(&Value::Buffer(bytes.into()), Wait::Until(None))
    }

    fn send_with(&self, value: &Value, wait: Wait) -> Result<()> {
        self.channel.send(Party::Host, Message::from_value(value, Copies::Refused)?, wait, None)
    }

    /// The interpreters associated with this end.
    pub fn interpreters(&self) -> Result<Vec<InterpreterId>> {
        self.channel.interpreters(End::Send)
    }

    /// This program stops using this end, for good. True the first time.
    pub fn release(&self) -> Result<bool> {
        self.channel.release(Party::Host, End::Send)
    }

    /// Closes the channel: no more sends. Objects already waiting are still
    /// received, then the channel closes; with `force` they are discarded
    /// and it closes at once.
    pub fn close(&self, force: bool) -> Result<()> {
        self.channel.close(End::Send, force)
    }
}

impl PartialEq for RecvChannel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.channel, &other.channel)
    }
}

impl PartialEq for SendChannel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.channel, &other.channel)
    }
}

impl fmt::Debug for RecvChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecvChannel({})", self.channel.id())
    }
}

impl fmt::Debug for SendChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SendChannel({})", self.channel.id())
    }
}
