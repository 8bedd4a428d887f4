//! How build.rs lets the host compute the guest's dense linear algebra.
//!
//! The guest's numpy, scipy and scikit-learn link OpenBLAS, compiled to
//! WebAssembly with its generic kernels: a 1000×1000 product runs 5–20
//! times slower than native code. Every general matrix product OpenBLAS
//! makes goes through one of its level-3 drivers, `?gemm_xy` (`dgemm_nn`,
//! `zgemm_ct`, ...), whichever entry point it came in by (`cblas_dgemm`,
//! Fortran's `dgemm_`, LAPACK's own calls); every rank-k update (`a.T @ a`,
//! `np.cov`) through `?syrk_xy` or `?herk_xy`; every real LU factorisation
//! (`np.linalg.solve`, `inv`, `det`) through `?getrf_single`. Each takes
//! its operation as a `blas_arg_t` in linear memory. So each of those
//! functions is made to begin with a call of a host function, with its
//! kind (see [`drivers`]) and its first three parameters (the arguments,
//! the row and the column range). The host answers 0 to leave the work to
//! the function's own code, or what the function returns, plus one.

//! The module cannot import a function without renumbering every other, so
//! the call is an indirect one, to a slot added at the end of the module's
//! table (which is exported, as [`TABLE_EXPORT`]): the host puts its
//! function there when it instantiates the module. The call's type is one
//! added to the type section, `(i32, i32, i32, i32) -> i32`.
//!
//! This file's text is part of the guest's identity, as `module.rs`'s is.

use wasmparser::{BinaryReader, FunctionBody, ValType};

use crate::module::{
    I32_CONST, LOCAL_GET, NAMES_FUNCTIONS, Section, code_of, i32_const, imported_count, leb, name_section,
    named_indices, put_export, put_leb, sections,
};

/// The name the module's function table is exported under.
pub(crate) const TABLE_EXPORT: &str = "__indirect_function_table";

/// The scalar types of OpenBLAS's drivers, by their prefix, in the order
/// their kinds number them.
const SCALARS: [char; 4] = ['s', 'd', 'c', 'z'];

/// What a `gemm` driver does to an operand, by its letter in the driver's
/// name: nothing, transpose, conjugate, conjugate and transpose (the last
/// two only for complex scalars).
const OPS: [char; 4] = ['n', 't', 'r', 'c'];

/// The first kind of the rank-k updates, and of the LU factorisations.
const RANK_K: usize = 64;
const GETRF: usize = 128;

/// The drivers, with their kinds:
/// - `sgemm_nn` ... `zgemm_cc`, of kind `16 × scalar + 4 × op(A) + op(B)`;
/// - the rank-k updates `ssyrk_UN` ... `zherk_LC` (`C = A·Aᵀ` or `Aᵀ·A`,
///   one triangle of it; `herk`, `Aᴴ`), of kind `64 + 16 × scalar + 8 ×
///   herk + 2 × lower + transposed`;
/// - the LU factorisations with partial pivoting `sgetrf_single` and
///   `dgetrf_single` (LAPACK's `getrf`, OpenBLAS's own blocked code, which
///   calls its kernels directly rather than a `gemm` driver), of kind `128
///   + scalar`.
fn drivers() -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for (scalar, prefix) in SCALARS.iter().enumerate() {
        let ops = if scalar < 2 { &OPS[..2] } else { &OPS[..] };
        for (a, op_a) in ops.iter().enumerate() {
            for (b, op_b) in ops.iter().enumerate() {
                out.push((format!("{prefix}gemm_{op_a}{op_b}"), (16 * scalar + 4 * a + b) as u32));
            }
        }
        if scalar < 2 {
            out.push((format!("{prefix}getrf_single"), (GETRF + scalar) as u32));
        }
        let updates: &[(&str, usize, char)] =
            if scalar < 2 { &[("syrk", 0, 'T')] } else { &[("syrk", 0, 'T'), ("herk", 8, 'C')] };
        for (name, herk, transposed_letter) in updates {
            for (lower, triangle) in ['U', 'L'].iter().enumerate() {
                for (transposed, letter) in ['N', *transposed_letter].iter().enumerate() {
                    let kind = RANK_K + 16 * scalar + herk + 2 * lower + transposed;
                    out.push((format!("{prefix}{name}_{triangle}{letter}"), kind as u32));
                }
            }
        }
    }
    out
}

/// The module with every driver handing its product to the host first, as
/// the file's comment says.
pub(crate) fn hand_off_products(module: &[u8]) -> Result<Vec<u8>, String> {
    let sections = sections(module)?;
    let section = |id: u8| sections.iter().find(|s| s.id == id).ok_or(format!("the module has no section {id}"));
    let names = name_section(module, &sections)?;
    let drivers = drivers();
    let driver_names: Vec<&str> = drivers.iter().map(|(name, _)| name.as_str()).collect();
    let indices = named_indices(module, names, NAMES_FUNCTIONS, &driver_names)?;
    let imported = imported_count(module, &sections)?;

    let (types, hand_off_type) = with_hand_off_type(&module[section(1)?.body.clone()])?;
    let (table, slot) = with_one_more_slot(&module[section(4)?.body.clone()])?;
    let exports = with_table_export(&module[section(7)?.body.clone()])?;

    // Where each driver's instructions begin, by its position in the code
    // section.
    let mut prologues = std::collections::BTreeMap::new();
    for ((_, kind), index) in drivers.iter().zip(&indices) {
        let defined = index.checked_sub(imported).ok_or("a driver is imported")?;
        prologues.insert(defined, (code_of(module, &sections, *index)?, *kind));
    }

    check_driver_types(module, section(1)?, section(3)?, &prologues.keys().copied().collect::<Vec<_>>())?;

    let code = section(10)?;
    let (count, mut at) = leb(module, code.body.start)?;
    let mut new_code = Vec::with_capacity(code.body.len() + 1024);
    put_leb(&mut new_code, count);
    for defined in 0..count as u32 {
        let (size, start) = leb(module, at)?;
        let end =
            start.checked_add(size as usize).filter(|&end| end <= code.body.end).ok_or("a body runs past the code")?;
        match prologues.get(&defined) {
            Some(&(instructions, kind)) => {
                let body = with_prologue(module, start..end, instructions, prologue(kind, slot, hand_off_type)?)?;
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
            1 => types.clone(),
            4 => table.clone(),
            7 => exports.clone(),
            10 => new_code.clone(),
            _ => module[s.body.clone()].to_vec(),
        };
        out.push(s.id);
        put_leb(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
    }
    Ok(out)
}

/// `i32.const kind; local.get 0; local.get 1; local.get 2; i32.const slot;
/// call_indirect (type hand_off_type); local.tee $answer; if; local.get
/// $answer; i32.const 1; i32.sub; return; end`: the host answers 0 to leave
/// the work to the driver, or what the driver is to return, plus one (a
/// product's driver returns 0; `getrf`'s returns LAPACK's `info`).
/// `$answer` is a local [`with_prologue`] adds, whose index it fills in.
fn prologue(kind: u32, slot: u32, hand_off_type: u32) -> Result<impl Fn(u32) -> Vec<u8>, String> {
    let as_i32 = |value: u32| i32::try_from(value).map_err(|e| e.to_string());
    let mut call = Vec::with_capacity(24);
    i32_const(&mut call, as_i32(kind)?);
    for local in 0..3 {
        call.extend([LOCAL_GET, local]);
    }
    i32_const(&mut call, as_i32(slot)?);
    call.push(CALL_INDIRECT);
    put_leb(&mut call, hand_off_type.into());
    call.push(0x00); // the table
    Ok(move |answer: u32| {
        let mut out = call.clone();
        out.push(LOCAL_TEE);
        put_leb(&mut out, answer.into());
        out.extend([IF, EMPTY_BLOCK, LOCAL_GET]);
        put_leb(&mut out, answer.into());
        out.extend([I32_CONST, 1, I32_SUB, RETURN, END]);
        out
    })
}

/// The body `module[body]` (whose instructions begin at `instructions`)
/// with one more `i32` local, and `prologue` of that local's index before
/// its instructions.
fn with_prologue(
    module: &[u8],
    body: std::ops::Range<usize>,
    instructions: usize,
    prologue: impl Fn(u32) -> Vec<u8>,
) -> Result<Vec<u8>, String> {
    let function = FunctionBody::new(BinaryReader::new(&module[body.clone()], body.start as u64));
    let mut locals = function.get_locals_reader().map_err(|e| e.to_string())?;
    let groups = locals.get_count();
    let mut declared = 0u32;
    for _ in 0..groups {
        let (count, _) = locals.read().map_err(|e| e.to_string())?;
        declared = declared.checked_add(count).ok_or("a driver declares too many locals")?;
    }
    if locals.original_position() != instructions as u64 {
        return Err("a driver's locals do not end where its instructions begin".into());
    }
    let (_, groups_end) = leb(module, body.start)?;
    let answer = DRIVER_PARAMS.len() as u32 + declared;
    let mut out = Vec::with_capacity(body.len() + 32);
    put_leb(&mut out, u64::from(groups) + 1);
    out.extend_from_slice(&module[groups_end..instructions]);
    out.extend([1, 0x7f]); // one i32
    out.extend(prologue(answer));
    out.extend_from_slice(&module[instructions..body.end]);
    Ok(out)
}

const LOCAL_TEE: u8 = 0x22;
const I32_SUB: u8 = 0x6b;
const CALL_INDIRECT: u8 = 0x11;
const IF: u8 = 0x04;
const EMPTY_BLOCK: u8 = 0x40;
const RETURN: u8 = 0x0f;
const END: u8 = 0x0b;

/// OpenBLAS's driver type, `int (blas_arg_t *args, BLASLONG *range_m,
/// BLASLONG *range_n, FLOAT *sa, FLOAT *sb, BLASLONG)`, on wasm32.
const DRIVER_PARAMS: [ValType; 6] = [ValType::I32; 6];

/// Checks that every driver has [`DRIVER_PARAMS`] and returns an `i32`:
/// the prologue reads its first three parameters and returns 0.
fn check_driver_types(module: &[u8], types: &Section, functions: &Section, drivers: &[u32]) -> Result<(), String> {
    let reader = wasmparser::TypeSectionReader::new(BinaryReader::new(&module[types.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let mut driver_like = Vec::new();
    for function in reader.into_iter_err_on_gc_types() {
        let function = function.map_err(|e| e.to_string())?;
        driver_like.push(function.params() == DRIVER_PARAMS && function.results() == [ValType::I32]);
    }
    let reader = wasmparser::FunctionSectionReader::new(BinaryReader::new(&module[functions.body.clone()], 0))
        .map_err(|e| e.to_string())?;
    let type_of: Vec<u32> = reader.into_iter().collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    for &defined in drivers {
        let ty = *type_of.get(defined as usize).ok_or("a driver has no type")?;
        if !driver_like.get(ty as usize).copied().unwrap_or(false) {
            return Err(format!("defined function {defined}, a gemm driver, is not of OpenBLAS's driver type"));
        }
    }
    Ok(())
}

/// The type section with `(i32, i32, i32, i32) -> (i32)` appended, and
/// that type's index.
fn with_hand_off_type(body: &[u8]) -> Result<(Vec<u8>, u32), String> {
    let (count, at) = leb(body, 0)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    put_leb(&mut out, count + 1);
    out.extend_from_slice(&body[at..]);
    out.extend([0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f]);
    Ok((out, u32::try_from(count).map_err(|e| e.to_string())?))
}

/// The table section with one more slot in its one table, and that slot's
/// index (the table's old size).
fn with_one_more_slot(body: &[u8]) -> Result<(Vec<u8>, u32), String> {
    let (count, at) = leb(body, 0)?;
    if count != 1 || body.get(at) != Some(&0x70) {
        return Err("the module does not have one table, of funcref".into());
    }
    let flags = *body.get(at + 1).ok_or("the table section ends early")?;
    let (min, mut next) = leb(body, at + 2)?;
    let max = match flags {
        0 => None,
        1 => {
            let (max, after) = leb(body, next)?;
            next = after;
            Some(max)
        }
        _ => return Err(format!("the table's limits have flags {flags}")),
    };
    if next != body.len() {
        return Err("the table section has more than its table".into());
    }
    let mut out = vec![1, 0x70, flags];
    put_leb(&mut out, min + 1);
    if let Some(max) = max {
        put_leb(&mut out, max + 1);
    }
    Ok((out, u32::try_from(min).map_err(|e| e.to_string())?))
}

/// The export section with the table exported as [`TABLE_EXPORT`].
fn with_table_export(body: &[u8]) -> Result<Vec<u8>, String> {
    let (count, at) = leb(body, 0)?;
    let mut out = Vec::with_capacity(body.len() + 32);
    put_leb(&mut out, count + 1);
    out.extend_from_slice(&body[at..]);
    put_export(&mut out, TABLE_EXPORT, 0x01, 0);
    Ok(out)
}
