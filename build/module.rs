//! How build.rs prepares the wheel's `python.wasm` for the host: more
//! exports, no data segments, a start that draws its hash secret.
//!
//! This file's text is part of the guest's identity: build.rs hashes it
//! into the name of the prepared module's folder and of the compiled
//! module's cache (`ISOLATE_GUEST_HASH`), so that a change here makes a new
//! guest, compiled anew, and never reuses a module prepared another way.

/// Functions the module has but does not export, exported under their own
/// names:
/// - of CPython's C API: the host enters the guest's driver by calling a
///   Python callable with them (a few microseconds), rather than through
///   the `turn` export, which parses and compiles its source every time
///   (16 µs for `pass`);
/// - of the C library: a copy of an interpreter makes it forget the folders
///   its original was granted, and ask the host for its own;
/// - the function that starts the interpreter (exported as
///   `wizer.initialize`, a name wasmtime's `get_typed_func` takes as well,
///   but under its own for symmetry with the others).
pub(crate) const ENTRY_EXPORTS: &[&str] = &[
    "PyGILState_Ensure",
    "PyGILState_Release",
    "PyObject_CallNoArgs",
    "_Py_DecRef",
    "PyErr_Clear",
    "__wasilibc_reset_preopens",
    "wizer_initialize",
];

/// The function that starts the interpreter, and the one it calls first
/// with a flag: 1 for "the hash secret is zero" (`use_hash_seed = 1`,
/// `hash_seed = 0`: a snapshot should not depend on a random draw), 0 for
/// CPython's default, a secret from the system's random source.
const START_FUNCTION: &str = "wizer_initialize";
const INIT_FUNCTION: &str = "init_interpreter";
/// The guest's wrapper of WASI's `random_get` (see [`draw_hash_secret`]).
const RANDOM_FUNCTION: &str = "__wrap___wasi_random_get";

/// The module's one mutable global, exported too: a fork gives the copy its
/// parent's value (between runs, always its initial one).
pub(crate) const STACK_POINTER: &str = "__stack_pointer";

/// The module made ready for the host, and the memory its data segments
/// describe.
///
/// - The functions in `functions` and the global [`STACK_POINTER`] (by the
///   name section) are exported under their own names. Only the export
///   section grows.
/// - Every active data segment is emptied (made a passive one of no bytes,
///   so that segment indices stay as they were) and returned as
///   `(offset, bytes)` pairs: the host lays them into the memory image it
///   maps as an interpreter's memory, instead of wasmtime writing them into
///   every new instance (which would overwrite a forked memory).
pub(crate) fn prepare_module(module: &[u8], functions: &[&str]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let sections = sections(module)?;
    let name_section = name_section(module, &sections)?;
    let function_indices = named_indices(module, name_section, NAMES_FUNCTIONS, functions)?;
    let global_index = named_indices(module, name_section, NAMES_GLOBALS, &[STACK_POINTER])?[0];
    let mut segments = Vec::new();

    let mut out = module[..8].to_vec();
    for section in &sections {
        let body = &module[section.body.clone()];
        let body = match section.id {
            7 => {
                let (count, at) = leb(body, 0)?;
                let mut exports = Vec::new();
                put_leb(&mut exports, count + functions.len() as u64 + 1);
                exports.extend_from_slice(&body[at..]);
                for (name, index) in functions.iter().zip(&function_indices) {
                    put_export(&mut exports, name, 0x00, *index);
                }
                put_export(&mut exports, STACK_POINTER, 0x03, global_index);
                exports
            }
            11 => strip_data(body, &mut segments)?,
            _ => body.to_vec(),
        };
        out.push(section.id);
        put_leb(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    Ok((out, segments))
}

/// The module with its start drawing a random hash secret, as CPython
/// does, instead of the zero secret its build chose for snapshots. Two
/// instructions change, each at a place checked to hold exactly what is
/// expected:
///
/// - the flag [`START_FUNCTION`] passes to [`INIT_FUNCTION`] becomes 0:
///   1 said "the secret is zero" (`use_hash_seed = 1`, `hash_seed = 0`);
/// - [`RANDOM_FUNCTION`], the guest's wrapper of WASI's `random_get`,
///   always asks the host: while the interpreter was starting it answered
///   zeros itself, so that a snapshot would not depend on a random draw.
///
/// The host then decides the secret, as it answers the draw (see
/// `host/hash_seed.rs`).
pub(crate) fn draw_hash_secret(mut module: Vec<u8>) -> Result<Vec<u8>, String> {
    let sections = sections(&module)?;
    let name_section = name_section(&module, &sections)?;
    let names = [START_FUNCTION, RANDOM_FUNCTION];
    let [start, random] = named_indices(&module, name_section, NAMES_FUNCTIONS, &names)?[..] else {
        unreachable!("one index a name")
    };

    let at = code_of(&module, &sections, start)?;
    // The linker pads a call's function index to five bytes; several
    // static functions are called `init_interpreter`, so the callee is
    // checked by its index's name.
    let calls_init = module.get(at..at + 3) == Some([0x41, 0x01, 0x10].as_slice())
        && leb(&module, at + 3)
            .is_ok_and(|(callee, _)| function_name(&module, name_section, callee).as_deref() == Some(INIT_FUNCTION));
    if !calls_init {
        return Err(format!("{START_FUNCTION} does not begin with `i32.const 1; call {INIT_FUNCTION}`"));
    }
    module[at + 1] = 0x00;

    // `block; i32.const 0; i32.load8_u (the "started" flag); i32.eqz;
    // br_if 0`, which skips the host's `random_get` while the flag is 0:
    // the test and branch become `drop; nop; nop`.
    let at = code_of(&module, &sections, random)?;
    let flag_test = module.get(at..at + 6) == Some([0x02, 0x40, 0x41, 0x00, 0x2d, 0x00].as_slice())
        && leb(&module, at + 6)
            .is_ok_and(|(_, next)| module.get(next..next + 3) == Some([0x45, 0x0d, 0x00].as_slice()));
    if !flag_test {
        return Err(format!("{RANDOM_FUNCTION} does not begin with a test of the \"started\" flag"));
    }
    let (_, next) = leb(&module, at + 6)?;
    module[next..next + 3].copy_from_slice(&[0x1a, 0x01, 0x01]);
    Ok(module)
}

/// Where the instructions of function `index` begin in `module`: past its
/// body's size and its locals.
pub(crate) fn code_of(module: &[u8], sections: &[Section], index: u32) -> Result<usize, String> {
    // Functions are numbered imports first; the code section holds the
    // others' bodies, in order.
    let imported = imported_count(module, sections)?;
    let code = sections.iter().find(|s| s.id == 10).ok_or("the module has no code section")?;
    let wanted = index.checked_sub(imported).ok_or(format!("function {index} is imported"))?;
    let (count, mut at) = leb(module, code.body.start)?;
    if u64::from(wanted) >= count {
        return Err(format!("function {index} has no body"));
    }
    for _ in 0..wanted {
        let (size, next) = leb(module, at)?;
        at = next + size as usize;
    }
    let (_size, next) = leb(module, at)?;
    let (local_groups, mut at) = leb(module, next)?;
    for _ in 0..local_groups {
        let (_count, next) = leb(module, at)?;
        at = next + 1;
    }
    Ok(at)
}

/// How many functions the module imports (they are numbered first).
pub(crate) fn imported_count(module: &[u8], sections: &[Section]) -> Result<u32, String> {
    match sections.iter().find(|s| s.id == 2) {
        Some(imports) => imported_functions(&module[imports.body.clone()]),
        None => Ok(0),
    }
}

/// How many functions an import section imports.
fn imported_functions(body: &[u8]) -> Result<u32, String> {
    let (count, mut at) = leb(body, 0)?;
    let mut functions = 0;
    for _ in 0..count {
        for _ in 0..2 {
            let (len, next) = leb(body, at)?;
            at = next + len as usize;
        }
        let kind = *body.get(at).ok_or("the import section ends early")?;
        at += 1;
        // Each kind's description, skipped.
        at = match kind {
            0x00 => {
                functions += 1;
                leb(body, at)?.1
            }
            0x01 => limits(body, at + 1)?,
            0x02 => limits(body, at)?,
            0x03 => at + 2,
            0x04 => leb(body, at + 1)?.1,
            _ => return Err(format!("an import of kind {kind}")),
        };
    }
    Ok(functions)
}

/// Past a `limits` (a flag, a minimum, and a maximum if the flag says so).
fn limits(body: &[u8], at: usize) -> Result<usize, String> {
    let flags = *body.get(at).ok_or("the import section ends early")?;
    let (_, mut at) = leb(body, at + 1)?;
    if flags & 1 != 0 {
        at = leb(body, at)?.1;
    }
    Ok(at)
}

pub(crate) fn put_export(out: &mut Vec<u8>, name: &str, kind: u8, index: u32) {
    put_leb(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    out.push(kind);
    put_leb(out, index as u64);
}

/// A data section with its active segments emptied; each one's offset,
/// length and bytes are appended to `segments` (little-endian `u32`s).
fn strip_data(body: &[u8], segments: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    let (count, mut at) = leb(body, 0)?;
    let mut out = Vec::new();
    put_leb(&mut out, count);
    for _ in 0..count {
        let (flags, next) = leb(body, at)?;
        at = next;
        let offset = match flags {
            // Passive: kept as it is.
            1 => None,
            // Active, in memory 0, at a constant offset.
            0 => {
                if body.get(at) != Some(&0x41) {
                    return Err("a data segment's offset is not an i32 constant".into());
                }
                let (offset, next) = sleb(body, at + 1)?;
                if body.get(next) != Some(&0x0b) {
                    return Err("a data segment's offset expression is longer than a constant".into());
                }
                at = next + 1;
                Some(u32::try_from(offset).map_err(|_| "a data segment's offset is out of range")?)
            }
            _ => return Err(format!("a data segment of kind {flags} (another memory?)")),
        };
        let (len, start) = leb(body, at)?;
        let end = start
            .checked_add(len as usize)
            .filter(|&end| end <= body.len())
            .ok_or("a data segment runs past its section")?;
        at = end;
        match offset {
            None => {
                out.push(1);
                put_leb(&mut out, len);
                out.extend_from_slice(&body[start..end]);
            }
            Some(offset) => {
                out.extend_from_slice(&[1, 0]);
                segments.extend_from_slice(&offset.to_le_bytes());
                segments.extend_from_slice(&(len as u32).to_le_bytes());
                segments.extend_from_slice(&body[start..end]);
            }
        }
    }
    if at != body.len() {
        return Err("the data section has bytes after its last segment".into());
    }
    Ok(out)
}

pub(crate) struct Section {
    pub(crate) id: u8,
    pub(crate) body: std::ops::Range<usize>,
}

pub(crate) fn sections(module: &[u8]) -> Result<Vec<Section>, String> {
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

pub(crate) fn custom_name(module: &[u8], section: &Section) -> Option<String> {
    let body = &module[section.body.clone()];
    let (len, at) = leb(body, 0).ok()?;
    body.get(at..at + len as usize).map(|name| String::from_utf8_lossy(name).into_owned())
}

/// The module's name section (function and global names).
pub(crate) fn name_section<'s>(module: &[u8], sections: &'s [Section]) -> Result<&'s Section, String> {
    sections
        .iter()
        .find(|s| s.id == 0 && custom_name(module, s).as_deref() == Some("name"))
        .ok_or_else(|| "the module has no name section".into())
}

/// The name section's subsections of function and global names.
pub(crate) const NAMES_FUNCTIONS: u8 = 1;
pub(crate) const NAMES_GLOBALS: u8 = 7;

/// The (index, name) pairs of a subsection of the name section (`subsection`:
/// [`NAMES_FUNCTIONS`] or [`NAMES_GLOBALS`]), in its order.
pub(crate) fn names_in<'m>(
    module: &'m [u8],
    section: &Section,
    subsection: u8,
) -> Result<Vec<(u32, &'m [u8])>, String> {
    let body = &module[section.body.clone()];
    let (len, mut at) = leb(body, 0)?;
    at += len as usize;
    let mut names = Vec::new();
    while at < body.len() {
        let id = body[at];
        let (size, start) = leb(body, at + 1)?;
        if id == subsection {
            let (count, mut p) = leb(body, start)?;
            for _ in 0..count {
                let (index, q) = leb(body, p)?;
                let (len, q) = leb(body, q)?;
                let name = body.get(q..q + len as usize).ok_or("a name runs past its section")?;
                names.push((index as u32, name));
                p = q + len as usize;
            }
        }
        at = start + size as usize;
    }
    Ok(names)
}

/// The indices of the functions or globals (`subsection`) called `names`,
/// from the name section.
pub(crate) fn named_indices(
    module: &[u8],
    section: &Section,
    subsection: u8,
    names: &[&str],
) -> Result<Vec<u32>, String> {
    let mut found = vec![None; names.len()];
    for (index, name) in names_in(module, section, subsection)? {
        if let Some(slot) = names.iter().position(|n| n.as_bytes() == name) {
            // C's static functions may share a name: one of those is no
            // name to export or patch by.
            if found[slot].replace(index).is_some() {
                return Err(format!("the module's name section names several `{}`", names[slot]));
            }
        }
    }
    names
        .iter()
        .zip(found)
        .map(|(name, index)| index.ok_or_else(|| format!("the module's name section has no `{name}`")))
        .collect()
}

/// The name the name section gives function `index`.
pub(crate) fn function_name(module: &[u8], section: &Section, index: u64) -> Option<String> {
    let names = names_in(module, section, NAMES_FUNCTIONS).ok()?;
    let (_, name) = names.into_iter().find(|(found, _)| u64::from(*found) == index)?;
    String::from_utf8(name.to_vec()).ok()
}

pub(crate) const I32_CONST: u8 = 0x41;
pub(crate) const LOCAL_GET: u8 = 0x20;

/// `i32.const value`.
pub(crate) fn i32_const(out: &mut Vec<u8>, value: i32) {
    out.push(I32_CONST);
    let mut value = i64::from(value);
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        let done = (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0);
        out.push(if done { byte } else { byte | 0x80 });
        if done {
            break;
        }
    }
}

pub(crate) fn leb(bytes: &[u8], mut at: usize) -> Result<(u64, usize), String> {
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

/// A signed LEB128 number (an `i32.const`'s operand).
pub(crate) fn sleb(bytes: &[u8], mut at: usize) -> Result<(i64, usize), String> {
    let mut value = 0i64;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(at).ok_or("a LEB128 number runs past the end")?;
        at += 1;
        value |= i64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            if shift < 64 && byte & 0x40 != 0 {
                value |= -1 << shift;
            }
            return Ok((value, at));
        }
        if shift > 63 {
            return Err("a LEB128 number is too long".into());
        }
    }
}

pub(crate) fn put_leb(out: &mut Vec<u8>, mut value: u64) {
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
