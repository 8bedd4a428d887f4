//! The per-process runtime: the engine, the compiled guest, and defaults.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use crate::error::{Error, Result};
use crate::guest::GuestPre;
use crate::interpreter::{HostState, Interpreter, InterpreterBuilder, InterpreterId};
use crate::{artifact_cache, guest, stdlib};

/// The environment variable that overrides the default cache folder.
pub const CACHE_DIR_ENV: &str = "ISOLATE_CACHE_DIR";

/// Everything interpreters share: the wasmtime engine, the compiled and
/// pre-linked guest, and the unpacked stdlib.
///
/// **Cost:** building one is expensive — the first time on a machine it
/// compiles the 19 MB guest (seconds) and unpacks the stdlib; after that it
/// loads both from the cache folder (tens of milliseconds). Build one per
/// process and clone it: a clone is a reference count.
///
/// `Runtime` is `Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    pre: GuestPre<HostState>,
    stdlib: PathBuf,
    next_id: AtomicU64,
}

impl Runtime {
    /// A runtime with the default settings: see [`RuntimeBuilder`].
    pub fn new() -> Result<Self> {
        RuntimeBuilder::new().build()
    }

    /// A builder to configure the runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    /// Creates an interpreter with the default settings: see
    /// [`InterpreterBuilder`].
    pub fn create_interpreter(&self) -> Result<Interpreter> {
        self.interpreter().build()
    }

    /// A builder to configure and create an interpreter.
    pub fn interpreter(&self) -> InterpreterBuilder {
        InterpreterBuilder::new(self.clone())
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn pre(&self) -> &GuestPre<HostState> {
        &self.inner.pre
    }

    pub(crate) fn stdlib_dir(&self) -> &Path {
        &self.inner.stdlib
    }

    pub(crate) fn next_interpreter_id(&self) -> InterpreterId {
        InterpreterId(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("stdlib", &self.inner.stdlib).finish_non_exhaustive()
    }
}

/// Configures a [`Runtime`].
///
/// By default the cache folder is `$ISOLATE_CACHE_DIR` if set, else the
/// user's cache folder (`~/.cache/isolate` on Linux,
/// `~/Library/Caches/isolate` on macOS), else `isolate-cache` in the
/// temporary folder.
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    cache_dir: Option<PathBuf>,
}

impl RuntimeBuilder {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the compiled guest and the unpacked stdlib under `dir`.
    ///
    /// Everything in it can be deleted at any time: what is missing is
    /// rebuilt on the next start.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Builds the runtime: compiles or loads the guest and links it.
    pub fn build(self) -> Result<Runtime> {
        let cache_root = self.cache_dir.unwrap_or_else(default_cache_dir);
        let guest_dir = cache_root.join(guest::GUEST_HASH);

        // The stdlib first: an unusable cache folder fails here, at once,
        // rather than after seconds of compiling.
        let stdlib = stdlib::ensure_unpacked(&guest_dir)?;
        let engine = Engine::new(&engine_config()).map_err(Error::engine)?;
        let component = artifact_cache::load_or_compile(&engine, Some(&guest_dir))?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(Error::engine)?;
        let pre = linker.instantiate_pre(&component).map_err(Error::engine)?;
        let pre = GuestPre::new(pre).map_err(Error::engine)?;

        Ok(Runtime {
            inner: Arc::new(Inner { engine, pre, stdlib, next_id: AtomicU64::new(1) }),
        })
    }
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config
}

/// `$ISOLATE_CACHE_DIR`, else the user's cache folder, else the temporary one.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    match dirs::cache_dir() {
        Some(dir) => dir.join("isolate"),
        None => std::env::temp_dir().join("isolate-cache"),
    }
}
