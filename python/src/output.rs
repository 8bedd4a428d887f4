//! A sandbox's stdout and stderr, written to the host program's Python.

use std::io::{self, Write};

use pyo3::prelude::*;

/// Where a stream's text goes: the host's `sys.stdout` or `sys.stderr` as
/// it is at each write (so that pytest's capture, Jupyter and
/// `contextlib.redirect_stdout` see it), or a callable given text.
pub(crate) enum Target {
    Sys(&'static str),
    Callable(Py<PyAny>),
}

/// Decodes the guest's bytes as UTF-8 across writes (a character may be
/// split between two) and hands the text to its target.
pub(crate) struct PythonWriter {
    target: Target,
    pending: Vec<u8>,
}

impl PythonWriter {
    pub(crate) fn new(target: Target) -> Self {
        Self { target, pending: Vec::new() }
    }

    /// The longest prefix of what is pending that is whole UTF-8 (invalid
    /// bytes replaced), leaving an incomplete last character pending.
    fn take_text(&mut self) -> String {
        let complete = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(err) if err.error_len().is_none() => err.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let rest = self.pending.split_off(complete);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }
}

impl Write for PythonWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        let text = self.take_text();
        if text.is_empty() {
            return Ok(bytes.len());
        }
        Python::attach(|py| {
            let written = match &self.target {
                Target::Sys(name) => py
                    .import("sys")
                    .and_then(|sys| sys.getattr(*name))
                    .and_then(|stream| stream.call_method1("write", (text,)).map(drop)),
                Target::Callable(callable) => callable.call1(py, (text,)).map(drop),
            };
            // The guest cannot be told: the host's error is reported as
            // Python reports an error nothing can catch.
            if let Err(err) = written {
                err.write_unraisable(py, None);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Target::Sys(name) = self.target {
            Python::attach(|py| {
                if let Err(err) =
                    py.import("sys").and_then(|sys| sys.getattr(name)).and_then(|s| s.call_method0("flush"))
                {
                    err.write_unraisable(py, None);
                }
            });
        }
        Ok(())
    }
}
