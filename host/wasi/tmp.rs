//! The sandbox's `/tmp`: a private folder in the host's memory.
//!
//! Each sandbox has its own, empty at first and gone with the sandbox: no
//! file of it ever reaches the host's disk, and its size is capped
//! ([`InterpreterBuilder::tmp_size`](crate::InterpreterBuilder::tmp_size)):
//! file contents, plus [`NODE_COST`] for each file and folder, so that
//! neither big files nor many empty ones exhaust the host. A write past the
//! cap fails as a full disk does (`ENOSPC`).
//!
//! It behaves as a POSIX file system without symlinks: hard links, a file
//! removed while open lives on until its last descriptor closes (what
//! `tempfile.TemporaryFile` relies on), renames that replace. A fork of an
//! interpreter that gets a sandbox of its own gets a copy, whose file
//! contents are shared until either side writes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime_wasi::p1::types::{Errno, Filetype};

use super::abi::{FileStat, OWN_DEVICE};

/// What a file or folder costs against the cap besides its contents.
pub(crate) const NODE_COST: u64 = 256;

/// The inode of `/tmp` itself.
const ROOT: u64 = 1;

#[derive(Clone)]
enum Kind {
    /// Shared with the copies a fork made, until written.
    File(Arc<Vec<u8>>),
    Folder {
        entries: BTreeMap<String, u64>,
        parent: u64,
    },
}

#[derive(Clone)]
struct Node {
    kind: Kind,
    /// The names it has; a file with none lives while it is open.
    links: u64,
    /// The descriptors open on it.
    open: u64,
    accessed: u64,
    modified: u64,
    changed: u64,
}

/// The device number of `/tmp`'s files, apart from the tree's own.
pub(crate) const TMP_DEVICE: u64 = OWN_DEVICE + 1;

/// How an open treats its path.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OpenFlags {
    pub(crate) create: bool,
    pub(crate) exclusive: bool,
    pub(crate) truncate: bool,
    pub(crate) directory: bool,
    pub(crate) write: bool,
}

/// A time to set: `None` leaves it as it is.
pub(crate) type NewTime = Option<u64>;

pub(crate) struct TmpFolder {
    nodes: HashMap<u64, Node>,
    next_inode: u64,
    used: u64,
    cap: u64,
}

impl std::fmt::Debug for TmpFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TmpFolder").field("used", &self.used).field("cap", &self.cap).finish_non_exhaustive()
    }
}

impl TmpFolder {
    /// An empty folder of at most `cap` bytes.
    pub(crate) fn new(cap: usize) -> TmpFolder {
        let now = now();
        let root = Node {
            kind: Kind::Folder { entries: BTreeMap::new(), parent: ROOT },
            links: 1,
            open: 0,
            accessed: now,
            modified: now,
            changed: now,
        };
        TmpFolder { nodes: HashMap::from([(ROOT, root)]), next_inode: ROOT + 1, used: 0, cap: cap as u64 }
    }

    /// A copy for another sandbox: the same files, none of them open. A
    /// file that is only open, with no name left, stays with the original.
    pub(crate) fn copy(&self) -> TmpFolder {
        let mut copy = TmpFolder { nodes: HashMap::new(), next_inode: self.next_inode, used: 0, cap: self.cap };
        for (&inode, node) in &self.nodes {
            if node.links > 0 {
                copy.used += cost(node);
                copy.nodes.insert(inode, Node { open: 0, ..node.clone() });
            }
        }
        copy
    }

    /// The bytes it holds, as the cap counts them.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// The inode at `path` (components below `/tmp`; none for `/tmp`).
    pub(crate) fn lookup(&self, path: &[&str]) -> Result<u64, Errno> {
        path.iter().try_fold(ROOT, |folder, name| {
            let Kind::Folder { entries, .. } = &self.node(folder)?.kind else { return Err(Errno::Notdir) };
            entries.get(*name).copied().ok_or(Errno::Noent)
        })
    }

    /// Opens `path` as `flags` say; the inode is open until [`close`](Self::close).
    pub(crate) fn open(&mut self, path: &[&str], flags: OpenFlags) -> Result<u64, Errno> {
        let inode = match self.lookup(path) {
            Ok(_) if flags.create && flags.exclusive => return Err(Errno::Exist),
            Ok(inode) => inode,
            Err(Errno::Noent) if flags.create && !flags.directory => {
                let (folder, name) = self.parent(path)?;
                self.add(folder, name, Kind::File(Arc::default()))?
            }
            Err(err) => return Err(err),
        };
        let is_folder = matches!(self.node(inode)?.kind, Kind::Folder { .. });
        match is_folder {
            true if flags.write || flags.truncate => return Err(Errno::Isdir),
            false if flags.directory => return Err(Errno::Notdir),
            false if flags.truncate && flags.write => self.set_size(inode, 0)?,
            _ => {}
        }
        self.node_mut(inode)?.open += 1;
        Ok(inode)
    }

    /// One descriptor on `inode` closed.
    pub(crate) fn close(&mut self, inode: u64) {
        if let Some(node) = self.nodes.get_mut(&inode) {
            node.open = node.open.saturating_sub(1);
            self.forget_if_gone(inode);
        }
    }

    pub(crate) fn stat(&self, inode: u64) -> Result<FileStat, Errno> {
        let node = self.node(inode)?;
        let (filetype, size) = match &node.kind {
            Kind::File(data) => (Filetype::RegularFile, data.len() as u64),
            Kind::Folder { entries, .. } => (Filetype::Directory, entries.len() as u64),
        };
        Ok(FileStat {
            device: TMP_DEVICE,
            inode,
            filetype,
            links: node.links,
            size,
            accessed: node.accessed,
            modified: node.modified,
            changed: node.changed,
        })
    }

    /// Reads into `out` from `offset`; the bytes read (0 at the end).
    pub(crate) fn read(&mut self, inode: u64, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let node = self.node_mut(inode)?;
        let Kind::File(data) = &node.kind else { return Err(Errno::Isdir) };
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
        let len = out.len().min(data.len() - start);
        out[..len].copy_from_slice(&data[start..start + len]);
        node.accessed = now();
        Ok(len)
    }

    /// Writes `bytes` at `offset`, past the end if need be (the gap reads
    /// as zeros); as many as the cap allows, `ENOSPC` if none.
    pub(crate) fn write(&mut self, inode: u64, offset: u64, bytes: &[u8]) -> Result<usize, Errno> {
        let size = self.stat(inode)?.size;
        let offset = usize::try_from(offset).map_err(|_| Errno::Fbig)?;
        let end = offset.checked_add(bytes.len()).ok_or(Errno::Fbig)?;
        let room = self.cap.saturating_sub(self.used);
        let growth = (end as u64).saturating_sub(size);
        let len = if growth <= room {
            bytes.len()
        } else {
            // Only what fits below the cap; nothing if even the gap does not.
            let fits = (size + room).saturating_sub(offset as u64) as usize;
            if fits == 0 || offset as u64 > size + room {
                return Err(Errno::Nospc);
            }
            fits.min(bytes.len())
        };
        let node = self.nodes.get_mut(&inode).ok_or(Errno::Badf)?;
        let Kind::File(data) = &mut node.kind else { return Err(Errno::Isdir) };
        let data = Arc::make_mut(data);
        if data.len() < offset + len {
            data.resize(offset + len, 0);
        }
        data[offset..offset + len].copy_from_slice(&bytes[..len]);
        let new_size = data.len() as u64;
        let now = now();
        node.modified = now;
        node.changed = now;
        self.used = self.used - size + new_size;
        Ok(len)
    }

    /// Cuts or extends (with zeros) the file to `size` bytes.
    pub(crate) fn set_size(&mut self, inode: u64, size: u64) -> Result<(), Errno> {
        let old = self.stat(inode)?.size;
        if size > old && size - old > self.cap.saturating_sub(self.used) {
            return Err(Errno::Nospc);
        }
        let new = usize::try_from(size).map_err(|_| Errno::Fbig)?;
        let node = self.nodes.get_mut(&inode).ok_or(Errno::Badf)?;
        let Kind::File(data) = &mut node.kind else { return Err(Errno::Isdir) };
        Arc::make_mut(data).resize(new, 0);
        let now = now();
        node.modified = now;
        node.changed = now;
        self.used = self.used - old + size;
        Ok(())
    }

    pub(crate) fn set_times(&mut self, inode: u64, accessed: NewTime, modified: NewTime) -> Result<(), Errno> {
        let node = self.node_mut(inode)?;
        if let Some(accessed) = accessed {
            node.accessed = accessed;
        }
        if let Some(modified) = modified {
            node.modified = modified;
        }
        node.changed = now();
        Ok(())
    }

    pub(crate) fn create_folder(&mut self, path: &[&str]) -> Result<(), Errno> {
        let (folder, name) = self.parent(path)?;
        self.add(folder, name, Kind::Folder { entries: BTreeMap::new(), parent: folder }).map(drop)
    }

    pub(crate) fn remove_folder(&mut self, path: &[&str]) -> Result<(), Errno> {
        let (folder, name) = self.parent(path).map_err(|err| if path.is_empty() { Errno::Busy } else { err })?;
        let inode = self.entry(folder, name)?;
        match &self.node(inode)?.kind {
            Kind::File(_) => return Err(Errno::Notdir),
            Kind::Folder { entries, .. } if !entries.is_empty() => return Err(Errno::Notempty),
            Kind::Folder { .. } => {}
        }
        self.unlink(folder, name, inode)
    }

    pub(crate) fn remove_file(&mut self, path: &[&str]) -> Result<(), Errno> {
        let (folder, name) = self.parent(path).map_err(|err| if path.is_empty() { Errno::Isdir } else { err })?;
        let inode = self.entry(folder, name)?;
        if let Kind::Folder { .. } = self.node(inode)?.kind {
            return Err(Errno::Isdir);
        }
        self.unlink(folder, name, inode)
    }

    /// Renames `from` to `to`, replacing a file there, or an empty folder
    /// by a folder, as POSIX `rename` does.
    pub(crate) fn rename(&mut self, from: &[&str], to: &[&str]) -> Result<(), Errno> {
        let (from_folder, from_name) =
            self.parent(from).map_err(|err| if from.is_empty() { Errno::Busy } else { err })?;
        let inode = self.entry(from_folder, from_name)?;
        let (to_folder, to_name) = self.parent(to).map_err(|err| if to.is_empty() { Errno::Busy } else { err })?;
        let moving_folder = matches!(self.node(inode)?.kind, Kind::Folder { .. });
        if moving_folder && self.is_below(to_folder, inode) {
            // Into itself.
            return Err(Errno::Inval);
        }
        match self.entry(to_folder, to_name) {
            Ok(same) if same == inode => return Ok(()),
            Ok(target) => match (&self.node(target)?.kind, moving_folder) {
                (Kind::Folder { .. }, false) => return Err(Errno::Isdir),
                (Kind::File(_), true) => return Err(Errno::Notdir),
                (Kind::Folder { entries, .. }, true) if !entries.is_empty() => return Err(Errno::Notempty),
                _ => self.unlink(to_folder, to_name, target)?,
            },
            Err(Errno::Noent) => {}
            Err(err) => return Err(err),
        }
        self.entries_mut(from_folder)?.remove(from_name);
        self.entries_mut(to_folder)?.insert(to_name.to_owned(), inode);
        let now = now();
        let node = self.node_mut(inode)?;
        node.changed = now;
        if let Kind::Folder { parent, .. } = &mut node.kind {
            *parent = to_folder;
        }
        for folder in [from_folder, to_folder] {
            let folder = self.node_mut(folder)?;
            folder.modified = now;
            folder.changed = now;
        }
        Ok(())
    }

    /// A new name `to` for the file at `from`.
    pub(crate) fn link(&mut self, from: &[&str], to: &[&str]) -> Result<(), Errno> {
        let inode = self.lookup(from)?;
        if let Kind::Folder { .. } = self.node(inode)?.kind {
            return Err(Errno::Perm);
        }
        let (folder, name) = self.parent(to)?;
        if self.entry(folder, name).is_ok() {
            return Err(Errno::Exist);
        }
        self.charge(NODE_COST / 4)?;
        self.entries_mut(folder)?.insert(name.to_owned(), inode);
        let node = self.node_mut(inode)?;
        node.links += 1;
        node.changed = now();
        Ok(())
    }

    /// The entries of the folder `inode`, `.` and `..` first: name, inode
    /// and type.
    pub(crate) fn entries(&self, inode: u64) -> Result<Vec<(String, u64, Filetype)>, Errno> {
        let Kind::Folder { entries, parent } = &self.node(inode)?.kind else { return Err(Errno::Notdir) };
        let mut list =
            vec![(".".to_owned(), inode, Filetype::Directory), ("..".to_owned(), *parent, Filetype::Directory)];
        for (name, &child) in entries {
            let filetype = match self.node(child)?.kind {
                Kind::File(_) => Filetype::RegularFile,
                Kind::Folder { .. } => Filetype::Directory,
            };
            list.push((name.clone(), child, filetype));
        }
        Ok(list)
    }

    fn node(&self, inode: u64) -> Result<&Node, Errno> {
        self.nodes.get(&inode).ok_or(Errno::Badf)
    }

    fn node_mut(&mut self, inode: u64) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&inode).ok_or(Errno::Badf)
    }

    fn entries_mut(&mut self, folder: u64) -> Result<&mut BTreeMap<String, u64>, Errno> {
        match &mut self.node_mut(folder)?.kind {
            Kind::Folder { entries, .. } => Ok(entries),
            Kind::File(_) => Err(Errno::Notdir),
        }
    }

    fn entry(&self, folder: u64, name: &str) -> Result<u64, Errno> {
        let Kind::Folder { entries, .. } = &self.node(folder)?.kind else { return Err(Errno::Notdir) };
        entries.get(name).copied().ok_or(Errno::Noent)
    }

    /// The folder holding `path`'s last component, and that component.
    fn parent<'p>(&self, path: &[&'p str]) -> Result<(u64, &'p str), Errno> {
        let (name, folder) = path.split_last().ok_or(Errno::Exist)?;
        let folder = self.lookup(folder)?;
        match self.node(folder)?.kind {
            Kind::Folder { .. } => Ok((folder, name)),
            Kind::File(_) => Err(Errno::Notdir),
        }
    }

    /// Whether `folder` is `ancestor` or lies below it.
    fn is_below(&self, mut folder: u64, ancestor: u64) -> bool {
        loop {
            if folder == ancestor {
                return true;
            }
            match self.nodes.get(&folder).map(|node| &node.kind) {
                Some(Kind::Folder { parent, .. }) if folder != ROOT => folder = *parent,
                _ => return false,
            }
        }
    }

    fn charge(&mut self, bytes: u64) -> Result<(), Errno> {
        if bytes > self.cap.saturating_sub(self.used) {
            return Err(Errno::Nospc);
        }
        self.used += bytes;
        Ok(())
    }

    fn add(&mut self, folder: u64, name: &str, kind: Kind) -> Result<u64, Errno> {
        if self.entry(folder, name).is_ok() {
            return Err(Errno::Exist);
        }
        if name.len() > 255 {
            return Err(Errno::Nametoolong);
        }
        self.charge(NODE_COST)?;
        let inode = self.next_inode;
        self.next_inode += 1;
        let now = now();
        self.nodes.insert(inode, Node { kind, links: 1, open: 0, accessed: now, modified: now, changed: now });
        self.entries_mut(folder)?.insert(name.to_owned(), inode);
        let parent = self.node_mut(folder)?;
        parent.modified = now;
        parent.changed = now;
        Ok(inode)
    }

    fn unlink(&mut self, folder: u64, name: &str, inode: u64) -> Result<(), Errno> {
        self.entries_mut(folder)?.remove(name);
        let now = now();
        let parent = self.node_mut(folder)?;
        parent.modified = now;
        parent.changed = now;
        let node = self.node_mut(inode)?;
        node.links = node.links.saturating_sub(1);
        node.changed = now;
        if node.links > 0 {
            // A hard link's name.
            self.used = self.used.saturating_sub(NODE_COST / 4);
        }
        self.forget_if_gone(inode);
        Ok(())
    }

    /// Frees a file or folder that has no name and no descriptor left.
    fn forget_if_gone(&mut self, inode: u64) {
        if inode == ROOT {
            return;
        }
        if let Some(node) = self.nodes.get(&inode).filter(|node| node.links == 0 && node.open == 0) {
            self.used = self.used.saturating_sub(cost(node));
            self.nodes.remove(&inode);
        }
    }
}

/// What a node costs against the cap.
fn cost(node: &Node) -> u64 {
    let contents = match &node.kind {
        Kind::File(data) => data.len() as u64,
        Kind::Folder { .. } => 0,
    };
    NODE_COST + contents + node.links.saturating_sub(1) * (NODE_COST / 4)
}

/// Now, in nanoseconds since 1970, as WASI gives times.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRITE: OpenFlags =
        OpenFlags { create: true, exclusive: false, truncate: false, directory: false, write: true };

    #[test]
    fn files_are_written_read_and_listed() {
        let mut tmp = TmpFolder::new(1 << 20);
        tmp.create_folder(&["d"]).unwrap();
        let file = tmp.open(&["d", "f"], WRITE).unwrap();
        assert_eq!(tmp.write(file, 0, b"hello").unwrap(), 5);
        assert_eq!(tmp.write(file, 8, b"!").unwrap(), 1);
        let mut out = [9u8; 16];
        assert_eq!(tmp.read(file, 0, &mut out).unwrap(), 9);
        assert_eq!(&out[..9], b"hello\0\0\0!");
        let names: Vec<String> = tmp.entries(tmp.lookup(&["d"]).unwrap()).unwrap().into_iter().map(|e| e.0).collect();
        assert_eq!(names, [".", "..", "f"]);
        assert_eq!(tmp.remove_folder(&["d"]), Err(Errno::Notempty));
        assert_eq!(tmp.open(&["d", "f"], OpenFlags { exclusive: true, ..WRITE }), Err(Errno::Exist));
        assert_eq!(tmp.open(&["nope", "f"], WRITE), Err(Errno::Noent));
        assert_eq!(tmp.open(&["d", "f", "x"], WRITE), Err(Errno::Notdir));
    }

    #[test]
    fn a_removed_file_lives_while_open() {
        let mut tmp = TmpFolder::new(1 << 20);
        let file = tmp.open(&["f"], WRITE).unwrap();
        tmp.write(file, 0, &[1; 1000]).unwrap();
        tmp.remove_file(&["f"]).unwrap();
        assert_eq!(tmp.lookup(&["f"]), Err(Errno::Noent));
        assert_eq!(tmp.stat(file).unwrap().size, 1000);
        assert!(tmp.used() >= 1000);
        tmp.close(file);
        assert_eq!(tmp.used(), 0);
        assert!(tmp.stat(file).is_err());
    }

    #[test]
    fn the_cap_holds() {
        let mut tmp = TmpFolder::new(10_000);
        let file = tmp.open(&["f"], WRITE).unwrap();
        let room = (10_000 - NODE_COST) as usize;
        assert_eq!(tmp.write(file, 0, &vec![0; 20_000]).unwrap(), room);
        assert_eq!(tmp.write(file, room as u64, b"x"), Err(Errno::Nospc));
        assert_eq!(tmp.set_size(file, room as u64 + 1), Err(Errno::Nospc));
        // Rewriting what is there costs nothing.
        assert_eq!(tmp.write(file, 0, b"abc").unwrap(), 3);
        assert_eq!(tmp.create_folder(&["d"]), Err(Errno::Nospc));
        tmp.set_size(file, 0).unwrap();
        tmp.create_folder(&["d"]).unwrap();
        assert_eq!(tmp.used(), 2 * NODE_COST);
    }

    #[test]
    fn renames_replace_as_posix_says() {
        let mut tmp = TmpFolder::new(1 << 20);
        for name in ["a", "b"] {
            let file = tmp.open(&[name], WRITE).unwrap();
            tmp.write(file, 0, name.as_bytes()).unwrap();
            tmp.close(file);
        }
        tmp.create_folder(&["d"]).unwrap();
        tmp.create_folder(&["e"]).unwrap();
        tmp.rename(&["a"], &["b"]).unwrap();
        let b = tmp.lookup(&["b"]).unwrap();
        let mut out = [0u8; 1];
        tmp.read(b, 0, &mut out).unwrap();
        assert_eq!(&out, b"a");
        assert_eq!(tmp.rename(&["b"], &["d"]), Err(Errno::Isdir));
        assert_eq!(tmp.rename(&["d"], &["b"]), Err(Errno::Notdir));
        assert_eq!(tmp.rename(&["d"], &["d", "x"]), Err(Errno::Inval));
        tmp.rename(&["d"], &["e"]).unwrap();
        tmp.rename(&["b"], &["e", "b"]).unwrap();
        assert_eq!(tmp.used(), 2 * NODE_COST + 1);
        let e = tmp.lookup(&["e"]).unwrap();
        assert_eq!(tmp.entries(e).unwrap()[1].1, ROOT);
    }

    #[test]
    fn a_copy_shares_contents_until_written() {
        let mut tmp = TmpFolder::new(1 << 20);
        let file = tmp.open(&["f"], WRITE).unwrap();
        tmp.write(file, 0, b"one").unwrap();
        let hidden = tmp.open(&["g"], WRITE).unwrap();
        tmp.remove_file(&["g"]).unwrap();
        let mut copy = tmp.copy();
        assert!(copy.stat(hidden).is_err());
        let in_copy = copy.lookup(&["f"]).unwrap();
        copy.write(in_copy, 0, b"two").unwrap();
        let mut out = [0u8; 3];
        tmp.read(file, 0, &mut out).unwrap();
        assert_eq!(&out, b"one");
        copy.read(in_copy, 0, &mut out).unwrap();
        assert_eq!(&out, b"two");
    }

    #[test]
    fn hard_links_share_a_file() {
        let mut tmp = TmpFolder::new(1 << 20);
        let file = tmp.open(&["f"], WRITE).unwrap();
        tmp.close(file);
        tmp.link(&["f"], &["g"]).unwrap();
        assert_eq!(tmp.stat(file).unwrap().links, 2);
        tmp.remove_file(&["f"]).unwrap();
        assert_eq!(tmp.lookup(&["g"]), Ok(file));
        tmp.remove_file(&["g"]).unwrap();
        assert_eq!(tmp.used(), 0);
    }
}
