"""numpy arrays and scalars across the boundary: out as numpy arrays with
their dtype and shape (or as their bytes where the host has no numpy), in
as numpy arrays of the sandbox's own."""

import subprocess
import sys
import textwrap

import pytest

import isolate_wasm as iso

np = pytest.importorskip("numpy")


@pytest.fixture
def npinterp(interp):
    interp.exec("import numpy as np")
    return interp


def test_an_array_comes_out_as_a_numpy_array(npinterp):
    out = npinterp.eval("np.arange(12, dtype=np.float32).reshape(3, 4).T")
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.arange(12, dtype=np.float32).reshape(3, 4).T)
    # A copy of its own: writable, and nothing the sandbox still holds.
    out[0, 0] = 99
    assert npinterp.eval("float(np.arange(12).reshape(3, 4).T[0, 0])") == 0.0


@pytest.mark.parametrize(
    "expression, dtype, shape",
    [
        ("np.array(2.5)", "float64", ()),
        ("np.zeros((0, 3))", "float64", (0, 3)),
        ("np.array([True, False])", "bool", (2,)),
        ("np.array(['ab', 'c'])", "<U2", (2,)),
        ("np.array([b'x'])", "|S1", (1,)),
        ("np.array([1, 2], dtype='datetime64[s]')", "datetime64[s]", (2,)),
        ("np.array([1 + 2j], dtype=np.complex64)", "complex64", (1,)),
        ("np.arange(4, dtype='>i2')", ">i2", (4,)),
    ],
)
def test_dtypes_and_shapes_survive(npinterp, expression, dtype, shape):
    out = npinterp.eval(expression)
    assert out.dtype == np.dtype(dtype) and out.shape == shape
    np.testing.assert_array_equal(out, eval(expression, {"np": np}))


def test_numpy_scalars_come_out_as_python_values(npinterp):
    total = npinterp.eval("np.arange(4).sum()")
    assert total == 6 and type(total) is int
    assert type(npinterp.eval("np.float32(0.5)")) is float
    assert npinterp.eval("np.bool_(True)") is True
    assert npinterp.eval("[np.int8(3), {'m': np.float64(1.5)}]") == [3, {"m": 1.5}]


def test_an_array_goes_in_as_a_numpy_array(npinterp):
    npinterp.exec("def describe(a):\n    return (type(a).__name__, a.dtype.str, a.shape, float(a.sum()), a.flags.writeable)")
    matrix = np.arange(6, dtype="<f8").reshape(2, 3)
    assert npinterp.call("describe", matrix) == ("ndarray", "<f8", (2, 3), 15.0, True)
    assert npinterp.call("describe", matrix.T) == ("ndarray", "<f8", (3, 2), 15.0, True)
    npinterp.prepare_main(weights=np.ones(3, dtype=np.int16))
    assert npinterp.eval("weights.dtype.str, int(weights.sum())") == ("<i2", 3)
    # numpy scalars go in as the Python values they stand for.
    npinterp.exec("def kind(x):\n    return type(x).__name__")
    assert [npinterp.call("kind", x) for x in (np.int64(3), np.float32(1), np.bool_(False))] == ["int", "float", "bool"]


def test_arrays_numpy_cannot_rebuild_go_by_pickle(npinterp):
    records = np.zeros(2, dtype=[("x", "<f8"), ("y", "<i4")])
    npinterp.exec("def fields(a):\n    return a.dtype.names")
    assert npinterp.call("fields", records) == ("x", "y")
    with pytest.raises(iso.NotShareableError, match="dtype object"):
        npinterp.eval("np.array([object()])")


def test_without_numpy_on_the_host_an_array_is_its_bytes(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["numpy"] = None  # as if it were not installed
        import isolate_wasm as iso
        with iso.create() as interp:
            out = interp.eval("__import__('numpy').arange(3, dtype='<i4')")
        print(type(out).__name__, out.tobytes() == bytes([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["memoryview", "True"]
