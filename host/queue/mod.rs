//! Queues: PEP 734's buffered, optionally bounded first-in-first-out
//! queues between interpreters, owned by the host: what the Rust program's
//! [`Queue`] does. The queue itself is in `fifo.rs`; the `Queue` and `Item`
//! structs are beside `Message`, in `value/message.rs`.

pub(crate) mod fifo;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ids::{Party, QueueId};
use crate::stop::Wait;
use crate::value::{Copies, Item, Message, Queue, Value};
use fifo::{Fifo, Got};

/// A queue of the crate: of checked values, with who put them.
pub(crate) type QueueState = Fifo<Item>;

impl Queue {
    /// The queue's id.
    pub fn id(&self) -> QueueId {
        self.state.id()
    }

    /// The most items it holds; 0 for no bound.
    pub fn maxsize(&self) -> usize {
        self.state.maxsize()
    }

    /// How many items it holds now.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether it holds no item now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it is bounded and holds as many items as it may.
    pub fn is_full(&self) -> bool {
        self.state.is_full()
    }

    /// Adds `value` at the end, waiting while the queue is full. Lists and
    /// dicts are copied, as Python's `put` copies what is not shareable.
    pub fn put(&self, value: impl Into<Value>) -> Result<()> {
        self.put_with(&value.into(), Wait::Until(None))
    }

    /// Like [`put`](Self::put), but fails with [`Error::QueueFull`] if the
    /// queue is still full after `timeout`.
    pub fn put_timeout(&self, value: impl Into<Value>, timeout: Duration) -> Result<()> {
        self.put_with(&value.into(), Wait::timeout(Some(timeout)))
    }

    /// Adds `value` only if there is room now, else fails with
    /// [`Error::QueueFull`]: Python's `put_nowait`.
    pub fn try_put(&self, value: impl Into<Value>) -> Result<()> {
        self.put_with(&value.into(), Wait::No)
    }

    fn put_with(&self, value: &Value, wait: Wait) -> Result<()> {
        let item = Item {
            message: Message::from_value(value, Copies::Allowed)?,
            pickled: false,
            sandbox: None,
            _charge: None,
            tag: None,
        };
        self.state.put(Party::Host, item, None, wait, None)
    }

    /// Takes the first item, waiting while the queue is empty.
    ///
    /// An item that Python code put as a pickle (an object that is not
    /// shareable, such as an instance of its own class) is refused with
    /// [`Error::InvalidValue`]; one whose interpreter was destroyed before
    /// it was taken is [`Error::ItemInterpreterDestroyed`]. Either way the
    /// item is taken.
    pub fn get(&self) -> Result<Value> {
        self.get_with(Wait::Until(None))
    }

    /// Like [`get`](Self::get), but fails with [`Error::QueueEmpty`] if the
    /// queue is still empty after `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<Value> {
        self.get_with(Wait::timeout(Some(timeout)))
    }

    /// Takes the first item if there is one: Python's `get_nowait`, with
    /// `Ok(None)` where Python raises `QueueEmpty`.
    pub fn try_get(&self) -> Result<Option<Value>> {
        match self.get_with(Wait::No) {
            Err(Error::QueueEmpty(_)) => Ok(None),
            other => other.map(Some),
        }
    }

    fn get_with(&self, wait: Wait) -> Result<Value> {
        match self.state.get(Party::Host, wait, None)? {
            Got::Item(Item { pickled: true, .. }) => {
                Err(Error::InvalidValue("the item is a pickled Python object, which only Python code can take".into()))
            }
            Got::Item(Item { message, .. }) => message.decode(),
            Got::Unbound(_) => Err(Error::ItemInterpreterDestroyed(self.state.id())),
        }
    }
}

impl PartialEq for Queue {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Queue({})", self.state.id())
    }
}
