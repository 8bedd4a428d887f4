//! Interpreter costs: creation, and a trivial run on a live interpreter.
//!
//! `cargo bench --bench interpreter`; criterion prints the median of each.

use criterion::{Criterion, criterion_group, criterion_main};
use isolate::Runtime;

fn interpreter(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");

    c.bench_function("create interpreter", |b| {
        b.iter(|| runtime.create_interpreter().expect("create"));
    });

    c.bench_function("create + run(\"x = 1\")", |b| {
        b.iter(|| runtime.create_interpreter().expect("create").run("x = 1").expect("run"));
    });

    let interp = runtime.create_interpreter().expect("create");
    c.bench_function("run(\"x = 1\")", |b| {
        b.iter(|| interp.run("x = 1").expect("run"));
    });
}

criterion_group!(benches, interpreter);
criterion_main!(benches);
