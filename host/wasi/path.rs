//! WASI's calls on paths (`path_*`): each path is resolved in the guest's
//! tree ([`tree`](super::tree)) from the folder its descriptor is, and
//! served where it leads: passed on to wasmtime-wasi relative to the host
//! folder it lies in, or served here for the folders above the mounts, the
//! devices and `/tmp`.

use std::sync::{Arc, Mutex};

use wasmtime::{Caller, Linker};
use wasmtime_wasi::p1::types::{Errno, Filetype};
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;
use wasmtime_wasi::runtime::in_tokio;

use super::abi::{self, Done, FDFLAG_APPEND, FILESTAT_SIZE, Failure, O_CREAT, O_DIRECTORY, O_EXCL, O_TRUNC};
use super::descriptors::{HandleLimit, Open};
use super::fd::{device_stat, folder_stat, new_times, tmp_open};
use super::tmp::{OpenFlags, TmpFolder};
use super::tree::{self, DEV, Device, MountKind, Place};
use super::{Files, Parts, WASI, WasiHost, fail, serve};
use crate::sync::lock;

/// The longest symlink target `path_readlink` reads.
const MAX_LINK: u32 = 1 << 16;

pub(super) fn add_to_linker<T: WasiHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(WASI, "path_create_directory", path_create_directory::<T>)?;
    linker.func_wrap(WASI, "path_filestat_get", path_filestat_get::<T>)?;
    linker.func_wrap(WASI, "path_filestat_set_times", path_filestat_set_times::<T>)?;
    linker.func_wrap(WASI, "path_link", path_link::<T>)?;
    linker.func_wrap(WASI, "path_open", path_open::<T>)?;
    linker.func_wrap(WASI, "path_readlink", path_readlink::<T>)?;
    linker.func_wrap(WASI, "path_remove_directory", path_remove_directory::<T>)?;
    linker.func_wrap(WASI, "path_rename", path_rename::<T>)?;
    linker.func_wrap(WASI, "path_symlink", path_symlink::<T>)?;
    linker.func_wrap(WASI, "path_unlink_file", path_unlink_file::<T>)?;
    Ok(())
}

/// Where a path leads.
enum Target {
    /// Into a host folder: wasmtime-wasi's descriptor `dir` and the path
    /// below it (`.` for the folder itself).
    Host {
        dir: u32,
        rest: String,
        top: bool,
    },
    /// A folder above the mounts.
    Folder(String),
    /// `/dev`, one of its devices, or a name there that is none.
    Devices,
    Device(Device),
    NoDevice,
    /// Into `/tmp`.
    Tmp {
        tmp: Arc<Mutex<TmpFolder>>,
        rest: String,
    },
    /// Nowhere; `under_folder` if the folder it would be in is one above the
    /// mounts (read-only), so that creating it is refused as such.
    Missing {
        under_folder: bool,
    },
}

impl Target {
    /// Whether it is the point a folder is mounted at.
    fn is_mount_point(&self) -> bool {
        match self {
            Target::Host { top, .. } => *top,
            Target::Tmp { rest, .. } => rest.is_empty(),
            Target::Devices => true,
            _ => false,
        }
    }
}

/// A path resolved: its normalized absolute path, and where it leads.
struct Resolved {
    full: String,
    target: Target,
}

/// Resolves `path` from the folder descriptor `fd` is.
fn resolve(files: &Files, fd: i32, path: &str) -> Result<Resolved, Errno> {
    let open = files.descriptors.get(fd)?;
    let base = open.folder()?;
    if path.is_empty() {
        return Err(Errno::Noent);
    }
    let full = tree::normalize(base, path);
    if let Open::Host { fd: dir, folder: Some(folder) } = &*open {
        // Within a host folder with nothing mounted below it: the path as
        // given, for the host to follow (symlinks, a trailing `/`).
        if !tree::escapes(path) && !files.tree.has_mounts_below(folder) {
            let top = full == *folder;
            return Ok(Resolved { full, target: Target::Host { dir: *dir, rest: path.to_owned(), top } });
        }
    }
    let target = match files.tree.place(&full) {
        Place::Mounted { mount, rest } => match &mount.kind {
            MountKind::Host { fd } => {
                let top = rest.is_empty();
                Target::Host { dir: *fd, rest: if top { ".".to_owned() } else { rest }, top }
            }
            MountKind::Tmp(tmp) => Target::Tmp { tmp: tmp.clone(), rest },
            MountKind::Devices if rest.is_empty() => Target::Devices,
            MountKind::Devices => tree::device(&rest).map_or(Target::NoDevice, Target::Device),
        },
        Place::Folder { path } => Target::Folder(path),
        Place::Missing => {
            let parent = tree::normalize(&full, "..");
            Target::Missing { under_folder: matches!(files.tree.place(&parent), Place::Folder { .. }) }
        }
    };
    Ok(Resolved { full, target })
}

/// The components of a path below `/tmp`.
fn components(rest: &str) -> Vec<&str> {
    rest.split('/').filter(|part| !part.is_empty()).collect()
}

/// What a path that does not exist answers: nothing to find, or a
/// read-only folder to create it in.
fn missing(under_folder: bool, creating: bool) -> Failure {
    Failure::from(if creating && under_folder { Errno::Rofs } else { Errno::Noent })
}

fn trap(_: HandleLimit) -> Failure {
    Failure::Trap(wasmtime::Error::new(HandleLimit))
}

#[allow(clippy::too_many_arguments)] // WASI's own signature
fn path_open<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    dirflags: i32,
    path: i32,
    path_len: i32,
    oflags: i32,
    rights: i64,
    inheriting: i64,
    fdflags: i32,
    opened: i32,
) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        parts.files.descriptors.check_room().map_err(trap)?;
        parts.guest.check(opened, 4)?;
        let path = parts.guest.path(path, path_len)?;
        let Resolved { full, target } = resolve(parts.files, fd, &path)?;
        let flags = oflags as u16;
        let creating = flags & O_CREAT != 0;
        let write = rights as u64 & abi::RIGHT_FD_WRITE != 0;
        let refuse_folder = || -> Done {
            match () {
                _ if creating && flags & O_EXCL != 0 => fail(Errno::Exist),
                _ if write || creating || flags & O_TRUNC != 0 => fail(Errno::Isdir),
                _ => Ok(()),
            }
        };
        let open = match target {
            Target::Host { dir, rest, .. } => {
                let out = parts.scratch(&[rest.as_bytes()], 4, |ctx, memory, at, out| {
                    in_tokio(wasi::path_open(
                        ctx,
                        memory,
                        dir as i32,
                        dirflags,
                        at[0],
                        rest.len() as i32,
                        oflags,
                        rights,
                        inheriting,
                        fdflags,
                        out,
                    ))
                })?;
                let inner = u32::from_le_bytes(out[..4].try_into().expect("4 bytes"));
                let stat = parts.scratch(&[], abi::FDSTAT_SIZE as usize, |ctx, memory, _, out| {
                    in_tokio(wasi::fd_fdstat_get(ctx, memory, inner as i32, out))
                });
                let is_folder = matches!(stat, Ok(stat) if stat[0] == Filetype::Directory as u8);
                Open::Host { fd: inner, folder: is_folder.then_some(full) }
            }
            Target::Folder(path) => {
                refuse_folder()?;
                Open::Folder { path }
            }
            Target::Devices => {
                refuse_folder()?;
                Open::Devices
            }
            Target::Device(device) => match () {
                _ if flags & O_DIRECTORY != 0 => return fail(Errno::Notdir),
                _ if creating && flags & O_EXCL != 0 => return fail(Errno::Exist),
                _ => Open::Device(device),
            },
            Target::NoDevice => return fail(if creating { Errno::Acces } else { Errno::Noent }),
            Target::Tmp { tmp, rest } => {
                let read = rights as u64 & abi::RIGHT_FD_READ != 0;
                let open_flags = OpenFlags {
                    create: creating,
                    exclusive: flags & O_EXCL != 0,
                    truncate: flags & O_TRUNC != 0,
                    directory: flags & O_DIRECTORY != 0,
                    write,
                };
                let (inode, is_folder) = {
                    let mut folder = lock(&tmp);
                    let inode = folder.open(&components(&rest), open_flags)?;
                    (inode, folder.stat(inode).map(|stat| stat.filetype == Filetype::Directory).unwrap_or(false))
                };
                let append = fdflags as u16 & FDFLAG_APPEND != 0;
                Open::Tmp(tmp_open(tmp, inode, is_folder.then_some(full), read, write, append))
            }
            Target::Missing { under_folder } => return Err(missing(under_folder, creating)),
        };
        let open = Arc::new(open);
        match parts.files.descriptors.insert(open.clone()) {
            Ok(new) => Ok(parts.guest.write_u32(opened, new)?),
            Err(limit) => {
                parts.close(Arc::into_inner(open));
                Err(trap(limit))
            }
        }
    })
}

fn path_filestat_get<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    flags: i32,
    path: i32,
    path_len: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        parts.guest.check(out, FILESTAT_SIZE)?;
        let path = parts.guest.path(path, path_len)?;
        let Resolved { target, .. } = resolve(parts.files, fd, &path)?;
        let stat = match target {
            Target::Host { dir, rest, .. } => {
                let stat = parts.scratch(&[rest.as_bytes()], FILESTAT_SIZE as usize, |ctx, memory, at, out| {
                    in_tokio(wasi::path_filestat_get(ctx, memory, dir as i32, flags, at[0], rest.len() as i32, out))
                })?;
                return Ok(parts.guest.write(out, &stat)?);
            }
            Target::Folder(path) => folder_stat(&path),
            Target::Devices => folder_stat(DEV),
            Target::Device(device) => device_stat(device),
            Target::Tmp { tmp, rest } => {
                let folder = lock(&tmp);
                folder.stat(folder.lookup(&components(&rest))?)?
            }
            Target::NoDevice | Target::Missing { .. } => return fail(Errno::Noent),
        };
        Ok(parts.guest.write(out, &stat.bytes())?)
    })
}

#[allow(clippy::too_many_arguments)] // WASI's own signature
fn path_filestat_set_times<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    flags: i32,
    path: i32,
    path_len: i32,
    accessed: i64,
    modified: i64,
    fst_flags: i32,
) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        let path = parts.guest.path(path, path_len)?;
        match resolve(parts.files, fd, &path)?.target {
            Target::Host { dir, rest, .. } => parts
                .scratch(&[rest.as_bytes()], 0, |ctx, memory, at, _| {
                    in_tokio(wasi::path_filestat_set_times(
                        ctx,
                        memory,
                        dir as i32,
                        flags,
                        at[0],
                        rest.len() as i32,
                        accessed,
                        modified,
                        fst_flags,
                    ))
                })
                .map(drop),
            Target::Tmp { tmp, rest } => {
                let (accessed, modified) = new_times(accessed, modified, fst_flags)?;
                let mut folder = lock(&tmp);
                let inode = folder.lookup(&components(&rest))?;
                Ok(folder.set_times(inode, accessed, modified)?)
            }
            Target::Device(_) => Ok(()),
            Target::Folder(_) | Target::Devices => fail(Errno::Rofs),
            Target::NoDevice | Target::Missing { .. } => fail(Errno::Noent),
        }
    })
}

/// Serves a call on one path that is passed on to wasmtime-wasi as
/// `host(ctx, memory, dir, path_at, path_len)`, or served here by `own`.
fn on_path<T: WasiHost>(
    caller: &mut Caller<'_, T>,
    fd: i32,
    path: i32,
    path_len: i32,
    host: impl FnOnce(
        &mut wasmtime_wasi::p1::WasiP1Ctx,
        &mut wiggle::GuestMemory<'_>,
        i32,
        i32,
        i32,
    ) -> wasmtime::Result<i32>,
    own: impl FnOnce(Target) -> Done,
) -> wasmtime::Result<i32> {
    serve(caller, |parts| {
        let path = parts.guest.path(path, path_len)?;
        match resolve(parts.files, fd, &path)?.target {
            Target::Host { dir, rest, top: false } => parts
                .scratch(&[rest.as_bytes()], 0, |ctx, memory, at, _| {
                    host(ctx, memory, dir as i32, at[0], rest.len() as i32)
                })
                .map(drop),
            other => own(other),
        }
    })
}

fn path_create_directory<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    path: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    on_path(
        &mut caller,
        fd,
        path,
        len,
        |ctx, memory, dir, at, len| in_tokio(wasi::path_create_directory(ctx, memory, dir, at, len)),
        |target| match target {
            Target::Tmp { tmp, rest } if !rest.is_empty() => Ok(lock(&tmp).create_folder(&components(&rest))?),
            Target::NoDevice => fail(Errno::Acces),
            Target::Missing { under_folder } => Err(missing(under_folder, true)),
            _ => fail(Errno::Exist),
        },
    )
}

fn path_remove_directory<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    path: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    on_path(
        &mut caller,
        fd,
        path,
        len,
        |ctx, memory, dir, at, len| in_tokio(wasi::path_remove_directory(ctx, memory, dir, at, len)),
        |target| match target {
            mount if mount.is_mount_point() => fail(Errno::Busy),
            Target::Tmp { tmp, rest } => Ok(lock(&tmp).remove_folder(&components(&rest))?),
            Target::Folder(path) if path == "/" => fail(Errno::Busy),
            Target::Folder(_) => fail(Errno::Rofs),
            Target::Device(_) => fail(Errno::Notdir),
            _ => fail(Errno::Noent),
        },
    )
}

fn path_unlink_file<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, path: i32, len: i32) -> wasmtime::Result<i32> {
    on_path(
        &mut caller,
        fd,
        path,
        len,
        |ctx, memory, dir, at, len| in_tokio(wasi::path_unlink_file(ctx, memory, dir, at, len)),
        |target| match target {
            Target::Tmp { tmp, rest } => Ok(lock(&tmp).remove_file(&components(&rest))?),
            Target::Host { .. } | Target::Folder(_) | Target::Devices => fail(Errno::Isdir),
            Target::Device(_) => fail(Errno::Acces),
            Target::NoDevice | Target::Missing { .. } => fail(Errno::Noent),
        },
    )
}

fn path_readlink<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    path: i32,
    path_len: i32,
    buf: i32,
    buf_len: i32,
    used: i32,
) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        parts.guest.check(buf, buf_len as u32)?;
        parts.guest.check(used, 4)?;
        let path = parts.guest.path(path, path_len)?;
        match resolve(parts.files, fd, &path)?.target {
            Target::Host { dir, rest, .. } => {
                let room = (buf_len as u32).min(MAX_LINK);
                let out = parts.scratch(&[rest.as_bytes()], 8 + room as usize, |ctx, memory, at, out| {
                    in_tokio(wasi::path_readlink(
                        ctx,
                        memory,
                        dir as i32,
                        at[0],
                        rest.len() as i32,
                        out + 8,
                        room as i32,
                        out,
                    ))
                })?;
                let len = u32::from_le_bytes(out[..4].try_into().expect("4 bytes")).min(room);
                parts.guest.write(buf, &out[8..8 + len as usize])?;
                Ok(parts.guest.write_u32(used, len)?)
            }
            Target::NoDevice | Target::Missing { .. } => fail(Errno::Noent),
            Target::Tmp { tmp, rest } => {
                lock(&tmp).lookup(&components(&rest))?;
                fail(Errno::Inval)
            }
            _ => fail(Errno::Inval),
        }
    })
}

/// Serves a call on two paths (a rename, a link): passed on to
/// wasmtime-wasi if both lie in the same host folder, served here if both
/// lie in `/tmp`; across mounts it fails as across devices (`EXDEV`), so
/// that `shutil.move` copies instead.
#[allow(clippy::too_many_arguments)]
fn on_two_paths<T: WasiHost>(
    caller: &mut Caller<'_, T>,
    (from_fd, from, from_len): (i32, i32, i32),
    (to_fd, to, to_len): (i32, i32, i32),
    host: impl FnOnce(
        &mut wasmtime_wasi::p1::WasiP1Ctx,
        &mut wiggle::GuestMemory<'_>,
        i32,
        [(i32, i32); 2],
    ) -> wasmtime::Result<i32>,
    tmp: impl FnOnce(&mut TmpFolder, &[&str], &[&str]) -> Result<(), Errno>,
) -> wasmtime::Result<i32> {
    serve(caller, |parts| {
        let from = parts.guest.path(from, from_len)?;
        let to = parts.guest.path(to, to_len)?;
        let from = resolve(parts.files, from_fd, &from)?.target;
        let to = resolve(parts.files, to_fd, &to)?.target;
        if from.is_mount_point() || to.is_mount_point() {
            return fail(Errno::Busy);
        }
        match (from, to) {
            (Target::Host { dir, rest: from, .. }, Target::Host { dir: to_dir, rest: to, .. }) if dir == to_dir => {
                passed_on(parts, dir, &from, &to, host)
            }
            (Target::Tmp { tmp: folder, rest: from }, Target::Tmp { rest: to, .. }) => {
                Ok(tmp(&mut lock(&folder), &components(&from), &components(&to))?)
            }
            (Target::NoDevice | Target::Missing { .. }, _) => fail(Errno::Noent),
            (Target::Folder(_) | Target::Devices | Target::Device(_), _) => fail(Errno::Rofs),
            (_, Target::Missing { under_folder: false }) => fail(Errno::Noent),
            _ => fail(Errno::Xdev),
        }
    })
}

fn passed_on(
    parts: &mut Parts<'_>,
    dir: u32,
    from: &str,
    to: &str,
    host: impl FnOnce(
        &mut wasmtime_wasi::p1::WasiP1Ctx,
        &mut wiggle::GuestMemory<'_>,
        i32,
        [(i32, i32); 2],
    ) -> wasmtime::Result<i32>,
) -> Done {
    parts
        .scratch(&[from.as_bytes(), to.as_bytes()], 0, |ctx, memory, at, _| {
            host(ctx, memory, dir as i32, [(at[0], from.len() as i32), (at[1], to.len() as i32)])
        })
        .map(drop)
}

fn path_rename<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    from: i32,
    from_len: i32,
    to_fd: i32,
    to: i32,
    to_len: i32,
) -> wasmtime::Result<i32> {
    on_two_paths(
        &mut caller,
        (fd, from, from_len),
        (to_fd, to, to_len),
        |ctx, memory, dir, [(from, from_len), (to, to_len)]| {
            in_tokio(wasi::path_rename(ctx, memory, dir, from, from_len, dir, to, to_len))
        },
        TmpFolder::rename,
    )
}

#[allow(clippy::too_many_arguments)] // WASI's own signature
fn path_link<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    flags: i32,
    from: i32,
    from_len: i32,
    to_fd: i32,
    to: i32,
    to_len: i32,
) -> wasmtime::Result<i32> {
    on_two_paths(
        &mut caller,
        (fd, from, from_len),
        (to_fd, to, to_len),
        |ctx, memory, dir, [(from, from_len), (to, to_len)]| {
            in_tokio(wasi::path_link(ctx, memory, dir, flags, from, from_len, dir, to, to_len))
        },
        TmpFolder::link,
    )
}

/// A symlink, in a host folder only: `/tmp` has none (`os.symlink` there
/// fails with `ENOTSUP`, which `test.support.can_symlink` understands).
fn path_symlink<T: WasiHost>(
    mut caller: Caller<'_, T>,
    target: i32,
    target_len: i32,
    fd: i32,
    path: i32,
    path_len: i32,
) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        let target = parts.guest.path(target, target_len)?;
        let path = parts.guest.path(path, path_len)?;
        match resolve(parts.files, fd, &path)?.target {
            Target::Host { dir, rest, top: false } => parts
                .scratch(&[target.as_bytes(), rest.as_bytes()], 0, |ctx, memory, at, _| {
                    in_tokio(wasi::path_symlink(
                        ctx,
                        memory,
                        at[0],
                        target.len() as i32,
                        dir as i32,
                        at[1],
                        rest.len() as i32,
                    ))
                })
                .map(drop),
            Target::Tmp { .. } => fail(Errno::Notsup),
            Target::Missing { under_folder } => Err(missing(under_folder, true)),
            Target::NoDevice => fail(Errno::Acces),
            _ => fail(Errno::Exist),
        }
    })
}
