//! How build.rs makes every access the guest's compiled code makes to its
//! linear memory one that wasmtime treats as a trap when it faults.
//!
//! The host stops a running guest by making its memory inaccessible
//! (`host/tripwire.rs`): the guest's next load or store faults, and
//! wasmtime's signal handler turns a fault at an instruction its compiler
//! marked as able to trap into a trap, which ends the run. A fault anywhere
//! else in compiled code is not wasmtime's, and the process would die of it.
//!
//! Every load and store of linear memory that Cranelift compiles is marked
//! so, with one exception: a `memory.copy` whose length Cranelift sees as a
//! constant of at most 128 bytes is expanded inline into loads and stores
//! marked as unable to trap (the range was checked before). The guest has
//! about 16,000 of those (clang emits `memory.copy` for a struct copy), so
//! the module is rewritten:
//! - `i32.const n; memory.copy` with `n <= 128` becomes the same loads and
//!   stores in WebAssembly (all loads before any store, as `memmove` needs),
//!   which Cranelift compiles as it compiles any access: marked, and as fast
//!   as its own expansion;
//! - every other `memory.copy`, and every `memory.fill`, becomes a call of
//!   a function added to the module that copies (fills) in chunks of
//!   [`CHUNK`] bytes, and loads the memory's first byte before each. Its
//!   length is a parameter there, so Cranelift never sees a constant (a
//!   length can reach a `memory.copy` as a constant through locals) and
//!   calls its library routine, as it would for any other length. The
//!   chunks bound how long the guest stays in that routine, which is host
//!   code that a revoked memory does not stop (the host gives it back the
//!   blocks it faults in), and the load stops the guest between two.
//!
//! This file's text is part of the guest's identity, as `module.rs`'s is.

use wasmparser::{BinaryReader, FunctionBody, Operator};

use crate::module::{I32_CONST, LOCAL_GET, Section, i32_const, leb, put_leb, sections};

/// The largest constant length Cranelift copies inline (wasmtime 48's
/// `INLINE_COPY_MAX_BYTES`).
const INLINE_COPY_MAX: u32 = 128;

/// An access a copy is made of: the width in bytes, the opcode of a load
/// of that many bytes into a value, and of its store.
type Access = (u32, &'static [u8], &'static [u8]);

/// The accesses a copy is made of, widest first.
const ACCESSES: [Access; 5] = [
    (16, &[0xfd, 0x00], &[0xfd, 0x0b]), // v128.load, v128.store
    (8, &[0x29], &[0x37]),              // i64.load, i64.store
    (4, &[0x28], &[0x36]),              // i32.load, i32.store
    (2, &[0x2f], &[0x3b]),              // i32.load16_u, i32.store16
    (1, &[0x2d], &[0x3a]),              // i32.load8_u, i32.store8
];

/// The chunks a copy of `len` bytes is made of, widest first: `(offset,
/// access)`, as Cranelift's own expansion takes them.
fn chunks(len: u32) -> Vec<(u32, Access)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for access in ACCESSES {
        while len - offset >= access.0 {
            out.push((offset, access));
            offset += access.0;
        }
    }
    out
}

/// The locals a function with an expanded copy gets, after its own: the
/// destination and source addresses, then one per chunk of the longest
/// copy (8 of 16 bytes, then 8, 4, 2 and 1).
const ADDED_LOCALS: &[(u32, u8)] = &[(2, 0x7f), (8, 0x7b), (1, 0x7e), (3, 0x7f)];

/// The size of the chunks the added functions copy and fill in: 64 KiB,
/// a few microseconds of `memmove`, far more than a call costs.
const CHUNK: i32 = 64 << 10;

/// The module with every `memory.copy` and `memory.fill` rewritten as the
/// file's comment says, and the two functions they call.
pub(crate) fn trapping_copies(module: &[u8]) -> Result<Vec<u8>, String> {
    let sections = sections(module)?;
    let section = |id: u8| sections.iter().find(|s| s.id == id).ok_or(format!("the module has no section {id}"));
    let (params, types, three_i32) = function_params(module, section(1)?, section(3)?)?;
    let three_i32 = three_i32.ok_or("the module has no type (i32, i32, i32) -> ()")?;
    // The added functions come after every other: no index changes.
    let copy = imported_functions(module, &sections)? + types.len() as u32;
    let helpers = Helpers { copy, fill: copy + 1 };

    let code = section(10)?;
    let (count, mut at) = leb(module, code.body.start)?;
    if count as usize != types.len() {
        return Err("the code section's count is not the function section's".into());
    }
    let mut new_code = Vec::with_capacity(code.body.len() + (4 << 20));
    put_leb(&mut new_code, count + 2);
    for (defined, type_index) in types.iter().enumerate() {
        let (size, start) = leb(module, at)?;
        let end =
            start.checked_add(size as usize).filter(|&end| end <= code.body.end).ok_or("a body runs past the code")?;
        let param_count = *params.get(*type_index).ok_or(format!("function {defined} has no type"))?;
        let body = rewritten_body(module, start..end, param_count, &helpers)
            .map_err(|e| format!("rewriting the copies of defined function {defined}: {e}"))?;
        match body {
            Some(body) => {
                put_leb(&mut new_code, body.len() as u64);
                new_code.extend_from_slice(&body);
            }
            None => new_code.extend_from_slice(&module[at..end]),
        }
        at = end;
    }
    for body in [chunked_copy(), chunked_fill()] {
        put_leb(&mut new_code, body.len() as u64);
        new_code.extend_from_slice(&body);
    }

    let mut out = module[..8].to_vec();
    for s in &sections {
        let body = match s.id {
            10 => new_code.clone(),
            3 => with_two_functions(&module[s.body.clone()], three_i32)?,
            _ => module[s.body.clone()].to_vec(),
        };
        out.push(s.id);
        put_leb(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    Ok(out)
}

/// The body `module[body]` with its copies rewritten, or `None` if it has
/// none.
fn rewritten_body(
    module: &[u8],
    body: std::ops::Range<usize>,
    param_count: u32,
    helpers: &Helpers,
) -> Result<Option<Vec<u8>>, String> {
    let function = FunctionBody::new(BinaryReader::new(&module[body.clone()], body.start as u64));
    let mut locals = function.get_locals_reader().map_err(|e| e.to_string())?;
    let groups = locals.get_count();
    let mut local_count = param_count;
    for _ in 0..groups {
        let (n, _) = locals.read().map_err(|e| e.to_string())?;
        local_count = local_count.checked_add(n).ok_or("too many locals")?;
    }
    let instructions = locals.original_position() as usize;
    let mut operators = function.get_operators_reader().map_err(|e| e.to_string())?;
    let mut ops = Vec::new();
    while !operators.eof() {
        let (op, at) = operators.read_with_offset().map_err(|e| e.to_string())?;
        ops.push((op, at as usize..operators.original_position() as usize));
    }
    if !ops.iter().any(|(op, _)| matches!(op, Operator::MemoryCopy { .. } | Operator::MemoryFill { .. })) {
        return Ok(None);
    }

    // The added locals' indices: addresses, 16-byte chunks, then 8, 4, 2, 1.
    let dst = local_count;
    let src = dst + 1;
    let v128 = src + 1;
    let i64_local = v128 + 8;
    let narrow = i64_local + 1;
    let temp = |(index, width): (usize, u32)| match width {
        16 => v128 + index as u32,
        8 => i64_local,
        4 => narrow,
        2 => narrow + 1,
        _ => narrow + 2,
    };

    let mut out = Vec::with_capacity(body.len() + 256);
    put_leb(&mut out, u64::from(groups) + ADDED_LOCALS.len() as u64);
    out.extend_from_slice(&module[body.start + leb_len(module, body.start)?..instructions]);
    for &(n, ty) in ADDED_LOCALS {
        put_leb(&mut out, n.into());
        out.push(ty);
    }
    let mut pending_const: Option<(u32, std::ops::Range<usize>)> = None;
    for (op, at) in ops {
        if let Some((_, range)) = pending_const.take_if(|_| !matches!(op, Operator::MemoryCopy { .. })) {
            out.extend_from_slice(&module[range]);
        }
        match op {
            Operator::I32Const { value } if (value as u32) <= INLINE_COPY_MAX => {
                pending_const = Some((value as u32, at));
                continue;
            }
            Operator::MemoryCopy { dst_mem: 0, src_mem: 0 } => {
                if let Some((len, _)) = pending_const.take() {
                    out.push(LOCAL_SET);
                    put_leb(&mut out, src.into());
                    out.push(LOCAL_SET);
                    put_leb(&mut out, dst.into());
                    let chunks = chunks(len);
                    for (index, &(offset, (width, load, _))) in chunks.iter().enumerate() {
                        out.push(LOCAL_GET);
                        put_leb(&mut out, src.into());
                        out.extend_from_slice(load);
                        out.push(0); // alignment: a hint, none promised
                        put_leb(&mut out, offset.into());
                        out.push(LOCAL_SET);
                        put_leb(&mut out, temp((index, width)).into());
                    }
                    for (index, &(offset, (width, _, store))) in chunks.iter().enumerate() {
                        out.push(LOCAL_GET);
                        put_leb(&mut out, dst.into());
                        out.push(LOCAL_GET);
                        put_leb(&mut out, temp((index, width)).into());
                        out.extend_from_slice(store);
                        out.push(0);
                        put_leb(&mut out, offset.into());
                    }
                    continue;
                }
                out.push(0x10); // call
                put_leb(&mut out, helpers.copy.into());
                continue;
            }
            Operator::MemoryFill { mem: 0 } => {
                out.push(0x10);
                put_leb(&mut out, helpers.fill.into());
                continue;
            }
            Operator::MemoryCopy { .. } | Operator::MemoryFill { .. } => {
                return Err("a copy or fill of a memory other than the first".into());
            }
            _ => {}
        }
        out.extend_from_slice(&module[at]);
    }
    Ok(Some(out))
}

/// How many bytes the LEB128 number at `module[at]` takes.
fn leb_len(module: &[u8], at: usize) -> Result<usize, String> {
    Ok(leb(module, at)?.1 - at)
}

/// Each type's parameter count, each defined function's type index, and
/// the index of the type `(i32, i32, i32) -> ()` if there is one.
type FunctionTypes = (Vec<u32>, Vec<usize>, Option<u32>);

fn function_params(module: &[u8], types: &Section, functions: &Section) -> Result<FunctionTypes, String> {
    let reader = wasmparser::TypeSectionReader::new(BinaryReader::new(&module[types.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let mut params = Vec::new();
    let mut three_i32 = None;
    for (index, function) in reader.into_iter_err_on_gc_types().enumerate() {
        let function = function.map_err(|e| e.to_string())?;
        if function.params() == [wasmparser::ValType::I32; 3] && function.results().is_empty() {
            three_i32.get_or_insert(index as u32);
        }
        params.push(function.params().len() as u32);
    }
    let reader = wasmparser::FunctionSectionReader::new(BinaryReader::new(&module[functions.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let mut type_of = Vec::new();
    for index in reader {
        type_of.push(index.map_err(|e| e.to_string())? as usize);
    }
    Ok((params, type_of, three_i32))
}

/// How many functions the module imports.
fn imported_functions(module: &[u8], sections: &[Section]) -> Result<u32, String> {
    let Some(imports) = sections.iter().find(|s| s.id == 2) else { return Ok(0) };
    let reader = wasmparser::ImportSectionReader::new(BinaryReader::new(&module[imports.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let mut count = 0;
    for import in reader.into_imports() {
        if matches!(import.map_err(|e| e.to_string())?.ty, wasmparser::TypeRef::Func(_)) {
            count += 1;
        }
    }
    Ok(count)
}

/// The function section `body` with two more functions of type `ty`.
fn with_two_functions(body: &[u8], ty: u32) -> Result<Vec<u8>, String> {
    let (count, at) = leb(body, 0)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    put_leb(&mut out, count + 2);
    out.extend_from_slice(&body[at..]);
    put_leb(&mut out, ty.into());
    put_leb(&mut out, ty.into());
    Ok(out)
}

/// The indices of the two added functions.
struct Helpers {
    copy: u32,
    fill: u32,
}

/// Instructions, for the added functions' bodies.
const LOCAL_SET: u8 = 0x21;

/// `i32.const 0; i32.load8_u; drop`: a load of the memory's first byte,
/// which a revoked memory traps at (its first block is the bottom of the
/// shadow stack, which no copy of wasmtime's gets back).
fn probe(out: &mut Vec<u8>) {
    out.extend_from_slice(&[I32_CONST, 0, 0x2d, 0, 0, 0x1a]);
}

/// `local = local + delta` (delta a local or a constant chunk).
fn add_chunk(out: &mut Vec<u8>, local: u8, sign: u8) {
    out.extend_from_slice(&[LOCAL_GET, local]);
    i32_const(out, CHUNK);
    out.extend_from_slice(&[sign, LOCAL_SET, local]);
}

/// `memory.copy(d, s, n)` for the locals given, `n` a local or [`CHUNK`].
fn copy(out: &mut Vec<u8>, d: &[u8], s: &[u8], n: Option<u8>) {
    out.extend_from_slice(d);
    out.extend_from_slice(s);
    match n {
        Some(n) => out.extend_from_slice(&[LOCAL_GET, n]),
        None => i32_const(out, CHUNK),
    }
    out.extend_from_slice(&[0xfc, 10, 0, 0]); // memory.copy 0 0
}

/// `(func (param $d i32) (param $s i32) (param $n i32))`: `memory.copy`,
/// in chunks of [`CHUNK`] bytes, forwards if the destination is below the
/// source and backwards if not (as `memmove`), each chunk after a
/// [`probe`].
fn chunked_copy() -> Vec<u8> {
    let (d, s, n) = (0u8, 1u8, 2u8);
    let mut out = vec![0]; // no locals
    let at = |local: u8| [LOCAL_GET, local];
    probe(&mut out);
    // if n <= CHUNK: one copy
    out.extend_from_slice(&[LOCAL_GET, n]);
    i32_const(&mut out, CHUNK);
    out.extend_from_slice(&[0x4d, 0x04, 0x40]); // i32.le_u; if
    copy(&mut out, &at(d), &at(s), Some(n));
    out.extend_from_slice(&[0x0f, 0x0b]); // return; end
    // if d <= s: forwards, else backwards
    out.extend_from_slice(&[LOCAL_GET, d, LOCAL_GET, s, 0x4d, 0x04, 0x40]);
    out.extend_from_slice(&[0x03, 0x40]); // loop
    copy(&mut out, &at(d), &at(s), None);
    add_chunk(&mut out, d, 0x6a);
    add_chunk(&mut out, s, 0x6a);
    add_chunk(&mut out, n, 0x6b);
    probe(&mut out);
    out.extend_from_slice(&[LOCAL_GET, n]);
    i32_const(&mut out, CHUNK);
    out.extend_from_slice(&[0x4b, 0x0d, 0x00, 0x0b]); // i32.gt_u; br_if 0; end
    copy(&mut out, &at(d), &at(s), Some(n));
    out.push(0x05); // else: the last chunk first
    out.extend_from_slice(&[0x03, 0x40]); // loop
    add_chunk(&mut out, n, 0x6b);
    let end_of = |local: u8| [LOCAL_GET, local, LOCAL_GET, n, 0x6a]; // local + n
    copy(&mut out, &end_of(d), &end_of(s), None);
    probe(&mut out);
    out.extend_from_slice(&[LOCAL_GET, n]);
    i32_const(&mut out, CHUNK);
    out.extend_from_slice(&[0x4b, 0x0d, 0x00, 0x0b]); // i32.gt_u; br_if 0; end
    copy(&mut out, &at(d), &at(s), Some(n));
    out.extend_from_slice(&[0x0b, 0x0b]); // end (if); end (function)
    out
}

/// `(func (param $d i32) (param $value i32) (param $n i32))`:
/// `memory.fill` in chunks of [`CHUNK`] bytes, each after a [`probe`].
fn chunked_fill() -> Vec<u8> {
    let (d, value, n) = (0u8, 1u8, 2u8);
    let mut out = vec![0]; // no locals
    let fill = |out: &mut Vec<u8>, n: Option<u8>| {
        out.extend_from_slice(&[LOCAL_GET, d, LOCAL_GET, value]);
        match n {
            Some(n) => out.extend_from_slice(&[LOCAL_GET, n]),
            None => i32_const(out, CHUNK),
        }
        out.extend_from_slice(&[0xfc, 11, 0]); // memory.fill 0
    };
    probe(&mut out);
    // block; loop: while n > CHUNK
    out.extend_from_slice(&[0x02, 0x40, 0x03, 0x40, LOCAL_GET, n]);
    i32_const(&mut out, CHUNK);
    out.extend_from_slice(&[0x4d, 0x0d, 0x01]); // i32.le_u; br_if 1 (out)
    fill(&mut out, None);
    add_chunk(&mut out, d, 0x6a);
    add_chunk(&mut out, n, 0x6b);
    probe(&mut out);
    out.extend_from_slice(&[0x0c, 0x00, 0x0b, 0x0b]); // br 0; end; end
    fill(&mut out, Some(n));
    out.push(0x0b);
    out
}
