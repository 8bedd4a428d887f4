//! What of the host an interpreter may see: nothing, unless granted.
//!
//! Each grant adds exactly one capability: a directory (read-only or
//! read-write), an environment variable, or stdin. wasmtime-wasi opens a
//! granted directory with cap-std, so no path inside it (`..`, absolute
//! paths, symlinks pointing out) reaches anything outside it.

use std::path::{Path, PathBuf};

use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::{Error, Result};
use crate::hash_seed::HashSeed;

/// What an interpreter may do in a directory granted to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirAccess {
    /// Read files and list folders; any write fails with `PermissionError`.
    ReadOnly,
    /// Read, create, write, rename and delete.
    ReadWrite,
}

#[derive(Debug, Clone, Default)]
pub(crate) enum Stdin {
    /// Reads get end of file.
    #[default]
    Empty,
    /// Reads get these bytes, then end of file.
    Bytes(Vec<u8>),
    /// Reads get this process's stdin.
    Inherit,
}

/// The grants of one interpreter.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grants {
    pub(crate) dirs: Vec<(PathBuf, String, DirAccess)>,
    /// Folders of code: each read-only at its own path and on `sys.path`.
    /// Unlike the others, the interpreters its code creates get them too,
    /// as CPython's subinterpreters share `PYTHONPATH`: they need the same
    /// modules (a worker imports the module of the function it runs).
    pub(crate) module_paths: Vec<(PathBuf, String)>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) stdin: Stdin,
    /// The working directory to start in, if not `/`.
    pub(crate) working_dir: Option<String>,
    /// The hash secret's seed, if not the environment's: an interpreter
    /// created by another's code has its creator's, as CPython's
    /// subinterpreters share their process's.
    pub(crate) hash_seed: Option<HashSeed>,
}

impl Grants {
    /// Adds the grants to a WASI context being built.
    pub(crate) fn apply(&self, wasi: &mut WasiCtxBuilder) -> Result<()> {
        let code = self.module_paths.iter().map(|(host, guest)| (host, guest, &DirAccess::ReadOnly));
        for (host, guest, access) in self.dirs.iter().map(|(host, guest, access)| (host, guest, access)).chain(code) {
            let perms = match access {
                DirAccess::ReadOnly => FsPerms::ReadOnly,
                DirAccess::ReadWrite => FsPerms::ReadWrite,
            };
            wasi.preopened_dir(host, guest, perms).map_err(|err| Error::Grant {
                path: host.clone(),
                source: std::io::Error::other(format!("{err:#}")),
            })?;
        }
        for (key, value) in &self.env {
            wasi.env(key, value);
        }
        match &self.stdin {
            Stdin::Empty => {}
            Stdin::Bytes(bytes) => {
                wasi.stdin(MemoryInputPipe::new(bytes.clone()));
            }
            Stdin::Inherit => {
                wasi.inherit_stdin();
            }
        }
        Ok(())
    }

    /// The working directory, normalized, checked to be a folder the
    /// sandbox has: `/` or a folder above the mounts, `/tmp`, or a folder
    /// inside a granted one (as it is on the host now). `guest_files` are
    /// the guest's own mounts, as `(host, guest)`.
    pub(crate) fn checked_working_dir(&self, guest_files: &[(&Path, &str)]) -> Result<Option<String>> {
        let Some(dir) = &self.working_dir else { return Ok(None) };
        let refuse = |why: &str| Error::Config(format!("working directory {dir:?}: {why}"));
        if !dir.starts_with('/') {
            return Err(refuse("not an absolute path"));
        }
        let dir = crate::wasi::tree::normalize("/", dir);
        let mounts = self
            .dirs
            .iter()
            .map(|(host, guest, _)| (host.as_path(), guest.as_str()))
            .chain(self.module_paths.iter().map(|(host, guest)| (host.as_path(), guest.as_str())))
            .chain(guest_files.iter().copied())
            .map(|(host, guest)| (host, crate::wasi::tree::normalize("/", guest)));
        // The deepest mount holding it, as the sandbox resolves it.
        let mut best: Option<(&Path, String)> = None;
        let mut above = dir == "/" || dir == crate::wasi::tree::TMP;
        for (host, point) in mounts {
            if let Some(rest) = crate::wasi::tree::below(&dir, &point) {
                if best.as_ref().is_none_or(|(_, known)| point.len() >= known.len()) {
                    best = Some((host, rest.to_owned()));
                }
            } else if crate::wasi::tree::below(&point, &dir).is_some() {
                above = true;
            }
        }
        match best {
            Some((host, rest)) if host.join(&rest).is_dir() => Ok(Some(dir)),
            Some(_) => Err(refuse("not a folder in the granted one it lies in")),
            None if above => Ok(Some(dir)),
            None => Err(refuse("not inside any folder the sandbox has (grant one: `--dir`, `preopened_dir`)")),
        }
    }

    /// The seed of the interpreter's hash secret.
    pub(crate) fn hash_seed(&self) -> Result<HashSeed> {
        match self.hash_seed {
            Some(seed) => Ok(seed),
            None => HashSeed::of_environment(&self.env),
        }
    }

    /// What the interpreters an interpreter's code creates inherit of its
    /// grants: its module paths, and the seed of its hash secret (not the
    /// variable that chose it).
    pub(crate) fn for_child(&self) -> Grants {
        Grants { module_paths: self.module_paths.clone(), hash_seed: self.hash_seed, ..Grants::default() }
    }
}
