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

#[test]
fn a_corrupt_or_truncated_cache_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());

    let compiled = files_named(cache.path(), ".cwasm");
    assert_eq!(compiled.len(), 1, "one compiled guest is cached: {compiled:?}");
    let compiled = &compiled[0];
    let good = fs::read(compiled).unwrap();

    // A flipped byte in the middle: the checksum catches it.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    fs::write(compiled, &flipped).unwrap();
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());
    assert_eq!(fs::read(compiled).unwrap(), good, "the corrupt file was replaced");

    // Truncated, and then garbage that is not even a header.
    fs::write(compiled, &good[..good.len() / 3]).unwrap();
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());
    fs::write(compiled, b"garbage").unwrap();
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());

    // An unfinished stdlib folder (no completion marker) is unpacked anew.
    let marker = files_named(cache.path(), ".isolate-complete");
    assert_eq!(marker.len(), 1);
    let stdlib = marker[0].parent().unwrap();
    fs::remove_file(&marker[0]).unwrap();
    fs::remove_file(stdlib.join("json").join("__init__.py")).unwrap();
    prints_hello(&Runtime::builder().cache_dir(cache.path()).build().unwrap());
    assert!(stdlib.join("json").join("__init__.py").exists());
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
