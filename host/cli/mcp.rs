//! `isolate mcp`: a Model Context Protocol server on stdio whose tools run
//! Python in sessions, each an interpreter of one runtime in a sandbox of
//! its own, with the command line's grants and limits.
//!
//! stdout carries protocol messages and nothing else: the sessions' output
//! is captured and returned with each run, and isolate's own notices go to
//! stderr.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use isolate::{Captured, DirAccess, Error, Interpreter, Output, Runtime, Snapshot, Value};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource, ResourceContents,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::Sandbox;

/// What each new session runs first (see the file).
const SESSION_RUNNER: &str = include_str!("../../guest/mcp_session.py");

/// The sessions of one server.
struct Sessions {
    runtime: Runtime,
    sandbox: Sandbox,
    /// What a new session starts from (`--from`), else a fresh interpreter.
    snapshot: Option<Snapshot>,
    max_sessions: usize,
    /// A session unused for this long is closed.
    idle_timeout: Duration,
    next: AtomicU64,
    live: Mutex<BTreeMap<String, Session>>,
}

/// An open session: its interpreter, and when a call last used it.
struct Session {
    interp: Arc<Interpreter>,
    used: Instant,
}

impl Sessions {
    fn live(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Session>> {
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The session's interpreter; it counts as used now.
    fn get(&self, id: &str) -> Result<Arc<Interpreter>, ErrorData> {
        let mut live = self.live();
        let session = live.get_mut(id).ok_or_else(|| unknown_session(id))?;
        session.used = Instant::now();
        Ok(session.interp.clone())
    }

    /// Takes out the sessions idle for longer than the timeout (a running
    /// one is never idle), for the caller to free.
    fn expire(&self) -> Vec<Session> {
        let mut live = self.live();
        let idle: Vec<String> = live
            .iter()
            .filter(|(_, session)| !session.interp.is_running() && session.used.elapsed() > self.idle_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        idle.iter().filter_map(|id| live.remove(id)).collect()
    }

    /// A name for a new session, if the cap leaves room for one (checked
    /// before making its interpreter, and again by [`open`](Self::open)).
    fn new_id(&self) -> Result<String, ErrorData> {
        if self.live().len() >= self.max_sessions {
            return Err(self.full());
        }
        Ok(format!("s{}", self.next.fetch_add(1, Ordering::Relaxed) + 1))
    }

    fn full(&self) -> ErrorData {
        ErrorData::invalid_request(
            format!("{} sessions are open, the most this server allows: close one first", self.max_sessions),
            None,
        )
    }

    /// A new interpreter with the server's grants and limits, its output
    /// captured, ready to run cells.
    fn create(&self) -> Result<Interpreter, Error> {
        let mut builder = self
            .sandbox
            .apply(self.runtime.interpreter())
            .stdout(Output::capture_up_to(MAX_OUTPUT))
            .stderr(Output::capture_up_to(MAX_OUTPUT));
        if let Some(snapshot) = &self.snapshot {
            builder = builder.snapshot(snapshot);
        }
        let interp = builder.build()?;
        interp.run_script("<isolate:mcp>", SESSION_RUNNER.as_bytes())?;
        Ok(interp)
    }

    /// Opens a session as `id`, unless calls at once filled the cap since
    /// [`new_id`](Self::new_id).
    fn open(&self, id: &str, interp: Interpreter) -> Result<(), ErrorData> {
        let mut live = self.live();
        if live.len() >= self.max_sessions {
            return Err(self.full());
        }
        live.insert(id.to_owned(), Session { interp: Arc::new(interp), used: Instant::now() });
        Ok(())
    }
}

/// The server: its sessions, and the tools that reach them.
#[derive(Clone)]
pub(crate) struct Server {
    sessions: Arc<Sessions>,
    #[allow(dead_code, reason = "read by the code #[tool_handler] writes")]
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RunPython {
    /// Python source to run. If it ends with an expression, that
    /// expression's value is returned (as `repr`, and as JSON when it is
    /// plain data), as in a notebook cell.
    code: String,
    /// The session to run in (its state stays between runs); a new one if
    /// omitted. Its id comes back with the result.
    session: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SessionId {
    /// A session's id, as `run_python` or `list_sessions` gave it.
    session: String,
}

#[tool_router]
impl Server {
    #[tool(description = "Run Python code in a sandboxed CPython 3.15 session (numpy, pandas, scipy, scikit-learn \
        and matplotlib are available; no network, no host files unless the server granted folders). Returns \
        stdout, stderr, the value of a final expression, and the traceback if the code raised. State persists \
        in the session between calls.")]
    async fn run_python(&self, Parameters(request): Parameters<RunPython>) -> Result<CallToolResult, ErrorData> {
        let sessions = self.sessions.clone();
        blocking(move || {
            let (id, interp) = match request.session {
                Some(id) => {
                    let interp = sessions.get(&id)?;
                    (id, interp)
                }
                None => {
                    let id = sessions.new_id()?;
                    sessions.open(&id, sessions.create().map_err(|err| internal(&err))?)?;
                    let interp = sessions.get(&id)?;
                    (id, interp)
                }
            };
            let writable = sessions.sandbox.dirs.iter().any(|(_, _, access)| *access == DirAccess::ReadWrite);
            let before = if writable { files_in(&sessions.sandbox.dirs) } else { BTreeMap::new() };
            let outcome = interp.call("__isolate_mcp__.run", &[Value::from(request.code.as_str())]);
            // Whether the cell raised or not, as a notebook shows them.
            let figures = match &outcome {
                Ok(_) | Err(Error::RunFailed(_)) => figures_of(&interp),
                Err(_) => Vec::new(),
            };
            // Used until now: the idle time counts from the end of a call.
            let _ = sessions.get(&id);
            let stdout = output_text(interp.take_stdout());
            let stderr = output_text(interp.take_stderr());
            let mut report = json!({ "session": id, "stdout": stdout, "stderr": stderr, "figures": figures.len() });
            if writable {
                // Those new or changed since before the call.
                let after = files_in(&sessions.sandbox.dirs);
                let written: Vec<serde_json::Value> = after
                    .into_iter()
                    .filter(|(path, state)| before.get(path) != Some(state))
                    .take(MAX_FILES_LISTED)
                    .map(|(path, (_, size))| json!({ "path": path, "size": size }))
                    .collect();
                report["files"] = written.into();
            }
            let mut result = match outcome {
                Ok(value) => {
                    report["result"] = result_of(value);
                    CallToolResult::structured(report)
                }
                Err(Error::RunFailed(exception)) => {
                    report["error"] = json!({
                        "type": exception.type_name(),
                        "message": exception.message(),
                        "traceback": exception.traceback(),
                    });
                    CallToolResult::structured_error(report)
                }
                Err(Error::AlreadyRunning(_)) => {
                    return Err(ErrorData::invalid_request(
                        format!("session {id} is running another call: wait for it, or fork it"),
                        None,
                    ));
                }
                Err(err) => {
                    // A limit, sys.exit or a trap: the interpreter is gone.
                    sessions.live().remove(&id);
                    report["error"] = json!({ "type": "SessionEnded", "message": err.to_string() });
                    report["session_ended"] = json!(true);
                    CallToolResult::structured_error(report)
                }
            };
            result.content.extend(figures.iter().map(|png| ContentBlock::image(BASE64.encode(png), "image/png")));
            Ok(result)
        })
        .await
    }

    #[tool(description = "Copy a session: the new session starts with everything the original has (variables, \
        imports, functions), and what either does afterwards is its own. Returns the new session's id.")]
    async fn fork_session(
        &self,
        Parameters(SessionId { session }): Parameters<SessionId>,
    ) -> Result<CallToolResult, ErrorData> {
        let sessions = self.sessions.clone();
        blocking(move || {
            let original = sessions.get(&session)?;
            let id = sessions.new_id()?;
            let fork = original.fork().map_err(|err| ErrorData::invalid_request(err.to_string(), None))?;
            sessions.open(&id, fork)?;
            Ok(CallToolResult::structured(json!({ "session": id, "forked_from": session })))
        })
        .await
    }

    #[tool(description = "Start a session over: the same id, a fresh interpreter.")]
    async fn reset_session(
        &self,
        Parameters(SessionId { session }): Parameters<SessionId>,
    ) -> Result<CallToolResult, ErrorData> {
        let sessions = self.sessions.clone();
        blocking(move || {
            sessions.get(&session)?;
            let fresh = Arc::new(sessions.create().map_err(|err| internal(&err))?);
            // Unless it was closed meanwhile: then there is nothing to reset.
            let mut live = sessions.live();
            let open = live.get_mut(&session).ok_or_else(|| unknown_session(&session))?;
            *open = Session { interp: fresh, used: Instant::now() };
            drop(live);
            Ok(CallToolResult::structured(json!({ "session": session, "reset": true })))
        })
        .await
    }

    #[tool(description = "Close a session and free its memory.")]
    async fn close_session(
        &self,
        Parameters(SessionId { session }): Parameters<SessionId>,
    ) -> Result<CallToolResult, ErrorData> {
        let closed = self.sessions.live().remove(&session).ok_or_else(|| unknown_session(&session))?;
        // Freeing an interpreter takes a while: not on the protocol's thread.
        blocking(move || {
            drop(closed);
            Ok(CallToolResult::structured(json!({ "session": session, "closed": true })))
        })
        .await
    }

    #[tool(description = "The open sessions' ids.")]
    async fn list_sessions(&self) -> Result<CallToolResult, ErrorData> {
        let ids: Vec<String> = self.sessions.live().keys().cloned().collect();
        Ok(CallToolResult::structured(json!({ "sessions": ids, "max_sessions": self.sessions.max_sessions })))
    }
}

#[tool_handler]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("isolate", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Sandboxed Python sessions: run_python runs code (a new session unless one is named) and returns its \
                 output and last value; fork_session copies a session to try something without changing it. \
                 Small files in the granted folders are resources (file:// and the path the sessions see).",
            )
    }

    /// The files of every granted folder small enough to read back.
    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let sessions = self.sessions.clone();
        let files = blocking(move || Ok(walk(sessions.sandbox.dirs.iter()))).await?;
        let resources = files
            .into_iter()
            .filter(|(_, (_, size))| *size <= MAX_RESOURCE_SIZE)
            .map(|(path, (_, size))| {
                let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
                let mut resource = Resource::new(format!("file://{path}"), name);
                resource.size = Some(size);
                resource.mime_type = mime_type(&path).map(str::to_owned);
                resource
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    /// A granted file's contents: text if it is UTF-8, else base64.
    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let sessions = self.sessions.clone();
        let uri = request.uri;
        blocking(move || {
            let file = resource_file(&sessions.sandbox.dirs, &uri)?;
            let bytes = read_small(&file)
                .map_err(|err| ErrorData::resource_not_found(format!("{uri}: {}", crate::describe(&err)), None))?;
            let mime = mime_type(&uri);
            let contents = match String::from_utf8(bytes) {
                Ok(text) => ResourceContents::text(text, uri.clone()).with_mime_type(mime.unwrap_or("text/plain")),
                Err(bytes) => ResourceContents::blob(BASE64.encode(bytes.as_bytes()), uri.clone())
                    .with_mime_type(mime.unwrap_or("application/octet-stream")),
            };
            Ok(ReadResourceResult::new(vec![contents]).into())
        })
        .await
    }
}

/// How much of a call's stdout, and of its stderr, comes back: an agent
/// reads it (a result's `repr` is cut at 20,000 characters, in the guest).
const MAX_OUTPUT: usize = 100_000;

/// A call's output as text; past [`MAX_OUTPUT`] bytes, a line says how much
/// more there was.
fn output_text(captured: Captured) -> String {
    let mut text = captured.text();
    if captured.is_truncated() {
        text.push_str(&format!("\n... ({} more bytes)\n", captured.dropped));
    }
    text
}

/// The PNGs of the figures the last cell left open (none if the session
/// cannot say: that is not the cell's failure).
fn figures_of(interp: &Interpreter) -> Vec<Vec<u8>> {
    match interp.call("__isolate_mcp__.take_figures", &[]) {
        Ok(Value::Tuple(pngs)) => pngs.into_iter().filter_map(|png| Vec::<u8>::try_from(png).ok()).collect(),
        _ => Vec::new(),
    }
}

/// Streamable HTTP: every client (an MCP session of the protocol's own)
/// reaches the same sessions. rmcp accepts only loopback `Host`s, against
/// DNS rebinding.
async fn serve_http(server: Server, address: std::net::SocketAddr) -> Result<(), String> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|err| format!("--http {address}: {}", crate::describe(&err)))?;
    let bound = listener.local_addr().map_err(|err| err.to_string())?;
    eprintln!("isolate mcp: serving on http://{bound}/mcp");
    axum::serve(listener, router).await.map_err(|err| err.to_string())
}

/// The most of the folders' trees [`files_in`] looks at, and of the files
/// written that a call lists.
const MAX_ENTRIES_SEEN: usize = 10_000;
const MAX_FILES_LISTED: usize = 100;

/// The files of the read-write folders granted, by the paths the sandbox
/// sees them at, with when they were last modified and their sizes: before
/// and after a call, what it wrote. Symbolic links are not followed.
fn files_in(dirs: &[(PathBuf, String, DirAccess)]) -> BTreeMap<String, (SystemTime, u64)> {
    walk(dirs.iter().filter(|(_, _, access)| *access == DirAccess::ReadWrite))
}

/// Where the sandbox sees a granted folder: `data` is `/data`.
fn guest_root(guest: &str) -> String {
    if guest.starts_with('/') { guest.trim_end_matches('/').to_owned() } else { format!("/{guest}") }
}

/// The files of `dirs`, at most [`MAX_ENTRIES_SEEN`] entries looked at.
fn walk<'a>(dirs: impl Iterator<Item = &'a (PathBuf, String, DirAccess)>) -> BTreeMap<String, (SystemTime, u64)> {
    let mut found = BTreeMap::new();
    let mut seen = 0;
    for (host, guest, _) in dirs {
        let root = guest_root(guest);
        let mut pending = vec![(host.clone(), root, 0)];
        while let Some((dir, named, depth)) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                seen += 1;
                if seen > MAX_ENTRIES_SEEN {
                    return found;
                }
                let (Ok(kind), Some(name)) = (entry.file_type(), entry.file_name().to_str().map(str::to_owned)) else {
                    continue;
                };
                let path = format!("{named}/{name}");
                if kind.is_dir() && depth < 16 {
                    pending.push((entry.path(), path, depth + 1));
                } else if kind.is_file()
                    && let Ok(metadata) = entry.metadata()
                {
                    let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    found.insert(path, (modified, metadata.len()));
                }
            }
        }
    }
    found
}

/// The largest file read back as a resource.
const MAX_RESOURCE_SIZE: u64 = 1 << 20;

/// The host file behind `uri` (`file://` and a path the sandbox sees, in a
/// granted folder), if it is a regular file reached through no symbolic
/// link and no `..`, and small enough to read back.
fn resource_file(dirs: &[(PathBuf, String, DirAccess)], uri: &str) -> Result<PathBuf, ErrorData> {
    let refused = |why: &str| ErrorData::resource_not_found(format!("{uri}: {why}"), None);
    let path = uri.strip_prefix("file://").ok_or_else(|| refused("not a file:// URI of this server"))?;
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    if !path.starts_with('/') || parts.iter().any(|part| *part == "." || *part == "..") {
        return Err(refused("not an absolute path without . or .."));
    }
    // The grant whose folder holds it, the deepest first.
    let (host, depth) = dirs
        .iter()
        .filter_map(|(host, guest, _)| {
            let root: Vec<String> =
                guest_root(guest).split('/').filter(|part| !part.is_empty()).map(str::to_owned).collect();
            (root.len() < parts.len() && root.iter().zip(&parts).all(|(a, b)| a == b)).then_some((host, root.len()))
        })
        .max_by_key(|(_, depth)| *depth)
        .ok_or_else(|| refused("not in a granted folder"))?;
    let mut file = host.clone();
    for part in &parts[depth..] {
        file.push(part);
        let metadata = std::fs::symlink_metadata(&file).map_err(|_| refused("no such file"))?;
        if metadata.file_type().is_symlink() {
            return Err(refused("reached through a symbolic link"));
        }
    }
    let metadata = std::fs::symlink_metadata(&file).map_err(|_| refused("no such file"))?;
    if !metadata.is_file() {
        return Err(refused("not a file"));
    }
    if metadata.len() > MAX_RESOURCE_SIZE {
        return Err(refused(&format!("{} bytes, more than the {MAX_RESOURCE_SIZE} read back", metadata.len())));
    }
    Ok(file)
}

/// `file`'s bytes, if they are at most [`MAX_RESOURCE_SIZE`]: opened
/// without following a symbolic link (a session may have put one there
/// since it was checked) and read no further than the bound.
fn read_small(file: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(file)?;
    let mut bytes = Vec::new();
    opened.take(MAX_RESOURCE_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RESOURCE_SIZE {
        return Err(std::io::Error::other("the file grew past what is read back"));
    }
    Ok(bytes)
}

/// A file's MIME type by its name's extension.
fn mime_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "txt" | "log" | "py" => "text/plain",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// The JSON of a cell's result: `null`, or its `repr` and, when plain, its
/// value as JSON.
fn result_of(value: Value) -> serde_json::Value {
    let Value::Tuple(items) = value else { return serde_json::Value::Null };
    let mut items = items.into_iter();
    let (Some(Value::Str(repr)), Some(encoded)) = (items.next(), items.next()) else {
        return serde_json::Value::Null;
    };
    let json = match encoded {
        Value::Str(text) => serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    json!({ "repr": repr, "json": json })
}

fn unknown_session(id: &str) -> ErrorData {
    ErrorData::invalid_params(format!("no session {id:?}: list_sessions shows the open ones"), None)
}

fn internal(err: &Error) -> ErrorData {
    ErrorData::internal_error(err.to_string(), None)
}

/// Runs `work`, which blocks on interpreters, off the protocol's thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ErrorData> + Send + 'static,
) -> Result<T, ErrorData> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|panic| Err(ErrorData::internal_error(format!("the call failed: {panic}"), None)))
}

/// Why the server could not start or stopped.
pub(crate) enum Failure {
    /// Making a session with the given grants failed: a folder that is not
    /// there, a working directory outside the grants, a snapshot of
    /// another build.
    Session(Error),
    /// The runtime or the protocol failed.
    Server(String),
}

/// Serves MCP on stdin and stdout until the client closes them, or with
/// `http`, streamable HTTP at `http://ADDR/mcp` (a loopback address, which
/// the caller checked) until the process is stopped. A first session is
/// made and dropped before: a grant that cannot work fails here, at once,
/// not at the first call (and the guest is compiled by then if it had to
/// be).
pub(crate) fn serve(
    sandbox: Sandbox,
    snapshot: Option<Snapshot>,
    max_sessions: usize,
    idle_timeout: Duration,
    http: Option<std::net::SocketAddr>,
) -> Result<(), Failure> {
    let runtime = sandbox.runtime().map_err(Failure::Session)?;
    let sessions = Arc::new(Sessions {
        runtime,
        sandbox,
        snapshot,
        max_sessions,
        idle_timeout,
        next: AtomicU64::new(0),
        live: Mutex::new(BTreeMap::new()),
    });
    drop(sessions.create().map_err(Failure::Session)?);
    let server = Server { sessions: sessions.clone(), tool_router: Server::tool_router() };
    let protocol = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::Server(err.to_string()))?;
    protocol
        .block_on(async {
            let reaped = sessions.clone();
            let period = (idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(period).await;
                    let expired = reaped.expire();
                    if !expired.is_empty() {
                        // Freeing interpreters takes a while: not on this thread.
                        let _ = tokio::task::spawn_blocking(move || drop(expired)).await;
                    }
                }
            });
            match http {
                None => {
                    let service = server.serve(rmcp::transport::stdio()).await.map_err(|err| err.to_string())?;
                    service.waiting().await.map_err(|err| err.to_string())?;
                }
                Some(address) => serve_http(server, address).await?,
            }
            Ok(())
        })
        .map_err(Failure::Server)
}
