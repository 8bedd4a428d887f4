//! Output: captured with a cap, streamed to a writer, discarded.

use std::io::Write;
use std::sync::{Arc, Mutex};

use isolate::Output;

use crate::{interpreter, runtime};

#[test]
fn stdout_and_stderr_are_captured_separately() {
    let interp = interpreter();
    interp.run("import sys\nprint('out')\nprint('err', file=sys.stderr)").unwrap();
    assert_eq!(interp.take_stdout().text(), "out\n");
    assert_eq!(interp.take_stderr().text(), "err\n");
    // Taking empties the capture.
    assert_eq!(interp.take_stdout().text(), "");
}

#[test]
fn output_is_flushed_at_the_end_of_each_run_even_on_error() {
    let interp = interpreter();
    interp.run("print('partial', end='')\n1/0").unwrap_err();
    assert_eq!(interp.take_stdout().text(), "partial");
}

#[test]
fn capture_keeps_the_first_bytes_up_to_the_limit() {
    let interp = runtime().interpreter().stdout(Output::capture_up_to(10)).build().unwrap();
    interp.run("print('0123456789abcdef')").unwrap();
    let captured = interp.take_stdout();
    assert_eq!(captured.bytes, b"0123456789");
    assert_eq!(captured.dropped, 7);
    assert!(captured.is_truncated());
    // The limit starts over after a take.
    interp.run("print('xy')").unwrap();
    let captured = interp.take_stdout();
    assert_eq!((captured.text().as_str(), captured.dropped), ("xy\n", 0));
}

#[test]
fn a_flood_of_output_stays_within_the_cap() {
    let interp = runtime().interpreter().stdout(Output::capture_up_to(1 << 20)).build().unwrap();
    interp.run("for _ in range(200_000): print('x' * 99)").unwrap();
    let captured = interp.take_stdout();
    assert_eq!(captured.bytes.len(), 1 << 20);
    assert_eq!(captured.dropped, 200_000 * 100 - (1 << 20));
}

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_receives_output_as_it_is_flushed() {
    let buffer = SharedBuffer::default();
    let interp = runtime().interpreter().stdout(Output::writer(buffer.clone())).build().unwrap();
    interp.run("import sys\nprint('first', flush=True)\nsys.stdout.buffer.write(bytes([0, 255, 10]))").unwrap();
    assert_eq!(buffer.0.lock().unwrap().as_slice(), b"first\n\x00\xff\n");
    // Nothing is captured when output goes to a writer.
    assert!(interp.take_stdout().bytes.is_empty());
}

struct BrokenPipe;

impl Write for BrokenPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_surfaces_in_python_not_in_the_host() {
    let interp = runtime().interpreter().stdout(Output::writer(BrokenPipe)).build().unwrap();
    // As for CPython on a closed pipe: the write fails in Python, which can
    // catch it, and the run itself completes.
    interp.run("import sys\ntry:\n    print('x', flush=True)\nexcept OSError as e:\n    print(type(e).__name__, file=sys.stderr)").unwrap();
    assert!(interp.take_stderr().text().starts_with("BrokenPipeError"));
}

#[test]
fn discarded_output_goes_nowhere() {
    let interp = runtime().interpreter().stdout(Output::discard()).build().unwrap();
    interp.run("print('gone')").unwrap();
    assert!(interp.take_stdout().bytes.is_empty());
}
