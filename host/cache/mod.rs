//! The cache folder: where the compiled guest, the driver's code and the
//! template live between processes (see `artifact.rs` and
//! `Runtime`'s builder), and how files are written there.
//!
//! The cache folder must be this user's own and writable by no one else
//! (checked on Unix): its files are loaded as native code. Files are written
//! to a temporary name and renamed, never written in place, so a reader
//! never sees half a file and a mapped file never changes.

pub(crate) mod artifact;
pub(crate) mod checked;

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::guest;

/// Creates `dir` (owner-only) if missing; refuses one that is not this
/// user's own or that others may write to.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    let error = |source| Error::Cache { path: dir.to_owned(), source };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if !dir.exists() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(error)?;
        }
        let meta = fs::metadata(dir).map_err(error)?;
        // The process's user is the owner of a file it creates (std has no
        // `geteuid`, and calling libc would take `unsafe`).
        let probe = dir.join(format!(".owner-{}-{}", std::process::id(), unique_suffix()));
        fs::write(&probe, b"").map_err(error)?;
        let me = fs::metadata(&probe).map(|m| m.uid());
        let _ = fs::remove_file(&probe);
        let me = me.map_err(error)?;
        if meta.uid() != me {
            return Err(error(std::io::Error::other("it belongs to another user")));
        }
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(error(std::io::Error::other(
                "others may write to it (its files are loaded as native code): make it owner-only, `chmod go-w`",
            )));
        }
    }
    #[cfg(not(unix))]
    fs::create_dir_all(dir).map_err(error)?;
    Ok(())
}

/// Removes the cache folders of other guests (other versions of isolate):
/// each holds hundreds of megabytes.
pub(crate) fn remove_other_guests(cache_root: &Path) {
    let Ok(entries) = fs::read_dir(cache_root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_guest_dir = name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if is_guest_dir && name != guest::GUEST_HASH && entry.path().is_dir() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes the files of `dir` named `prefix…` but for those in `keep`: the
/// driver code and template of other versions of the driver.
pub(crate) fn remove_other_files(dir: &Path, prefix: &str, keep: &[&Path]) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with(prefix) && !keep.contains(&path.as_path()) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// Has `write` fill a temporary file beside `path`, then renames it.
pub(crate) fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().expect("cache files live in a folder");
    fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".tmp-{}-{}", std::process::id(), unique_suffix()));
    let written = private_file(&temporary)
        .and_then(|mut file| write(&mut file).and_then(|()| file.sync_all()))
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// A new file only its owner may read and write.
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Distinguishes temporary files of threads of one process.
pub(crate) fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
