//! The process's runtimes: one without fuel metering, one with, each built
//! the first time an interpreter needs it (compiling the guest once per
//! cache folder, with a notice on stderr).

use std::path::PathBuf;
use std::sync::OnceLock;

use isolate::Runtime;
use pyo3::prelude::*;

use crate::errors;

/// The variable that names the package's cache folder; without it the
/// package uses the user's cache folder's `isolate-wasm` (never the CLI's
/// `isolate`, nor the unrelated `isolate` package's).
const CACHE_DIR_ENV: &str = "ISOLATE_WASM_CACHE_DIR";

static PLAIN: OnceLock<Runtime> = OnceLock::new();
static METERED: OnceLock<Runtime> = OnceLock::new();
/// The process the runtimes were built in.
static BUILT_IN: OnceLock<u32> = OnceLock::new();

/// Refuses a child of `os.fork()` whose parent had built a runtime: the
/// child has a copy of its memory but not its threads (the engine's, the
/// runs'), so nothing of it can be used there.
pub(crate) fn check_process() -> PyResult<()> {
    match BUILT_IN.get() {
        Some(&pid) if pid != std::process::id() => Err(errors::interpreter_error(
            "isolate_wasm cannot be used in a child of os.fork(): its interpreters and runtime belong to the \
             parent process. Use them in the parent, or start the child with multiprocessing's \"spawn\" or \
             \"forkserver\" method (or fork before the first create())"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// The folder the compiled guest is kept in.
pub(crate) fn cache_folder() -> PyResult<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return Ok(dir.into());
    }
    dirs::cache_dir().map(|dir| dir.join("isolate-wasm")).ok_or_else(|| {
        errors::interpreter_error(format!(
            "no cache folder: this user has no home folder; set {CACHE_DIR_ENV} to a folder of their own"
        ))
    })
}

/// The runtime, metering fuel or not; built (without the GIL) on first use.
pub(crate) fn runtime(py: Python<'_>, fuel: bool) -> PyResult<&'static Runtime> {
    check_process()?;
    let cell = if fuel { &METERED } else { &PLAIN };
    if let Some(runtime) = cell.get() {
        return Ok(runtime);
    }
    let dir = cache_folder()?;
    let built = py.detach(|| Runtime::builder().cache_dir(dir).fuel(fuel).announce_compilation(true).build());
    let built = built.map_err(|err| errors::to_python(py, err))?;
    BUILT_IN.get_or_init(std::process::id);
    // Another thread may have built one meanwhile: either is as good.
    Ok(cell.get_or_init(|| built))
}

/// Compiles the guest into the cache folder now, rather than at the first
/// `create()` (for container images).
#[pyfunction]
#[pyo3(signature = (*, fuel = false))]
pub(crate) fn warmup(py: Python<'_>, fuel: bool) -> PyResult<()> {
    runtime(py, false)?;
    if fuel {
        runtime(py, true)?;
    }
    Ok(())
}

/// The folder the compiled guest is kept in: `$ISOLATE_WASM_CACHE_DIR`, else
/// the user's cache folder's `isolate-wasm`.
#[pyfunction]
pub(crate) fn cache_dir() -> PyResult<PathBuf> {
    cache_folder()
}
