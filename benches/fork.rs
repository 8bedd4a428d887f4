//! Forks and creation, which is a fork of the runtime's template: `cargo
//! bench --bench fork` (add `-- --quick` for fewer samples). Prints medians.
//!
//! Rows: creating an interpreter and running its first statement; forking
//! an idle interpreter that imported numpy and pandas and built a
//! DataFrame, the first time after it ran (its memory is captured) and
//! again (the capture is shared); a fork's first statement; the private
//! memory of each of many idle forks; and N forks running CPU-bound code
//! on N threads, against one.

#[path = "support/rss.rs"]
mod rss;
#[path = "support/stats.rs"]
mod stats;

use std::time::Instant;

use isolate::Runtime;
use stats::{median, timed};

fn row(what: &str, figure: String) {
    println!("{what:<58} {figure}");
}

fn micros(seconds: f64) -> String {
    format!("{:.1} µs", seconds * 1e6)
}

const ENVIRONMENT: &str = "
import numpy, pandas
frame = pandas.DataFrame({'key': numpy.arange(10_000) % 7, 'value': numpy.linspace(0, 1, 10_000)})
handlers = {'total': lambda f: float(f['value'].sum())}
";

const WORK: &str = "
def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total
";

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let samples = if quick { 30 } else { 200 };
    let runtime = Runtime::new().expect("runtime");
    // The template is made (or mapped from the cache) once per process.
    drop(runtime.create_interpreter().expect("create"));

    row(
        "create + first statement (`x = 1`)",
        micros(timed(samples, || {
            let interp = runtime.create_interpreter().expect("create");
            interp.run("x = 1").expect("run");
        })),
    );

    let env = runtime.create_interpreter().expect("create");
    let start = Instant::now();
    env.run(ENVIRONMENT).expect("environment");
    row("import numpy, pandas + a DataFrame, once", format!("{:.0} ms", start.elapsed().as_secs_f64() * 1e3));

    let captures = if quick { 5 } else { 15 };
    let first = median(
        (0..captures)
            .map(|_| {
                // A run changes the memory: the next fork captures it anew.
                env.run("pass").expect("run");
                let start = Instant::now();
                let fork = env.fork().expect("fork");
                let elapsed = start.elapsed().as_secs_f64();
                drop(fork);
                elapsed
            })
            .collect(),
    );
    row("fork of the numpy/pandas interpreter, first after a run", format!("{:.2} ms", first * 1e3));
    row("fork of the numpy/pandas interpreter, again", micros(timed(samples, || drop(env.fork().expect("fork")))));
    row(
        "fork + first statement (`handlers['total'](frame)`)",
        micros(timed(samples, || {
            let fork = env.fork().expect("fork");
            fork.run("handlers['total'](frame)").expect("run");
        })),
    );

    let alive = if quick { 100 } else { 1000 };
    let private_before = rss::private_kib();
    let forks: Vec<_> = (0..alive).map(|_| env.fork().expect("fork")).collect();
    let per_fork = (rss::private_kib() - private_before) as f64 / alive as f64;
    row(&format!("private memory per idle fork, {alive} alive"), format!("{per_fork:.0} KiB"));
    for fork in &forks[..alive.min(100)] {
        fork.run("x = handlers['total'](frame)").expect("run");
    }
    let per_fork = (rss::private_kib() - private_before) as f64 / alive as f64;
    row(&format!("… after a statement in 100 of them (averaged over {alive})"), format!("{per_fork:.0} KiB"));
    drop(forks);

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let base = runtime.create_interpreter().expect("create");
    base.run(WORK).expect("work");
    let n = if quick { 300_000 } else { 1_000_000 };
    let alone = {
        let fork = base.fork().expect("fork");
        let start = Instant::now();
        fork.run(&format!("work({n})")).expect("run");
        start.elapsed().as_secs_f64()
    };
    let forks: Vec<_> = (0..threads).map(|_| base.fork().expect("fork")).collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for fork in &forks {
            scope.spawn(move || fork.run(&format!("work({n})")).expect("run"));
        }
    });
    let together = start.elapsed().as_secs_f64();
    row(
        &format!("{threads} forks on {threads} threads, speed-up over one"),
        format!("{:.2}×", threads as f64 * alone / together),
    );
}
