//! Embeds sandboxed Python in a Rust program: `cargo run --release --example embed`.
//!
//! Shows a runtime shared by threads, interpreters with persistent state,
//! captured and streamed output, and Python exceptions handled in Rust.

use isolate::{Error, Output, Runtime};

fn main() -> isolate::Result<()> {
    // One runtime per process; the first ever build compiles the guest.
    let runtime = Runtime::new()?;

    // A "plugin": state defined by one run is there for the next.
    let plugin = runtime.create_interpreter()?;
    plugin.run(
        "import statistics\nhistory = []\ndef record(x):\n    history.append(x)\n    return statistics.mean(history)",
    )?;
    for value in [3, 5, 10] {
        plugin.run(&format!("print(record({value}))"))?;
    }
    print!("plugin printed:\n{}", plugin.take_stdout().text());

    // A Python exception is a typed error with CPython's own traceback.
    match plugin.run("record('not a number')") {
        Err(Error::RunFailed(exception)) => {
            println!("plugin raised {}:", exception.type_name());
            print!("{}", exception.traceback());
        }
        other => println!("unexpected: {other:?}"),
    }

    // Output can also stream to any writer as the guest writes it.
    let streaming = runtime.interpreter().stdout(Output::inherit()).argv(["report.py", "--fast"]).build()?;
    streaming.run("import sys\nprint('streamed straight to our stdout, argv =', sys.argv)")?;

    // Interpreters are independent and run in parallel, one per thread.
    let workers: Vec<_> = (1..=4)
        .map(|n| {
            let runtime = runtime.clone();
            std::thread::spawn(move || -> isolate::Result<String> {
                let interp = runtime.create_interpreter()?;
                interp.run(&format!("print(sum(i * i for i in range({n} * 100_000)))"))?;
                Ok(interp.take_stdout().text())
            })
        })
        .collect();
    for (n, worker) in (1..=4).zip(workers) {
        print!("worker {n}: {}", worker.join().expect("worker thread")?);
    }
    Ok(())
}
