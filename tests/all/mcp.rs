//! `isolate mcp`, driven by a real MCP client (the official Python SDK's,
//! in a virtual environment made under target/ on first use) and by hand
//! for input no well-behaved client sends.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cli::isolate;

#[path = "../mcp/venv.rs"]
mod venv;

fn python_with_mcp() -> PathBuf {
    venv::python_with_mcp(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

#[test]
fn an_mcp_client_runs_code_forks_sessions_and_hits_limits() {
    let client = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");
    let out = Command::new(python_with_mcp()).args([client, env!("CARGO_BIN_EXE_isolate")]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client failed:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mcp client: all checks passed\n");
}

/// A server spoken to by hand, one JSON-RPC line at a time.
struct Raw {
    server: std::process::Child,
    input: Option<std::process::ChildStdin>,
    output: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Raw {
    /// `isolate mcp ARGS`, initialized.
    fn start(args: &[&str]) -> Raw {
        let mut server = isolate().arg("mcp").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let input = server.stdin.take();
        let output = BufReader::new(server.stdout.take().unwrap()).lines();
        let mut raw = Raw { server, input, output };
        let init = raw.ask(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "isolate");
        raw.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        raw
    }

    fn send(&mut self, line: &str) {
        writeln!(self.input.as_mut().unwrap(), "{line}").unwrap();
    }

    /// Sends a request and reads the next line, which must be JSON.
    fn ask(&mut self, request: &str) -> serde_json::Value {
        self.send(request);
        let line = self.output.next().expect("an answer").unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON on stdout: {line}"))
    }

    /// Calls `tool` with `arguments` (JSON); the answer.
    fn tool(&mut self, id: u64, tool: &str, arguments: serde_json::Value) -> serde_json::Value {
        let request = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
        self.ask(&request.to_string())
    }

    /// Closes the server's input: it must then end, successfully.
    fn finish(mut self) {
        drop(self.input.take());
        assert!(self.server.wait().unwrap().success(), "the server should end when its input does");
    }
}

/// Lines a broken client might send: each gets an answer or is skipped,
/// and the server answers what follows; stdout holds JSON-RPC and nothing
/// else, whatever the sessions print.
#[test]
fn malformed_input_never_ends_the_server() {
    let mut raw = Raw::start(&[]);
    raw.send("this is not JSON");
    raw.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":"#);
    // A message past the transport's 16 MiB bound is dropped, not buffered.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"run_python","arguments":{{"code":"{}"}}}}}}"#,
        "x".repeat(17 << 20)
    );
    raw.send(&huge);
    let unknown = raw.ask(r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#);
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let session = raw.tool(4, "run_python", serde_json::json!({"code": "1", "session": "s99"}));
    assert_eq!(session["error"]["code"], -32602, "{session}");
    // What a session prints comes back in the result, never on stdout.
    let code = "import os, sys\nprint('out')\nprint('err', file=sys.stderr)\nos.write(1, b'raw\\n')\n6 * 7";
    let noisy = raw.tool(5, "run_python", serde_json::json!({ "code": code }));
    let result = &noisy["result"]["structuredContent"];
    assert_eq!((&result["stdout"], &result["stderr"]), (&"out\nraw\n".into(), &"err\n".into()), "{noisy}");
    assert_eq!(result["result"]["json"], 42);
    assert!(result.get("files").is_none(), "no folder granted, no files: {result}");
    // A flood of output comes back cut, saying how much more there was;
    // the next call's output is whole again.
    let session = result["session"].clone();
    let flood = raw.tool(6, "run_python", serde_json::json!({"code": "print('x' * 300_000)", "session": session}));
    let stdout = flood["result"]["structuredContent"]["stdout"].as_str().expect("stdout").to_owned();
    assert_eq!(stdout, format!("{}\n... (200001 more bytes)\n", "x".repeat(100_000)));
    let after = raw.tool(7, "run_python", serde_json::json!({"code": "print('ok')", "session": session}));
    assert_eq!(after["result"]["structuredContent"]["stdout"], "ok\n", "{after}");
    raw.finish();
}

/// A session no call used for the idle timeout is closed.
#[test]
fn idle_sessions_are_closed() {
    let mut raw = Raw::start(&["--idle-timeout", "1s"]);
    let made = raw.tool(2, "run_python", serde_json::json!({"code": "x = 1"}));
    let id = made["result"]["structuredContent"]["session"].clone();
    let sessions = |raw: &mut Raw| {
        raw.tool(3, "list_sessions", serde_json::json!({}))["result"]["structuredContent"]["sessions"].clone()
    };
    assert_eq!(sessions(&mut raw), serde_json::json!([id]));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(sessions(&mut raw), serde_json::json!([]));
    raw.finish();
}

/// The files a call wrote in a granted read-write folder are listed, by
/// the sandbox's paths; older ones and symbolic links are not.
#[test]
fn files_a_call_writes_are_listed() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("old.txt"), "before").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", work.path().join("link")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let grant = format!("{}:/work", work.path().display());
    let mut raw = Raw::start(&["--dir", &grant]);
    let code = "import os\nos.makedirs('/work/sub')\nopen('/work/out.csv', 'w').write('a,b\\n1,2\\n')\nopen('/work/sub/n.txt', 'w').write('x')";
    let answer = raw.tool(2, "run_python", serde_json::json!({ "code": code }));
    let mut files = answer["result"]["structuredContent"]["files"].as_array().expect("files").clone();
    files.sort_by_key(|file| file["path"].to_string());
    assert_eq!(
        files,
        [
            serde_json::json!({"path": "/work/out.csv", "size": 8}),
            serde_json::json!({"path": "/work/sub/n.txt", "size": 1})
        ]
    );
    let again = raw.tool(
        3,
        "run_python",
        serde_json::json!({"code": "1", "session": answer["result"]["structuredContent"]["session"]}),
    );
    assert_eq!(again["result"]["structuredContent"]["files"], serde_json::json!([]));
    raw.finish();
}

#[test]
fn an_mcp_client_reaches_the_sessions_over_streamable_http() {
    let mut server = isolate().args(["mcp", "--http", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap()).lines();
    // The compilation notice may come first.
    let url = loop {
        let line = stderr.next().expect("the server says where it serves").unwrap();
        if let Some(url) = line.strip_prefix("isolate mcp: serving on ") {
            break url.to_owned();
        }
    };
    let client = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/http_client.py");
    let out = Command::new(python_with_mcp()).args([client, &url]).output().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(out.status.success(), "the client failed:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mcp http client: all checks passed\n");
}

/// A grant that cannot work fails when the server starts, as `run` fails.
#[test]
fn a_bad_grant_fails_at_start() {
    let out = isolate().args(["mcp", "--dir", "/no/such/folder:/work"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot grant `/no/such/folder`"), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn http_is_served_on_loopback_only() {
    let out = isolate().args(["mcp", "--http", "0.0.0.0:8000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"), "{out:?}");
}

/// Small files of the granted folders are resources, by the sandbox's
/// paths; nothing outside them, through a symbolic link or `..`, nor a
/// large file, is read back.
#[test]
fn granted_files_read_back_as_resources() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("big.bin"), vec![0u8; (1 << 20) + 1]).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", work.path().join("link.txt")).unwrap();
    let grant = format!("{}:/work", work.path().display());
    let mut raw = Raw::start(&["--dir", &grant]);
    let code =
        "open('/work/out.csv', 'w').write('a,b\\n1,2\\n')\nopen('/work/raw.bin', 'wb').write(bytes([0, 255, 1]))";
    raw.tool(2, "run_python", serde_json::json!({ "code": code }));

    let listed = raw.ask(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#);
    let mut resources: Vec<(String, serde_json::Value, serde_json::Value)> = listed["result"]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|resource| {
            (resource["uri"].as_str().unwrap().to_owned(), resource["size"].clone(), resource["mimeType"].clone())
        })
        .collect();
    resources.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        resources,
        [
            ("file:///work/out.csv".to_owned(), 8.into(), "text/csv".into()),
            ("file:///work/raw.bin".to_owned(), 3.into(), serde_json::Value::Null),
        ]
    );
    let read = |raw: &mut Raw, uri: &str| {
        raw.ask(
            &serde_json::json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": uri}})
                .to_string(),
        )
    };
    let csv = read(&mut raw, "file:///work/out.csv");
    assert_eq!(csv["result"]["contents"][0]["text"], "a,b\n1,2\n", "{csv}");
    let binary = read(&mut raw, "file:///work/raw.bin");
    assert_eq!(binary["result"]["contents"][0]["blob"], "AP8B", "{binary}");
    for refused in [
        "file:///work/link.txt",
        "file:///work/big.bin",
        "file:///work/../etc/passwd",
        "file:///etc/passwd",
        "file:///work/missing",
        "file:///work",
        "http://example.com/x",
    ] {
        let answer = read(&mut raw, refused);
        assert!(answer["error"]["code"].is_i64() && answer.get("result").is_none(), "{refused}: {answer}");
    }
    raw.finish();
}
