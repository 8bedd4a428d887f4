//! The sandbox's file tree: where each path leads.
//!
//! The guest sees one tree rooted at `/`. Its leaves are mounts: the
//! granted host folders, the guest's own files (the stdlib), the private
//! `/tmp` ([`tmp`](super::tmp)) and `/dev` with its two devices. What lies
//! above the mounts (`/`, `/usr`, `/usr/local`, ...) is made of the mount
//! points alone: read-only folders that list the next step of each.
//!
//! Paths are resolved by name: `..` removes the component before it, as
//! `os.path.normpath` does, before any symlink inside a mount is followed.
//! That is how a path leaves one mount for another (`/proj/../data`) and
//! how `..` at `/` stays at `/`, as on any system. Inside a mount, symlinks
//! are followed by the host folder's own capability, which no path escapes.

use std::sync::{Arc, Mutex};

use super::tmp::TmpFolder;

/// Where the devices are.
pub(crate) const DEV: &str = "/dev";
/// Where the private temporary folder is.
pub(crate) const TMP: &str = "/tmp";

/// The two devices a program may assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Device {
    /// `/dev/null`: reads give end of file, writes are discarded.
    Null,
    /// `/dev/urandom`: reads give the host's random bytes.
    Urandom,
}

impl Device {
    pub(crate) const ALL: [(&'static str, Device); 2] = [("null", Device::Null), ("urandom", Device::Urandom)];

    fn named(name: &str) -> Option<Device> {
        Device::ALL.iter().find(|(known, _)| *known == name).map(|(_, device)| *device)
    }
}

/// What is mounted at a mount point.
#[derive(Clone)]
pub(crate) enum MountKind {
    /// A host folder, open in wasmtime-wasi's table as this descriptor.
    Host { fd: u32 },
    /// The sandbox's temporary folder.
    Tmp(Arc<Mutex<TmpFolder>>),
    /// `/dev`: the [`Device`]s.
    Devices,
}

#[derive(Clone)]
pub(crate) struct Mount {
    /// Its normalized absolute path.
    pub(crate) point: String,
    pub(crate) kind: MountKind,
}

/// Where a path leads.
pub(crate) enum Place<'a> {
    /// Inside a mount: `rest` is the path below its point, normalized,
    /// empty for the mount point itself.
    Mounted { mount: &'a Mount, rest: String },
    /// One of the folders above the mounts (`path` is normalized).
    Folder { path: String },
    /// A path that does not exist: nothing is mounted there or below.
    Missing,
}

/// The mounts of one interpreter.
#[derive(Clone, Default)]
pub(crate) struct Tree {
    /// Deepest first, so that the first match is the longest.
    mounts: Vec<Mount>,
}

impl Tree {
    /// A tree of `mounts`; a later mount at the same point hides an earlier
    /// one, as a later mount does on a host.
    pub(crate) fn new(mounts: impl IntoIterator<Item = Mount>) -> Tree {
        let mut unique: Vec<Mount> = Vec::new();
        for mut mount in mounts {
            mount.point = normalize("/", &mount.point);
            unique.retain(|earlier| earlier.point != mount.point);
            unique.push(mount);
        }
        unique.sort_by_key(|mount| std::cmp::Reverse(depth(&mount.point)));
        Tree { mounts: unique }
    }

    /// Where the normalized absolute `path` leads.
    pub(crate) fn place(&self, path: &str) -> Place<'_> {
        if let Some(mount) = self.mounts.iter().find(|mount| is_within(path, &mount.point)) {
            let rest = path[mount.point.len()..].trim_start_matches('/').to_owned();
            return Place::Mounted { mount, rest };
        }
        if self.mounts.iter().any(|mount| is_within(&mount.point, path)) || path == "/" {
            Place::Folder { path: path.to_owned() }
        } else {
            Place::Missing
        }
    }

    /// Whether a mount lies strictly below `path`, so that a path relative
    /// to a folder there must be resolved through the tree.
    pub(crate) fn has_mounts_below(&self, path: &str) -> bool {
        self.mounts.iter().any(|mount| mount.point != path && is_within(&mount.point, path))
    }

    /// The names in the folder `path` above the mounts: the next component
    /// of each mount point below it, sorted, each once.
    pub(crate) fn folder_entries(&self, path: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .mounts
            .iter()
            .filter(|mount| mount.point != path && is_within(&mount.point, path))
            .filter_map(|mount| mount.point[path.len()..].trim_start_matches('/').split('/').next())
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The device at `rest` below `/dev`, if any.
pub(crate) fn device(rest: &str) -> Option<Device> {
    Device::named(rest)
}

/// `path` joined to the absolute normalized `base` (unless it is absolute
/// itself), normalized by name: no empty or `.` components, each `..`
/// removing the one before it (at `/`, nothing).
pub(crate) fn normalize(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let start = if path.starts_with('/') { "" } else { base };
    for part in start.split('/').chain(path.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    let mut out = String::with_capacity(path.len() + base.len() + 1);
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether the relative `path` climbs above its starting folder by name
/// (`..` past where it began), or is absolute.
pub(crate) fn escapes(path: &str) -> bool {
    if path.starts_with('/') {
        return true;
    }
    let mut depth = 0usize;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

/// The rest of the normalized `path` below `folder` (empty for `folder`
/// itself), if it lies there.
pub(crate) fn below<'p>(path: &'p str, folder: &str) -> Option<&'p str> {
    is_within(path, folder).then(|| path[folder.len().min(path.len())..].trim_start_matches('/'))
}

/// Whether the normalized `path` is `folder` or lies below it.
fn is_within(path: &str, folder: &str) -> bool {
    folder == "/" || path == folder || (path.starts_with(folder) && path.as_bytes().get(folder.len()) == Some(&b'/'))
}

fn depth(path: &str) -> usize {
    path.split('/').filter(|part| !part.is_empty()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let host = |point: &str, fd| Mount { point: point.into(), kind: MountKind::Host { fd } };
        Tree::new([
            host("/usr/local/lib", 4),
            host("/data/", 5),
            host("/data/sub", 6),
            Mount { point: DEV.into(), kind: MountKind::Devices },
        ])
    }

    fn mounted(place: Place<'_>) -> Option<(String, String)> {
        match place {
            Place::Mounted { mount, rest } => Some((mount.point.clone(), rest)),
            _ => None,
        }
    }

    #[test]
    fn paths_are_normalized_by_name() {
        assert_eq!(normalize("/", ""), "/");
        assert_eq!(normalize("/", "."), "/");
        assert_eq!(normalize("/", ".."), "/");
        assert_eq!(normalize("/proj", "../data/./x/"), "/data/x");
        assert_eq!(normalize("/proj/a", "/etc//x/.."), "/etc");
        assert_eq!(normalize("/a/b", "../../../.."), "/");
    }

    #[test]
    fn escapes_are_seen_by_name() {
        assert!(!escapes("a/b/../c"));
        assert!(!escapes("a/.."));
        assert!(!escapes(""));
        assert!(escapes(".."));
        assert!(escapes("a/../../b"));
        assert!(escapes("/etc"));
    }

    #[test]
    fn the_longest_mount_point_wins() {
        let tree = tree();
        assert_eq!(mounted(tree.place("/data")), Some(("/data".into(), String::new())));
        assert_eq!(mounted(tree.place("/data/x/y")), Some(("/data".into(), "x/y".into())));
        assert_eq!(mounted(tree.place("/data/sub/z")), Some(("/data/sub".into(), "z".into())));
        assert_eq!(mounted(tree.place("/data/subway")), Some(("/data".into(), "subway".into())));
        assert!(matches!(tree.place("/usr/local"), Place::Folder { path } if path == "/usr/local"));
        assert!(matches!(tree.place("/"), Place::Folder { .. }));
        assert!(matches!(tree.place("/etc"), Place::Missing));
        assert!(matches!(tree.place("/usr/share"), Place::Missing));
    }

    #[test]
    fn folders_above_the_mounts_list_the_next_step() {
        let tree = tree();
        assert_eq!(tree.folder_entries("/"), ["data", "dev", "usr"]);
        assert_eq!(tree.folder_entries("/usr"), ["local"]);
        assert_eq!(tree.folder_entries("/usr/local"), ["lib"]);
        assert!(tree.has_mounts_below("/data"));
        assert!(!tree.has_mounts_below("/data/sub"));
        assert_eq!(device("null"), Some(Device::Null));
        assert_eq!(device("zero"), None);
    }

    #[test]
    fn a_later_mount_at_the_same_point_hides_the_earlier() {
        let host = |fd| Mount { point: "/data".into(), kind: MountKind::Host { fd } };
        let tree = Tree::new([host(4), host(5)]);
        match tree.place("/data/x") {
            Place::Mounted { mount: Mount { kind: MountKind::Host { fd }, .. }, .. } => assert_eq!(*fd, 5),
            _ => panic!("not mounted"),
        }
    }
}
