//! Channels between two sandboxed interpreters, beside multiprocessing.Pipe
//! measured in the same run: `cargo bench --bench channels`.
//!
//! 1. Round trip of a small message: interpreter A sends `("ping", i)`,
//!    interpreter B (on its own thread) sends it back; median per round trip.
//! 2. 8 MiB `bytes` messages from A to B, each acknowledged by a one-byte
//!    reply so that the time covers the whole transfer; median GB/s.
//!
//! The peer is benches/peers/pipe_channels.py, run with `python3` (the
//! interpreter's own binary, not a shim): the same two measurements over a
//! `multiprocessing.Pipe` to a spawned process.

use std::process::Command;

use isolate::{Runtime, Value};

const ROUND_TRIPS: usize = 5_000;
const BIG_MESSAGES: usize = 30;

const ECHO: &str = "
for item in iter(inbox.recv, None):
    outbox.send(item)
for _ in range(BIG_MESSAGES):
    inbox.recv()
    outbox.send(b'k')
";

const DRIVER: &str = "
import statistics, time
samples = []
for i in range(ROUND_TRIPS):
    start = time.perf_counter()
    outbox.send(('ping', i))
    inbox.recv()
    samples.append(time.perf_counter() - start)
outbox.send(None)
payload = bytes(8 << 20)
rates = []
for _ in range(BIG_MESSAGES):
    start = time.perf_counter()
    outbox.send(payload)
    inbox.recv()
    rates.append((8 << 20) / (time.perf_counter() - start) / 1e9)
print('round_trip_us', statistics.median(samples) * 1e6)
print('bytes_8mib_gbps', statistics.median(rates))
";

fn parse(output: &str, key: &str) -> f64 {
    output
        .lines()
        .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {output:?}"))
}

fn main() {
    let runtime = Runtime::new().expect("runtime");
    let (a_in, b_out) = runtime.create_channel();
    let (b_in, a_out) = runtime.create_channel();
    let a = runtime.create_interpreter().expect("interpreter");
    let b = runtime.create_interpreter().expect("interpreter");
    let constants = || [("ROUND_TRIPS".to_owned(), Value::from(ROUND_TRIPS)), ("BIG_MESSAGES".to_owned(), Value::from(BIG_MESSAGES))];
    std::thread::scope(|scope| {
        let echo = scope.spawn(|| {
            let mut bindings = vec![("inbox".to_owned(), b_in.clone().into()), ("outbox".to_owned(), b_out.clone().into())];
            bindings.extend(constants());
            b.run_with(ECHO, bindings)
        });
        let mut bindings = vec![("inbox".to_owned(), a_in.clone().into()), ("outbox".to_owned(), a_out.clone().into())];
        bindings.extend(constants());
        a.run_with(DRIVER, bindings).expect("driver");
        echo.join().expect("echo thread").expect("echo");
    });
    let ours = a.take_stdout().text();

    let python = String::from_utf8(
        Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3").stdout,
    )
    .expect("a path");
    let peer = Command::new(python.trim())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/pipe_channels.py"))
        .args([ROUND_TRIPS.to_string(), BIG_MESSAGES.to_string()])
        .output()
        .expect("the peer runs");
    let peer = String::from_utf8_lossy(&peer.stdout);

    let (rt_ours, rt_peer) = (parse(&ours, "round_trip_us"), parse(&peer, "round_trip_us"));
    let (bw_ours, bw_peer) = (parse(&ours, "bytes_8mib_gbps"), parse(&peer, "bytes_8mib_gbps"));
    println!("{:<44} {:>12} {:>22} {:>8}", "median", "isolate", "multiprocessing.Pipe", "ratio");
    println!("{:<44} {:>9.1} us {:>19.1} us {:>7.2}x", "small message round trip, guest <-> guest", rt_ours, rt_peer, rt_ours / rt_peer);
    println!("{:<44} {:>7.2} GB/s {:>17.2} GB/s {:>7.2}x", "8 MiB bytes messages, guest -> guest", bw_ours, bw_peer, bw_ours / bw_peer);
}
