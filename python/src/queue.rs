//! `isolate_wasm.Queue`: PEP 734's cross-interpreter queue, shared by the
//! host program and the interpreters it is passed to.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{errors, runtime, values};

/// A FIFO queue of copies of values, which interpreters share when it is
/// passed to them (`prepare_main(q=queue)`, an argument of `call`). Made by
/// `isolate_wasm.create_queue()`.
#[pyclass(module = "isolate_wasm", name = "Queue", frozen)]
pub(crate) struct Queue {
    pub(crate) inner: isolate::Queue,
}

fn timeout_of(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout
        .map(|seconds| {
            Duration::try_from_secs_f64(seconds)
                .map_err(|_| PyValueError::new_err(format!("timeout={seconds}: expected a non-negative number")))
        })
        .transpose()
}

/// How long a blocking wait goes without the GIL before it checks for
/// Ctrl-C (Python runs signal handlers only while it holds the GIL).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Waits with `wait(slice)` in slices of at most [`SIGNAL_CHECK`], until it
/// gives something other than a timeout (`timed_out`), or until `timeout`,
/// checking for signals between slices: Ctrl-C (or any signal handler's
/// exception) ends the wait with that exception.
fn interruptible<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut wait: impl FnMut(Duration) -> isolate::Result<T> + Send,
    timed_out: fn(&isolate::Error) -> bool,
) -> PyResult<isolate::Result<T>> {
    let deadline = timeout.map(|timeout| std::time::Instant::now() + timeout);
    loop {
        let slice = match deadline {
            Some(deadline) => deadline.saturating_duration_since(std::time::Instant::now()).min(SIGNAL_CHECK),
            None => SIGNAL_CHECK,
        };
        let outcome = py.detach(|| wait(slice));
        let expired = deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline);
        match outcome {
            Err(err) if !expired && timed_out(&err) => py.check_signals()?,
            other => return Ok(other),
        }
    }
}

#[pymethods]
impl Queue {
    /// The queue's id, unique in this process.
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id().as_u64()
    }

    /// The most items it holds; 0 for no bound.
    #[getter]
    fn maxsize(&self) -> usize {
        self.inner.maxsize()
    }

    /// How many items it holds now.
    fn qsize(&self) -> usize {
        self.inner.len()
    }

    /// Whether it holds no item now.
    fn empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether it is bounded and full now.
    fn full(&self) -> bool {
        self.inner.is_full()
    }

    /// Adds a copy of `obj` at the end, waiting (without the GIL) while the
    /// queue is full, at most `timeout` seconds (then `QueueFull`).
    #[pyo3(signature = (obj, block = true, timeout = None))]
    fn put(&self, py: Python<'_>, obj: &Bound<'_, PyAny>, block: bool, timeout: Option<f64>) -> PyResult<()> {
        runtime::check_process()?;
        let value = values::to_value(obj)?;
        let timeout = timeout_of(timeout)?;
        let queue = &self.inner;
        let done = match (block, timeout) {
            (false, _) => py.detach(|| queue.try_put(value)),
            (true, timeout) => {
                let full = |err: &isolate::Error| matches!(err, isolate::Error::QueueFull(_));
                interruptible(py, timeout, |slice| queue.put_timeout(value.clone(), slice), full)?
            }
        };
        done.map_err(|err| errors::to_python(py, err))
    }

    /// `put(obj, block=False)`.
    fn put_nowait(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        self.put(py, obj, false, None)
    }

    /// Removes and returns the first item, waiting (without the GIL) while
    /// the queue is empty, at most `timeout` seconds (then `QueueEmpty`).
    #[pyo3(signature = (block = true, timeout = None))]
    fn get<'py>(&self, py: Python<'py>, block: bool, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        runtime::check_process()?;
        let timeout = timeout_of(timeout)?;
        let queue = &self.inner;
        let got = match (block, timeout) {
            (false, _) => {
                py.detach(|| queue.try_get().and_then(|item| item.ok_or(isolate::Error::QueueEmpty(queue.id()))))
            }
            (true, timeout) => {
                let empty = |err: &isolate::Error| matches!(err, isolate::Error::QueueEmpty(_));
                interruptible(py, timeout, |slice| queue.get_timeout(slice), empty)?
            }
        };
        let value = got.map_err(|err| errors::to_python(py, err))?;
        values::to_python(py, value)
    }

    /// `get(block=False)`.
    fn get_nowait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.get(py, false, None)
    }

    fn __repr__(&self) -> String {
        format!("isolate_wasm.Queue(id={}, maxsize={})", self.inner.id().as_u64(), self.inner.maxsize())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Queue>().is_ok_and(|other| other.get().inner.id() == self.inner.id())
    }

    fn __hash__(&self) -> u64 {
        self.inner.id().as_u64()
    }
}

/// A new queue holding at most `maxsize` items (0: no bound), in the
/// runtime that interpreters made without `fuel=` share.
#[pyfunction]
#[pyo3(signature = (maxsize = 0))]
pub(crate) fn create_queue(py: Python<'_>, maxsize: usize) -> PyResult<Queue> {
    Ok(Queue { inner: runtime::runtime(py, false)?.create_queue(maxsize) })
}
