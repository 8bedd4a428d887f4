//! The cache folder: a stale or corrupt cache is harmless.

use std::fs;
use std::path::{Path, PathBuf};

use isolate::Runtime;

fn files_named(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_named(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}

fn prints_hello(runtime: &Runtime) {
    let interp = runtime.create_interpreter().unwrap();
    interp.run("import json; print(json.dumps('hello'))").unwrap();
    assert_eq!(interp.take_stdout().text(), "\"hello\"\n");
}

/// A copy of the test runtime's cache folder (compiling anew takes a minute).
fn copy_of_the_cache() -> tempfile::TempDir {
    // An interpreter booted: the driver's compiled code is in the cache
    // (the first boot of a process with a new driver writes it).
    crate::interpreter();
    let source = isolate::default_cache_dir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_folder(&source, copy.path());
    copy
}

fn copy_folder(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &target);
        } else if !path.file_name().unwrap().to_string_lossy().starts_with(".tmp-") {
            // Another test may be writing the cache (the fuel runtime's
            // compile): its temporary files are not the cache, and one may
            // be renamed while this runs.
            match fs::copy(&path, &target) {
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => panic!("copying {}: {err}", path.display()),
            }
        }
    }
}

#[test]
fn a_corrupt_cache_is_rebuilt() {
    let cache = copy_of_the_cache();
    // A flipped byte in the middle of every compiled guest: the checksum
    // catches it, and the one this runtime needs is compiled anew.
    let compiled = files_named(cache.path(), ".cwasm");
    assert!(!compiled.is_empty(), "a compiled guest is cached");
    let goods: Vec<Vec<u8>> = compiled.iter().map(|path| fs::read(path).unwrap()).collect();
    for (path, good) in compiled.iter().zip(&goods) {
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        fs::write(path, &flipped).unwrap();
    }
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());
    let replaced = compiled.iter().zip(&goods).filter(|(path, good)| fs::read(path).unwrap() == **good).count();
    assert_eq!(replaced, 1, "the corrupt file this runtime uses was replaced");
}

#[test]
fn an_unfinished_stdlib_folder_is_written_anew() {
    let cache = copy_of_the_cache();
    // An unfinished stdlib folder (no completion marker) is written anew.
    let markers = files_named(cache.path(), ".isolate-complete");
    assert_eq!(markers.len(), 3, "the stdlib, matplotlib's data and its configuration: {markers:?}");
    for marker in &markers {
        let folder = marker.parent().unwrap().to_owned();
        fs::remove_file(marker).unwrap();
        fs::remove_dir_all(&folder).unwrap();
        fs::create_dir_all(&folder).unwrap();
        fs::write(folder.join("half-written"), b"").unwrap();
    }
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());
    for marker in &markers {
        assert!(marker.exists(), "{} was written anew", marker.parent().unwrap().display());
        assert!(!marker.parent().unwrap().join("half-written").exists());
    }
}

#[cfg(unix)]
#[test]
fn a_cache_folder_others_may_write_to_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    let err = Runtime::builder().cache_dir(&shared).build().unwrap_err();
    assert!(matches!(err, isolate::Error::Cache { .. }), "{err:?}");
    let why = std::error::Error::source(&err).unwrap().to_string();
    assert!(why.contains("others may write to it"), "{why}");
}

#[test]
fn an_unwritable_cache_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    fs::write(&file, b"").unwrap();
    let err = Runtime::builder().cache_dir(&file).build().unwrap_err();
    assert!(matches!(err, isolate::Error::Cache { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cache folder `"), "{err}");
}

/// The driver's compiled code is kept in the cache too; a damaged copy
/// costs one compile of the driver, not the interpreters.
#[test]
fn a_damaged_compiled_driver_is_compiled_anew() {
    let cache = copy_of_the_cache();
    let kept = files_named(cache.path(), ".marshal");
    assert_eq!(kept.len(), 1, "the driver's compiled code is cached: {kept:?}");
    fs::write(&kept[0], b"\xe3 not marshal data").unwrap();
    // Without a template, the next runtime boots the driver.
    for template in files_named(cache.path(), ".snapshot") {
        fs::remove_file(template).unwrap();
    }
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());
    assert_ne!(fs::read(&kept[0]).unwrap(), b"\xe3 not marshal data", "the damaged file was replaced");
    assert_eq!(files_named(cache.path(), ".snapshot").len(), 1, "the template was kept anew");
}

/// The template every interpreter is a copy of is kept in the cache; one
/// that is corrupt, truncated or of another build is made anew.
#[test]
fn a_damaged_template_is_made_anew() {
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 3] = [
        ("a flipped byte in its memory", |path| {
            let mut bytes = fs::read(path).unwrap();
            let at = (64 << 10) + 12345;
            bytes[at] ^= 0x5a;
            fs::write(path, bytes).unwrap();
        }),
        ("truncated", |path| {
            let file = fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(file.metadata().unwrap().len() / 2).unwrap();
        }),
        ("another build's", |path| {
            let mut bytes = fs::read(path).unwrap();
            bytes[20] ^= 0x01;
            fs::write(path, bytes).unwrap();
        }),
    ];
    for (what, damage) in damages {
        let cache = copy_of_the_cache();
        let templates = files_named(cache.path(), ".snapshot");
        assert_eq!(templates.len(), 1, "the template is cached: {templates:?}");
        let good = fs::read(&templates[0]).unwrap();
        damage(&templates[0]);
        prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());
        let remade = fs::read(&templates[0]).unwrap();
        assert_eq!(remade.len(), good.len(), "{what}: the template was made anew");
        assert!(remade[..60] == good[..60], "{what}: the template was made anew");
    }
}
