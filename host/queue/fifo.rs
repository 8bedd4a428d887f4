//! The first-in-first-out queue of PEP 734's queues, over any item
//! (`Item`s, in the crate): bounded or not, gets served in the order they
//! came, and each item's [`Unbound`] policy for when its interpreter goes.
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

use crate::error::{Error, Result};
use crate::ids::{InterpreterId, Party, QueueId};
use crate::stop::{CancelFlag, Wait, cancelled};
use crate::sync::Watched;

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

/// An item in the queue, with who put it and what to do once they are gone.
struct Slot<T> {
    /// `None` once unbound.
    item: Option<T>,
    from: Party,
    unbound: Unbound,
}

/// What a `get` took.
pub(crate) enum Got<T> {
    Item(T),
    /// An item whose interpreter was destroyed, and its policy.
    Unbound(Unbound),
}

/// One queue's shared state: a first-in-first-out queue of `T`.
pub(crate) struct Fifo<T> {
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
    state: Watched<State<T>>,
}

struct State<T> {
    slots: VecDeque<Slot<T>>,
    /// The tickets of the `get`s waiting for an item, oldest first. Items
    /// go to them in that order: a `get` that comes later takes one only
    /// if there are more than they wait for. Without this, an interpreter
    /// that puts and then gets at once took its own item back every time
    /// (PEP 734's token-passing example starved its workers).
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State { slots: VecDeque::new(), waiting: VecDeque::new(), next_ticket: 0 }
    }
}

impl<T> State<T> {
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

impl<T> Fifo<T> {
    /// A queue of at most `maxsize` items, none if zero or less.
    pub(crate) fn new(id: QueueId, maxsize: i64, unbound: Unbound, sandbox: Option<InterpreterId>) -> Self {
        Fifo { id, maxsize, sandbox, unbound, state: Watched::new(State::default()) }
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
        self.state.lock().slots.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full(&self.state.lock())
    }

    fn full(&self, state: &State<T>) -> bool {
        let maxsize = self.maxsize();
        maxsize > 0 && state.slots.len() >= maxsize
    }

    /// Wakes the calls waiting on this queue, so that they look again at
    /// what may have stopped them (a cancelled interpreter).
    pub(crate) fn nudge(&self) {
        self.state.nudge();
    }

    /// Adds `item` at the end, waiting while the queue is full:
    /// [`Error::QueueFull`] if it still is when `wait` says to stop.
    pub(crate) fn put(
        &self,
        from: Party,
        item: T,
        unbound: Option<Unbound>,
        wait: Wait,
        cancel: Option<&CancelFlag>,
    ) -> Result<()> {
        let mut state = self.state.lock();
        loop {
            if !self.full(&state) {
                state.slots.push_back(Slot { item: Some(item), from, unbound: unbound.unwrap_or(self.unbound) });
                self.state.notify();
                return Ok(());
            }
            if let Some(err) = cancelled(from, cancel) {
                return Err(err);
            }
            let Wait::Until(deadline) = wait else { return Err(Error::QueueFull(self.id)) };
            let (next, in_time) = self.state.wait(state, deadline);
            state = next;
            if !in_time && self.full(&state) {
                return Err(Error::QueueFull(self.id));
            }
        }
    }

    /// Takes the first item, waiting while the queue is empty:
    /// [`Error::QueueEmpty`] if it still is when `wait` says to stop.
    pub(crate) fn get(&self, party: Party, wait: Wait, cancel: Option<&CancelFlag>) -> Result<Got<T>> {
        let mut state = self.state.lock();
        let mut ticket = None;
        loop {
            if state.may_take(ticket) {
                state.stop_waiting(ticket);
                let slot = state.slots.pop_front().expect("an item to take");
                // For a put waiting for room, and for the next get in line.
                if self.maxsize() > 0 || !state.waiting.is_empty() {
                    self.state.notify();
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
                self.state.notify();
                return Err(err);
            }
            let Wait::Until(deadline) = wait else { unreachable!("a wait::No gave up above") };
            if ticket.is_none() {
                let next = state.next_ticket;
                state.next_ticket += 1;
                state.waiting.push_back(next);
                ticket = Some(next);
            }
            let (next, in_time) = self.state.wait(state, deadline);
            state = next;
            if !in_time && !state.may_take(ticket) {
                state.stop_waiting(ticket);
                self.state.notify();
                return Err(Error::QueueEmpty(self.id));
            }
        }
    }

    /// Whether an item `party` put that is `wanted` is still in the queue
    /// (the first, if several are); unless `keep`, it is removed. An
    /// executor's pending task is such an item, found by its tag:
    /// cancelling it succeeds exactly when no worker has taken it.
    pub(crate) fn withdraw(&self, party: Party, wanted: impl Fn(&T) -> bool, keep: bool) -> bool {
        let mut state = self.state.lock();
        let found = state.slots.iter().position(|slot| slot.from == party && slot.item.as_ref().is_some_and(&wanted));
        let Some(at) = found else { return false };
        if !keep {
            state.slots.remove(at);
            // Room for a put that waits.
            self.state.notify();
        }
        true
    }

    /// The items `party` put are unbound: it was destroyed.
    pub(crate) fn unbind(&self, party: Party) {
        let mut state = self.state.lock();
        let before = state.slots.len();
        state.slots.retain(|slot| slot.from != party || slot.unbound != Unbound::Remove);
        for slot in state.slots.iter_mut().filter(|slot| slot.from == party) {
            slot.item = None;
        }
        if state.slots.len() != before {
            self.state.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// An item, and the tag it may be withdrawn by.
    #[derive(Clone, Copy)]
    struct Item {
        byte: u8,
        tag: Option<u64>,
    }

    fn item(byte: u8) -> Item {
        Item { byte, tag: None }
    }

    fn taken(got: Got<Item>) -> Option<u8> {
        match got {
            Got::Item(item) => Some(item.byte),
            Got::Unbound(_) => None,
        }
    }

    fn tagged(tag: u64) -> impl Fn(&Item) -> bool {
        move |item| item.tag == Some(tag)
    }

    #[test]
    fn a_bounded_queue_refuses_a_put_when_full_and_keeps_order() {
        let queue = Fifo::new(QueueId(0), 2, Unbound::Replace, None);
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
        let queue = Arc::new(Fifo::new(QueueId(0), 0, Unbound::Replace, None));
        let waiter = {
            let queue = queue.clone();
            std::thread::spawn(move || taken(queue.get(Party::Host, Wait::Until(None), None).unwrap()))
        };
        while queue.state.lock().waiting.is_empty() {
            std::thread::yield_now();
        }
        queue.put(Party::Host, item(1), None, Wait::No, None).unwrap();
        // The item is the waiting get's, however fast this one comes.
        assert!(matches!(queue.get(Party::Host, Wait::No, None), Err(Error::QueueEmpty(_))));
        assert_eq!(waiter.join().unwrap(), Some(1));
        assert!(queue.state.lock().waiting.is_empty());
    }

    #[test]
    fn unbinding_follows_each_items_policy() {
        let queue = Fifo::new(QueueId(0), 0, Unbound::Replace, None);
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
        let queue = Fifo::new(QueueId(0), 0, Unbound::Replace, None);
        let me = Party::Interpreter(InterpreterId(1));
        let other = Party::Interpreter(InterpreterId(2));
        for byte in 1..=3 {
            queue.put(me, Item { tag: Some(u64::from(byte)), ..item(byte) }, None, Wait::No, None).unwrap();
        }
        assert!(!queue.withdraw(other, tagged(2), false), "another party's item");
        assert!(queue.withdraw(me, tagged(2), true) && queue.len() == 3, "looking leaves it");
        assert!(queue.withdraw(me, tagged(2), false) && queue.len() == 2);
        assert!(!queue.withdraw(me, tagged(2), false), "already withdrawn");
        assert_eq!(taken(queue.get(Party::Host, Wait::No, None).unwrap()), Some(1));
        assert!(!queue.withdraw(me, tagged(1), true), "taken");
        assert_eq!(taken(queue.get(Party::Host, Wait::No, None).unwrap()), Some(3));
    }
}
