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

/// Lines a broken client might send: each gets an answer or is skipped,
/// and the server answers what follows; stdout holds JSON-RPC and nothing
/// else, whatever the sessions print.
#[test]
fn malformed_input_never_ends_the_server() {
    let mut server = isolate().args(["mcp"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut input = server.stdin.take().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut answer = |input: &mut std::process::ChildStdin, request: &str| -> serde_json::Value {
        writeln!(input, "{request}").unwrap();
        let line = lines.next().expect("an answer").unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON on stdout: {line}"))
    };
    let init = answer(
        &mut input,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "isolate");
    writeln!(input, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    writeln!(input, "this is not JSON").unwrap();
    writeln!(input, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":"#).unwrap();
    let unknown = answer(&mut input, r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#);
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let session = answer(
        &mut input,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"run_python","arguments":{"code":"1","session":"s99"}}}"#,
    );
    assert_eq!(session["error"]["code"], -32602, "{session}");
    // What a session prints comes back in the result, never on stdout.
    let noisy = answer(
        &mut input,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"run_python","arguments":{"code":"import os, sys\nprint('out')\nprint('err', file=sys.stderr)\nos.write(1, b'raw\\n')\n6 * 7"}}}"#,
    );
    let result = &noisy["result"]["structuredContent"];
    assert_eq!((&result["stdout"], &result["stderr"]), (&"out\nraw\n".into(), &"err\n".into()), "{noisy}");
    assert_eq!(result["result"]["json"], 42);
    drop(input);
    assert!(server.wait().unwrap().success(), "the server should end when its input does");
}

/// A session no call used for the idle timeout is closed.
#[test]
fn idle_sessions_are_closed() {
    let mut server =
        isolate().args(["mcp", "--idle-timeout", "1s"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut input = server.stdin.take().unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut answer = |input: &mut std::process::ChildStdin, request: &str| -> serde_json::Value {
        writeln!(input, "{request}").unwrap();
        serde_json::from_str(&lines.next().expect("an answer").unwrap()).unwrap()
    };
    answer(
        &mut input,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
    );
    writeln!(input, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_sessions","arguments":{}}}"#;
    let made = answer(
        &mut input,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run_python","arguments":{"code":"x = 1"}}}"#,
    );
    let id = made["result"]["structuredContent"]["session"].clone();
    assert_eq!(answer(&mut input, list)["result"]["structuredContent"]["sessions"], serde_json::json!([id]));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(answer(&mut input, list)["result"]["structuredContent"]["sessions"], serde_json::json!([]));
    drop(input);
    assert!(server.wait().unwrap().success());
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

#[test]
fn http_is_served_on_loopback_only() {
    let out = isolate().args(["mcp", "--http", "0.0.0.0:8000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"), "{out:?}");
}
