//! Builds the guest: CPython 3.14 plus guest/driver.py as a WebAssembly
//! component, and the matching standard library, both embedded in the crate.
//!
//! Steps, each skipped when its output is already there:
//! 1. a venv under `target/isolate-guest/` with the pinned componentize-py;
//! 2. `componentize-py componentize` of guest/export_stdlib.py, which copies
//!    the embedded interpreter's stdlib out and byte-compiles it;
//! 3. `componentize-py componentize` of guest/driver.py against wit/;
//! 4. zstd-compressed copies of both, whose paths and content hash are passed
//!    to the crate as `ISOLATE_GUEST_*` environment variables.
//!
//! The outputs live in `target/isolate-guest/<hash of the inputs>/`, shared by
//! every profile, so debug, release and test builds build the guest once.

use std::env;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release the guest is built with. It embeds CPython
/// 3.14.0 and targets WASI 0.2; changing it changes the interpreter.
const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Files whose content defines the guest; a change to any rebuilds it.
const GUEST_INPUTS: &[&str] =
    &["wit/world.wit", "guest/driver.py", "guest/asyncio_wasi.py", "guest/interpreters.py", "guest/export_stdlib.py"];

/// The modules of the guest driver app (guest/export_stdlib.py is its own app).
const DRIVER_MODULES: &[&str] = &["driver.py", "asyncio_wasi.py", "interpreters.py"];

/// zstd level for the embedded artifacts: a good ratio at a few seconds.
const ZSTD_LEVEL: i32 = 12;

fn main() {
    if let Err(err) = build() {
        // A build script reports failure by panicking; say what to do first.
        panic!("\n\nisolate: building the Python guest failed: {err}\n\n");
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    for input in GUEST_INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    println!("cargo:rerun-if-env-changed=ISOLATE_BUILD_PYTHON");

    let inputs_hash = hash_inputs(&manifest_dir)?;
    let guest_root = target_dir(&manifest_dir).join("isolate-guest");
    let out = guest_root.join(format!("{inputs_hash:016x}"));
    let done = out.join("done");
    if !done.exists() {
        let venv = ensure_venv(&guest_root)?;
        build_guest(&manifest_dir, &venv, &out)?;
        fs::write(&done, b"").map_err(|e| format!("writing {}: {e}", done.display()))?;
    }

    let guest = out.join("guest.wasm.zst");
    let stdlib = out.join("stdlib.tar.zst");
    println!("cargo:rustc-env=ISOLATE_GUEST_COMPONENT={}", guest.display());
    println!("cargo:rustc-env=ISOLATE_GUEST_STDLIB={}", stdlib.display());
    println!("cargo:rustc-env=ISOLATE_GUEST_HASH={inputs_hash:016x}");
    println!("cargo:rustc-env=ISOLATE_COMPONENTIZE_PY_VERSION={COMPONENTIZE_PY_VERSION}");
    let python_version = fs::read_to_string(out.join("python-version.txt")).map_err(|e| e.to_string())?;
    println!("cargo:rustc-env=ISOLATE_PYTHON_VERSION={}", python_version.trim());
    Ok(())
}

fn hash_inputs(manifest_dir: &Path) -> Result<u64, String> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(COMPONENTIZE_PY_VERSION.as_bytes());
    for input in GUEST_INPUTS {
        let bytes = fs::read(manifest_dir.join(input)).map_err(|e| format!("reading {input}: {e}"))?;
        hasher.update(input.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hasher.digest())
}

fn target_dir(manifest_dir: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest_dir.join(dir),
        None => manifest_dir.join("target"),
    }
}

/// A venv with the pinned componentize-py, made once and reused.
fn ensure_venv(guest_root: &Path) -> Result<PathBuf, String> {
    let venv = guest_root.join(format!("venv-componentize-py-{COMPONENTIZE_PY_VERSION}"));
    if componentize_py(&venv).exists() {
        return Ok(venv);
    }
    let python = env::var("ISOLATE_BUILD_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let staging = guest_root.join("venv-staging");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(guest_root).map_err(|e| e.to_string())?;
    run(Command::new(&python).args(["-m", "venv"]).arg(&staging), "creating a venv with python3")?;
    let pip = staging.join("bin").join("pip");
    run(
        Command::new(&pip)
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}")),
        "installing componentize-py from PyPI",
    )?;
    // Renamed only once complete, so an interrupted install is redone.
    let _ = fs::remove_dir_all(&venv);
    fs::rename(&staging, &venv).map_err(|e| e.to_string())?;
    // The venv's scripts name their interpreter by the staging path; call
    // componentize-py through its python instead of its script.
    Ok(venv)
}

fn componentize_py(venv: &Path) -> PathBuf {
    venv.join("bin").join("componentize-py")
}

fn build_guest(manifest_dir: &Path, venv: &Path, out: &Path) -> Result<(), String> {
    let _ = fs::remove_dir_all(out);
    let work = out.join("work");
    let stdlib_app = work.join("stdlib-app");
    let driver_app = work.join("driver-app");
    for dir in [&stdlib_app, &driver_app] {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    // The apps are copied out of guest/ because componentize-py's pre-init
    // writes into the app folder (`__pycache__`, and the stdlib copy).
    copy(&manifest_dir.join("guest/export_stdlib.py"), &stdlib_app.join("export_stdlib.py"))?;
    for module in DRIVER_MODULES {
        copy(&manifest_dir.join("guest").join(module), &driver_app.join(module))?;
    }

    let wit = manifest_dir.join("wit");
    componentize(venv, &wit, &stdlib_app, "export_stdlib", &work.join("export_stdlib.wasm"))?;
    let guest_wasm = work.join("guest.wasm");
    componentize(venv, &wit, &driver_app, "driver", &guest_wasm)?;

    let component = fs::read(&guest_wasm).map_err(|e| e.to_string())?;
    write_zstd(&out.join("guest.wasm.zst"), &component)?;
    write_zstd(&out.join("stdlib.tar.zst"), &tar_folder(&stdlib_app.join("stdlib"))?)?;
    copy(&stdlib_app.join("python-version.txt"), &out.join("python-version.txt"))?;
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

fn componentize(venv: &Path, wit: &Path, app_dir: &Path, module: &str, output: &Path) -> Result<(), String> {
    let python = venv.join("bin").join("python");
    let mut command = Command::new(python);
    command
        .args(["-c", "import sys, componentize_py; sys.argv[0] = 'componentize-py'; sys.exit(componentize_py.script())"])
        .arg("-d")
        .arg(wit)
        .args(["-w", "guest", "componentize", "-p"])
        .arg(app_dir)
        .arg(module)
        .arg("-o")
        .arg(output)
        .current_dir(app_dir)
        // Only the build venv's site-packages is searched, never the
        // machine's: the guest must not depend on what happens to be installed.
        .env("VIRTUAL_ENV", venv);
    // Nor on the build machine's PYTHON* settings: the pre-initialised
    // interpreter would keep them (PYTHONUNBUFFERED once made the guest's
    // stdout unbuffered).
    for (name, _) in env::vars_os() {
        if name.to_string_lossy().starts_with("PYTHON") {
            command.env_remove(name);
        }
    }
    run(&mut command, &format!("componentize-py on guest/{module}.py"))
}

/// A deterministic tar of `folder` (sorted, zeroed mtimes and owners).
fn tar_folder(folder: &Path) -> Result<Vec<u8>, String> {
    let mut files = Vec::new();
    collect_files(folder, folder, &mut files)?;
    files.sort();
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for relative in files {
        let bytes = fs::read(folder.join(&relative)).map_err(|e| e.to_string())?;
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o444);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, &relative, bytes.as_slice())
            .map_err(|e| e.to_string())?;
    }
    builder.into_inner().map_err(|e| e.to_string())
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_files(root, &path, files)?;
        } else {
            files.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
    Ok(())
}

fn write_zstd(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let compressed = zstd::bulk::compress(bytes, ZSTD_LEVEL).map_err(|e| e.to_string())?;
    let mut file = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(&compressed).map_err(|e| e.to_string())
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to).map(drop).map_err(|e| format!("copying {}: {e}", from.display()))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("{what}: {:?} not found (python3 with venv and pip is required)", command.get_program()),
        _ => format!("{what}: {e}"),
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
