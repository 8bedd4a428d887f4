//! Integration tests, one module per thing they defend.

mod cache;
mod cancel;
mod channels;
mod cli;
mod documented;
mod errors;
mod files;
mod fork;
mod grants;
mod hash_seed;
mod host_functions;
mod interpreters;
mod limits;
mod mcp;
mod output;
mod pep734;
mod science;
mod scripts;
mod stress;
mod values;

use std::sync::OnceLock;

use isolate::{Interpreter, Runtime};

/// One runtime for the whole test binary: building one loads the compiled
/// guest, which only needs doing once.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("the runtime builds"))
}

pub fn interpreter() -> Interpreter {
    runtime().create_interpreter().expect("an interpreter is created")
}

/// Runs `source` in a fresh interpreter and returns its captured stdout.
pub fn stdout_of(source: &str) -> String {
    let interp = interpreter();
    if let Err(err) = interp.run(source) {
        panic!("{source:?} failed: {err}\nstderr:\n{}", interp.take_stderr().text());
    }
    interp.take_stdout().text()
}
