//! Memory across 10,000 interpreter create/run/destroy cycles:
//! `cargo bench --bench lifecycle`. Prints the process's RSS every 1,000
//! cycles, relative to after a warm-up, and the median cycle time.
//!
//! Linux only (reads /proc/self/status).

use std::time::{Duration, Instant};

use isolate::Runtime;

const WARM_UP: usize = 500;
const CYCLES: usize = 10_000;

fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

fn main() {
    let runtime = Runtime::new().expect("runtime");
    let mut times = Vec::with_capacity(CYCLES);
    let mut cycle = || {
        let start = Instant::now();
        let interp = runtime.create_interpreter().expect("create");
        interp.run("x = [i * i for i in range(100)]").expect("run");
        // Each interpreter also uses a channel the host then closes.
        let (rx, tx) = runtime.create_channel();
        let _ = tx.try_send(1);
        rx.close(true).expect("close");
        drop(interp);
        start.elapsed()
    };
    for _ in 0..WARM_UP {
        cycle();
    }
    let base = rss_kib();
    for done in 1..=CYCLES {
        times.push(cycle());
        if done % 1000 == 0 {
            println!("after {done:>6} cycles: RSS {:>8} KiB ({:+} KiB)", rss_kib(), rss_kib() - base);
        }
    }
    times.sort();
    let median: Duration = times[times.len() / 2];
    println!("median cycle (create, run, channel, destroy): {median:?}");
}
