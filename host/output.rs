//! Where an interpreter's stdout and stderr go.

use std::fmt;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::sync::lock;

/// The default cap on captured output, per stream: 16 MiB.
///
/// Captured output is held in host memory, so a guest that prints without
/// end must not be able to grow it without end.
pub const DEFAULT_CAPTURE_LIMIT: usize = 16 << 20;

/// How many bytes a guest may hand over in one write. wasmtime-wasi's own
/// streams use the same figure; it bounds the host's buffer per write.
const WRITE_PERMIT: usize = 64 << 10;

/// Where an interpreter's stdout or stderr goes.
///
/// By default both are captured ([`Output::capture`]), and read back with
/// [`Interpreter::take_stdout`](crate::Interpreter::take_stdout) and
/// [`take_stderr`](crate::Interpreter::take_stderr).
#[derive(Clone)]
pub struct Output(Kind);

#[derive(Clone)]
enum Kind {
    Capture(Arc<Mutex<Captured>>),
    Inherit,
    Writer(Arc<Mutex<dyn Write + Send>>),
    Discard,
}

impl Output {
    /// Keeps the output in memory, up to [`DEFAULT_CAPTURE_LIMIT`] bytes.
    pub fn capture() -> Self {
        Self::capture_up_to(DEFAULT_CAPTURE_LIMIT)
    }

    /// Keeps the first `limit` bytes of output in memory; what comes after
    /// is counted in [`Captured::dropped`] and discarded. The guest is not
    /// told: its writes succeed.
    pub fn capture_up_to(limit: usize) -> Self {
        Output(Kind::Capture(Arc::new(Mutex::new(Captured { limit, ..Captured::default() }))))
    }

    /// Writes straight to this process's own stdout (for an interpreter's
    /// stdout) or stderr (for its stderr). The guest sees a terminal if the
    /// process has one.
    pub fn inherit() -> Self {
        Output(Kind::Inherit)
    }

    /// Writes each chunk the guest writes to `writer`, as it comes, holding
    /// nothing back. An error from `writer` reaches the guest as an `OSError`
    /// (`BrokenPipeError` for a closed pipe).
    pub fn writer(writer: impl Write + Send + 'static) -> Self {
        Output(Kind::Writer(Arc::new(Mutex::new(writer))))
    }

    /// Throws the output away.
    pub fn discard() -> Self {
        Output(Kind::Discard)
    }

    /// Where a fork's output goes: a capture of its own with the same
    /// limit (each fork's output is read from the fork), else the same
    /// place as this one's.
    pub(crate) fn for_fork(&self) -> Output {
        match &self.0 {
            Kind::Capture(captured) => Output::capture_up_to(lock(captured).limit),
            _ => self.clone(),
        }
    }

    /// Takes what was captured so far, leaving the capture empty (its limit
    /// starts over). Empty unless this output captures.
    pub(crate) fn take_captured(&self) -> Captured {
        match &self.0 {
            Kind::Capture(captured) => {
                let mut captured = lock(captured);
                let limit = captured.limit;
                std::mem::replace(&mut *captured, Captured { limit, ..Captured::default() })
            }
            _ => Captured::default(),
        }
    }

    /// Connects this output to the guest's stdout.
    pub(crate) fn attach_stdout(&self, wasi: &mut WasiCtxBuilder) {
        wasi.stdout(self.sink(Stdio::Out));
    }

    /// Connects this output to the guest's stderr.
    pub(crate) fn attach_stderr(&self, wasi: &mut WasiCtxBuilder) {
        wasi.stderr(self.sink(Stdio::Err));
    }

    /// The host end of the stream; `inherited` is the one this process's
    /// own it stands for, if it inherits.
    fn sink(&self, inherited: Stdio) -> Sink {
        match &self.0 {
            Kind::Capture(captured) => Sink::Capture(captured.clone()),
            Kind::Writer(writer) => Sink::Writer(writer.clone()),
            Kind::Discard => Sink::Discard,
            // Not wasmtime-wasi's own inherited streams: they make a closed
            // pipe EIO, where CPython says BrokenPipeError.
            Kind::Inherit => Sink::Inherit(inherited),
        }
    }
}

impl Default for Output {
    fn default() -> Self {
        Self::capture()
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Capture(captured) => write!(f, "Output::capture_up_to({})", lock(captured).limit),
            Kind::Inherit => f.write_str("Output::inherit()"),
            Kind::Writer(_) => f.write_str("Output::writer(..)"),
            Kind::Discard => f.write_str("Output::discard()"),
        }
    }
}

/// Output kept in memory by [`Output::capture`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The bytes written, up to the limit.
    pub bytes: Vec<u8>,
    /// How many bytes were written past the limit and thrown away.
    pub dropped: u64,
    limit: usize,
}

impl Captured {
    /// The bytes as text, with invalid UTF-8 replaced by U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// True if output was thrown away because the limit was reached.
    pub fn is_truncated(&self) -> bool {
        self.dropped > 0
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.bytes.len());
        let kept = room.min(bytes.len());
        self.bytes.extend_from_slice(&bytes[..kept]);
        self.dropped += (bytes.len() - kept) as u64;
    }
}

/// This process's stdout or stderr.
#[derive(Clone, Copy)]
enum Stdio {
    Out,
    Err,
}

/// The host end of a guest's output stream.
#[derive(Clone)]
enum Sink {
    Capture(Arc<Mutex<Captured>>),
    Writer(Arc<Mutex<dyn Write + Send>>),
    Discard,
    Inherit(Stdio),
}

impl Sink {
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Capture(captured) => {
                lock(captured).append(bytes);
                Ok(())
            }
            Sink::Writer(writer) => lock(writer).write_all(bytes),
            Sink::Discard => Ok(()),
            Sink::Inherit(Stdio::Out) => io::stdout().write_all(bytes),
            Sink::Inherit(Stdio::Err) => io::stderr().write_all(bytes),
        }
    }

    fn flush(&self) -> io::Result<()> {
        match self {
            Sink::Writer(writer) => lock(writer).flush(),
            Sink::Capture(_) | Sink::Discard => Ok(()),
            Sink::Inherit(Stdio::Out) => io::stdout().flush(),
            Sink::Inherit(Stdio::Err) => io::stderr().flush(),
        }
    }
}

fn stream_error(err: io::Error) -> StreamError {
    // wasmtime-wasi's WASI preview 1 maps an error to an errno by its OS
    // error code: a broken pipe must carry EPIPE to reach Python as
    // `BrokenPipeError` (a kind alone would be EIO).
    #[cfg(unix)]
    if err.kind() == io::ErrorKind::BrokenPipe && err.raw_os_error().is_none() {
        const EPIPE: i32 = 32;
        return StreamError::LastOperationFailed(io::Error::from_raw_os_error(EPIPE).into());
    }
    StreamError::LastOperationFailed(err.into())
}

impl IsTerminal for Sink {
    fn is_terminal(&self) -> bool {
        match self {
            Sink::Inherit(Stdio::Out) => io::IsTerminal::is_terminal(&io::stdout()),
            Sink::Inherit(Stdio::Err) => io::IsTerminal::is_terminal(&io::stderr()),
            Sink::Capture(_) | Sink::Writer(_) | Sink::Discard => false,
        }
    }
}

impl StdoutStream for Sink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

// Writes never block (the sinks are memory or the caller's writer), so the
// stream is always ready and its permit is constant.
#[async_trait::async_trait]
impl Pollable for Sink {
    async fn ready(&mut self) {}
}

impl OutputStream for Sink {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        Sink::write(self, &bytes).map_err(stream_error)
    }

    fn flush(&mut self) -> StreamResult<()> {
        Sink::flush(self).map_err(stream_error)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for Sink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Sink::write(&self, buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Sink::flush(&self))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
