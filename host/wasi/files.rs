//! A cap on the files a guest holds open.
//!
//! Every open file is a descriptor of the host process: `path_open` and
//! `fd_close` are counted, and an open past
//! [`max_handles`](crate::InterpreterBuilder::max_handles) stops the guest
//! with [`HandleLimit`].

use wasmtime::Caller;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;
use wasmtime_wasi::runtime::in_tokio;

use super::{ERRNO_SUCCESS, WasiHost, with_wasi};

/// The guest's count of open files.
#[derive(Debug, Default)]
pub(crate) struct OpenFiles {
    open: usize,
    max: usize,
}

impl OpenFiles {
    pub(crate) fn new(max: usize) -> Self {
        OpenFiles { open: 0, max }
    }

    /// How many files and directories the guest holds open.
    pub(crate) fn open(&self) -> usize {
        self.open
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

/// WASI's `path_open`, refused with [`HandleLimit`] past the cap.
#[allow(clippy::too_many_arguments)] // WASI's own signature
pub(super) fn path_open<T: WasiHost>(
    mut caller: Caller<'_, T>,
    dir: i32,
    dirflags: i32,
    path: i32,
    path_len: i32,
    oflags: i32,
    rights: i64,
    inheriting: i64,
    fdflags: i32,
    opened: i32,
) -> wasmtime::Result<i32> {
    let files = caller.data_mut().open_files();
    if files.open >= files.max {
        return Err(wasmtime::Error::new(HandleLimit));
    }
    let errno = with_wasi(&mut caller, |ctx, memory| {
        in_tokio(wasi::path_open(
            ctx, memory, dir, dirflags, path, path_len, oflags, rights, inheriting, fdflags, opened,
        ))
    })?;
    if errno == ERRNO_SUCCESS {
        caller.data_mut().open_files().open += 1;
    }
    Ok(errno)
}

/// WASI's `fd_close`, counted.
pub(super) fn fd_close<T: WasiHost>(mut caller: Caller<'_, T>, fd: i32) -> wasmtime::Result<i32> {
    let errno = with_wasi(&mut caller, |ctx, memory| in_tokio(wasi::fd_close(ctx, memory, fd)))?;
    if errno == ERRNO_SUCCESS {
        let files = caller.data_mut().open_files();
        files.open = files.open.saturating_sub(1);
    }
    Ok(errno)
}
