//! `isolate_wasm.Snapshot`: an interpreter's state, kept in memory or in a
//! file, that new interpreters start from.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::errors;

/// The state of an idle interpreter (what it imported and defined), from
/// `Interpreter.snapshot()` or `Snapshot.load(path)`; `create(snapshot=...)`
/// starts an interpreter from it.
#[pyclass(module = "isolate_wasm", name = "Snapshot", frozen)]
pub(crate) struct Snapshot {
    pub(crate) inner: isolate::Snapshot,
}

#[pymethods]
impl Snapshot {
    /// Reads a snapshot that `save` wrote (in this or another process),
    /// checking it whole.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Snapshot> {
        let loaded = py.detach(|| isolate::Snapshot::load(&path));
        Ok(Snapshot { inner: loaded.map_err(|err| errors::to_python(py, err))? })
    }

    /// Writes the snapshot to the file `path`, replacing it whole.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path)).map_err(|err| errors::to_python(py, err))
    }

    /// The size of the interpreter's memory, in bytes.
    #[getter]
    fn memory_size(&self) -> usize {
        self.inner.memory_size()
    }

    fn __repr__(&self) -> String {
        format!("<isolate_wasm.Snapshot of {} MiB>", self.inner.memory_size() >> 20)
    }
}
