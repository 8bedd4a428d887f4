//! Five popular pure-Python packages' own test suites, run by pytest in the
//! sandbox beside a native CPython: `cargo bench --bench suites` (add
//! `-- --only attrs` for one).
//!
//! The work is benches/suites/suites.py's, run with the native CPython the
//! other benches use (`$ISOLATE_PEER_PYTHON`, else the newest pyenv 3.12+,
//! else `python3`): it downloads the packages' sdists and pytest's wheels
//! from PyPI into target/suites/ (the network is needed the first time),
//! runs each suite both ways, and prints tests passed, failed and skipped,
//! wall times, and every test whose outcome differs.

#[path = "support/peer.rs"]
mod peer;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let Some(python) = peer::peer_python() else {
        eprintln!("suites: no CPython 3.12 or newer found (set ISOLATE_PEER_PYTHON)");
        return ExitCode::FAILURE;
    };
    // `cargo bench` passes `--bench`; the rest goes to the script.
    let passed = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(&python)
        .arg(format!("{root}/benches/suites/suites.py"))
        .args(["--isolate", env!("CARGO_BIN_EXE_isolate"), "--work", &format!("{root}/target/suites")])
        .args(passed)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("suites: {} exited with {status}", python.display());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("suites: cannot run {}: {err}", python.display());
            ExitCode::FAILURE
        }
    }
}
