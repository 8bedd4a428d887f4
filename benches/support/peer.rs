//! The native CPython the benches measure peers with.

use std::path::PathBuf;
use std::process::Command;

/// A CPython >= 3.12 to run the peers with.
pub fn peer_python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("ISOLATE_PEER_PYTHON") {
        return Some(python.into());
    }
    let pyenv = dirs::home_dir().unwrap_or_default().join(".pyenv/versions");
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(&pyenv)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let minor: u32 = name.strip_prefix("3.")?.split('.').next()?.parse().ok()?;
            let python = entry.path().join("bin/python3");
            (minor >= 12 && python.exists()).then_some((minor, python))
        })
        .collect();
    found.sort();
    if let Some((_, python)) = found.pop() {
        return Some(python);
    }
    let version =
        Command::new("python3").args(["-c", "import sys; print(sys.version_info >= (3, 12))"]).output().ok()?;
    (String::from_utf8_lossy(&version.stdout).trim() == "True").then(|| "python3".into())
}
