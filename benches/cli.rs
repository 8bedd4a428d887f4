//! Wall time of `isolate run examples/hello.py`, cold and warm, beside
//! `python3 -c pass` measured in the same run.
//!
//! `cargo bench --bench cli`. Cold runs start with an empty cache folder, so
//! they include compiling the guest and unpacking the stdlib; warm runs reuse
//! the cache, as every run after the first on a machine does.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const COLD_RUNS: usize = 3;
const WARM_RUNS: usize = 21;

fn main() {
    // `cargo bench` passes `--bench`; no options of our own.
    let isolate = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/isolate");
    assert!(isolate.exists(), "build the CLI first: cargo build --release");
    let cache = tempfile::tempdir().expect("temporary cache folder");

    let hello = |cache_dir: &Path| {
        let status = Command::new(&isolate)
            .args(["run", "examples/hello.py"])
            .env("ISOLATE_CACHE_DIR", cache_dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("isolate runs");
        assert!(status.success());
    };

    let cold = median((0..COLD_RUNS).map(|i| {
        let dir = cache.path().join(format!("cold-{i}"));
        time(|| hello(&dir))
    }));
    let warm_dir = cache.path().join("cold-0");
    let warm = median((0..WARM_RUNS).map(|_| time(|| hello(&warm_dir))));
    // The interpreter's own binary: `python3` on PATH may be a shim script
    // (pyenv's is bash) that would inflate the peer's time.
    let python = String::from_utf8(
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3 runs").stdout,
    )
    .expect("a path");
    let python = median((0..WARM_RUNS).map(|_| {
        time(|| {
            Command::new(python.trim()).args(["-c", "pass"]).status().expect("python3 runs");
        })
    }));

    println!("{:<36} {:>12}", "command (median)", "wall time");
    println!("{:<36} {:>12}", format!("isolate run hello.py, cold (n={COLD_RUNS})"), show(cold));
    println!("{:<36} {:>12}", format!("isolate run hello.py, warm (n={WARM_RUNS})"), show(warm));
    println!("{:<36} {:>12}", format!("python3 -c pass (n={WARM_RUNS})"), show(python));
    println!("warm / python3: {:.1}x", warm.as_secs_f64() / python.as_secs_f64());
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(samples: impl Iterator<Item = Duration>) -> Duration {
    let mut samples: Vec<_> = samples.collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn show(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}
