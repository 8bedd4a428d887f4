//! `isolate mcp` over stdio, timed from a minimal JSON-RPC client in this
//! process: `cargo bench --bench mcp` (add `-- --quick` for fewer
//! samples). Prints medians.
//!
//! Rows: a `run_python("1 + 1")` round trip in a warm session, beside the
//! same round trip to the official Python SDK's server evaluating natively
//! (benches/peers/mcp_native_server.py, in a virtual environment under
//! target/); a new session's first result with `--from` a numpy+pandas
//! snapshot; `fork_session` of a session that imported numpy and pandas and
//! built a DataFrame, the first after a run and again; `fork_session` of a
//! session started from the snapshot, after a DataFrame cell.

#[path = "support/stats.rs"]
mod stats;
#[path = "../tests/mcp/venv.rs"]
mod venv;

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};
use stats::{median, timed};

/// A server on the other end of a pipe, and the next request's id.
struct Client {
    child: Child,
    input: ChildStdin,
    output: Lines<BufReader<ChildStdout>>,
    next: u64,
}

impl Client {
    fn start(command: &mut Command) -> Client {
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("the server starts");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut client = Client { child, input, output, next: 0 };
        let params = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}});
        client.request("initialize", params);
        writeln!(client.input, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).expect("write");
        client
    }

    /// Sends a request; its answer's `result` (notifications skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let request = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        writeln!(self.input, "{request}").expect("write");
        loop {
            let line = self.output.next().expect("an answer").expect("read");
            let answer: Value = serde_json::from_str(&line).expect("JSON");
            if answer["id"] == json!(self.next) {
                assert!(answer.get("error").is_none(), "{method} failed: {answer}");
                return answer["result"].clone();
            }
        }
    }

    fn tool(&mut self, name: &str, arguments: Value) -> Value {
        let result = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        assert_ne!(result["isError"], json!(true), "{name} failed: {result}");
        result["structuredContent"].clone()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn row(what: &str, figure: String) {
    println!("{what:<62} {figure}");
}

fn ms(seconds: f64) -> String {
    format!("{:.3} ms", seconds * 1e3)
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let samples = if quick { 30 } else { 200 };
    let isolate = env!("CARGO_BIN_EXE_isolate");
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));

    let mut server = Client::start(Command::new(isolate).arg("mcp"));
    let session = server.tool("run_python", json!({"code": "1 + 1"}))["session"].clone();
    let ours = timed(samples, || {
        server.tool("run_python", json!({"code": "1 + 1", "session": session}));
    });
    let python = venv::python_with_mcp(target_tmp);
    let mut native = Client::start(
        Command::new(&python).arg(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/mcp_native_server.py")),
    );
    native.request("tools/call", json!({"name": "run_python", "arguments": {"code": "1 + 1"}}));
    let peer = timed(samples, || {
        native.request("tools/call", json!({"name": "run_python", "arguments": {"code": "1 + 1"}}));
    });
    row(
        "run_python(\"1 + 1\") round trip, warm session",
        format!("{} (Python SDK server, native eval: {}, {:.2}x)", ms(ours), ms(peer), ours / peer),
    );

    // A session importing numpy and pandas, for the fork.
    let setup = "import numpy, pandas\nframe = pandas.DataFrame({'k': numpy.arange(10_000) % 7, 'v': numpy.linspace(0, 1, 10_000)})";
    let prepared = server.tool("run_python", json!({"code": setup, "session": session}))["session"].clone();
    let start = Instant::now();
    let fork = server.tool("fork_session", json!({"session": prepared}))["session"].clone();
    let first_fork = start.elapsed().as_secs_f64();
    server.tool("close_session", json!({"session": fork}));
    let forks = timed(samples.min(50), || {
        let fork = server.tool("fork_session", json!({"session": prepared}))["session"].clone();
        server.tool("close_session", json!({"session": fork}));
    });
    row("fork_session of a numpy+pandas session, first after a run", ms(first_fork));
    row("fork_session of it again (its close included)", ms(forks));
    drop(server);

    let snapshot = target_tmp.join("mcp-bench-numpy-pandas.snapshot");
    let made = Command::new(isolate)
        .args(["snapshot", "-c", "import numpy, pandas", "-o"])
        .arg(&snapshot)
        .status()
        .expect("isolate snapshot");
    assert!(made.success());
    let mut from = Client::start(Command::new(isolate).arg("mcp").arg("--from").arg(&snapshot));
    let first = median(
        (0..samples.min(30))
            .map(|_| {
                let start = Instant::now();
                let session =
                    from.tool("run_python", json!({"code": "pandas.__version__ and 1 + 1"}))["session"].clone();
                let took = start.elapsed().as_secs_f64();
                from.tool("close_session", json!({"session": session}));
                took
            })
            .collect(),
    );
    row("a new session from --from numpy_pandas.snapshot, first result", ms(first));

    // The fork an agent makes most: of a session started from the
    // snapshot, after a cell that worked on a DataFrame.
    let cell = "frame = pandas.DataFrame({'k': numpy.arange(10_000) % 7, 'v': numpy.linspace(0, 1, 10_000)})\nframe.groupby('k').sum()";
    let forks = median(
        (0..samples.min(30))
            .map(|_| {
                let session = from.tool("run_python", json!({"code": cell}))["session"].clone();
                let start = Instant::now();
                let fork = from.tool("fork_session", json!({"session": session}))["session"].clone();
                let took = start.elapsed().as_secs_f64();
                from.tool("close_session", json!({"session": fork}));
                from.tool("close_session", json!({"session": session}));
                took
            })
            .collect(),
    );
    row("fork_session of a --from session after a DataFrame cell", ms(forks));
}
