//! The compiled guest, cached on disk so that a process start does not
//! recompile it (Cranelift takes ~4 s on the 19 MB component).
//!
//! A cache file is `<cache>/<guest hash>/guest-<engine hash>.cwasm`: another
//! guest or another engine configuration never reads it. Its layout is
//! [`MAGIC`], the xxh3-128 of the payload, then wasmtime's serialized
//! component. A file that is short, has another magic, fails its checksum or
//! is refused by wasmtime is recompiled and replaced, so a stale or corrupt
//! cache costs one compilation and nothing else. Files are written to a
//! temporary name and renamed, so a reader never sees half a file.

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

const MAGIC: &[u8; 8] = b"isolate1";
const HEADER_LEN: usize = MAGIC.len() + 16;

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

fn load(engine: &Engine, path: &Path) -> Option<Component> {
    let file = fs::read(path).ok()?;
    if file.len() < HEADER_LEN || &file[..MAGIC.len()] != MAGIC {
        return None;
    }
    let (checksum, payload) = file[MAGIC.len()..].split_at(16);
    if checksum != xxh3_128(payload).to_le_bytes() {
        return None;
    }
    // SAFETY: `Component::deserialize` trusts its input to be a component
    // that wasmtime serialized. The payload is exactly what `store` wrote
    // from `Component::serialize`: the checksum rules out truncation and
    // corruption on disk, and wasmtime itself rejects (with an error, not
    // undefined behaviour) an artifact from another version or another
    // configuration. The cache folder is the user's own, as trusted as the
    // binary: whoever can write to it can replace the binary too.
    unsafe { Component::deserialize(engine, payload) }.ok()
}

fn compile(engine: &Engine) -> Result<Component> {
    let wasm = zstd::decode_all(guest::COMPONENT_ZST).map_err(Error::engine)?;
    Component::new(engine, wasm).map_err(Error::engine)
}

fn store(component: &Component, path: &Path) -> std::io::Result<()> {
    let payload = component.serialize().map_err(std::io::Error::other)?;
    let dir = path.parent().expect("cache files live in a folder");
    fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".tmp-{}-{}", std::process::id(), unique_suffix()));
    let mut file = fs::File::create(&temporary)?;
    let written = file
        .write_all(MAGIC)
        .and_then(|()| file.write_all(&xxh3_128(&payload).to_le_bytes()))
        .and_then(|()| file.write_all(&payload))
        .and_then(|()| file.sync_all())
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
