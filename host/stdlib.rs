//! The guest's standard library on disk, served read-only at `/python`.
//!
//! It is embedded in the binary and unpacked once into
//! `<cache>/<guest hash>/stdlib/`: unpacked under a temporary name, marked
//! complete, then renamed, so a folder that exists is whole. An unpacking
//! interrupted half-way leaves only a temporary folder, which the next start
//! ignores.

use std::fs;
use std::path::{Path, PathBuf};

use crate::artifact_cache::unique_suffix;
use crate::error::{Error, Result};
use crate::guest;

/// Written last into a finished folder.
const COMPLETE_MARKER: &str = ".isolate-complete";

/// Returns the unpacked stdlib under `dir`, unpacking it first if needed.
pub(crate) fn ensure_unpacked(dir: &Path) -> Result<PathBuf> {
    let stdlib = dir.join("stdlib");
    if stdlib.join(COMPLETE_MARKER).exists() {
        return Ok(stdlib);
    }
    let cache_error = |source| Error::Cache { path: dir.to_owned(), source };
    fs::create_dir_all(dir).map_err(cache_error)?;
    let temporary = dir.join(format!(".stdlib-tmp-{}-{}", std::process::id(), unique_suffix()));
    let unpacked = unpack(&temporary).and_then(|()| {
        if stdlib.exists() && !stdlib.join(COMPLETE_MARKER).exists() {
            // Left by something other than this code; replace it.
            fs::remove_dir_all(&stdlib)?;
        }
        fs::rename(&temporary, &stdlib)
    });
    if unpacked.is_err() {
        let _ = fs::remove_dir_all(&temporary);
    }
    match unpacked {
        Ok(()) => Ok(stdlib),
        // Another process or thread finished first: its copy is as good.
        Err(_) if stdlib.join(COMPLETE_MARKER).exists() => Ok(stdlib),
        Err(source) => Err(cache_error(source)),
    }
}

fn unpack(into: &Path) -> std::io::Result<()> {
    let decoder = zstd::Decoder::new(guest::STDLIB_ZST)?;
    tar::Archive::new(decoder).unpack(into)?;
    fs::write(into.join(COMPLETE_MARKER), guest::GUEST_HASH)
}
