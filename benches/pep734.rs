//! PEP 734 in the sandbox: `cargo bench --bench pep734` (add `-- --quick`
//! for fewer samples). Prints medians, with CPython's own figures measured
//! in the same run by `benches/peers/pep734_peers.py` (with a CPython 3.12+,
//! found as `compare` finds it).
//!
//! Rows: a `Queue` put/get round trip between two interpreters; a call of
//! `len("abc")` through `Interpreter.call()` on a live interpreter;
//! `InterpreterPoolExecutor.map` over 64 CPU-bound tasks with 1 and 2
//! workers, warmed up (the median of 5 maps), against `ProcessPoolExecutor` (spawn) and, where
//! the peer has one, CPython's own `InterpreterPoolExecutor`. The sandbox
//! times itself with `time.perf_counter`, as the peer does: the round trip
//! and the call in batches of 100, whose medians per operation are shown.

#[path = "support/peer.rs"]
mod peer;

use std::path::Path;
use std::process::Command;

use isolate::Runtime;

/// The sandbox's side; prints a JSON object like the peer's. It times with
/// the peer script's own `medians` (imported from it: the folder is
/// granted) and runs its `task`.
const WORKLOAD: &str = r#"
import json
from concurrent import interpreters
from concurrent.futures import InterpreterPoolExecutor
from pep734_peers import BATCH, TASK_SIZE, TASKS, medians, task

# The call first: the round trip keeps both cores busy (its waiters spin),
# after which this shared machine runs slower for a while.
interp = interpreters.create()
out = {"call": medians(CALLS, lambda: interp.call(len, "abc"), BATCH)}

ping, pong = interpreters.create_queue(), interpreters.create_queue()
echo = interpreters.create()
echo.prepare_main(ping=ping, pong=pong)
thread = echo.call_in_thread(exec, "while (item := ping.get()) is not None:\n    pong.put(item)")
def round_trip():
    ping.put(1)
    pong.get()
out["queue_round_trip"] = medians(ROUND_TRIPS, round_trip, BATCH)
ping.put(None)
thread.join()

for workers in (1, 2):
    with InterpreterPoolExecutor(workers) as pool:
        list(pool.map(task, [1] * workers * 2))
        out[f"pool_{workers}"] = medians(REPEATS, lambda: list(pool.map(task, [TASK_SIZE] * TASKS)), 1)
print(json.dumps(out))
"#;

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let (round_trips, calls, repeats) = if quick { (2_000, 2_000, 1) } else { (20_000, 20_000, 5) };
    let runtime = Runtime::new().expect("runtime");
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers");
    let interp = runtime.interpreter().max_interpreters(8).module_path(&peers).build().expect("create");
    let source = WORKLOAD
        .replace("ROUND_TRIPS", &round_trips.to_string())
        .replace("CALLS", &calls.to_string())
        .replace("REPEATS", &repeats.to_string());
    interp.run(&source).expect("the workload runs");
    let ours: serde_json::Value = serde_json::from_str(interp.take_stdout().text().trim()).expect("JSON");

    let theirs = peer::peer_python().and_then(|python| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/pep734_peers.py");
        let mut command = Command::new(&python);
        command.arg(script);
        if quick {
            command.arg("--quick");
        }
        let output = command.output().ok().filter(|out| out.status.success());
        if output.is_none() {
            eprintln!("(the peer script failed with {}: no peer column)", python.display());
        }
        serde_json::from_slice::<serde_json::Value>(&output?.stdout).ok()
    });
    let peer = |key: &str| theirs.as_ref().and_then(|theirs| theirs[key].as_f64());
    let version = theirs.as_ref().and_then(|t| t["python"].as_str()).unwrap_or("none found").to_owned();

    println!("{:<58} {:>12} {:>24}", "", "isolate", format!("CPython {version}"));
    let row = |name: &str, key: &str, peer_key: &str, unit: f64, suffix: &str| {
        let ours = ours[key].as_f64().expect("measured");
        let theirs =
            peer(peer_key).map_or("—".to_owned(), |t| format!("{:.2} {suffix} ({:.2}×)", t * unit, t / ours));
        println!("{name:<58} {:>9.2} {suffix} {theirs:>24}", ours * unit);
    };
    row("Queue put/get round trip between two interpreters", "queue_round_trip", "queue_round_trip", 1e6, "µs");
    row("interp.call(len, \"abc\") (peer: a stateless f(), 3.13)", "call", "call", 1e6, "µs");
    row("InterpreterPoolExecutor.map, 64 tasks, 1 worker", "pool_1", "pool_1", 1e3, "ms");
    row("InterpreterPoolExecutor.map, 64 tasks, 2 workers", "pool_2", "pool_2", 1e3, "ms");
    let speedup = ours["pool_1"].as_f64().unwrap() / ours["pool_2"].as_f64().unwrap();
    let peer_speedup = match (peer("pool_1"), peer("pool_2")) {
        (Some(one), Some(two)) => format!("ProcessPoolExecutor (spawn): {:.2}×", one / two),
        _ => "—".to_owned(),
    };
    println!("{:<58} {speedup:>9.2}×    {peer_speedup}", "speed-up of 2 workers over 1");
    match (peer("interp_pool_1"), peer("interp_pool_2")) {
        (Some(one), Some(two)) => println!(
            "{:<58} {:>12} {:.0} ms / {:.0} ms ({:.2}×)",
            "CPython's own InterpreterPoolExecutor, 1 / 2 workers",
            "",
            one * 1e3,
            two * 1e3,
            one / two
        ),
        _ => println!("(CPython's own InterpreterPoolExecutor needs CPython 3.14+: not on this machine)"),
    }
    println!("(the peer's pool rows are ProcessPoolExecutor with the spawn start method)");
}
