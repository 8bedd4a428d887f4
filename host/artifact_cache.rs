//! The compiled guest, cached on disk so that a process start does not
//! recompile it (Cranelift takes ~4 s on the 19 MB component).
//!
//! A cache file is `<cache>/<guest hash>/guest-<engine hash>.cwasm`: another
//! guest or another engine configuration never reads it. It holds exactly
//! wasmtime's serialized component, so that it can be memory-mapped rather
//! than read and copied (a warm start spent 45 of its 55 ms loading the
//! 33 MB artifact that way). Beside it, `….cwasm.sum` holds [`MAGIC`], the
//! artifact's length and its xxh3-128. An artifact whose sum is missing or
//! wrong, or that wasmtime refuses, is recompiled and replaced, so a stale
//! or corrupt cache costs one compilation and nothing else. Files are
//! written to a temporary name and renamed, never written in place, so a
//! reader never sees half a file and a mapped file never changes.

#![allow(unsafe_code)]

use std::fs;
use std::hash::Hash;
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;
use xxhash_rust::xxh3::{Xxh3, xxh3_128};

use crate::error::{Error, Result};
use crate::guest;

const MAGIC: &[u8; 8] = b"isolate2";
const SUM_LEN: usize = MAGIC.len() + 8 + 16;

/// Loads the compiled guest from `dir`, or compiles it and stores it there.
/// With no `dir`, compiles in memory.
pub(crate) fn load_or_compile(engine: &Engine, dir: Option<&Path>) -> Result<Component> {
    let Some(dir) = dir else {
        return compile(engine);
    };
    let path = cache_file(engine, dir);
    if let Some(component) = load(engine, &path) {
        return Ok(component);
    }
    let component = compile(engine)?;
    // A cache that cannot be written only costs the next start a compile.
    let _ = store(&component, &path);
    Ok(component)
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

/// The sum file's contents for `artifact`.
fn sum_of(artifact: &[u8]) -> Vec<u8> {
    let mut sum = Vec::with_capacity(SUM_LEN);
    sum.extend_from_slice(MAGIC);
    sum.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    sum.extend_from_slice(&xxh3_128(artifact).to_le_bytes());
    sum
}

fn load(engine: &Engine, path: &Path) -> Option<Component> {
    let expected = fs::read(sum_file(path)).ok()?;
    let file = fs::File::open(path).ok()?;
    // SAFETY: a mapped file must not change while it is mapped. Cache files
    // are only ever replaced by rename, never written in place, by this
    // module; the folder is the user's own, as trusted as the binary.
    // `populate` reads it in at once: the checksum touches every page.
    let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.ok()?;
    if sum_of(&mapped) != expected {
        return None;
    }
    drop(mapped);
    // SAFETY: `Component::deserialize_file` trusts the file to be a
    // component that wasmtime serialized, and maps it (the same rule as
    // above applies). It is exactly what `store` wrote from
    // `Component::serialize`: the sum rules out truncation and corruption
    // on disk, and wasmtime itself rejects (with an error, not undefined
    // behaviour) an artifact from another version or configuration.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

fn compile(engine: &Engine) -> Result<Component> {
    let wasm = zstd::decode_all(guest::COMPONENT_ZST).map_err(Error::engine)?;
    Component::new(engine, wasm).map_err(Error::engine)
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let artifact = component.serialize().map_err(std::io::Error::other)?;
    // The artifact first: until its new sum is in place, a reader finds the
    // two disagree and recompiles, which is harmless.
    write_atomically(path, &artifact)?;
    write_atomically(&sum_file(path), &sum_of(&artifact))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache files live in a folder");
    fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".tmp-{}-{}", std::process::id(), unique_suffix()));
    let written = fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Distinguishes temporary files of threads of one process.
pub(crate) fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
