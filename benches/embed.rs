//! The embedding API's round trips: `cargo bench --bench embed` (add
//! `-- --quick` for fewer samples). Prints medians.
//!
//! Rows: `call` of a Python function with a small dict, and its result
//! back; `eval` of a small expression; a host function called from Python
//! (timed inside the guest). The peers, in the same run: pyo3 calling the
//! same function of an embedded native CPython with the same dict and
//! reading the dict back (`benches/peers/pyo3_call`, built under
//! target/pyo3-peer when a `python3` with its shared library is there),
//! and native CPython calling it from Python (`python3 -m timeit`): what a
//! call costs when there is no sandbox to cross at all.

#[path = "support/stats.rs"]
mod stats;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use isolate::{Runtime, Value};
use stats::median;

const HANDLER: &str = "def handle(event):\n    return {'kind': event['kind'], 'count': event['count'] + 1}";

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let samples = if quick { 2_000 } else { 20_000 };
    let runtime = Runtime::new().expect("runtime");
    let interp = runtime
        .interpreter()
        .function("echo", |args| Ok(args.first().cloned().unwrap_or(Value::None)))
        .build()
        .expect("create");
    interp.run(HANDLER).expect("handler");
    let event = Value::Dict(vec![("kind".into(), "click".into()), ("count".into(), 1.into())]);

    let call = median(
        (0..samples)
            .map(|_| {
                let start = Instant::now();
                interp.call("handle", std::slice::from_ref(&event)).expect("call");
                start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!("{:<52} {:.2} µs", "call(\"handle\", {small dict}) and its dict back", call * 1e6);

    let eval = median(
        (0..samples)
            .map(|_| {
                let start = Instant::now();
                interp.eval("1 + 1").expect("eval");
                start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!("{:<52} {:.2} µs", "eval(\"1 + 1\")", eval * 1e6);

    interp
        .run(&format!(
            "import time, statistics\nfrom host import tools\nsamples = []\nfor _ in range({samples}):\n    t = time.perf_counter()\n    tools.echo({{'kind': 'click', 'count': 1}})\n    samples.append(time.perf_counter() - t)\nprint(statistics.median(samples))"
        ))
        .expect("host function loop");
    let host_call: f64 = interp.take_stdout().text().trim().parse().expect("a median");
    println!("{:<52} {:.2} µs", "tools.echo({small dict}) from Python", host_call * 1e6);

    match pyo3_peer(samples) {
        Some(median) => {
            println!("{:<52} {:.2} µs", "pyo3 calling native CPython, dict in and out (peer)", median * 1e6)
        }
        None => println!("(no pyo3 peer: it did not build or run here)"),
    }

    let native = Command::new("python3")
        .args(["-m", "timeit", "-s", HANDLER, "-s", "event = {'kind': 'click', 'count': 1}", "handle(event)"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    match native {
        Some(line) => println!("{:<52} {line}", "native CPython, handle(event) in-process (peer)"),
        None => println!("native CPython peer: python3 not found"),
    }
}

/// The pyo3 peer's median, in seconds: built (once) and run with
/// `python3`, whose shared library it links.
fn pyo3_peer(samples: usize) -> Option<f64> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let libdir = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"])
        .output()
        .ok()?;
    let libdir = String::from_utf8_lossy(&libdir.stdout).trim().to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["run", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("benches/peers/pyo3_call/Cargo.toml"))
        .arg("--")
        .arg(samples.to_string())
        .env("CARGO_TARGET_DIR", root.join("target/pyo3-peer"))
        .env("PYO3_PYTHON", "python3")
        .env("LD_LIBRARY_PATH", libdir)
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("(the pyo3 peer failed:\n{})", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}
