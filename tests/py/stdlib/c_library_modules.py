# sandbox-only: ssl wraps OpenSSL, which the WASI build of CPython lacks
# stdout: ssl: No module named '_ssl'
# stdout: bz2, lzma, ctypes: 3
import bz2
import ctypes
import importlib
import lzma

try:
    importlib.import_module("ssl")
except ModuleNotFoundError as exc:
    print(f"ssl: {exc}")
data = b"isolate " * 100
print("bz2, lzma, ctypes:", sum([bz2.decompress(bz2.compress(data)) == data, lzma.decompress(lzma.compress(data)) == data, ctypes.sizeof(ctypes.c_int32) == 4]))
