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
//! - every other `memory.copy` gets its length or-ed with a mutable global
//!   that is always zero, so that Cranelift never sees a constant there
//!   (a length can reach it as a constant through locals) and calls its
//!   library routine, as it would for any other length.
//!
//! This file's text is part of the guest's identity, as `module.rs`'s is.

use wasmparser::{BinaryReader, FunctionBody, Operator};

use crate::module::{Section, leb, put_leb, sections};

/// The largest constant length Cranelift copies inline (wasmtime 48's
/// `INLINE_COPY_MAX_BYTES`).
const INLINE_COPY_MAX: u32 = 128;

/// The chunks a copy of `len` bytes is made of, widest first: `(offset,
/// width)`, as Cranelift's own expansion takes them.
fn chunks(len: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for width in [16, 8, 4, 2, 1] {
        while len - offset >= width {
            out.push((offset, width));
            offset += width;
        }
    }
    out
}

/// The locals a function with an expanded copy gets, after its own: the
/// destination and source addresses, then one per chunk of the longest
/// copy (8 of 16 bytes, then 8, 4, 2 and 1).
const ADDED_LOCALS: &[(u32, u8)] = &[(2, 0x7f), (8, 0x7b), (1, 0x7e), (3, 0x7f)];

/// The module with every `memory.copy` rewritten as the file's comment
/// says, and the zero global it needs.
pub(crate) fn trapping_copies(module: &[u8]) -> Result<Vec<u8>, String> {
    let sections = sections(module)?;
    let section = |id: u8| sections.iter().find(|s| s.id == id).ok_or(format!("the module has no section {id}"));
    let (params, types) = function_params(module, section(1)?, section(3)?)?;
    let zero = imported_globals(module, &sections)? + defined_globals(module, section(6)?)?;

    let code = section(10)?;
    let (count, mut at) = leb(module, code.body.start)?;
    if count as usize != types.len() {
        return Err("the code section's count is not the function section's".into());
    }
    let mut new_code = Vec::with_capacity(code.body.len() + (4 << 20));
    put_leb(&mut new_code, count);
    for (defined, type_index) in types.iter().enumerate() {
        let (size, start) = leb(module, at)?;
        let end =
            start.checked_add(size as usize).filter(|&end| end <= code.body.end).ok_or("a body runs past the code")?;
        let param_count = *params.get(*type_index).ok_or(format!("function {defined} has no type"))?;
        let body = rewritten_body(module, start..end, param_count, zero)
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

    let mut out = module[..8].to_vec();
    for s in &sections {
        let body = match s.id {
            10 => new_code.clone(),
            6 => with_zero_global(&module[s.body.clone()])?,
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
    zero: u32,
) -> Result<Option<Vec<u8>>, String> {
    let function = FunctionBody::new(BinaryReader::new(&module[body.clone()], body.start as u64));
    let mut locals = function.get_locals_reader().map_err(|e| e.to_string())?;
    let mut groups = Vec::new();
    let mut local_count = param_count;
    for _ in 0..locals.get_count() {
        let (n, ty) = locals.read().map_err(|e| e.to_string())?;
        local_count = local_count.checked_add(n).ok_or("too many locals")?;
        groups.push((n, ty));
    }
    let instructions = locals.original_position() as usize;
    let mut operators = function.get_operators_reader().map_err(|e| e.to_string())?;
    let mut ops = Vec::new();
    while !operators.eof() {
        let (op, at) = operators.read_with_offset().map_err(|e| e.to_string())?;
        ops.push((op, at as usize..operators.original_position() as usize));
    }
    if !ops.iter().any(|(op, _)| matches!(op, Operator::MemoryCopy { .. })) {
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
    put_leb(&mut out, (groups.len() + ADDED_LOCALS.len()) as u64);
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
                    out.extend_from_slice(&[0x21]); // local.set
                    put_leb(&mut out, src.into());
                    out.extend_from_slice(&[0x21]);
                    put_leb(&mut out, dst.into());
                    let chunks = chunks(len);
                    for (index, &(offset, width)) in chunks.iter().enumerate() {
                        out.push(0x20); // local.get
                        put_leb(&mut out, src.into());
                        out.extend_from_slice(load(width));
                        out.push(0); // alignment: a hint, none promised
                        put_leb(&mut out, offset.into());
                        out.push(0x21);
                        put_leb(&mut out, temp((index, width)).into());
                    }
                    for (index, &(offset, width)) in chunks.iter().enumerate() {
                        out.push(0x20);
                        put_leb(&mut out, dst.into());
                        out.push(0x20);
                        put_leb(&mut out, temp((index, width)).into());
                        out.extend_from_slice(store(width));
                        out.push(0);
                        put_leb(&mut out, offset.into());
                    }
                    continue;
                }
                out.push(0x23); // global.get of the zero
                put_leb(&mut out, zero.into());
                out.push(0x72); // i32.or
            }
            Operator::MemoryCopy { .. } => return Err("a copy between memories other than the first".into()),
            _ => {}
        }
        out.extend_from_slice(&module[at]);
    }
    Ok(Some(out))
}

/// The opcode of a load of `width` bytes into a value of the chunk's type.
fn load(width: u32) -> &'static [u8] {
    match width {
        16 => &[0xfd, 0x00], // v128.load
        8 => &[0x29],        // i64.load
        4 => &[0x28],        // i32.load
        2 => &[0x2f],        // i32.load16_u
        _ => &[0x2d],        // i32.load8_u
    }
}

/// The opcode of a store of `width` bytes of a chunk's value.
fn store(width: u32) -> &'static [u8] {
    match width {
        16 => &[0xfd, 0x0b], // v128.store
        8 => &[0x37],        // i64.store
        4 => &[0x36],        // i32.store
        2 => &[0x3b],        // i32.store16
        _ => &[0x3a],        // i32.store8
    }
}

/// How many bytes the LEB128 number at `module[at]` takes.
fn leb_len(module: &[u8], at: usize) -> Result<usize, String> {
    Ok(leb(module, at)?.1 - at)
}

/// Each type's parameter count, and each defined function's type index.
fn function_params(module: &[u8], types: &Section, functions: &Section) -> Result<(Vec<u32>, Vec<usize>), String> {
    let reader = wasmparser::TypeSectionReader::new(BinaryReader::new(&module[types.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let mut params = Vec::new();
    for function in reader.into_iter_err_on_gc_types() {
        params.push(function.map_err(|e| e.to_string())?.params().len() as u32);
    }
    let reader = wasmparser::FunctionSectionReader::new(BinaryReader::new(&module[functions.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let mut type_of = Vec::new();
    for index in reader {
        type_of.push(index.map_err(|e| e.to_string())? as usize);
    }
    Ok((params, type_of))
}

/// How many globals the module imports.
fn imported_globals(module: &[u8], sections: &[Section]) -> Result<u32, String> {
    let Some(imports) = sections.iter().find(|s| s.id == 2) else { return Ok(0) };
    let reader = wasmparser::ImportSectionReader::new(BinaryReader::new(&module[imports.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let mut count = 0;
    for import in reader.into_imports() {
        if matches!(import.map_err(|e| e.to_string())?.ty, wasmparser::TypeRef::Global(_)) {
            count += 1;
        }
    }
    Ok(count)
}

/// How many globals the module defines.
fn defined_globals(module: &[u8], globals: &Section) -> Result<u32, String> {
    Ok(leb(module, globals.body.start)?.0 as u32)
}

/// The global section `body` with one more global: a mutable `i32`, zero.
fn with_zero_global(body: &[u8]) -> Result<Vec<u8>, String> {
    let (count, at) = leb(body, 0)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    put_leb(&mut out, count + 1);
    out.extend_from_slice(&body[at..]);
    out.extend_from_slice(&[0x7f, 0x01, 0x41, 0x00, 0x0b]); // mut i32 = i32.const 0
    Ok(out)
}
