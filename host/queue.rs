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

use crate::error::{Error, Result};
use crate::ids::{InterpreterId, Party, QueueId};
use crate::limits::MemoryCharge;
use crate::stop::{CancelFlag, Wait, cancelled};
use crate::sync::{Signal, lock};
use crate::value::{Copies, Message, Value};

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
    /// The sandbox (its first interpreter's id) of the interpreter that put
    /// it; `None` for the Rust program. A pickle is code for the
    /// interpreter that loads it: it only goes to the sandbox it came from.
    pub(crate) sandbox: Option<InterpreterId>,
    /// The item's bytes, counted against its sandbox's memory limit while
    /// the queue holds it: an unbounded queue is no way around the limit.
    pub(crate) _charge: Option<MemoryCharge>,
    /// A number its sender gave it, to take it back by while it waits in
    /// the queue (see [`QueueState::withdraw`]).
    pub(crate) tag: Option<u64>,
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
    /// At most this many items; zero or less for no bound. Python code
    /// reads it back as given, as CPython's does.
    maxsize: i64,
    /// The sandbox whose interpreter created it (its first interpreter's
    /// id), whose interpreters may reach it by its id, as CPython's reach
    /// any queue; None for the Rust program's.
    sandbox: Option<InterpreterId>,
    /// The policy of items put without one of their own.
    unbound: Unbound,
    state: Mutex<State>,
    changed: Signal,
}

#[derive(Default)]
struct State {
    slots: VecDeque<Slot>,
    /// The tickets of the `get`s waiting for an item, oldest first. Items
    /// go to them in that order: a `get` that comes later takes one only
    /// if there are more than they wait for. Without this, an interpreter
    /// that puts and then gets at once took its own item back every time
    /// (PEP 734's token-passing example starved its workers).
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

impl State {
    /// Whether the `get` holding `ticket` (None: one that has not waited)
    /// may take an item now.
    fn may_take(&self, ticket: Option<u64>) -> bool {
        let ahead = match ticket {
            None => self.waiting.len(),
            Some(ticket) => self.waiting.iter().position(|&t| t == ticket).unwrap_or(0),
        };
        self.slots.len() > ahead
    }

    fn stop_waiting(&mut self, ticket: Option<u64>) {
        if let Some(ticket) = ticket {
            self.waiting.retain(|&t| t != ticket);
        }
    }
}

impl QueueState {
    /// A queue of at most `maxsize` items, none if zero or less.
    pub(crate) fn new(id: QueueId, maxsize: i64, unbound: Unbound, sandbox: Option<InterpreterId>) -> Self {
        QueueState { id, maxsize, sandbox, unbound, state: Mutex::new(State::default()), changed: Signal::default() }
    }

    pub(crate) fn id(&self) -> QueueId {
        self.id
    }

    /// At most this many items; 0 for no bound.
    pub(crate) fn maxsize(&self) -> usize {
        usize::try_from(self.maxsize).unwrap_or(0)
    }

    /// The maxsize as it was given.
    pub(crate) fn given_maxsize(&self) -> i64 {
        self.maxsize
    }

    pub(crate) fn sandbox(&self) -> Option<InterpreterId> {
        self.sandbox
    }

    pub(crate) fn default_unbound(&self) -> Unbound {
        self.unbound
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.state).slots.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full(&lock(&self.state))
    }

    fn full(&self, state: &State) -> bool {
        let maxsize = self.maxsize();
        maxsize > 0 && state.slots.len() >= maxsize
    }

    /// Waits for a change until `deadline`; false once it passed.
    fn wait<'a>(&'a self, state: MutexGuard<'a, State>, deadline: Option<Instant>) -> (MutexGuard<'a, State>, bool) {
        self.changed.wait(&self.state, state, deadline)
    }

    /// Wakes the calls waiting on this queue, so that they look again at
    /// what may have stopped them (a cancelled interpreter).
    pub(crate) fn nudge(&self) {
        let _state = lock(&self.state);
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
        let mut state = lock(&self.state);
        loop {
            if !self.full(&state) {
                state.slots.push_back(Slot { item: Some(item), from, unbound: unbound.unwrap_or(self.unbound) });
                self.changed.notify();
                return Ok(());
            }
            if let Some(err) = cancelled(from, cancel) {
                return Err(err);
            }
            let Wait::Until(deadline) = wait else { return Err(Error::QueueFull(self.id)) };
            let (next, in_time) = self.wait(state, deadline);
            state = next;
            if !in_time && self.full(&state) {
                return Err(Error::QueueFull(self.id));
            }
        }
    }

    /// Takes the first item, waiting while the queue is empty:
    /// [`Error::QueueEmpty`] if it still is when `wait` says to stop.
    pub(crate) fn get(&self, party: Party, wait: Wait, cancel: Option<&CancelFlag>) -> Result<Got> {
        let mut state = lock(&self.state);
        let mut ticket = None;
        loop {
            if state.may_take(ticket) {
                state.stop_waiting(ticket);
                let slot = state.slots.pop_front().expect("an item to take");
                // For a put waiting for room, and for the next get in line.
                if self.maxsize() > 0 || !state.waiting.is_empty() {
                    self.changed.notify();
                }
                return Ok(match slot.item {
                    Some(item) => Got::Item(item),
                    None => Got::Unbound(slot.unbound),
                });
            }
            let gives_up = match wait {
                Wait::No => Some(Error::QueueEmpty(self.id)),
                Wait::Until(_) => cancelled(party, cancel),
            };
            if let Some(err) = gives_up {
                state.stop_waiting(ticket);
                // An item it was first in line for goes to the next.
                self.changed.notify();
                return Err(err);
            }
            let Wait::Until(deadline) = wait else { unreachable!("a wait::No gave up above") };
            if ticket.is_none() {
                let next = state.next_ticket;
                state.next_ticket += 1;
                state.waiting.push_back(next);
                ticket = Some(next);
            }
            let (next, in_time) = self.wait(state, deadline);
            state = next;
            if !in_time && !state.may_take(ticket) {
                state.stop_waiting(ticket);
                self.changed.notify();
                return Err(Error::QueueEmpty(self.id));
            }
        }
    }

    /// Whether the item `party` put with `tag` is still in the queue; unless
    /// `keep`, it is removed. An executor's pending task is such an item:
    /// cancelling it succeeds exactly when no worker has taken it.
    pub(crate) fn withdraw(&self, party: Party, tag: u64, keep: bool) -> bool {
        let mut state = lock(&self.state);
        let found = state
            .slots
            .iter()
            .position(|slot| slot.from == party && slot.item.as_ref().is_some_and(|item| item.tag == Some(tag)));
        let Some(at) = found else { return false };
        if !keep {
            state.slots.remove(at);
            // Room for a put that waits.
            self.changed.notify();
        }
        true
    }

    /// The items `party` put are unbound: it was destroyed.
    pub(crate) fn unbind(&self, party: Party) {
        let mut state = lock(&self.state);
        let before = state.slots.len();
        state.slots.retain(|slot| slot.from != party || slot.unbound != Unbound::Remove);
        for slot in state.slots.iter_mut().filter(|slot| slot.from == party) {
            slot.item = None;
        }
        if state.slots.len() != before {
            self.changed.notify();
        }
    }
}

/// A queue, held by the Rust program: PEP 734's `Queue`.
///
/// Cheap to clone; clones are the same queue. Pass it to an interpreter as
/// a [`Value`] (a binding, a call's argument, an item of another queue),
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
    pub(crate) state: Arc<QueueState>,
}

impl Queue {
    /// The queue's id.
    pub fn id(&self) -> QueueId {
        self.state.id
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
    use crate::value;

    fn item(byte: u8) -> Item {
        Item {
            message: Message { bytes: vec![value::tag::INT, 1, byte], ends: vec![] },
            pickled: false,
            sandbox: None,
            _charge: None,
            tag: None,
        }
    }

    fn taken(got: Got) -> Option<u8> {
        match got {
            Got::Item(item) => Some(item.message.bytes[2]),
            Got::Unbound(_) => None,
        }
    }

    #[test]
    fn a_bounded_queue_refuses_a_put_when_full_and_keeps_order() {
        let queue = QueueState::new(QueueId(0), 2, Unbound::Replace, None);
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
    fn a_waiting_get_is_served_before_a_later_one() {
        let queue = Arc::new(QueueState::new(QueueId(0), 0, Unbound::Replace, None));
        let waiter = {
            let queue = queue.clone();
            std::thread::spawn(move || taken(queue.get(Party::Host, Wait::Until(None), None).unwrap()))
        };
        while lock(&queue.state).waiting.is_empty() {
            std::thread::yield_now();
        }
        queue.put(Party::Host, item(1), None, Wait::No, None).unwrap();
        // The item is the waiting get's, however fast this one comes.
        assert!(matches!(queue.get(Party::Host, Wait::No, None), Err(Error::QueueEmpty(_))));
        assert_eq!(waiter.join().unwrap(), Some(1));
        assert!(lock(&queue.state).waiting.is_empty());
    }

    #[test]
    fn unbinding_follows_each_items_policy() {
        let queue = QueueState::new(QueueId(0), 0, Unbound::Replace, None);
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

    #[test]
    fn a_sender_withdraws_its_own_tagged_item_until_it_is_taken() {
        let queue = QueueState::new(QueueId(0), 0, Unbound::Replace, None);
        let me = Party::Interpreter(InterpreterId(1));
        let other = Party::Interpreter(InterpreterId(2));
        for byte in 1..=3 {
            queue.put(me, Item { tag: Some(u64::from(byte)), ..item(byte) }, None, Wait::No, None).unwrap();
        }
        assert!(!queue.withdraw(other, 2, false), "another party's item");
        assert!(queue.withdraw(me, 2, true) && queue.len() == 3, "looking leaves it");
        assert!(queue.withdraw(me, 2, false) && queue.len() == 2);
        assert!(!queue.withdraw(me, 2, false), "already withdrawn");
        assert_eq!(taken(queue.get(Party::Host, Wait::No, None).unwrap()), Some(1));
        assert!(!queue.withdraw(me, 1, true), "taken");
        assert_eq!(taken(queue.get(Party::Host, Wait::No, None).unwrap()), Some(3));
    }
}
