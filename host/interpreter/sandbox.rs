//! A sandbox: an interpreter the host created (its root) and every
//! interpreter its Python code created, transitively, or forked into it.
//! What the docs call one sandbox is this: one memory budget, the scripts
//! the host ran there, and one membership, which is all an interpreter's
//! code can see of the runtime (`interpreters.list_all()`, ids it may name).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use super::InterpreterInner;
use super::scripts::Scripts;
use crate::ids::InterpreterId;
use crate::limits::MemoryBudget;
use crate::sync::lock;
use crate::wasi::TmpFolder;

pub(crate) struct Sandbox {
    /// The interpreter the host created (or forked) it for: its id names
    /// the sandbox (a queue's owner, a pickle's origin).
    root: InterpreterId,
    /// The memory its interpreters share.
    memory: Arc<MemoryBudget>,
    /// The scripts the host ran in it.
    scripts: Scripts,
    /// Its private `/tmp`, shared by its interpreters.
    tmp: Arc<Mutex<TmpFolder>>,
    /// Its live interpreters, by id. Weak: an interpreter is owned by its
    /// Rust handle or by the interpreter that created it.
    members: Mutex<BTreeMap<InterpreterId, Weak<InterpreterInner>>>,
}

impl Sandbox {
    /// A new sandbox for `root`, with a budget of `memory_limit` bytes and
    /// `tmp` as its `/tmp`.
    pub(crate) fn new(root: InterpreterId, memory_limit: usize, tmp: TmpFolder) -> Arc<Sandbox> {
        Arc::new(Sandbox {
            root,
            memory: Arc::new(MemoryBudget::new(memory_limit)),
            scripts: Scripts::default(),
            tmp: Arc::new(Mutex::new(tmp)),
            members: Mutex::new(BTreeMap::new()),
        })
    }

    /// The id of its root, which names it.
    pub(crate) fn root(&self) -> InterpreterId {
        self.root
    }

    pub(crate) fn memory_budget(&self) -> &Arc<MemoryBudget> {
        &self.memory
    }

    pub(crate) fn tmp(&self) -> &Arc<Mutex<TmpFolder>> {
        &self.tmp
    }

    pub(crate) fn scripts(&self) -> &Scripts {
        &self.scripts
    }

    /// `interpreter` is one of its members from now.
    pub(crate) fn join(&self, interpreter: &Arc<InterpreterInner>) {
        lock(&self.members).insert(interpreter.id(), Arc::downgrade(interpreter));
    }

    /// Interpreter `id` is no longer a member: it was destroyed.
    pub(crate) fn leave(&self, id: InterpreterId) {
        lock(&self.members).remove(&id);
    }

    /// A live member, by id; `None` for any other interpreter, whether or
    /// not it exists.
    pub(crate) fn member(&self, id: InterpreterId) -> Option<Arc<InterpreterInner>> {
        lock(&self.members).get(&id)?.upgrade()
    }

    /// The ids of its live members, in order.
    pub(crate) fn member_ids(&self) -> Vec<InterpreterId> {
        lock(&self.members).iter().filter(|(_, member)| member.strong_count() > 0).map(|(id, _)| *id).collect()
    }
}
