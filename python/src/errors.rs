//! isolate's errors as the Python exceptions of `isolate_wasm._errors`.

use isolate::{Error, Limit};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;

/// The exception `isolate_wasm._errors.<name>(*args)`, or, should that
/// module be unusable, a RuntimeError that says so.
fn raised<'py, A: pyo3::call::PyCallArgs<'py>>(py: Python<'py>, name: &str, args: A) -> PyErr {
    let made = py
        .import("isolate_wasm._errors")
        .and_then(|module| module.getattr(name))
        .and_then(|factory| factory.call1(args));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(err) => err,
    }
}

/// An `InterpreterError` with `message`.
pub(crate) fn interpreter_error(message: String) -> PyErr {
    Python::attach(|py| raised(py, "InterpreterError", (message,)))
}

/// A `NotShareableError` with `message`.
pub(crate) fn not_shareable(message: String) -> PyErr {
    Python::attach(|py| raised(py, "NotShareableError", (message,)))
}

/// `err` as the Python exception a user of the package catches.
pub(crate) fn to_python(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::RunFailed(exception) => {
            raised(py, "_execution_failed", (exception.type_name(), exception.message(), exception.traceback()))
        }
        Error::SystemExit { code } => raised(py, "_execution_failed", ("SystemExit", code.to_string(), message)),
        Error::LimitExceeded { limit, .. } => {
            let (kind, amount): (&str, f64) = match limit {
                Limit::Time(limit) => ("time", limit.as_secs_f64()),
                Limit::Memory(limit) => ("memory", limit as f64),
                Limit::Stack(limit) => ("stack", limit as f64),
                Limit::Fuel(limit) => ("fuel", limit as f64),
                Limit::Handles(limit) => ("handles", limit as f64),
                _ => ("other", 0.0),
            };
            raised(py, "_limit_exceeded", (kind, message, amount))
        }
        Error::Cancelled(_) => raised(py, "Cancelled", (message,)),
        Error::Destroyed(_) => raised(py, "InterpreterNotFoundError", (message,)),
        Error::InvalidValue(_) => raised(py, "NotShareableError", (message,)),
        Error::QueueEmpty(_) => raised(py, "QueueEmpty", (message,)),
        Error::QueueFull(_) => raised(py, "QueueFull", (message,)),
        Error::QueueNotFound(_) | Error::ItemInterpreterDestroyed(_) => raised(py, "QueueError", (message,)),
        Error::Timeout => PyTimeoutError::new_err(message),
        Error::Config(_) => PyValueError::new_err(message),
        Error::Grant { ref source, .. } | Error::Snapshot { ref source, .. } | Error::Cache { ref source, .. } => {
            match source.raw_os_error() {
                Some(errno) => PyOSError::new_err((errno, message)),
                None => PyOSError::new_err(message),
            }
        }
        Error::Panicked { .. } => PyRuntimeError::new_err(message),
        _ => raised(py, "InterpreterError", (message,)),
    }
}
