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
