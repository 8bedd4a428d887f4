//! The embedded guest: its WIT bindings and the build script's artifacts.

wasmtime::component::bindgen!({
    path: "wit",
    world: "guest",
    // The imports that wait may stop the guest where it is: a wait ended by
    // the run's time limit traps, like the epoch deadline would.
    imports: {
        "isolate:sandbox/host.channel-send": trappable,
        "isolate:sandbox/host.channel-recv": trappable,
        "isolate:sandbox/host.join-run": trappable,
        "isolate:sandbox/host.run-interpreter": trappable,
    },
});

pub(crate) use self::isolate::sandbox::types::{ChainLink, ExceptionInfo};

/// The component (zstd): CPython 3.14 with guest/driver.py pre-initialised.
pub(crate) const COMPONENT_ZST: &[u8] = include_bytes!(env!("ISOLATE_GUEST_COMPONENT"));

/// The stdlib of that CPython, byte-compiled (a zstd tar), served read-only
/// at `/python` in every interpreter.
pub(crate) const STDLIB_ZST: &[u8] = include_bytes!(env!("ISOLATE_GUEST_STDLIB"));

/// A hash of everything the guest was built from; names its cache folder.
pub(crate) const GUEST_HASH: &str = env!("ISOLATE_GUEST_HASH");
