# sandbox-only: these modules wrap C libraries that the WASI build of CPython lacks
# stdout: bz2: No module named '_bz2'
# stdout: ctypes: No module named '_ctypes'
# stdout: lzma: No module named '_lzma'
# stdout: ssl: No module named '_ssl'
import importlib

for name in ("bz2", "ctypes", "lzma", "ssl"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        print(f"{name}: {exc}")
