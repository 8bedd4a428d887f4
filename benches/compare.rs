//! isolate beside its peers, measured in the same run: `cargo bench --bench
//! compare` (add `-- --quick` for fewer samples). Prints one table of
//! medians with the ratio ours/peer for each.
//!
//! The peers are measured by benches/peers/peers.py, run with CPython 3.12
//! or newer: `$ISOLATE_PEER_PYTHON`, else the newest pyenv 3.12+, else
//! `python3` if it is new enough. eryx (`pyeryx` from PyPI), numpy, pandas
//! and scikit-learn are installed into `target/peer-venv` the first time,
//! if the network allows; without them, their columns are empty.
//!
//! Workloads: (1) create an interpreter and run its first statement, and
//! fork a prepared one and run a worker's job in the fork; (2)
//! `run("x = 1")`; (3) a small round trip guest<->guest and host<->guest;
//! (4) 8 MiB `bytes` messages; (5) CPU-bound Python, and numpy, pandas and
//! scikit-learn (computations, dense linear algebra, and `import numpy,
//! pandas` in a fresh interpreter against a fresh process), against native
//! CPython;
//! (6) parallel scaling on 2 threads; (7) memory per idle interpreter with
//! 1,000 alive, as RSS and as private memory (RSS counts again, in every
//! interpreter, the pages of the guest's memory image that they all share
//! with the page cache); (8) `isolate run hello.py`, cold and warm.

#[path = "support/peer.rs"]
mod peer;
#[path = "support/rss.rs"]
mod rss;
#[path = "support/stats.rs"]
mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use isolate::{Runtime, Value};
use peer::peer_python;
use stats::{median, timed};

struct Settings {
    samples: usize,
    round_trips: usize,
    /// 8 MiB messages measured (after 5 that warm up), as the peers.
    big_messages: usize,
    idle: usize,
}

/// The guest side of the guest<->guest benchmarks: a driver that times
/// round trips and 8 MiB messages with `perf_counter`, as the peers do.
const DRIVER: &str = "
import statistics, time
samples = []
for i in range(ROUND_TRIPS):
    start = time.perf_counter()
    outbox.send(b'ping')
    inbox.recv()
    samples.append(time.perf_counter() - start)
outbox.send(None)
payload = bytes(8 << 20)
# As the peers do: the first messages warm the allocators up (they ran at a
# fraction of the steady rate), then the measured ones.
for _ in range(5):
    outbox.send(payload)
    inbox.recv()
rates = []
for _ in range(BIG_MESSAGES):
    start = time.perf_counter()
    outbox.send(payload)
    inbox.recv()
    rates.append((8 << 20) / (time.perf_counter() - start) / 1e9)
outbox.send(None)
print(statistics.median(samples), statistics.median(rates))
";

const ECHO: &str = "
for item in iter(inbox.recv, None):
    outbox.send(item)
for item in iter(inbox.recv, None):
    outbox.send(b'k')
";

fn ours(
    settings: &Settings,
    cpu: &BTreeMap<String, String>,
    import_numpy_pandas: &str,
    (prepare, work): (&str, &str),
) -> BTreeMap<String, f64> {
    let runtime = Runtime::new().expect("runtime");
    let mut out = BTreeMap::new();

    // A worker that needs its parent's prepared state: a fork of it.
    let parent = runtime.create_interpreter().expect("create");
    parent.run(prepare).expect("prepare");
    out.insert(
        "fork_worker".into(),
        median(
            (0..settings.samples)
                .map(|_| {
                    let start = Instant::now();
                    let fork = parent.fork().expect("fork");
                    fork.run(work).expect("work");
                    let elapsed = start.elapsed().as_secs_f64();
                    drop(fork);
                    elapsed
                })
                .collect(),
        ),
    );

    out.insert(
        "create_and_first_run".into(),
        median(
            (0..settings.samples)
                .map(|_| {
                    let start = Instant::now();
                    let interp = runtime.create_interpreter().expect("create");
                    interp.run("x = 1").expect("run");
                    let elapsed = start.elapsed().as_secs_f64();
                    drop(interp);
                    elapsed
                })
                .collect(),
        ),
    );

    let interp = runtime.create_interpreter().expect("create");
    out.insert("run_x_equals_1".into(), timed(settings.samples * 10, || interp.run("x = 1").expect("run")));

    // Host <-> guest: the Rust program and an echo interpreter; before the
    // 8 MiB messages (see below).
    let (to_echo, inbox) = runtime.create_channel();
    let (from_echo, outbox) = runtime.create_channel();
    let echo = runtime.create_interpreter().expect("create");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            echo.run_with(ECHO, [("inbox", to_echo.into()), ("outbox", outbox.into())]).expect("echo");
        });
        let ping = Value::Bytes(b"ping".to_vec());
        out.insert(
            "round_trip_host".into(),
            timed(settings.round_trips, || {
                inbox.send(ping.clone()).expect("send");
                from_echo.recv().expect("recv");
            }),
        );
        inbox.send(Value::None).expect("stop");
        inbox.send(Value::None).expect("stop");
    });

    // Guest <-> guest: a driver and an echo interpreter on two threads.
    let (a_in, b_out) = runtime.create_channel();
    let (b_in, a_out) = runtime.create_channel();
    let driver = runtime.create_interpreter().expect("create");
    let echo = runtime.create_interpreter().expect("create");
    let (round_trip, gbps) = std::thread::scope(|scope| {
        scope.spawn(|| echo.run_with(ECHO, [("inbox", b_in.into()), ("outbox", b_out.into())]).expect("echo"));
        let source = DRIVER
            .replace("ROUND_TRIPS", &settings.round_trips.to_string())
            .replace("BIG_MESSAGES", &settings.big_messages.to_string());
        driver.run_with(&source, [("inbox", a_in.into()), ("outbox", a_out.into())]).expect("driver");
        let printed = driver.take_stdout().text();
        let mut figures = printed.split_whitespace().map(|f| f.parse::<f64>().expect("a figure"));
        (figures.next().expect("round trip"), figures.next().expect("GB/s"))
    });
    out.insert("round_trip".into(), round_trip);
    out.insert("bytes_8mib_gbps".into(), gbps);
    // Freed before what follows: while these two held their 8 MiB
    // messages' memory, other interpreters ran several times slower for a
    // while (round trips and CPU-bound rows alike; dropping them ended it).
    drop((driver, echo));

    for (name, source) in cpu {
        let interp = runtime.create_interpreter().expect("create");
        // The first run imports what the source needs; the median leaves it out.
        out.insert(name.clone(), timed(5, || interp.run(source).expect("cpu")));
    }

    // A fresh interpreter importing numpy and pandas.
    out.insert(
        "import_numpy_pandas".into(),
        timed(5, || {
            let interp = runtime.create_interpreter().expect("create");
            interp.run(import_numpy_pandas).expect("import");
        }),
    );

    // Parallel scaling: one interpreter alone, then one per thread.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(2);
    let work = &cpu["int_loop"];
    let alone = {
        let interp = runtime.create_interpreter().expect("create");
        timed(3, || interp.run(work).expect("cpu"))
    };
    let interps: Vec<_> = (0..threads).map(|_| runtime.create_interpreter().expect("create")).collect();
    let together = timed(3, || {
        std::thread::scope(|scope| {
            for interp in &interps {
                scope.spawn(|| interp.run(work).expect("cpu"));
            }
        })
    });
    out.insert("parallel_speedup".into(), threads as f64 * alone / together);
    out.insert("parallel_threads".into(), threads as f64);

    let (rss_before, private_before) = (rss::rss_kib(), rss::private_kib());
    let idle: Vec<_> = (0..settings.idle).map(|_| runtime.create_interpreter().expect("create")).collect();
    let per_interpreter = |kib: i64| (kib * 1024) as f64 / idle.len() as f64;
    out.insert("idle_rss_per_interpreter".into(), per_interpreter(rss::rss_kib() - rss_before));
    out.insert("idle_private_per_interpreter".into(), per_interpreter(rss::private_kib() - private_before));
    out
}

/// What the peers' venv has: eryx's column, and the scientific stack of
/// the native one.
const PEER_PACKAGES: [&str; 4] = ["pyeryx", "numpy", "pandas", "scikit-learn"];

/// A venv of `python` with [`PEER_PACKAGES`], made once under target/ (and
/// completed if an older one lacks some); `python` itself if that cannot
/// be done.
fn with_eryx(python: &Path) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peer-venv");
    let venv_python = venv.join("bin/python3");
    let complete = || {
        Command::new(&venv_python)
            .args(["-c", "import eryx, numpy, pandas, sklearn"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !complete() {
        let made = (venv_python.exists()
            || Command::new(python).args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success()))
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet"])
                .args(PEER_PACKAGES)
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            eprintln!("(could not install {} into {}: no eryx column)", PEER_PACKAGES.join(", "), venv.display());
            let _ = std::fs::remove_dir_all(&venv);
            return python.to_owned();
        }
    }
    venv_python
}

fn peers(python: &Path, quick: bool) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/peers.py");
    let mut command = Command::new(python);
    command.arg(script);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().expect("the peer script runs");
    assert!(output.status.success(), "peers.py failed:\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("peers.py prints JSON")
}

/// `isolate run hello.py`, cold (an empty cache: compiles the guest) and
/// warm, and the peer's `python -c pass`.
fn command_line(python: &Path, warm_samples: usize) -> (f64, f64, f64) {
    // Cargo builds the binary for the benches, with their profile.
    let isolate = env!("CARGO_BIN_EXE_isolate");
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello.py");
    let run = |cache: &Path| {
        let start = Instant::now();
        let out =
            Command::new(isolate).arg("run").arg(&hello).env("ISOLATE_CACHE_DIR", cache).output().expect("isolate");
        assert!(out.status.success());
        start.elapsed().as_secs_f64()
    };
    let cold_cache = tempfile::tempdir().expect("a temporary folder");
    let cold = run(cold_cache.path());
    let warm = median((0..warm_samples).map(|_| run(cold_cache.path())).collect());
    let python_pass = median(
        (0..warm_samples)
            .map(|_| {
                let start = Instant::now();
                Command::new(python).args(["-c", "pass"]).status().expect("python");
                start.elapsed().as_secs_f64()
            })
            .collect(),
    );
    (cold, warm, python_pass)
}

fn format_value(key: &str, value: f64) -> String {
    if key.ends_with("gbps") {
        format!("{value:.2} GB/s")
    } else if key.starts_with("idle_") {
        format!("{:.2} MiB", value / (1 << 20) as f64)
    } else if key == "parallel_speedup" {
        format!("{value:.2}x")
    } else {
        format!("{:.2?}", Duration::from_secs_f64(value))
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let settings = if quick {
        Settings { samples: 20, round_trips: 500, big_messages: 10, idle: 100 }
    } else {
        Settings { samples: 100, round_trips: 5_000, big_messages: 30, idle: 1_000 }
    };
    let Some(python) = peer_python() else {
        eprintln!("no CPython >= 3.12 found: set ISOLATE_PEER_PYTHON");
        std::process::exit(1);
    };
    let peer_python = with_eryx(&python);
    println!("peers run with {} ({})", peer_python.display(), if quick { "quick" } else { "full" });
    let peers = peers(&peer_python, quick);
    let cpu: BTreeMap<String, String> = serde_json::from_value(peers["cpu_sources"].clone()).expect("cpu sources");
    let import_numpy_pandas = peers["import_numpy_pandas"].as_str().expect("the import statement");
    let fork_work = (peers["prepare"].as_str().expect("prepare"), peers["work"].as_str().expect("work"));
    let ours = ours(&settings, &cpu, import_numpy_pandas, fork_work);
    let (cold, warm, python_pass) = command_line(&python, if quick { 5 } else { 21 });

    let columns = ["subinterpreters", "multiprocessing", "eryx", "native"];
    println!("CPython {} on this machine; medians; ratio = isolate / peer", peers["python"].as_str().unwrap_or("?"));
    println!("{:<26} {:>12}  {}", "workload", "isolate", columns.map(|c| format!("{c:>26}")).join(""));
    let rows = [
        "create_and_first_run",
        "fork_worker",
        "run_x_equals_1",
        "round_trip",
        "round_trip_host",
        "bytes_8mib_gbps",
        "fib",
        "int_loop",
        "dict_and_sort",
        "string_building",
        "numpy_matmul",
        "numpy_elementwise",
        "pandas_groupby",
        "matmul_300_f32",
        "matmul_1000_f64",
        "matmul_1000_f32",
        "linalg_solve_1000",
        "linalg_svd_300",
        "numpy_cov_5000x200",
        "sklearn_pca",
        "sklearn_ridge",
        "import_numpy_pandas",
        "parallel_speedup",
        "idle_rss_per_interpreter",
        "idle_private_per_interpreter",
    ];
    for row in rows {
        let ours_value = ours[row];
        let mut line = format!("{row:<26} {:>12}  ", format_value(row, ours_value));
        for column in columns {
            let cell = match peers[column][row].as_f64() {
                Some(peer) => format!("{} ({:.2}x)", format_value(row, peer), ours_value / peer),
                None => "-".to_owned(),
            };
            line.push_str(&format!("{cell:>26}"));
        }
        println!("{line}");
    }
    println!(
        "{:<26} {:>12}  cold (empty cache) {}; python3 -c pass {} ({:.2}x)",
        "isolate run hello.py",
        format_value("", warm),
        format_value("", cold),
        format_value("", python_pass),
        warm / python_pass
    );
    if let Some(forkserver) = peers["multiprocessing"]["fork_worker_forkserver"].as_f64() {
        println!(
            "fork_worker: multiprocessing column is the fork start method; forkserver {} ({:.2}x); \
             subinterpreters: a fresh one builds the state",
            format_value("", forkserver),
            ours["fork_worker"] / forkserver
        );
    }
    println!(
        "parallel: {} interpreters on {} threads, speed-up over one",
        ours["parallel_threads"], ours["parallel_threads"]
    );
}
