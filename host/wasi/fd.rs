//! WASI's calls on descriptors (`fd_*`, `sock_*`): a host folder's file or
//! a standard stream is passed on to wasmtime-wasi under its own number;
//! the folders above the mounts, the devices and `/tmp` are served here.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64};

use wasmtime::{Caller, Linker};
use wasmtime_wasi::p1::types::{Errno, Filetype};
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;
use wasmtime_wasi::runtime::in_tokio;

use super::abi::{self, Done, FDFLAG_APPEND, FileStat, OWN_DEVICE};
use super::descriptors::{Open, ROOT_FD, TmpOpen};
use super::tree::{DEV, Device};
use super::{Parts, WASI, WasiHost, fail, serve};
use crate::sync::lock;

pub(super) fn add_to_linker<T: WasiHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(WASI, "fd_advise", fd_advise::<T>)?;
    linker.func_wrap(WASI, "fd_allocate", fd_allocate::<T>)?;
    linker.func_wrap(WASI, "fd_close", fd_close::<T>)?;
    linker.func_wrap(WASI, "fd_datasync", fd_datasync::<T>)?;
    linker.func_wrap(WASI, "fd_fdstat_get", fd_fdstat_get::<T>)?;
    linker.func_wrap(WASI, "fd_fdstat_set_flags", fd_fdstat_set_flags::<T>)?;
    linker.func_wrap(WASI, "fd_fdstat_set_rights", fd_fdstat_set_rights::<T>)?;
    linker.func_wrap(WASI, "fd_filestat_get", fd_filestat_get::<T>)?;
    linker.func_wrap(WASI, "fd_filestat_set_size", fd_filestat_set_size::<T>)?;
    linker.func_wrap(WASI, "fd_filestat_set_times", fd_filestat_set_times::<T>)?;
    linker.func_wrap(WASI, "fd_pread", fd_pread::<T>)?;
    linker.func_wrap(WASI, "fd_prestat_get", fd_prestat_get::<T>)?;
    linker.func_wrap(WASI, "fd_prestat_dir_name", fd_prestat_dir_name::<T>)?;
    linker.func_wrap(WASI, "fd_pwrite", fd_pwrite::<T>)?;
    linker.func_wrap(WASI, "fd_read", fd_read::<T>)?;
    linker.func_wrap(WASI, "fd_readdir", fd_readdir::<T>)?;
    linker.func_wrap(WASI, "fd_renumber", fd_renumber::<T>)?;
    linker.func_wrap(WASI, "fd_seek", fd_seek::<T>)?;
    linker.func_wrap(WASI, "fd_sync", fd_sync::<T>)?;
    linker.func_wrap(WASI, "fd_tell", fd_tell::<T>)?;
    linker.func_wrap(WASI, "fd_write", fd_write::<T>)?;
    linker.func_wrap(WASI, "sock_accept", sock_accept::<T>)?;
    linker.func_wrap(WASI, "sock_recv", sock_recv::<T>)?;
    linker.func_wrap(WASI, "sock_send", sock_send::<T>)?;
    linker.func_wrap(WASI, "sock_shutdown", sock_shutdown::<T>)?;
    Ok(())
}

/// Serves a call on descriptor `fd`: `host` for one of wasmtime-wasi's
/// (with its own number), `own` for the others.
fn on_fd<T: WasiHost>(
    caller: &mut Caller<'_, T>,
    fd: i32,
    host: impl FnOnce(&mut Parts<'_>, i32) -> Done,
    own: impl FnOnce(&mut Parts<'_>, &Open) -> Done,
) -> wasmtime::Result<i32> {
    serve(caller, |parts| {
        let open = parts.open(fd)?;
        match &*open {
            Open::Host { fd, .. } => host(parts, *fd as i32),
            other => own(parts, other),
        }
    })
}

fn fd_advise<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    offset: i64,
    len: i64,
    advice: i32,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_advise(ctx, memory, fd, offset, len, advice))),
        |_, _| Ok(()),
    )
}

fn fd_allocate<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, offset: i64, len: i64) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| wasi::fd_allocate(ctx, memory, fd, offset, len)),
        |_, _| fail(Errno::Notsup),
    )
}

fn fd_close<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        let last = parts.files.descriptors.remove(fd)?;
        parts.close(last);
        Ok(())
    })
}

fn fd_datasync<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_datasync(ctx, memory, fd))),
        |_, _| Ok(()),
    )
}

fn fd_sync<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_sync(ctx, memory, fd))),
        |_, _| Ok(()),
    )
}

fn fd_fdstat_get<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, out: i32) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_fdstat_get(ctx, memory, fd, out))),
        |parts, open| {
            let (filetype, flags) = match open {
                Open::Tmp(file) => {
                    let filetype = lock(&file.tmp).stat(file.inode)?.filetype;
                    (filetype, if file.appends() { FDFLAG_APPEND } else { 0 })
                }
                Open::Device(_) => (Filetype::CharacterDevice, 0),
                _ => (Filetype::Directory, 0),
            };
            Ok(parts.guest.write(out, &abi::fdstat(filetype, flags))?)
        },
    )
}

fn fd_fdstat_set_flags<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, flags: i32) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| wasi::fd_fdstat_set_flags(ctx, memory, fd, flags)),
        |_, open| match open {
            Open::Tmp(file) => {
                file.append.store(flags as u16 & FDFLAG_APPEND != 0, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            _ => Ok(()),
        },
    )
}

fn fd_fdstat_set_rights<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    base: i64,
    inheriting: i64,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| wasi::fd_fdstat_set_rights(ctx, memory, fd, base, inheriting)),
        |_, _| fail(Errno::Notsup),
    )
}

fn fd_filestat_get<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, out: i32) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_filestat_get(ctx, memory, fd, out))),
        |parts, open| {
            let stat = own_stat(open)?;
            Ok(parts.guest.write(out, &stat.bytes())?)
        },
    )
}

/// The `stat` of one of the descriptors served here.
fn own_stat(open: &Open) -> Result<FileStat, Errno> {
    Ok(match open {
        Open::Folder { path } => folder_stat(path),
        Open::Devices => folder_stat(DEV),
        Open::Device(device) => device_stat(*device),
        Open::Tmp(file) => lock(&file.tmp).stat(file.inode)?,
        Open::Host { .. } => return Err(Errno::Badf),
    })
}

/// The `stat` of a folder above the mounts: read-only, empty, its inode a
/// hash of its path.
pub(super) fn folder_stat(path: &str) -> FileStat {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    FileStat {
        device: OWN_DEVICE,
        inode: hasher.finish(),
        filetype: Filetype::Directory,
        links: 2,
        size: 0,
        accessed: 0,
        modified: 0,
        changed: 0,
    }
}

pub(super) fn device_stat(device: Device) -> FileStat {
    FileStat {
        device: OWN_DEVICE,
        inode: device as u64 + 1,
        filetype: Filetype::CharacterDevice,
        links: 1,
        size: 0,
        accessed: 0,
        modified: 0,
        changed: 0,
    }
}

fn fd_filestat_set_size<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, size: i64) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_filestat_set_size(ctx, memory, fd, size))),
        |_, open| match open {
            Open::Tmp(file) if file.write => Ok(lock(&file.tmp).set_size(file.inode, size as u64)?),
            Open::Tmp(_) | Open::Device(_) => fail(Errno::Inval),
            _ => fail(Errno::Isdir),
        },
    )
}

fn fd_filestat_set_times<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    accessed: i64,
    modified: i64,
    flags: i32,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| {
            parts.delegate(|ctx, memory| {
                in_tokio(wasi::fd_filestat_set_times(ctx, memory, fd, accessed, modified, flags))
            })
        },
        |_, open| match open {
            Open::Tmp(file) => {
                let (accessed, modified) = new_times(accessed, modified, flags)?;
                Ok(lock(&file.tmp).set_times(file.inode, accessed, modified)?)
            }
            Open::Device(_) => Ok(()),
            _ => fail(Errno::Rofs),
        },
    )
}

/// The times `fstflags` asks to set.
pub(super) fn new_times(accessed: i64, modified: i64, flags: i32) -> Result<(Option<u64>, Option<u64>), Errno> {
    let flags = flags as u16;
    let pick = |value: i64, set: u16, now: u16| match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::Inval),
        (true, false) => Ok(Some(value as u64)),
        (false, true) => Ok(Some(super::tmp::now())),
        (false, false) => Ok(None),
    };
    Ok((pick(accessed, abi::FST_ATIM, abi::FST_ATIM_NOW)?, pick(modified, abi::FST_MTIM, abi::FST_MTIM_NOW)?))
}

/// Whether `fd` is the root the guest started with, the one folder it is
/// told is preopened: wasi-libc resolves every path from it.
fn is_root(parts: &Parts<'_>, fd: i32) -> Result<bool, Errno> {
    Ok(fd as u32 == ROOT_FD && matches!(&*parts.open(fd)?, Open::Folder { path } if path == "/"))
}

fn fd_prestat_get<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, out: i32) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        if !is_root(parts, fd)? {
            return fail(Errno::Badf);
        }
        let mut prestat = [0u8; 8];
        prestat[4..8].copy_from_slice(&1u32.to_le_bytes());
        Ok(parts.guest.write(out, &prestat)?)
    })
}

fn fd_prestat_dir_name<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, at: i32, len: i32) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        if !is_root(parts, fd)? {
            return fail(Errno::Notdir);
        }
        if len < 1 {
            return fail(Errno::Nametoolong);
        }
        Ok(parts.guest.write(at, b"/")?)
    })
}

fn fd_read<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, iovs: i32, count: i32, done: i32) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_read(ctx, memory, fd, iovs, count, done))),
        |parts, open| {
            let read = read_into(parts, open, iovs, count, None)?;
            Ok(parts.guest.write_u32(done, read as u32)?)
        },
    )
}

fn fd_pread<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    iovs: i32,
    count: i32,
    offset: i64,
    done: i32,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_pread(ctx, memory, fd, iovs, count, offset, done))),
        |parts, open| {
            let read = read_into(parts, open, iovs, count, Some(offset as u64))?;
            Ok(parts.guest.write_u32(done, read as u32)?)
        },
    )
}

/// Reads from one of the descriptors served here into the guest's buffers,
/// at its position (moved on) or at `offset`.
fn read_into(parts: &mut Parts<'_>, open: &Open, iovs: i32, count: i32, offset: Option<u64>) -> Result<usize, Errno> {
    let buffers = parts.guest.buffers(iovs, count)?;
    match open {
        Open::Device(Device::Null) => Ok(0),
        Open::Device(Device::Urandom) => {
            // wasmtime-wasi's random source, which `os.urandom` reads too.
            let mut read = 0;
            for (at, len) in buffers {
                match parts.delegate(|ctx, memory| wasi::random_get(ctx, memory, at, len as i32)) {
                    Ok(()) => read += len as usize,
                    Err(_) => return Err(Errno::Io),
                }
            }
            Ok(read)
        }
        Open::Tmp(file) if file.read => {
            let mut tmp = lock(&file.tmp);
            let start = offset.unwrap_or_else(|| file.position());
            let mut read = 0usize;
            for (at, len) in buffers {
                let got = tmp.read(file.inode, start + read as u64, parts.guest.slice_mut(at, len)?)?;
                read += got;
                if got < len as usize {
                    break;
                }
            }
            if offset.is_none() {
                file.set_position(start + read as u64);
            }
            Ok(read)
        }
        Open::Tmp(TmpOpen { folder: Some(_), .. }) => Err(Errno::Isdir),
        Open::Tmp(_) => Err(Errno::Badf),
        _ => Err(Errno::Isdir),
    }
}

fn fd_write<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    iovs: i32,
    count: i32,
    done: i32,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_write(ctx, memory, fd, iovs, count, done))),
        |parts, open| {
            let written = write_from(parts, open, iovs, count, None)?;
            Ok(parts.guest.write_u32(done, written as u32)?)
        },
    )
}

fn fd_pwrite<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    iovs: i32,
    count: i32,
    offset: i64,
    done: i32,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_pwrite(ctx, memory, fd, iovs, count, offset, done))),
        |parts, open| {
            let written = write_from(parts, open, iovs, count, Some(offset as u64))?;
            Ok(parts.guest.write_u32(done, written as u32)?)
        },
    )
}

/// Writes the guest's buffers to one of the descriptors served here, at its
/// position (moved on; its end if it appends) or at `offset`.
fn write_from(parts: &mut Parts<'_>, open: &Open, iovs: i32, count: i32, offset: Option<u64>) -> Result<usize, Errno> {
    let buffers = parts.guest.buffers(iovs, count)?;
    match open {
        Open::Device(_) => Ok(buffers.iter().map(|(_, len)| *len as usize).sum()),
        Open::Tmp(file) if file.write => {
            let mut tmp = lock(&file.tmp);
            let start = match offset {
                Some(offset) => offset,
                None if file.appends() => tmp.stat(file.inode)?.size,
                None => file.position(),
            };
            let mut written = 0usize;
            for (at, len) in buffers {
                let put = match tmp.write(file.inode, start + written as u64, parts.guest.slice(at, len)?) {
                    Ok(put) => put,
                    // What fitted before the cap was written: say so.
                    Err(_) if written > 0 => break,
                    Err(errno) => return Err(errno),
                };
                written += put;
                if put < len as usize {
                    break;
                }
            }
            if offset.is_none() {
                file.set_position(start + written as u64);
            }
            Ok(written)
        }
        Open::Tmp(TmpOpen { folder: Some(_), .. }) => Err(Errno::Isdir),
        _ => Err(Errno::Badf),
    }
}

fn fd_readdir<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    at: i32,
    len: i32,
    cookie: i64,
    used: i32,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_readdir(ctx, memory, fd, at, len, cookie, used))),
        |parts, open| {
            parts.guest.check(at, len as u32)?;
            parts.guest.check(used, 4)?;
            let entries: Vec<(String, u64, Filetype)> = match open {
                Open::Folder { path } => {
                    let mut entries = vec![(".".to_owned(), folder_stat(path).inode, Filetype::Directory)];
                    let parent = super::tree::normalize(path, "..");
                    entries.push(("..".to_owned(), folder_stat(&parent).inode, Filetype::Directory));
                    for name in parts.files.tree.folder_entries(path) {
                        let inode = folder_stat(&super::tree::normalize(path, &name)).inode;
                        entries.push((name, inode, Filetype::Directory));
                    }
                    entries
                }
                Open::Devices => {
                    let mut entries = vec![
                        (".".to_owned(), folder_stat(DEV).inode, Filetype::Directory),
                        ("..".to_owned(), folder_stat("/").inode, Filetype::Directory),
                    ];
                    for (name, device) in Device::ALL {
                        entries.push((name.to_owned(), device_stat(device).inode, Filetype::CharacterDevice));
                    }
                    entries
                }
                Open::Tmp(file) => lock(&file.tmp).entries(file.inode)?,
                _ => return fail(Errno::Notdir),
            };
            let bytes = abi::dirents(
                entries.iter().map(|(name, inode, kind)| (name.as_str(), *inode, *kind)),
                cookie as u64,
                len as usize,
            );
            parts.guest.write(at, &bytes)?;
            Ok(parts.guest.write_u32(used, bytes.len() as u32)?)
        },
    )
}

fn fd_renumber<T: WasiHost>(mut caller: Caller<'_, T>, from: i32, to: i32) -> wasmtime::Result<i32> {
    serve(&mut caller, |parts| {
        let replaced = parts.files.descriptors.renumber(from, to)?;
        parts.close(replaced);
        Ok(())
    })
}

/// `whence`.
const WHENCE_SET: i32 = 0;
const WHENCE_CUR: i32 = 1;
const WHENCE_END: i32 = 2;

fn fd_seek<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    offset: i64,
    whence: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| in_tokio(wasi::fd_seek(ctx, memory, fd, offset, whence, out))),
        |parts, open| {
            parts.guest.check(out, 8)?;
            let at = match open {
                Open::Tmp(file) if file.folder.is_none() => {
                    let base = match whence {
                        WHENCE_SET => 0,
                        WHENCE_CUR => file.position() as i64,
                        WHENCE_END => lock(&file.tmp).stat(file.inode)?.size as i64,
                        _ => return fail(Errno::Inval),
                    };
                    let at = base.checked_add(offset).filter(|at| *at >= 0).ok_or(Errno::Inval)?;
                    file.set_position(at as u64);
                    at as u64
                }
                Open::Device(_) => 0,
                _ => return fail(Errno::Isdir),
            };
            Ok(parts.guest.write_u64(out, at)?)
        },
    )
}

fn fd_tell<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, out: i32) -> wasmtime::Result<i32> {
    on_fd(
        &mut caller,
        fd,
        |parts, fd| parts.delegate(|ctx, memory| wasi::fd_tell(ctx, memory, fd, out)),
        |parts, open| {
            let at = match open {
                Open::Tmp(file) if file.folder.is_none() => file.position(),
                Open::Device(_) => 0,
                _ => return fail(Errno::Isdir),
            };
            Ok(parts.guest.write_u64(out, at)?)
        },
    )
}

/// The guest has no sockets: a socket call on a file fails as on a host.
fn not_a_socket<T: WasiHost>(caller: &mut Caller<'_, T>, fd: i32) -> wasmtime::Result<i32> {
    serve(caller, |parts| {
        parts.open(fd)?;
        fail(Errno::Notsock)
    })
}

fn sock_accept<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, _flags: i32, _out: i32) -> wasmtime::Result<i32> {
    not_a_socket(&mut caller, fd)
}

fn sock_recv<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    _iovs: i32,
    _count: i32,
    _flags: i32,
    _done: i32,
    _out_flags: i32,
) -> wasmtime::Result<i32> {
    not_a_socket(&mut caller, fd)
}

fn sock_send<T: WasiHost>(
    mut caller: Caller<'_, T>,
    fd: i32,
    _iovs: i32,
    _count: i32,
    _flags: i32,
    _done: i32,
) -> wasmtime::Result<i32> {
    not_a_socket(&mut caller, fd)
}

fn sock_shutdown<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32, _how: i32) -> wasmtime::Result<i32> {
    not_a_socket(&mut caller, fd)
}

/// A new [`TmpOpen`] of `inode`.
pub(super) fn tmp_open(
    tmp: std::sync::Arc<std::sync::Mutex<super::tmp::TmpFolder>>,
    inode: u64,
    folder: Option<String>,
    read: bool,
    write: bool,
    append: bool,
) -> TmpOpen {
    TmpOpen { tmp, inode, folder, position: AtomicU64::new(0), append: AtomicBool::new(append), read, write }
}
