//! How promptly the sandbox's limits act, and how far memory goes past its
//! cap: `cargo bench --bench sandbox`. Prints medians and maxima.
//!
//! - deadline to return: a run with a 100 ms time limit that loops (in
//!   Python, in C, in the engine's bulk copies), sleeps, or waits on a
//!   channel; how long after the deadline `run` returns;
//! - cancel to return: the same, cancelled from another thread;
//! - memory past the cap: the process's RSS growth while a sandbox capped
//!   at 64 MiB allocates without end, against the cap.
//!
//! Linux only (reads /proc/self/status).

#[path = "support/rss.rs"]
mod rss;

use std::time::{Duration, Instant};

use isolate::{Runtime, Value};

const SAMPLES: usize = 15;
const TIME_LIMIT: Duration = Duration::from_millis(100);

const CASES: [(&str, &str); 5] = [
    (
        "a loop catching everything",
        "while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass",
    ),
    ("regex backtracking (C)", "import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')"),
    ("16 MiB copies (engine code)", "big = bytearray(16 << 20)\nwhile True:\n    big = bytearray(bytes(big))"),
    ("time.sleep(3600)", "import time\ntime.sleep(3600)"),
    ("recv on a channel", "import interpreters\nr, s = interpreters.create_channel()\nr.recv()"),
];

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!("median {:>9.2?}  max {:>9.2?}", samples[samples.len() / 2], samples[samples.len() - 1])
}

fn main() {
    let runtime = Runtime::new().expect("runtime");

    println!("deadline to return (time limit {TIME_LIMIT:?}, {SAMPLES} runs each)");
    for (name, source) in CASES {
        let samples = (0..SAMPLES)
            .map(|_| {
                let interp = runtime.interpreter().timeout(TIME_LIMIT).build().expect("create");
                let start = Instant::now();
                interp.run(source).expect_err("the time limit stops it");
                start.elapsed().saturating_sub(TIME_LIMIT)
            })
            .collect();
        println!("  {name:<28} {}", summary(samples));
    }

    println!("cancel to return ({SAMPLES} runs each)");
    for (name, source) in CASES {
        let samples = (0..SAMPLES)
            .map(|_| {
                let interp = runtime.create_interpreter().expect("create");
                let handle = interp.cancel_handle();
                let (started, marker) = runtime.create_channel();
                std::thread::scope(|scope| {
                    let run = scope
                        .spawn(|| interp.run_with(&format!("ready.send(None)\n{source}"), [("ready", marker.into())]));
                    assert_eq!(started.recv().expect("started"), Value::None);
                    // Let it get into its loop or wait.
                    std::thread::sleep(Duration::from_millis(20));
                    let cancelled = Instant::now();
                    handle.cancel();
                    run.join().expect("the run thread").expect_err("cancelled");
                    cancelled.elapsed()
                })
            })
            .collect();
        println!("  {name:<28} {}", summary(samples));
    }

    const CAP: usize = 64 << 20;
    let before = rss::rss_kib();
    let interp = runtime.interpreter().memory_limit(CAP).build().expect("create");
    interp
        .run("chunks = []\ntry:\n    while True:\n        chunks.append(bytearray(1 << 20))\nexcept MemoryError:\n    pass")
        .expect("MemoryError is caught");
    let grown = (rss::rss_kib() - before) * 1024;
    println!(
        "memory: a sandbox capped at {} MiB grew the process by {:.1} MiB (host-side cost included): {:+.1} MiB past the cap",
        CAP >> 20,
        grown as f64 / (1 << 20) as f64,
        (grown - CAP as i64) as f64 / (1 << 20) as f64
    );
}
