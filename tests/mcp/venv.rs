//! A Python with the official `mcp` SDK: a virtual environment under
//! target/, made from PyPI once (shared by tests/all/mcp.rs and
//! benches/mcp.rs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Tests run on threads of one process: one makes the environment, the
/// others wait for it (`--clear` would wipe it under them).
static MAKING: Mutex<()> = Mutex::new(());

/// The environment's `python`, made in `target_tmp` (`CARGO_TARGET_TMPDIR`)
/// if it is not there yet.
pub fn python_with_mcp(target_tmp: &Path) -> PathBuf {
    let venv = target_tmp.join("mcp-venv");
    let python = venv.join("bin").join("python");
    let ready = venv.join("ready");
    let _making = MAKING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !ready.exists() {
        let made = Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv).status().expect("python3");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "mcp>=2,<3"])
            .status()
            .expect("pip");
        assert!(installed.success(), "pip install mcp failed");
        std::fs::write(&ready, "").expect("mark the environment ready");
    }
    python
}
