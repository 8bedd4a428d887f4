//! Python objects to isolate's `Value`s and back: what crosses into and
//! out of a sandbox as a copy.

use isolate::{Array, MAX_DEPTH, Value};
use num_bigint::BigInt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple};

use crate::errors;
use crate::queue::Queue;

/// `object` as a value: `None`, `bool`, `int`, `float`, `str`, `bytes`,
/// numpy arrays (with their dtype and shape) and scalars (as the Python
/// values they stand for), other buffers (`bytearray`, `memoryview`,
/// anything with the buffer protocol, as their bytes), and tuples, lists
/// and dicts of those.
pub(crate) fn to_value(object: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at(object, 0)
}

fn to_value_at(object: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(errors::not_shareable(format!("a value nested more than {MAX_DEPTH} deep cannot be shared")));
    }
    if object.is_none() {
        return Ok(Value::None);
    }
    // Before int: bool is one.
    if let Ok(value) = object.cast::<PyBool>() {
        return Ok(Value::Bool(value.is_true()));
    }
    if let Ok(value) = object.cast::<PyInt>() {
        return Ok(match value.extract::<i64>() {
            Ok(small) => Value::from(small),
            Err(_) => Value::Int(value.extract::<BigInt>()?),
        });
    }
    if let Ok(value) = object.cast::<PyFloat>() {
        return Ok(Value::Float(value.value()));
    }
    if let Ok(value) = object.cast::<PyString>() {
        return Ok(Value::Str(value.to_str()?.to_owned()));
    }
    if let Ok(value) = object.cast::<PyBytes>() {
        return Ok(Value::Bytes(value.as_bytes().to_vec()));
    }
    if let Ok(value) = object.cast::<PyTuple>() {
        return Ok(Value::Tuple(value.iter().map(|item| to_value_at(&item, depth + 1)).collect::<PyResult<_>>()?));
    }
    if let Ok(value) = object.cast::<PyList>() {
        return Ok(Value::List(value.iter().map(|item| to_value_at(&item, depth + 1)).collect::<PyResult<_>>()?));
    }
    if let Ok(value) = object.cast::<PyDict>() {
        let items = value
            .iter()
            .map(|(key, value)| Ok((to_value_at(&key, depth + 1)?, to_value_at(&value, depth + 1)?)))
            .collect::<PyResult<_>>()?;
        return Ok(Value::Dict(items));
    }
    if let Ok(queue) = object.cast::<Queue>() {
        return Ok(Value::Queue(queue.get().inner.clone()));
    }
    if let Some(value) = numpy_value(object, depth)? {
        return Ok(value);
    }
    if let Ok(value) = object.cast::<PyByteArray>() {
        return Ok(Value::Buffer(value.to_vec()));
    }
    // Any other buffer (a memoryview, an array.array, a numpy array): its
    // bytes, in C order.
    if let Ok(view) = PyMemoryView::from(object) {
        let bytes = view.call_method0("tobytes")?;
        return Ok(Value::Buffer(bytes.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    let type_name = object.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "?".into());
    Err(errors::not_shareable(format!(
        "an object of type {type_name} cannot be shared: pass None, bool, int, float, str, bytes, a buffer, \
         a Queue, or a tuple, list or dict of those"
    )))
}

/// A numpy array as an `Array`, a numpy scalar as its Python value; `None`
/// for anything not of numpy. An array numpy cannot rebuild from its dtype
/// and bytes (objects, fields) is not shareable: it goes by pickle.
fn numpy_value(object: &Bound<'_, PyAny>, depth: usize) -> PyResult<Option<Value>> {
    let kind = object.get_type();
    if kind.module().is_ok_and(|module| module.to_str().is_ok_and(|module| module == "numpy")) {
        let Some(numpy) = numpy(object.py()) else { return Ok(None) };
        if kind.is(numpy.getattr("ndarray")?) {
            let dtype = object.getattr("dtype")?;
            let plain = dtype.getattr("fields")?.is_none() && dtype.getattr("subdtype")?.is_none();
            let name: String = dtype.getattr("str")?.extract()?;
            let shape: Vec<usize> = object.getattr("shape")?.extract()?;
            let array = if plain {
                let data = object.call_method0("tobytes")?;
                Array::new(name.clone(), shape, data.cast::<PyBytes>()?.as_bytes().to_vec()).ok()
            } else {
                None
            };
            return match array {
                Some(array) => Ok(Some(Value::Array(array))),
                None => Err(errors::not_shareable(format!("a numpy array of dtype {name} cannot be shared"))),
            };
        }
        if object.is_instance(&numpy.getattr("generic")?)? {
            let item = object.call_method0("item")?;
            if !item.get_type().is(&kind) {
                return to_value_at(&item, depth).map(Some);
            }
        }
    }
    Ok(None)
}

/// numpy, if the host program can import it (tried once).
fn numpy(py: Python<'_>) -> Option<&Bound<'_, PyModule>> {
    static NUMPY: PyOnceLock<Option<Py<PyModule>>> = PyOnceLock::new();
    NUMPY.get_or_init(py, || py.import("numpy").ok().map(Bound::unbind)).as_ref().map(|numpy| numpy.bind(py))
}

/// `array` as a numpy array of its own (writable, as any copy is), or
/// where the host has no numpy, as a read-only `memoryview` of its bytes.
fn array_to_python<'py>(py: Python<'py>, array: Array) -> PyResult<Bound<'py, PyAny>> {
    let Some(numpy) = numpy(py) else {
        return to_python(py, Value::Buffer(array.into_data()));
    };
    let shape = PyTuple::new(py, array.shape())?;
    let dtype = array.dtype().to_owned();
    let data = PyByteArray::new(py, &array.into_data());
    numpy.call_method1("frombuffer", (data, dtype))?.call_method1("reshape", (shape,))
}

/// `value` as a Python object: a buffer becomes a read-only `memoryview`
/// of its bytes, an array a numpy array.
pub(crate) fn to_python<'py>(py: Python<'py>, value: Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::None => py.None().into_bound(py),
        Value::Bool(value) => PyBool::new(py, value).to_owned().into_any(),
        Value::Int(value) => value.into_pyobject(py)?.into_any(),
        Value::Float(value) => PyFloat::new(py, value).into_any(),
        Value::Str(value) => PyString::new(py, &value).into_any(),
        Value::Bytes(value) => PyBytes::new(py, &value).into_any(),
        Value::Buffer(value) => PyMemoryView::from(&PyBytes::new(py, &value).into_any())?.into_any(),
        Value::Tuple(items) => {
            PyTuple::new(py, items.into_iter().map(|item| to_python(py, item)).collect::<PyResult<Vec<_>>>()?)?
                .into_any()
        }
        Value::List(items) => {
            PyList::new(py, items.into_iter().map(|item| to_python(py, item)).collect::<PyResult<Vec<_>>>()?)?
                .into_any()
        }
        Value::Dict(items) => {
            let dict = PyDict::new(py);
            for (key, value) in items {
                dict.set_item(to_python(py, key)?, to_python(py, value)?)?;
            }
            dict.into_any()
        }
        Value::Queue(inner) => Bound::new(py, Queue { inner })?.into_any(),
        Value::Array(array) => array_to_python(py, array)?,
        other => {
            return Err(errors::not_shareable(format!(
                "a {} cannot be returned to the host program",
                other.type_name()
            )));
        }
    })
}

/// Whether `object` crosses as a value (else it goes by pickle).
#[pyfunction]
pub(crate) fn is_shareable(object: &Bound<'_, PyAny>) -> bool {
    to_value(object).is_ok()
}
