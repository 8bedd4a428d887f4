//! The scientific stack from Rust: the guest's packages, and what isolate
//! ships for them.

use isolate::{DirAccess, Value};

use crate::{interpreter, runtime, stdout_of};

/// The font list isolate mounts for matplotlib (guest/matplotlib/) is
/// what the guest's matplotlib builds when it has to, but for the order of
/// its fonts: matplotlib finds them through a `set` of file names, whose
/// order follows the hash secret (random, see tests/all/hash_seed.rs).
#[test]
fn the_shipped_font_list_is_what_matplotlib_builds() {
    let scratch = tempfile::tempdir().unwrap();
    let interp = runtime()
        .interpreter()
        .preopened_dir(scratch.path(), "/scratch", DirAccess::ReadWrite)
        .env("MPLCONFIGDIR", "/scratch")
        .build()
        .unwrap();
    interp.run("import matplotlib.font_manager").unwrap();
    let built = std::fs::read_to_string(scratch.path().join("fontlist-v3.11.0.json")).unwrap();
    let shipped = include_str!("../../guest/matplotlib/fontlist-v3.11.0.json");
    let in_any_order = |text: &str| {
        let mut list: serde_json::Value = serde_json::from_str(text).unwrap();
        for fonts in ["afmlist", "ttflist"] {
            list[fonts].as_array_mut().unwrap().sort_by_key(|font| font["fname"].to_string());
        }
        list
    };
    assert_eq!(in_any_order(&built), in_any_order(shipped), "regenerate guest/matplotlib/fontlist-v3.11.0.json");
}

#[test]
fn matplotlib_needs_no_configuration_and_leaves_the_environment_alone() {
    assert_eq!(
        stdout_of(
            "import os, matplotlib, matplotlib.pyplot as plt\nprint(matplotlib.get_backend().lower(), 'MPLCONFIGDIR' in os.environ)"
        ),
        "agg False\n"
    );
}

/// Bytes the Rust program sends with `send_buffer` reach Python as a
/// buffer numpy wraps.
#[test]
fn a_buffer_from_rust_becomes_a_numpy_array() {
    let interp = interpreter();
    let (recv, send) = runtime().create_channel();
    let floats: Vec<u8> = [1.5f64, 2.5, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp.run_with(
                "import numpy as np\na = np.frombuffer(inbox.recv(), dtype='<f8')\nprint(a.sum(), a.flags.writeable)",
                [("inbox", Value::from(recv))],
            )
        });
        send.send_buffer(floats).unwrap();
        run.join().unwrap().unwrap();
    });
    assert_eq!(interp.take_stdout().text(), "8.0 False\n");
}

/// The arrays of a pandas computation come back to Rust as bytes.
#[test]
fn numpy_results_come_back_to_rust() {
    let interp = interpreter();
    let (recv, send) = runtime().create_channel();
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            interp.run_with(
                "import pandas as pd\ndf = pd.DataFrame({'k': ['a', 'b', 'a'], 'v': [1, 2, 3]})\nout.send(tuple(int(x) for x in df.groupby('k').v.sum()))",
                [("out", Value::from(send))],
            )
        });
        assert_eq!(recv.recv().unwrap(), Value::from((4, 2)));
        run.join().unwrap().unwrap();
    });
}

/// numpy arrays come out as `Value::Array`, with their dtype and shape, and
/// go back in as numpy arrays of their own; numpy scalars come out as the
/// Python values they stand for.
#[test]
fn numpy_arrays_and_scalars_cross_with_their_dtype_and_shape() {
    let interp = interpreter();
    interp.run("import numpy as np").unwrap();
    let Value::Array(array) = interp.eval("np.arange(12.0).reshape(3, 4).T").unwrap() else { panic!("an array") };
    assert_eq!((array.dtype(), array.shape()), ("<f8", &[4, 3][..]));
    // A transposed view comes out in C order.
    let firsts: Vec<f64> =
        array.data().chunks(8).take(3).map(|bytes| f64::from_le_bytes(bytes.try_into().unwrap())).collect();
    assert_eq!(firsts, [0.0, 4.0, 8.0]);
    for (expression, dtype, shape) in [
        ("np.array(3.0)", "<f8", &[][..]),
        ("np.zeros((0, 3), dtype=np.float32)", "<f4", &[0, 3][..]),
        ("np.array(['ab', 'c'])", "<U2", &[2][..]),
        ("np.array([1, 2], dtype='M8[s]')", "<M8[s]", &[2][..]),
        ("np.array([True])", "|b1", &[1][..]),
        ("np.array([1 + 2j])", "<c16", &[1][..]),
    ] {
        let Value::Array(array) = interp.eval(expression).unwrap() else { panic!("{expression}: an array") };
        assert_eq!((array.dtype(), array.shape()), (dtype, shape), "{expression}");
    }
    assert_eq!(interp.eval("np.arange(4).sum()").unwrap(), Value::from(6));
    assert_eq!(interp.eval("np.float32(0.5)").unwrap(), Value::from(0.5));
    assert_eq!(interp.eval("np.bool_(True)").unwrap(), Value::from(true));

    interp.run("def describe(a):\n    return (a.dtype.str, a.shape, float(a.sum()), a.flags.writeable)").unwrap();
    let floats = [1.0f64, 2.0, 3.0, 4.5].iter().flat_map(|x| x.to_le_bytes()).collect();
    let array = isolate::Array::new("<f8", vec![2, 2], floats).unwrap();
    let described = interp.call("describe", &[Value::Array(array.clone())]).unwrap();
    assert_eq!(described, Value::from(("<f8", (2, 2), 10.5, true)));
    // Through a channel it is not shareable: PEP 554 sends buffers.
    let (_recv, send) = runtime().create_channel();
    let refused = send.send(Value::Array(array)).unwrap_err();
    assert!(refused.to_string().contains("not shareable"), "{refused}");
}

#[test]
fn numpy_values_that_cannot_cross_say_so() {
    let interp = interpreter();
    interp.run("import numpy as np").unwrap();
    for (expression, says) in [
        ("np.array([object()])", "dtype object"),
        ("np.zeros(2, dtype=[('x', 'f8')])", "cannot be copied"),
        ("np.ma.masked_array([1])", "'MaskedArray' object cannot be copied"),
        ("np.complex128(1)", "'complex128' object cannot be copied"),
    ] {
        let err = interp.eval(expression).unwrap_err();
        assert!(
            matches!(err, isolate::Error::InvalidValue(_)) && err.to_string().contains(says),
            "{expression}: {err}"
        );
    }
}

/// Products whose every value is an integer well below 2^53, so exact in
/// any order of summation: real (`dgemm`, and `syrk` for `a.T @ a`) and
/// complex (`zgemm` with a conjugate transpose).
const KNOWN_PRODUCTS: &str = "\
import numpy as np
a = np.arange(1.0, 40001.0).reshape(200, 200)
b = np.ones((200, 200))
z = (np.arange(1.0, 10001.0) * (1 - 2j)).reshape(100, 100)
print((a @ b)[0, 0], (a @ b)[199, 0], (a.T @ a)[0, 0], (a @ a)[7, 3])
print((z @ z.conj().T)[0, 0], (z.T @ z)[1, 2])
print((a.astype(np.float32) @ b.astype(np.float32))[3, 3])
";
const KNOWN_VALUES: &str = "20100.0 7980100.0 105875960200.0 6106520400.0\n\
                            (1691750+0j) (-9857926800-13143902400j)\n\
                            140100.0\n";

#[test]
fn matrix_products_have_their_known_values() {
    assert_eq!(stdout_of(KNOWN_PRODUCTS), KNOWN_VALUES);
}

#[test]
fn matrix_products_in_the_guests_own_kernels_have_the_same_values() {
    let runtime = isolate::Runtime::builder().product_threads(0).build().unwrap();
    let interp = runtime.create_interpreter().unwrap();
    interp.run(KNOWN_PRODUCTS).unwrap();
    assert_eq!(interp.take_stdout().text(), KNOWN_VALUES);
}
