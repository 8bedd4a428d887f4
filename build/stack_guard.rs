//! How build.rs makes CPython's C-stack guard hold in the guest: deep
//! recursion in C raises `RecursionError` (and deep deallocation is
//! deferred) before the native stack runs out, at a depth close to a native
//! CPython's.
//!
//! CPython guards its C recursion by the address of its current stack
//! frame: below a soft limit, a guarded function raises `RecursionError`,
//! and `_Py_Dealloc` defers the objects it frees (its "trashcan"). In the
//! guest that address is in the shadow stack wasi-libc keeps in linear
//! memory, but compiled wasm frames live on the native stack too, which
//! wasmtime caps (`MAX_WASM_STACK`, 4 MiB), and the two grow at unrelated
//! rates. Measured per level of recursion (native bytes, shadow bytes):
//! `list(map(f, ...))` 1,439 and 512, `functools.lru_cache` 1,676 and 543,
//! `==` of nested lists 364 and 15, `json.loads` of nested arrays 443 and
//! 15, `isinstance` against nested tuples 103 and 0, freeing nested lists
//! 230 and 0, a `functools.partial` chain 480 and 0. So the guard either
//! stopped a program far too early (with wasi-libc's 128 KiB as the stack's
//! size, `lru_cache` recursion stopped at 220 levels, where CPython goes to
//! its recursion limit of 1,000) or never (freeing a list nested 18,000
//! deep, or `isinstance` against 40,000 nested tuples, ended the
//! interpreter).
//!
//! Two changes make the shadow stack a measure of the native one:
//! - every function that tests the guard, and `_Py_Dealloc`, takes
//!   [`STACK_CHARGE`] bytes of the shadow stack while it runs (see
//!   [`charge_guarded_functions`]), so that no recursion the guard sees
//!   costs fewer shadow bytes than about a third of its native ones;
//! - the guard's stack is [`GUARDED_STACK`] bytes, not 128 KiB (see
//!   [`size_the_guard`]), so that a recursion stops at most about 2 MiB
//!   deep in the native stack, leaving as much for what runs after
//!   `RecursionError` is raised.
//!
//! This file's text is part of the guest's identity, as `module.rs`'s is.

use std::collections::{BTreeMap, BTreeSet};

use wasmparser::{BinaryReader, FunctionBody, Operator};

use crate::module::{
    NAMES_FUNCTIONS, NAMES_GLOBALS, STACK_POINTER, Section, imported_count, leb, name_section, named_indices, names_in,
    put_leb, sections,
};

/// The functions that test CPython's guard: a function that calls one of
/// them (or inlines `_Py_EnterRecursiveCall`, whose slow path is a call of
/// the first) is one the guard protects. Some are static and appear more
/// than once.
const GUARD_TESTS: &[&str] = &[
    "_Py_CheckRecursiveCall",
    "_Py_EnterRecursiveCall",
    "Py_EnterRecursiveCall",
    "_Py_ReachedRecursionLimit",
    "_Py_ReachedRecursionLimitWithMargin",
];

/// The function every deallocation goes through; it tests the guard inline,
/// so no call marks it.
const DEALLOC_FUNCTION: &str = "_Py_Dealloc";

/// The shadow stack a charged function takes while it runs, in bytes (a
/// multiple of 16, the stack's alignment). With [`GUARDED_STACK`], the
/// sixteen recursions measured (those above, and C calling back into
/// Python through `map`, `__getitem__`, `__eq__`, `__str__`, calls and
/// generators) stop at most 1.85 MiB deep in the native stack, at native
/// to shadow bytes of 0.6 to 2.0; C calling back into Python goes 700 to
/// 1,400 levels deep, `lru_cache` recursion about 740. (Half the charge
/// would go deeper, but the worst ratio would come close to 4, and the
/// native stack's 4 MiB with it.)
const STACK_CHARGE: i32 = 256;

/// The size of the stack CPython's guard is given, in bytes: its soft
/// limit lies 16 KiB above the bottom. (Below 1 MiB, because the
/// instructions that pass it have three bytes for it.)
const GUARDED_STACK: i32 = 960 << 10;

/// The guest's start, which tells CPython where its stack is
/// ([`SET_STACK`]): the top 128 KiB of the shadow stack, wasi-libc's
/// default size for a thread's stack, though the shadow stack has 16 MiB.
const INIT_FUNCTION: &str = "init_interpreter";
const SET_STACK: &str = "PyUnstable_ThreadState_SetStackProtection";
const SHADOW_STACK_TOP: i32 = 16 << 20;
const WHEEL_GUARDED_STACK: i32 = 128 << 10;

/// The function that sets the guard's limits for a thread state that has
/// none, the call in it that asks the C library for the stack's bounds,
/// and the size it assumes when that call fails (`Py_C_STACK_SIZE`).
const INIT_LIMITS: &str = "_Py_InitializeRecursionLimits";
const STACK_BOUNDS: &str = "pthread_getattr_np";
const CPYTHON_STACK_SIZE: i32 = 4_000_000;

/// The module with CPython's C-stack guard made to hold: [`size_the_guard`]
/// and then [`charge_guarded_functions`].
pub(crate) fn guard_the_stack(module: &[u8]) -> Result<Vec<u8>, String> {
    charge_guarded_functions(&size_the_guard(module.to_vec())?)
}

/// The module with the guard's stack [`GUARDED_STACK`] bytes.
///
/// [`INIT_FUNCTION`] gives CPython the top 128 KiB of the shadow stack:
/// it calls `SET_STACK(tstate, SHADOW_STACK_TOP - 128 KiB, 128 KiB)`, whose
/// two sizes become [`GUARDED_STACK`]. A thread state that starts without
/// limits gets them from [`INIT_LIMITS`], where wasi-libc answers
/// [`STACK_BOUNDS`] with 128 KiB too: that call fails instead (it becomes
/// `drop; drop; i32.const 1`), so CPython takes its own branch for a
/// platform that cannot tell, which puts the bottom `Py_C_STACK_SIZE` below
/// the current frame, and that size, [`CPYTHON_STACK_SIZE`], becomes
/// [`GUARDED_STACK`]. Every instruction is checked to be what is expected
/// and replaced in place.
fn size_the_guard(mut module: Vec<u8>) -> Result<Vec<u8>, String> {
    let sections = sections(&module)?;
    let names = function_names(&module, &sections)?;
    let bodies = defined_bodies(&module, &sections)?;
    let imported = imported_count(&module, &sections)?;
    let body_of = |name: &str| -> Result<std::ops::Range<usize>, String> {
        let index = unique(&names, name)?;
        let defined = index.checked_sub(imported).ok_or(format!("{name} is imported"))?;
        bodies.get(defined as usize).cloned().ok_or(format!("{name} has no body"))
    };
    let mut patches = Vec::new();

    // `i32.const TOP; i32.const -SIZE; i32.add; i32.const SIZE; call SET_STACK`.
    // Several static functions are called `init_interpreter`: the one that
    // calls SET_STACK is the one.
    let set_stack = unique(&names, SET_STACK)?;
    let mut operators = Vec::new();
    for (&index, _) in names.iter().filter(|(_, name)| *name == INIT_FUNCTION) {
        let defined = index.checked_sub(imported).ok_or(format!("{INIT_FUNCTION} is imported"))?;
        let body = bodies.get(defined as usize).cloned().ok_or(format!("{INIT_FUNCTION} has no body"))?;
        operators.push(operators_of(&module, body)?);
    }
    let sets = operators
        .iter()
        .flat_map(|operators| operators.windows(5))
        .filter(|ops| {
            matches!(
                [&ops[0].0, &ops[1].0, &ops[2].0, &ops[3].0, &ops[4].0],
                [
                    Operator::I32Const { value: SHADOW_STACK_TOP },
                    Operator::I32Const { value: minus },
                    Operator::I32Add,
                    Operator::I32Const { value: WHEEL_GUARDED_STACK },
                    Operator::Call { function_index },
                ] if *minus == -WHEEL_GUARDED_STACK && *function_index == set_stack
            )
        })
        .collect::<Vec<_>>();
    let [set] = sets[..] else {
        return Err(format!("{INIT_FUNCTION} does not call {SET_STACK} once with the top {WHEEL_GUARDED_STACK} bytes"));
    };
    patches.push((set[1].1.clone(), -GUARDED_STACK));
    patches.push((set[3].1.clone(), GUARDED_STACK));

    let bounds = unique(&names, STACK_BOUNDS)?;
    let operators = operators_of(&module, body_of(INIT_LIMITS)?)?;
    let calls = operators
        .iter()
        .filter(|(op, _)| matches!(op, Operator::Call { function_index } if *function_index == bounds))
        .collect::<Vec<_>>();
    let sizes = operators
        .iter()
        .filter(|(op, _)| matches!(op, Operator::I32Const { value } if *value == -CPYTHON_STACK_SIZE))
        .collect::<Vec<_>>();
    let ([call], [size]) = (&calls[..], &sizes[..]) else {
        return Err(format!("{INIT_LIMITS} does not call {STACK_BOUNDS} and subtract {CPYTHON_STACK_SIZE} once"));
    };
    // The linker pads a call's index to five bytes.
    if call.1.len() != 6 {
        return Err(format!("{INIT_LIMITS}'s call of {STACK_BOUNDS} is not six bytes long"));
    }
    patches.push((size.1.clone(), -GUARDED_STACK));
    let call = call.1.clone();

    for (at, value) in patches {
        // An `i32.const`: its opcode, then its operand, of the same width.
        let operand = at.start + 1..at.end;
        let bytes = padded_sleb(value, operand.len())?;
        module[operand].copy_from_slice(&bytes);
    }
    // `pthread_getattr_np(thread, attributes)` fails: its two arguments are
    // dropped, and 1 is its error.
    module[call].copy_from_slice(&[0x1a, 0x1a, 0x41, 0x01, 0x01, 0x01]);
    Ok(module)
}

/// The instructions of the function whose body is `module[body]`, each
/// with where it lies in `module`.
fn operators_of(
    module: &[u8],
    body: std::ops::Range<usize>,
) -> Result<Vec<(Operator<'_>, std::ops::Range<usize>)>, String> {
    let function = FunctionBody::new(BinaryReader::new(&module[body.clone()], body.start as u64));
    let mut operators = function.get_operators_reader().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while !operators.eof() {
        let (operator, at) = operators.read_with_offset().map_err(|e| e.to_string())?;
        out.push((operator, at as usize..operators.original_position() as usize));
    }
    Ok(out)
}

/// The module with every function that tests the guard, and
/// [`DEALLOC_FUNCTION`], charged [`STACK_CHARGE`] bytes of the shadow stack.
///
/// Each such body is rewritten (see [`charged_body`]) to move the stack
/// pointer down by the charge as it starts and back as it ends, so that the
/// guard's test, inlined in it or in what it calls, sees the charge. (A
/// wrapper function that charged and called the body cost a call more per
/// deallocation: 7% on a loop of integer additions.)
fn charge_guarded_functions(module: &[u8]) -> Result<Vec<u8>, String> {
    let sections = sections(module)?;
    let names = function_names(module, &sections)?;
    let name_section = name_section(module, &sections)?;
    let stack_pointer = named_indices(module, name_section, NAMES_GLOBALS, &[STACK_POINTER])?[0];
    let mut guard_tests = BTreeSet::new();
    for test in GUARD_TESTS {
        let found = names.iter().filter(|(_, name)| name == test).map(|(index, _)| *index).collect::<Vec<_>>();
        if found.is_empty() {
            return Err(format!("the module has no `{test}`"));
        }
        guard_tests.extend(found);
    }
    let imported = imported_count(module, &sections)?;
    let bodies = defined_bodies(module, &sections)?;
    let dealloc = unique(&names, DEALLOC_FUNCTION)?;

    // Each defined function's type, for its results.
    let function_types = &module[section(&sections, 3)?.body.clone()];
    let (count, mut at) = leb(function_types, 0)?;
    let mut types = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (type_index, next) = leb(function_types, at)?;
        types.push(type_index as usize);
        at = next;
    }
    if types.len() != bodies.len() {
        return Err("the code section's count is not the function section's".into());
    }
    let results = result_types(&module[section(&sections, 1)?.body.clone()])?;

    let code = section(&sections, 10)?;
    let mut new_code = Vec::with_capacity(code.body.len() + (1 << 20));
    put_leb(&mut new_code, bodies.len() as u64);
    for (defined, body) in bodies.iter().enumerate() {
        let index = imported + defined as u32;
        let charged = index == dealloc || (!guard_tests.contains(&index) && calls_any(module, body, &guard_tests)?);
        if charged {
            let result = results.get(types[defined]).ok_or(format!("function {index} has no type"))?;
            let result = result.as_ref().map_err(|e| format!("function {index}: {e}"))?;
            let charged = charged_body(module, body.clone(), stack_pointer, *result)
                .map_err(|e| format!("charging function {index}: {e}"))?;
            put_leb(&mut new_code, charged.len() as u64);
            new_code.extend_from_slice(&charged);
        } else {
            put_leb(&mut new_code, body.len() as u64);
            new_code.extend_from_slice(&module[body.clone()]);
        }
    }

    let mut out = module[..8].to_vec();
    for section in &sections {
        let body = if section.id == 10 { &new_code[..] } else { &module[section.body.clone()] };
        out.push(section.id);
        put_leb(&mut out, body.len() as u64);
        out.extend_from_slice(body);
    }
    Ok(out)
}

/// Whether the function whose body (locals and instructions) is
/// `module[body]` calls any of `callees`.
fn calls_any(module: &[u8], body: &std::ops::Range<usize>, callees: &BTreeSet<u32>) -> Result<bool, String> {
    let function = FunctionBody::new(BinaryReader::new(&module[body.clone()], body.start as u64));
    let mut operators = function.get_operators_reader().map_err(|e| e.to_string())?;
    while !operators.eof() {
        if let Operator::Call { function_index } = operators.read().map_err(|e| e.to_string())?
            && callees.contains(&function_index)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The function body `module[body]`, charged [`STACK_CHARGE`] bytes of the
/// shadow stack (global `stack_pointer`) while it runs; `result` is the
/// block type of what it returns (`0x40` for nothing, else its one value
/// type).
///
/// Its instructions are put in a block of that type, between moving the
/// stack pointer down and moving it back. A branch to the function's own
/// label now leaves the block, as it should, and each `return` becomes a
/// branch out of the block, so every way out but a trap passes the second
/// move. (A trap ends the run, and the host gives the next one a fresh
/// stack pointer.) A tail call would skip it, so a body with one is refused.
fn charged_body(
    module: &[u8],
    body: std::ops::Range<usize>,
    stack_pointer: u32,
    result: u8,
) -> Result<Vec<u8>, String> {
    let function = FunctionBody::new(BinaryReader::new(&module[body.clone()], body.start as u64));
    let instructions =
        function.get_binary_reader_for_operators().map_err(|e| e.to_string())?.original_position() as usize;
    let move_stack = |out: &mut Vec<u8>, op: u8| {
        out.push(0x23); // global.get
        put_leb(out, stack_pointer.into());
        out.push(0x41); // i32.const
        out.extend_from_slice(&padded_sleb(STACK_CHARGE, 2).expect("the charge fits in two bytes"));
        out.push(op);
        out.push(0x24); // global.set
        put_leb(out, stack_pointer.into());
    };

    let mut out = module[body.start..instructions].to_vec(); // the locals
    move_stack(&mut out, 0x6b); // i32.sub
    out.extend_from_slice(&[0x02, result]); // block
    // How many blocks, loops and ifs of the body are open.
    let mut open = 0u32;
    for (operator, at) in operators_of(module, body)? {
        match operator {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => open += 1,
            Operator::Delegate { .. } => open -= 1,
            Operator::End if open == 0 => {
                out.push(0x0b); // the block's end
                move_stack(&mut out, 0x6a); // i32.add: the results stay beneath
                out.push(0x0b); // the function's
                continue;
            }
            Operator::End => open -= 1,
            Operator::Return => {
                out.push(0x0c); // br
                put_leb(&mut out, open.into());
                continue;
            }
            Operator::ReturnCall { .. } | Operator::ReturnCallIndirect { .. } | Operator::ReturnCallRef { .. } => {
                return Err("a tail call would leave without giving the charge back".into());
            }
            _ => {}
        }
        out.extend_from_slice(&module[at]);
    }
    Ok(out)
}

/// For each type of a type section (of function types only, as a C
/// program's module has), the block type of its results: `0x40` for none,
/// the value type of one, or why it cannot be one.
fn result_types(types: &[u8]) -> Result<Vec<Result<u8, String>>, String> {
    let reader = wasmparser::TypeSectionReader::new(BinaryReader::new(types, 0)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for function in reader.into_iter_err_on_gc_types() {
        let function = function.map_err(|e| e.to_string())?;
        out.push(match function.results() {
            [] => Ok(0x40),
            [wasmparser::ValType::I32] => Ok(0x7f),
            [wasmparser::ValType::I64] => Ok(0x7e),
            [wasmparser::ValType::F32] => Ok(0x7d),
            [wasmparser::ValType::F64] => Ok(0x7c),
            [wasmparser::ValType::V128] => Ok(0x7b),
            other => Err(format!("results {other:?} are not a block type")),
        });
    }
    Ok(out)
}

/// The names of the module's functions, by index.
fn function_names(module: &[u8], sections: &[Section]) -> Result<BTreeMap<u32, String>, String> {
    let names = names_in(module, name_section(module, sections)?, NAMES_FUNCTIONS)?;
    Ok(names.into_iter().map(|(index, name)| (index, String::from_utf8_lossy(name).into_owned())).collect())
}

/// The index of the one function called `name`.
fn unique(names: &BTreeMap<u32, String>, name: &str) -> Result<u32, String> {
    let mut found = names.iter().filter(|(_, n)| *n == name).map(|(index, _)| *index);
    match (found.next(), found.next()) {
        (Some(index), None) => Ok(index),
        (None, _) => Err(format!("the module's name section has no `{name}`")),
        (Some(_), Some(_)) => Err(format!("the module's name section names several `{name}`")),
    }
}

fn section(sections: &[Section], id: u8) -> Result<&Section, String> {
    sections.iter().find(|s| s.id == id).ok_or(format!("the module has no section {id}"))
}

/// Where each defined function's body (its locals and instructions) lies
/// in `module`, in the order of their indices.
fn defined_bodies(module: &[u8], sections: &[Section]) -> Result<Vec<std::ops::Range<usize>>, String> {
    let code = section(sections, 10)?;
    let (count, mut at) = leb(module, code.body.start)?;
    let mut bodies = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (size, start) = leb(module, at)?;
        let end = start
            .checked_add(size as usize)
            .filter(|&end| end <= code.body.end)
            .ok_or("a function's body runs past the code section")?;
        bodies.push(start..end);
        at = end;
    }
    Ok(bodies)
}

/// `value` as a signed LEB128 number of exactly `width` bytes (padded
/// with continuation bytes), as an instruction's operand replaced in place.
fn padded_sleb(value: i32, width: usize) -> Result<Vec<u8>, String> {
    let fits = width < 5 && (-(1i64 << (7 * width - 1))..1i64 << (7 * width - 1)).contains(&i64::from(value));
    if !fits {
        return Err(format!("{value} does not fit in {width} bytes of LEB128"));
    }
    let mut value = i64::from(value);
    let mut out = Vec::with_capacity(width);
    for i in 0..width {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        out.push(if i + 1 < width { byte | 0x80 } else { byte });
    }
    Ok(out)
}
