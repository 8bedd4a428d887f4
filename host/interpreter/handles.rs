//! The handles an interpreter holds: the channel ends and queues its code
//! may use. Any other channel or queue is invisible to it. These
//! references (with the Rust handles and the messages on their way) are
//! what keep a channel or a queue alive.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::channel::Channel;
use crate::ids::{HandleId, QueueId};
use crate::limits::MAX_CHANNELS;
use crate::queue::QueueState;
use crate::sync::lock;
use crate::value::Held;

#[derive(Default)]
pub(crate) struct HeldHandles(Mutex<Map>);

#[derive(Default, Clone)]
struct Map {
    held: HashMap<HandleId, Held>,
    /// How many Python `Queue` objects of the interpreter stand for each
    /// queue it holds: it lets go of a queue when the last one is
    /// collected, as PEP 734 says (`__del__`, through the door).
    queue_objects: HashMap<QueueId, u64>,
}

impl HeldHandles {
    /// A copy, for a fork: it holds what its original held, as its Python
    /// objects are copies of the original's.
    pub(crate) fn copy(&self) -> HeldHandles {
        HeldHandles(Mutex::new(lock(&self.0).clone()))
    }

    pub(crate) fn holds(&self, end: HandleId) -> bool {
        lock(&self.0).held.contains_key(&end)
    }

    pub(crate) fn get(&self, end: HandleId) -> Option<Held> {
        lock(&self.0).held.get(&end).cloned()
    }

    pub(crate) fn channel(&self, end: HandleId) -> Option<Arc<Channel>> {
        match self.get(end)? {
            Held::Channel(channel) => Some(channel),
            Held::Queue(_) => None,
        }
    }

    pub(crate) fn queue(&self, id: QueueId) -> Option<Arc<QueueState>> {
        match self.get(HandleId::Queue(id))? {
            Held::Queue(queue) => Some(queue),
            Held::Channel(_) => None,
        }
    }

    /// Grants the handles named in a value the interpreter was given.
    pub(crate) fn grant(&self, ends: Vec<(HandleId, Held)>) {
        if ends.is_empty() {
            return;
        }
        let mut map = lock(&self.0);
        for (end, held) in ends {
            map.held.entry(end).or_insert(held);
        }
    }

    /// Grants both ends of a channel the interpreter created.
    pub(crate) fn grant_channel(&self, channel: Arc<Channel>) {
        let id = channel.id();
        let mut map = lock(&self.0);
        map.held.insert(HandleId::Recv(id), Held::Channel(channel.clone()));
        map.held.insert(HandleId::Send(id), Held::Channel(channel));
    }

    /// Grants a queue the interpreter created.
    pub(crate) fn grant_queue(&self, queue: Arc<QueueState>) {
        lock(&self.0).held.insert(HandleId::Queue(queue.id()), Held::Queue(queue));
    }

    /// One more Python object stands for queue `id`; false if the
    /// interpreter does not hold it.
    pub(crate) fn bind_queue(&self, id: QueueId) -> bool {
        let mut map = lock(&self.0);
        if !map.held.contains_key(&HandleId::Queue(id)) {
            return false;
        }
        *map.queue_objects.entry(id).or_default() += 1;
        true
    }

    /// One Python object fewer stands for queue `id`: with the last, the
    /// interpreter lets go of it. False if it did not hold it.
    pub(crate) fn release_queue(&self, id: QueueId) -> bool {
        let mut map = lock(&self.0);
        let Some(count) = map.queue_objects.get_mut(&id) else { return false };
        *count -= 1;
        if *count == 0 {
            map.queue_objects.remove(&id);
            map.held.remove(&HandleId::Queue(id));
        }
        true
    }

    /// Whether the interpreter may hold one more channel or queue: fewer
    /// than [`MAX_CHANNELS`] open ones. Closed channels are let go of when
    /// the cap is near; they can never be used again (a later use of one
    /// of their ends says `ChannelNotFound`, not closed).
    pub(crate) fn has_room(&self) -> bool {
        let mut map = lock(&self.0);
        if map.held.len() >= 2 * MAX_CHANNELS {
            map.held.retain(|_, held| !matches!(held, Held::Channel(channel) if channel.is_closed()));
        }
        map.held.len() < 2 * MAX_CHANNELS
    }

    /// The channels the interpreter holds an end of, each once.
    pub(crate) fn channels(&self) -> Vec<Arc<Channel>> {
        let mut channels: Vec<Arc<Channel>> = lock(&self.0)
            .held
            .values()
            .filter_map(|held| match held {
                Held::Channel(channel) => Some(channel.clone()),
                Held::Queue(_) => None,
            })
            .collect();
        channels.sort_by_key(|channel| channel.id());
        channels.dedup_by_key(|channel| channel.id());
        channels
    }

    /// Lets go of everything: the interpreter is gone.
    pub(crate) fn clear(&self) {
        *lock(&self.0) = Map::default();
    }
}
