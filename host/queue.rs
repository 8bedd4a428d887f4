//! Queues: PEP 734's buffered, optionally bounded first-in-first-out
//! queues between interpreters, owned by the host.
//!
//! Unlike a channel, a `put` does not wait for a receiver: it waits only
//! while a bounded queue is full. Every interpreter that holds the queue
//! (and the Rust program, through [`Queue`]) may put and get.
//!
//! An item remembers who put it. When that interpreter is destroyed before
//! the item is taken, the item is *unbound*, and its [`Unbound`] policy
//! (PEP 734's `unbounditems`) says what becomes of it: removed at once, or
//! left in place as a marker that `get` turns into an error or into the
//! `UNBOUND` sentinel.
//!
//! A queue lives while anything holds it: an interpreter (see
//! `InterpreterInner::bind_queue`), a Rust handle, or an item in another
//! queue or channel on its way.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cancel::CancelFlag;
use crate::channel::{Message, Party, Wait};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::sync::{Signal, lock};
use crate::value::{self, Copies, Value};

/// Identifies a queue within its [`Runtime`]. Ids are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub(crate) u64);

impl QueueId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What becomes of an item whose interpreter is destroyed before the item
/// is taken: PEP 734's `unbounditems`. The numbers are CPython's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Unbound {
    /// The item is removed from the queue (`UNBOUND_REMOVE`).
    Remove = 1,
    /// Taking it fails: [`Error::ItemInterpreterDestroyed`], and Python's
    /// `ItemInterpreterDestroyed` (`UNBOUND_ERROR`).
    Error = 2,
    /// Taking it gives the `UNBOUND` sentinel in Python (`UNBOUND`, the
    /// default); [`Error::ItemInterpreterDestroyed`] in Rust, which has no
    /// such sentinel.
    #[default]
    Replace = 3,
}

impl Unbound {
    pub(crate) fn from_flag(flag: u8) -> Option<Unbound> {
        match flag {
            1 => Some(Unbound::Remove),
            2 => Some(Unbound::Error),
            3 => Some(Unbound::Replace),
            _ => None,
        }
    }
}

/// One item: a checked value, and whether it is a pickle (a Python object
/// that is not shareable, which only Python can read).
pub(crate) struct Item {
    pub(crate) message: Message,
    pub(crate) pickled: bool,
}

/// An item in the queue, with who put it and what to do once they are gone.
struct Slot {
    /// `None` once unbound.
    item: Option<Item>,
    from: Party,
    unbound: Unbound,
}

/// What a `get` took.
pub(crate) enum Got {
    Item(Item),
    /// An item whose interpreter was destroyed, and its policy.
    Unbound(Unbound),
}

/// One queue's shared state.
pub(crate) struct QueueState {
    id: QueueId,
    /// At most this many items; 0 for no bound.
    maxsize: usize,
    /// The policy of items put without one of their own.
    unbound: Unbound,
    slots: Mutex<VecDeque<Slot>>,
    changed: Signal,
}

impl QueueState {
    pub(crate) fn new(id: QueueId, maxsize: usize, unbound: Unbound) -> Self {
        QueueState { id, maxsize, unbound, slots: Mutex::new(VecDeque::new()), changed: Signal::default() }
    }

    pub(crate) fn id(&self) -> QueueId {
        self.id
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize
    }

    pub(crate) fn default_unbound(&self) -> Unbound {
        self.unbound
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.slots).len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full(&lock(&self.slots))
    }

    fn full(&self, slots: &VecDeque<Slot>) -> bool {
        self.maxsize > 0 && slots.len() >= self.maxsize
    }

    /// Waits for a change until `deadline`; false once it passed.
    fn wait<'a>(
        &'a self,
        slots: MutexGuard<'a, VecDeque<Slot>>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, VecDeque<Slot>>, bool) {
        self.changed.wait(&self.slots, slots, deadline)
    }

    /// Wakes the calls waiting on this queue, so that they look again at
    /// what may have stopped them (a cancelled interpreter).
    pub(crate) fn nudge(&self) {
        let _slots = lock(&self.slots);
        self.changed.notify();
    }

    /// Adds `item` at the end, waiting while the queue is full:
    /// [`Error::QueueFull`] if it still is when `wait` says to stop.
    pub(crate) fn put(
        &self,
        from: Party,
        item: Item,
        unbound: Option<Unbound>,
        wait: Wait,
        cancel: Option<&CancelFlag>,
    ) -> Result<()> {
        let mut slots = lock(&self.slots);
        loop {
            if !self.full(&slots) {
                slots.push_back(Slot { item: Some(item), from, unbound: unbound.unwrap_or(self.unbound) });
                self.changed.notify();
                return Ok(());
            }
            if let Some(err) = cancelled(from, cancel) {
                return Err(err);
            }
            let Wait::Until(deadline) = wait else { return Err(Error::QueueFull(self.id)) };
            let (next, in_time) = self.wait(slots, deadline);
            slots = next;
            if !in_time && self.full(&slots) {
                return Err(Error::QueueFull(self.id));
            }
        }
    }

    /// Takes the first item, waiting while the queue is empty:
    /// [`Error::QueueEmpty`] if it still is when `wait` says to stop.
    pub(crate) fn get(&self, party: Party, wait: Wait, cancel: Option<&CancelFlag>) -> Result<Got> {
        let mut slots = lock(&self.slots);
        loop {
            if let Some(slot) = slots.pop_front() {
                self.changed.notify();
                return Ok(match slot.item {
                    Some(item) => Got::Item(item),
                    None => Got::Unbound(slot.unbound),
                });
            }
            if let Some(err) = cancelled(party, cancel) {
                return Err(err);
            }
            let Wait::Until(deadline) = wait else { return Err(Error::QueueEmpty(self.id)) };
            let (next, in_time) = self.wait(slots, deadline);
            slots = next;
            if !in_time && slots.is_empty() {
                return Err(Error::QueueEmpty(self.id));
            }
        }
    }

    /// The items `party` put are unbound: it was destroyed.
    pub(crate) fn unbind(&self, party: Party) {
        let mut slots = lock(&self.slots);
        let before = slots.len();
        slots.retain(|slot| slot.from != party || slot.unbound != Unbound::Remove);
        for slot in slots.iter_mut().filter(|slot| slot.from == party) {
            slot.item = None;
        }
        if slots.len() != before {
            self.changed.notify();
        }
    }
}

/// `Error::Cancelled` if `party` is an interpreter that was cancelled.
fn cancelled(party: Party, cancel: Option<&CancelFlag>) -> Option<Error> {
    match (party, cancel) {
        (Party::Interpreter(id), Some(flag)) if flag.is_set() => Some(Error::Cancelled(id)),
        _ => None,
    }
}

/// A queue, held by the Rust program: PEP 734's `Queue`.
///
/// Cheap to clone; clones are the same queue. Pass it to an interpreter as
/// a [`Value`] (a binding, a call's argument, an item of another queue),
/// and Python code there gets a `concurrent.interpreters.Queue` for it. The
/// queue lives while the Rust program or an interpreter holds it.
///
/// ```no_run
/// # fn main() -> isolate::Result<()> {
/// let runtime = isolate::Runtime::new()?;
/// let (tasks, results) = (runtime.create_queue(0), runtime.create_queue(0));
/// let worker = runtime.create_interpreter()?;
/// worker.run_with(
///     "for n in iter(tasks.get, None): results.put(n * n)",
///     [("tasks", tasks.clone()), ("results", results.clone())],
/// )
/// # .ok();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Queue {
    pub(crate) state: Arc<QueueState>,
    pub(crate) runtime: Runtime,
}

impl Queue {
    /// The queue's id.
    pub fn id(&self) -> QueueId {
        self.state.id
    }

    /// The most items it holds; 0 for no bound.
    pub fn maxsize(&self) -> usize {
        self.state.maxsize
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
        let item = Item { message: Message::from_value(value, Copies::Allowed)?, pickled: false };
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
            Got::Item(Item { message, .. }) => {
                value::decode(&message.bytes, |end| message.end_value(end, &self.runtime))
            }
            Got::Unbound(_) => Err(Error::ItemInterpreterDestroyed(self.state.id)),
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
        write!(f, "Queue({})", self.state.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interpreter::InterpreterId;

    fn item(byte: u8) -> Item {
        Item { message: Message { bytes: vec![value::tag::INT, 1, byte], ends: vec![] }, pickled: false }
    }

    fn taken(got: Got) -> Option<u8> {
        match got {
            Got::Item(item) => Some(item.message.bytes[2]),
            Got::Unbound(_) => None,
        }
    }

    #[test]
    fn a_bounded_queue_refuses_a_put_when_full_and_keeps_order() {
        let queue = QueueState::new(QueueId(0), 2, Unbound::Replace);
        queue.put(Party::Host, item(1), None, Wait::No, None).unwrap();
        queue.put(Party::Host, item(2), None, Wait::No, None).unwrap();
        assert!(matches!(queue.put(Party::Host, item(3), None, Wait::No, None), Err(Error::QueueFull(_))));
        let deadline = Wait::timeout(Some(Duration::from_millis(20)));
        assert!(matches!(queue.put(Party::Host, item(3), None, deadline, None), Err(Error::QueueFull(_))));
        assert_eq!(taken(queue.get(Party::Host, Wait::No, None).unwrap()), Some(1));
        assert_eq!(taken(queue.get(Party::Host, Wait::No, None).unwrap()), Some(2));
        assert!(matches!(queue.get(Party::Host, Wait::No, None), Err(Error::QueueEmpty(_))));
    }

    #[test]
    fn unbinding_follows_each_items_policy() {
        let queue = QueueState::new(QueueId(0), 0, Unbound::Replace);
        let gone = Party::Interpreter(InterpreterId(7));
        queue.put(gone, item(1), Some(Unbound::Remove), Wait::No, None).unwrap();
        queue.put(gone, item(2), Some(Unbound::Error), Wait::No, None).unwrap();
        queue.put(Party::Host, item(3), Some(Unbound::Remove), Wait::No, None).unwrap();
        queue.put(gone, item(4), None, Wait::No, None).unwrap();
        queue.unbind(gone);
        assert_eq!(queue.len(), 3);
        assert!(matches!(queue.get(Party::Host, Wait::No, None).unwrap(), Got::Unbound(Unbound::Error)));
        assert_eq!(taken(queue.get(Party::Host, Wait::No, None).unwrap()), Some(3));
        assert!(matches!(queue.get(Party::Host, Wait::No, None).unwrap(), Got::Unbound(Unbound::Replace)));
    }
}
