//! 10,000 interpreters created, used and destroyed: memory must not grow.
//!
//! A test binary of its own, so that no other test's memory moves the
//! process's RSS while it measures. Linux only (reads /proc/self/status).
//! `cargo bench --bench lifecycle` prints the same figures as it goes.

use isolate::{Error, Runtime};

const WARM_UP: usize = 500;
const CYCLES: usize = 10_000;

/// The growth allowed over the 10,000 cycles: a leak of 1.7 KiB per cycle
/// passes it. Measured: a few hundred KiB, allocator noise.
const ALLOWED_GROWTH_KIB: i64 = 16 << 10;

#[path = "../benches/support/rss.rs"]
mod rss;

use rss::rss_kib;

#[test]
fn ten_thousand_create_destroy_cycles_do_not_grow_memory() {
    let runtime = Runtime::new().expect("the runtime builds");
    let cycle = |n: usize| {
        let interp = runtime.create_interpreter().unwrap();
        let (rx, tx) = runtime.create_channel();
        // Each cycle touches what a destroy must free: a bound channel end,
        // and every fourth time an interpreter of the guest's own, with a
        // channel of its own; every tenth is cancelled rather than dropped.
        let source = if n.is_multiple_of(4) {
            "import interpreters\nchild = interpreters.create()\nr, s = interpreters.create_channel()\nchild.run('x = 1')"
        } else {
            "x = [i * i for i in range(100)]"
        };
        interp.run_with(source, [("inbox", rx.clone().into())]).unwrap();
        let _ = tx.try_send(1);
        if n.is_multiple_of(2) {
            rx.close(true).unwrap();
        }
        if n.is_multiple_of(10) {
            interp.cancel();
            assert!(matches!(interp.run("x = 1"), Err(Error::Cancelled(_))));
        }
    };
    for n in 0..WARM_UP {
        cycle(n);
    }
    let base = rss_kib();
    for n in 0..CYCLES {
        cycle(n);
    }
    let growth = rss_kib() - base;
    assert!(growth < ALLOWED_GROWTH_KIB, "RSS grew by {growth} KiB over {CYCLES} cycles");
    println!("RSS growth over {CYCLES} cycles: {growth:+} KiB");
}
