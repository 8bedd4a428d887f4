//! A Rust program and sandboxed interpreters talking over channels:
//! `cargo run --release --example channels`.
//!
//! The program hands a job queue to three interpreters, each running on its
//! own thread, and collects their results: a plugin host in miniature.

use isolate::{Error, Runtime, Value};

const WORKER: &str = "
import hashlib
for job in jobs:                      # iterates until the channel is closed
    name, data = job
    results.send((name, hashlib.sha256(data).hexdigest()[:16]))
";

fn main() -> isolate::Result<()> {
    let runtime = Runtime::new()?;
    let (jobs_rx, jobs_tx) = runtime.create_channel();
    let (results_rx, results_tx) = runtime.create_channel();

    let workers: Vec<_> = (0..3).map(|_| runtime.create_interpreter()).collect::<Result<_, _>>()?;
    std::thread::scope(|scope| -> isolate::Result<()> {
        for worker in &workers {
            let bindings = [("jobs", Value::from(jobs_rx.clone())), ("results", results_tx.clone().into())];
            scope.spawn(move || worker.run_with(WORKER, bindings));
        }
        // A feeder thread, since a send waits for a worker to take the job.
        let feeder = scope.spawn(|| -> isolate::Result<()> {
            for n in 0..6 {
                jobs_tx.send((format!("file-{n}"), vec![n as u8; 1000]))?;
            }
            // Closing the channel ends the workers' `for` loops.
            jobs_tx.close(false)
        });
        let mut results = Vec::new();
        for _ in 0..6 {
            results.push(results_rx.recv()?);
        }
        feeder.join().expect("feeder")?;
        results.sort_by_key(|result| format!("{result:?}"));
        for result in results {
            let [name, digest]: [Value; 2] =
                Vec::<Value>::try_from(result).expect("a pair").try_into().expect("two items");
            println!("{} {}", String::try_from(name).expect("str"), String::try_from(digest).expect("str"));
        }
        Ok(())
    })?;

    // Typed errors: nobody is receiving any more.
    match results_tx.try_send("late") {
        Err(Error::NotReceived(id)) => println!("nobody was receiving on channel {id}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
