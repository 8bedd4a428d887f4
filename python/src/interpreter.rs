//! `isolate_wasm._native.Interpreter`: one sandboxed interpreter, the
//! native half of `isolate_wasm.Interpreter`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use isolate::{CancelHandle, DirAccess, Output, Value};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::output::{PythonWriter, Target};
use crate::snapshot::Snapshot;
use crate::{errors, interrupt, runtime, values};

/// An interpreter in a sandbox of its own. Every run releases the GIL, so
/// that other host threads (and other interpreters) run meanwhile.
#[pyclass(module = "isolate_wasm._native", frozen)]
pub(crate) struct Interpreter {
    /// `None` once closed. Runs hold a clone of the `Arc`, so closing
    /// while one is going on is refused, never done under it.
    inner: RwLock<Option<Arc<isolate::Interpreter>>>,
    cancel: CancelHandle,
    id: isolate::InterpreterId,
}

impl Interpreter {
    fn new(interp: isolate::Interpreter) -> Self {
        Self { cancel: interp.cancel_handle(), id: interp.id(), inner: RwLock::new(Some(Arc::new(interp))) }
    }

    fn live(&self) -> PyResult<Arc<isolate::Interpreter>> {
        runtime::check_process()?;
        let inner = self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.clone().ok_or_else(|| Python::attach(|py| errors::to_python(py, isolate::Error::Destroyed(self.id))))
    }

    /// Runs `work` on the live interpreter without the GIL.
    fn without_gil<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&isolate::Interpreter) -> isolate::Result<T> + Send,
    ) -> PyResult<T> {
        let interp = self.live()?;
        let waiting = interrupt::Waiting::new(py, &self.cancel);
        let result = py.detach(|| work(&interp));
        drop(waiting);
        result.or_else(|err| {
            if matches!(err, isolate::Error::Cancelled(_)) {
                // Cancelled by Ctrl-C: the KeyboardInterrupt it raises.
                py.check_signals()?;
            }
            Err(errors::to_python(py, err))
        })
    }
}

#[pymethods]
impl Interpreter {
    /// The interpreter's id, unique in this process.
    #[getter]
    fn id(&self) -> u64 {
        self.id.as_u64()
    }

    /// Runs source code in the interpreter's `__main__`.
    fn exec(&self, py: Python<'_>, code: &str) -> PyResult<()> {
        self.without_gil(py, |interp| interp.run(code))
    }

    /// The value of one expression evaluated in `__main__`, copied out.
    fn eval<'py>(&self, py: Python<'py>, expression: &str) -> PyResult<Bound<'py, PyAny>> {
        let value = self.without_gil(py, |interp| interp.eval(expression))?;
        values::to_python(py, value)
    }

    /// Calls the callable at a dotted name in `__main__` with copies of
    /// `args` and `kwargs`, and returns a copy of its result.
    #[pyo3(signature = (name, args, kwargs = None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = args.iter().map(|arg| values::to_value(&arg)).collect::<PyResult<Vec<_>>>()?;
        let kwargs = keywords(kwargs)?;
        let value = self.without_gil(py, |interp| interp.call_with(name, &args, kwargs))?;
        values::to_python(py, value)
    }

    /// Binds names in `__main__` to copies of the given values.
    fn prepare_main(&self, py: Python<'_>, names: &Bound<'_, PyDict>) -> PyResult<()> {
        let bindings = keywords(Some(names))?;
        self.without_gil(py, |interp| interp.run_with("", bindings))
    }

    /// A copy of this idle interpreter, in a sandbox of its own.
    fn fork(&self, py: Python<'_>) -> PyResult<Interpreter> {
        self.without_gil(py, |interp| interp.fork()).map(Interpreter::new)
    }

    /// The state of this idle interpreter, for new interpreters to start
    /// from.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        self.without_gil(py, |interp| interp.snapshot()).map(|inner| Snapshot { inner })
    }

    /// Whether a run is going on.
    fn is_running(&self) -> PyResult<bool> {
        Ok(self.live()?.is_running())
    }

    /// Stops the run going on (it raises `Cancelled`), from any thread.
    /// True if this call cancelled it.
    fn cancel(&self) -> bool {
        self.cancel.cancel()
    }

    /// What the interpreter wrote to a captured stdout since the last call.
    fn take_stdout(&self) -> PyResult<String> {
        Ok(self.live()?.take_stdout().text())
    }

    /// What the interpreter wrote to a captured stderr since the last call.
    fn take_stderr(&self) -> PyResult<String> {
        Ok(self.live()?.take_stderr().text())
    }

    /// Whether the interpreter was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.read().map(|inner| inner.is_none()).unwrap_or(true)
    }

    /// Destroys the interpreter and frees its memory; again does nothing.
    /// Refused while it runs.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let closed = {
            let mut inner = self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(interp) = inner.as_ref()
                && (Arc::strong_count(interp) > 1 || interp.is_running())
            {
                return Err(errors::interpreter_error(format!(
                    "interpreter {} is running and cannot be closed",
                    self.id
                )));
            }
            inner.take()
        };
        // Destroying it (its store, its memory's reset) takes tens of µs:
        // other threads run meanwhile.
        py.detach(|| drop(closed));
        Ok(())
    }
}

/// Keyword arguments as names and values.
fn keywords(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, Value)>> {
    let Some(kwargs) = kwargs else { return Ok(Vec::new()) };
    kwargs
        .iter()
        .map(|(key, value)| {
            let key = key.cast::<PyString>().map_err(|_| PyTypeError::new_err("keywords must be strings"))?;
            Ok((key.to_str()?.to_owned(), values::to_value(&value)?))
        })
        .collect()
}

/// Where a stream goes: `"host"` (the host's `sys.stdout`/`sys.stderr`),
/// `"capture"`, `"discard"`, or a callable given text.
fn output(spec: &Bound<'_, PyAny>, stream: &'static str) -> PyResult<Output> {
    if let Ok(name) = spec.cast::<PyString>() {
        return match name.to_str()? {
            "host" => Ok(Output::writer(PythonWriter::new(Target::Sys(stream)))),
            "capture" => Ok(Output::capture()),
            "discard" => Ok(Output::discard()),
            other => Err(PyValueError::new_err(format!(
                "{stream}={other:?}: expected \"host\", \"capture\", \"discard\" or a callable"
            ))),
        };
    }
    if spec.is_callable() {
        return Ok(Output::writer(PythonWriter::new(Target::Callable(spec.clone().unbind()))));
    }
    Err(PyTypeError::new_err(format!("{stream}: expected \"host\", \"capture\", \"discard\" or a callable")))
}

/// A host function the sandbox calls by name: `f(*args)` with copies of
/// its arguments; what it raises reaches the sandbox as the call's error.
fn host_function(function: Py<PyAny>) -> impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static {
    move |args: &[Value]| {
        Python::attach(|py| {
            // A ToolError's message alone; another exception's type too.
            let describe = |err: PyErr| {
                let tool_error = py.import("isolate_wasm._errors").and_then(|errors| errors.getattr("ToolError"));
                if tool_error.is_ok_and(|tool_error| err.value(py).is_instance(&tool_error).unwrap_or(false)) {
                    return err.value(py).to_string();
                }
                let type_name =
                    err.get_type(py).qualname().map(|name| name.to_string()).unwrap_or_else(|_| "Exception".into());
                format!("{type_name}: {}", err.value(py))
            };
            let args = args
                .iter()
                .map(|arg| values::to_python(py, arg.clone()))
                .collect::<PyResult<Vec<_>>>()
                .map_err(describe)?;
            let args = PyTuple::new(py, args).map_err(describe)?;
            let result = function.call1(py, args).map_err(describe)?;
            values::to_value(result.bind(py)).map_err(describe)
        })
    }
}

/// A new interpreter in a sandbox of its own: see `isolate_wasm.create`,
/// which checks and converts what users pass before calling this.
#[pyfunction]
#[pyo3(signature = (*, memory, timeout, fuel, dirs, path, env, stdin, workdir, tmp_size, max_interpreters,
                    max_handles, stdout, stderr, functions, snapshot))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn create(
    py: Python<'_>,
    memory: Option<usize>,
    timeout: Option<f64>,
    fuel: Option<u64>,
    dirs: Vec<(String, String, bool)>,
    path: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    workdir: Option<String>,
    tmp_size: Option<usize>,
    max_interpreters: Option<usize>,
    max_handles: Option<usize>,
    stdout: &Bound<'_, PyAny>,
    stderr: &Bound<'_, PyAny>,
    functions: Vec<(String, Py<PyAny>)>,
    snapshot: Option<PyRef<'_, Snapshot>>,
) -> PyResult<Interpreter> {
    let runtime = runtime::runtime(py, fuel.is_some())?;
    let mut builder = runtime.interpreter().stdout(output(stdout, "stdout")?).stderr(output(stderr, "stderr")?);
    if let Some(bytes) = memory {
        builder = builder.memory_limit(bytes);
    }
    if let Some(seconds) = timeout {
        let timeout = Duration::try_from_secs_f64(seconds)
            .map_err(|_| PyValueError::new_err(format!("timeout={seconds}: expected a positive number of seconds")))?;
        builder = builder.timeout(timeout);
    }
    if let Some(fuel) = fuel {
        builder = builder.fuel(fuel);
    }
    for (host, guest, readonly) in dirs {
        let access = if readonly { DirAccess::ReadOnly } else { DirAccess::ReadWrite };
        builder = builder.preopened_dir(host, guest, access);
    }
    for folder in path {
        builder = builder.module_path(folder);
    }
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    if let Some(bytes) = stdin {
        builder = builder.stdin(bytes);
    }
    if let Some(dir) = workdir {
        builder = builder.working_dir(dir);
    }
    if let Some(bytes) = tmp_size {
        builder = builder.tmp_size(bytes);
    }
    if let Some(count) = max_interpreters {
        builder = builder.max_interpreters(count);
    }
    if let Some(count) = max_handles {
        builder = builder.max_handles(count);
    }
    if let Some(snapshot) = &snapshot {
        builder = builder.snapshot(&snapshot.inner);
    }
    for (name, function) in functions {
        builder = builder.function(name, host_function(function));
    }
    let interp = py.detach(|| builder.build()).map_err(|err| errors::to_python(py, err))?;
    Ok(Interpreter::new(interp))
}
