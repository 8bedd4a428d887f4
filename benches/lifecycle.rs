//! Memory across 10,000 interpreter create/run/destroy cycles:
//! `cargo bench --bench lifecycle`. Prints the process's RSS every 1,000
//! cycles, relative to after a warm-up, and the median cycle time.
//!
//! Linux only (reads /proc/self/status).

use std::time::{Duration, Instant};

use isolate::Runtime;

const WARM_UP: usize = 500;
const CYCLES: usize = 10_000;

#[path = "support/rss.rs"]
mod rss;

use rss::rss_kib;

fn main() {
    let runtime = Runtime::new().expect("runtime");
    let mut times = Vec::with_capacity(CYCLES);
    let mut count = 0usize;
    let mut cycle = || {
        count += 1;
        let start = Instant::now();
        let interp = runtime.create_interpreter().expect("create");
        // Each interpreter also gets a channel, which the host then closes,
        // or (every other time) simply drops.
        let (rx, tx) = runtime.create_channel();
        interp.run_with("x = [i * i for i in range(100)]", [("inbox", rx.clone().into())]).expect("run");
        let _ = tx.try_send(1);
        if count.is_multiple_of(2) {
            rx.close(true).expect("close");
        }
        drop((interp, rx, tx));
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
    println!("median cycle (create, run with a channel bound, destroy): {median:?}");
}
