//! The guest's descriptor table, and the cap on what it holds open.
//!
//! isolate numbers the guest's descriptors itself: each stands for an
//! [`Open`], a file of a host folder or a standard stream (open in
//! wasmtime-wasi's own table, under a number of its own), a folder above
//! the mounts, a device, or a file of `/tmp`. Duplicates (`os.dup`,
//! `os.dup2`) share their original's `Open`, its position included, as
//! POSIX descriptors share an open file description; the `Open` is closed
//! with the last descriptor that stands for it.
//!
//! Every descriptor the guest opens or duplicates counts against
//! [`max_handles`](crate::InterpreterBuilder::max_handles); the standard
//! streams and the root the guest starts with do not. One past the cap
//! stops the guest with [`HandleLimit`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime_wasi::p1::types::Errno;

use super::tmp::TmpFolder;
use super::tree::Device;
use crate::sync::lock;

/// The descriptor of the root, `/`: the one folder the guest is given
/// (wasi-libc resolves every absolute path from it).
pub(crate) const ROOT_FD: u32 = 3;

/// What a descriptor stands for.
pub(crate) enum Open {
    /// A standard stream, or a file or folder of a host folder: open in
    /// wasmtime-wasi's table as `fd`. A folder's path in the guest's tree
    /// is `folder`.
    Host {
        fd: u32,
        folder: Option<String>,
    },
    /// A folder above the mounts (`/`, `/usr`, ...), by its path.
    Folder {
        path: String,
    },
    /// `/dev`.
    Devices,
    Device(Device),
    Tmp(TmpOpen),
}

impl Open {
    /// The path of the folder it is, to resolve paths relative to it.
    pub(crate) fn folder(&self) -> Result<&str, Errno> {
        match self {
            Open::Host { folder: Some(path), .. } | Open::Folder { path } => Ok(path),
            Open::Tmp(TmpOpen { folder: Some(path), .. }) => Ok(path),
            Open::Devices => Ok(super::tree::DEV),
            Open::Host { folder: None, .. } | Open::Device(_) | Open::Tmp(_) => Err(Errno::Notdir),
        }
    }
}

/// A file or folder of `/tmp`, open.
pub(crate) struct TmpOpen {
    pub(crate) tmp: Arc<Mutex<TmpFolder>>,
    pub(crate) inode: u64,
    /// Its path in the guest's tree, if it is a folder.
    pub(crate) folder: Option<String>,
    pub(crate) position: AtomicU64,
    pub(crate) append: AtomicBool,
    pub(crate) read: bool,
    pub(crate) write: bool,
}

impl TmpOpen {
    pub(crate) fn position(&self) -> u64 {
        self.position.load(Ordering::Relaxed)
    }

    pub(crate) fn set_position(&self, at: u64) {
        self.position.store(at, Ordering::Relaxed);
    }

    pub(crate) fn appends(&self) -> bool {
        self.append.load(Ordering::Relaxed)
    }
}

impl Drop for TmpOpen {
    fn drop(&mut self) {
        lock(&self.tmp).close(self.inode);
    }
}

/// The trap of a guest that opened more files than it may hold.
#[derive(Debug)]
pub(crate) struct HandleLimit;

impl std::fmt::Display for HandleLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many open handles")
    }
}

impl std::error::Error for HandleLimit {}

/// The guest's descriptors.
pub(crate) struct Descriptors {
    slots: BTreeMap<u32, Arc<Open>>,
    max: usize,
}

impl Descriptors {
    /// The table a guest starts with: its standard streams (wasmtime-wasi's
    /// 0, 1 and 2) and the root; at most `max` more.
    pub(crate) fn new(max: usize) -> Descriptors {
        let mut slots = BTreeMap::new();
        for fd in 0..3 {
            slots.insert(fd, Arc::new(Open::Host { fd, folder: None }));
        }
        slots.insert(ROOT_FD, Arc::new(Open::Folder { path: "/".to_owned() }));
        Descriptors { slots, max }
    }

    pub(crate) fn get(&self, fd: i32) -> Result<Arc<Open>, Errno> {
        u32::try_from(fd).ok().and_then(|fd| self.slots.get(&fd)).cloned().ok_or(Errno::Badf)
    }

    /// How many descriptors count against the cap: all but the standard
    /// streams and the root, as the guest started with them.
    pub(crate) fn opened(&self) -> usize {
        self.slots.iter().filter(|(fd, open)| !is_initial(**fd, open)).count()
    }

    /// Fails with [`HandleLimit`] if one more descriptor would pass the cap.
    pub(crate) fn check_room(&self) -> Result<(), HandleLimit> {
        if self.opened() >= self.max { Err(HandleLimit) } else { Ok(()) }
    }

    /// A new descriptor for `open`: the lowest free number, as POSIX gives.
    pub(crate) fn insert(&mut self, open: Arc<Open>) -> Result<u32, HandleLimit> {
        self.check_room()?;
        let fd = self.lowest_free(0);
        self.slots.insert(fd, open);
        Ok(fd)
    }

    /// `os.dup`: a new descriptor, the lowest free one, for what `fd` stands for.
    pub(crate) fn dup(&mut self, fd: i32) -> Result<Result<u32, Errno>, HandleLimit> {
        match self.get(fd) {
            Ok(open) => self.insert(open).map(Ok),
            Err(errno) => Ok(Err(errno)),
        }
    }

    /// `os.dup2`: `to` stands for what `from` does from now; what `to`
    /// stood for is returned, to be closed if it was its last descriptor.
    pub(crate) fn dup2(&mut self, from: i32, to: i32) -> Result<Result<Option<Open>, Errno>, HandleLimit> {
        let open = match self.get(from) {
            Ok(open) => open,
            Err(errno) => return Ok(Err(errno)),
        };
        let Ok(to) = u32::try_from(to) else { return Ok(Err(Errno::Badf)) };
        if from as u32 == to {
            return Ok(Ok(None));
        }
        if to as usize > self.max.saturating_add(ROOT_FD as usize + 1) {
            // Far past any number the cap allows, as `RLIMIT_NOFILE` does.
            return Ok(Err(Errno::Badf));
        }
        if !self.slots.contains_key(&to) {
            self.check_room()?;
        }
        Ok(Ok(self.slots.insert(to, open).and_then(Arc::into_inner)))
    }

    /// WASI's `fd_renumber`: `to` stands for what `from` did, and `from` is
    /// closed. What `to` stood for is returned, to be closed.
    pub(crate) fn renumber(&mut self, from: i32, to: i32) -> Result<Option<Open>, Errno> {
        self.get(to)?;
        let open = self.get(from)?;
        if from == to {
            return Ok(None);
        }
        self.slots.remove(&(from as u32));
        Ok(self.slots.insert(to as u32, open).and_then(Arc::into_inner))
    }

    /// Closes `fd`; what it stood for is returned if this was its last
    /// descriptor, to be closed.
    pub(crate) fn remove(&mut self, fd: i32) -> Result<Option<Open>, Errno> {
        let fd = u32::try_from(fd).map_err(|_| Errno::Badf)?;
        let open = self.slots.remove(&fd).ok_or(Errno::Badf)?;
        Ok(Arc::into_inner(open))
    }

    fn lowest_free(&self, from: u32) -> u32 {
        let mut fd = from;
        for &used in self.slots.range(from..).map(|(fd, _)| fd) {
            if used != fd {
                break;
            }
            fd += 1;
        }
        fd
    }
}

/// Whether descriptor `fd` is as the guest started with it.
fn is_initial(fd: u32, open: &Open) -> bool {
    match open {
        Open::Host { fd: inner, folder: None } => fd < 3 && *inner == fd,
        Open::Folder { path } => fd == ROOT_FD && path == "/",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn null() -> Arc<Open> {
        Arc::new(Open::Device(Device::Null))
    }

    #[test]
    fn new_descriptors_take_the_lowest_free_number() {
        let mut table = Descriptors::new(10);
        assert_eq!(table.insert(null()).ok(), Some(4));
        assert_eq!(table.insert(null()).ok(), Some(5));
        assert!(table.remove(4).expect("open").is_some());
        assert_eq!(table.insert(null()).ok(), Some(4));
        assert_eq!(table.opened(), 2);
    }

    #[test]
    fn a_duplicate_shares_its_original_until_the_last_closes() {
        let mut table = Descriptors::new(10);
        let fd = table.insert(null()).expect("room") as i32;
        let copy = table.dup(fd).expect("room").expect("open") as i32;
        assert!(table.remove(fd).expect("open").is_none(), "the copy still stands for it");
        assert!(table.remove(copy).expect("open").is_some());
        assert!(matches!(table.remove(copy), Err(Errno::Badf)));
    }

    #[test]
    fn dup2_replaces_a_standard_stream_and_hands_back_nothing_still_held() {
        let mut table = Descriptors::new(10);
        let saved = table.dup(1).expect("room").expect("open") as i32;
        let file = table.insert(null()).expect("room") as i32;
        assert!(table.dup2(file, 1).expect("room").expect("open").is_none(), "`saved` still holds stdout");
        assert_eq!(table.opened(), 3, "the saved copy, the file, and stdout replaced");
        assert!(table.dup2(saved, 1).expect("room").expect("open").is_none(), "`file` still holds the device");
        assert!(matches!(table.dup2(99, 1), Ok(Err(Errno::Badf))));
    }

    #[test]
    fn the_cap_counts_duplicates_but_not_what_the_guest_started_with() {
        let mut table = Descriptors::new(2);
        let fd = table.insert(null()).expect("room") as i32;
        table.dup(fd).expect("room").expect("open");
        assert!(table.dup(fd).is_err(), "a third is past the cap");
        assert!(table.insert(null()).is_err());
        assert!(table.dup2(fd, 6).is_err());
        assert!(matches!(table.dup2(fd, 4000), Ok(Err(Errno::Badf))), "far past the cap");
        assert!(table.dup2(fd, 4).is_ok(), "replacing one takes no room");
    }
}
