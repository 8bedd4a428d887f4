//! The compiled guest, cached on disk so that a process start does not
//! recompile it (Cranelift takes ~45 s on two cores for the 104 MB module).
//!
//! A cache file is `<cache>/<guest hash>/guest-<engine hash>.cwasm`: another
//! guest or another engine configuration never reads it. Only the current
//! guest's folder is kept: each holds about 300 MB per engine
//! configuration. It holds exactly wasmtime's serialized module, so that it
//! can be memory-mapped rather than read and copied (a warm start spent 45
//! of its 55 ms loading the 33 MB artifact that way). Beside it,
//! `….cwasm.sum` is its checked record (`checked.rs`): [`MAGIC`], the
//! artifact's length and its xxh3-128, and the identity of the file last
//! found to match. An artifact whose sum is missing or wrong, or that
//! wasmtime refuses, is recompiled and replaced, so a stale or corrupt
//! cache costs one compilation and nothing else.

#![allow(unsafe_code)]

use std::fs;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use super::checked::{Identity, Record};
use super::write_atomically;
use crate::error::{Error, Result};
use crate::guest;

const MAGIC: &[u8; 8] = b"isolate3";
/// The length of an artifact's sum: magic, length, hash.
const SUM_LEN: usize = MAGIC.len() + 8 + 16;

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

/// The sum of `artifact`: magic, length, hash.
fn sum_of(artifact: &[u8]) -> Vec<u8> {
    let mut sum = Vec::with_capacity(SUM_LEN);
    sum.extend_from_slice(MAGIC);
    sum.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    sum.extend_from_slice(&xxh3_128(artifact).to_le_bytes());
    sum
}

fn load(engine: &Engine, path: &Path) -> Option<Module> {
    let record = Record::read(&sum_file(path), SUM_LEN)?;
    let file = fs::File::open(path).ok()?;
    let current = Identity::of(&file.metadata().ok()?);
    if !record.passed(current) {
        // SAFETY: a mapped file must not change while it is mapped. Cache
        // files are only ever replaced by rename, never written in place,
        // by this module; the folder is the user's own, as trusted as the
        // binary. `populate` reads it in at once: the hash touches every
        // page.
        let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
        if sum_of(&mapped) != record.expected {
            return None;
        }
        drop(mapped);
        // Checked: the next start need not hash it again.
        Record::write(&sum_file(path), &record.expected, current);
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
    Record::write(&sum_file(path), &sum_of(&artifact), Identity::of(&fs::metadata(path)?));
    Ok(())
}
