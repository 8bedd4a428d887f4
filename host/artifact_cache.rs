//! The compiled guest, cached on disk so that a process start does not
//! recompile it (Cranelift takes ~45 s on two cores for the 104 MB module).
//!
//! A cache file is `<cache>/<guest hash>/guest-<engine hash>.cwasm`: another
//! guest or another engine configuration never reads it. Only the current
//! guest's folder is kept: each holds about 300 MB per engine
//! configuration. The cache folder must be this user's own and writable by
//! no one else (checked on Unix): its files are loaded as native code. It
//! holds exactly wasmtime's serialized module, so that it can be memory-mapped rather
//! than read and copied (a warm start spent 45 of its 55 ms loading the
//! 33 MB artifact that way). Beside it, `….cwasm.sum` holds [`MAGIC`], the
//! artifact's length and its xxh3-128, and the identity of the file it was
//! last checked against (size, modification time, inode): a file with that
//! identity was checked already and is not hashed again (hashing the 280 MB
//! artifact took 60 of a warm start's 140 ms). A file written, replaced or
//! copied since has another identity, and is hashed. An artifact whose sum is missing or
//! wrong, or that wasmtime refuses, is recompiled and replaced, so a stale
//! or corrupt cache costs one compilation and nothing else. Files are
//! written to a temporary name and renamed, never written in place, so a
//! reader never sees half a file and a mapped file never changes.

#![allow(unsafe_code)]

use std::fs;
use std::hash::Hash;
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::error::{Error, Result};
use crate::guest;

const MAGIC: &[u8; 8] = b"isolate3";
const SUM_LEN: usize = MAGIC.len() + 8 + 16 + IDENTITY_LEN;
pub(crate) const IDENTITY_LEN: usize = 8 + 16 + 8;

/// Loads the compiled guest from `dir`, or compiles it and stores it there;
/// with `announce`, says so on stderr when it compiles.
pub(crate) fn load_or_compile(engine: &Engine, dir: &Path, announce: bool) -> Result<Module> {
    let path = cache_file(engine, dir);
    if let Some(module) = load(engine, &path) {
        return Ok(module);
    }
    if announce {
        eprintln!(
            "isolate: compiling the Python guest for this machine, once (about a minute); it is cached in {}",
            dir.display()
        );
    }
    let started = std::time::Instant::now();
    let module = compile(engine)?;
    // A cache that cannot be written only costs the next start a compile.
    let _ = store(&module, &path);
    if announce {
        eprintln!("isolate: compiled in {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(module)
}

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

fn cache_file(engine: &Engine, dir: &Path) -> PathBuf {
    let mut hasher = Xxh3::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("guest-{:016x}.cwasm", std::hash::Hasher::finish(&hasher)))
}

fn sum_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sum");
    name.into()
}

/// The sum of `artifact`: magic, length, hash (without the identity).
fn sum_of(artifact: &[u8]) -> Vec<u8> {
    let mut sum = Vec::with_capacity(SUM_LEN);
    sum.extend_from_slice(MAGIC);
    sum.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    sum.extend_from_slice(&xxh3_128(artifact).to_le_bytes());
    sum
}

/// What tells a file apart from one written or copied since: its size,
/// modification time and inode.
pub(crate) fn identity(meta: &fs::Metadata) -> [u8; IDENTITY_LEN] {
    let mut identity = [0; IDENTITY_LEN];
    identity[..8].copy_from_slice(&meta.len().to_le_bytes());
    let modified = meta.modified().ok().and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok());
    identity[8..24].copy_from_slice(&modified.map_or(0, |time| time.as_nanos()).to_le_bytes());
    #[cfg(unix)]
    identity[24..].copy_from_slice(&std::os::unix::fs::MetadataExt::ino(meta).to_le_bytes());
    identity
}

fn load(engine: &Engine, path: &Path) -> Option<Module> {
    let recorded = fs::read(sum_file(path)).ok()?;
    // A sum without an identity (never checked since written) is checked.
    let (expected, checked_identity) = match recorded.len() {
        SUM_LEN => recorded.split_at(SUM_LEN - IDENTITY_LEN),
        len if len == SUM_LEN - IDENTITY_LEN => (&recorded[..], &[][..]),
        _ => return None,
    };
    let file = fs::File::open(path).ok()?;
    let current = identity(&file.metadata().ok()?);
    if current != checked_identity {
        // SAFETY: a mapped file must not change while it is mapped. Cache
        // files are only ever replaced by rename, never written in place,
        // by this module; the folder is the user's own, as trusted as the
        // binary. `populate` reads it in at once: the hash touches every
        // page.
        let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
        if sum_of(&mapped) != expected {
            return None;
        }
        drop(mapped);
        // Checked: the next start need not hash it again.
        let _ = write_atomically(&sum_file(path), &[expected, &current[..]].concat());
    }
    // SAFETY: `Module::deserialize_file` trusts the file to be a module
    // that wasmtime serialized, and maps it (the same rule as above
    // applies). It is exactly what `store` wrote from `Module::serialize`:
    // the sum rules out truncation and corruption on disk, the folder is
    // this user's own and no one else's to write (`ensure_private_dir`),
    // and wasmtime itself rejects (with an error, not undefined behaviour)
    // an artifact from another version or configuration.
    unsafe { Module::deserialize_file(engine, path) }.ok()
}

fn compile(engine: &Engine) -> Result<Module> {
    let wasm = zstd::decode_all(guest::MODULE_ZST).map_err(Error::engine)?;
    Module::new(engine, wasm).map_err(Error::engine)
}

fn store(module: &Module, path: &Path) -> std::io::Result<()> {
    let artifact = module.serialize().map_err(std::io::Error::other)?;
    // The artifact first: until its new sum is in place, a reader finds the
    // two disagree and recompiles, which is harmless.
    write_atomically(path, &artifact)?;
    let written = identity(&fs::metadata(path)?);
    write_atomically(&sum_file(path), &[&sum_of(&artifact)[..], &written[..]].concat())
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
