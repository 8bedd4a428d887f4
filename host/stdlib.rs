//! The guest's files on disk: its stdlib zip, at `/usr/local/lib` in the
//! guest, and matplotlib's data beside it, both read-only.
//!
//! Both are embedded in the binary and written once into
//! `<cache>/<guest hash>/`: written under a temporary name, marked
//! complete, then renamed, so a folder that exists is whole. A writing
//! interrupted half-way leaves only a temporary folder, which the next
//! start ignores.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cache::unique_suffix;
use crate::error::{Error, Result};
use crate::guest;

/// Written last into a finished folder.
const COMPLETE_MARKER: &str = ".isolate-complete";

/// Where the guest's files are on the host.
#[derive(Debug, Clone)]
pub(crate) struct GuestFiles {
    /// Holds the stdlib zip alone; granted at `/usr/local/lib`.
    pub(crate) lib: PathBuf,
    /// matplotlib's data; granted where matplotlib looks for it.
    pub(crate) mpl_data: PathBuf,
    /// matplotlib's configuration folder, with its font list.
    pub(crate) mpl_config: PathBuf,
}

/// The guest's files under `dir`, written first if needed.
pub(crate) fn ensure_written(dir: &Path) -> Result<GuestFiles> {
    let files = GuestFiles {
        lib: ensure(dir, "lib", write_lib)?,
        mpl_data: ensure(dir, "mpl-data", write_mpl_data)?,
        mpl_config: ensure(dir, "mpl-config", write_mpl_config)?,
    };
    Ok(files)
}

fn write_lib(into: &Path) -> std::io::Result<()> {
    fs::create_dir_all(into)?;
    fs::write(into.join(guest::STDLIB_ZIP_NAME), guest::STDLIB_ZIP)
}

fn write_mpl_config(into: &Path) -> std::io::Result<()> {
    fs::create_dir_all(into)?;
    let (name, fontlist) = guest::MPL_FONTLIST;
    fs::write(into.join(name), fontlist)
}

fn write_mpl_data(into: &Path) -> std::io::Result<()> {
    let decoder = zstd::Decoder::new(guest::MPL_DATA_ZST)?;
    tar::Archive::new(decoder).unpack(into)
}

/// `dir/name`, made by `write` unless it is there and complete.
fn ensure(dir: &Path, name: &str, write: fn(&Path) -> std::io::Result<()>) -> Result<PathBuf> {
    let folder = dir.join(name);
    if folder.join(COMPLETE_MARKER).exists() {
        return Ok(folder);
    }
    let cache_error = |source| Error::Cache { path: dir.to_owned(), source };
    fs::create_dir_all(dir).map_err(cache_error)?;
    let temporary = dir.join(format!(".{name}-tmp-{}-{}", std::process::id(), unique_suffix()));
    let written =
        write(&temporary).and_then(|()| fs::write(temporary.join(COMPLETE_MARKER), guest::GUEST_HASH)).and_then(|()| {
            if folder.exists() && !folder.join(COMPLETE_MARKER).exists() {
                // Left by something other than this code; replace it.
                fs::remove_dir_all(&folder)?;
            }
            fs::rename(&temporary, &folder)
        });
    if written.is_err() {
        let _ = fs::remove_dir_all(&temporary);
    }
    match written {
        Ok(()) => Ok(folder),
        // Another process or thread finished first: its copy is as good.
        Err(_) if folder.join(COMPLETE_MARKER).exists() => Ok(folder),
        Err(source) => Err(cache_error(source)),
    }
}
