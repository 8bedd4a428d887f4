//! `isolate_wasm._native`: the isolate crate for Python programs.
//!
//! The Python half (`isolate_wasm/`) parses what users write (sizes such
//! as `"256M"`, `Dir` grants) and holds the exception classes; this half
//! holds the runtime, the interpreters and the conversion of values, and
//! releases the GIL whenever a sandbox runs.

mod errors;
mod interpreter;
mod interrupt;
mod output;
mod queue;
mod runtime;
mod snapshot;
mod values;

use pyo3::prelude::*;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<interpreter::Interpreter>()?;
    module.add_class::<queue::Queue>()?;
    module.add_class::<snapshot::Snapshot>()?;
    module.add_function(wrap_pyfunction!(queue::create_queue, module)?)?;
    module.add_function(wrap_pyfunction!(interpreter::create, module)?)?;
    module.add_function(wrap_pyfunction!(runtime::warmup, module)?)?;
    module.add_function(wrap_pyfunction!(values::is_shareable, module)?)?;
    module.add_function(wrap_pyfunction!(runtime::cache_dir, module)?)?;
    module.add("PYTHON_VERSION", isolate::PYTHON_VERSION)?;
    Ok(())
}
