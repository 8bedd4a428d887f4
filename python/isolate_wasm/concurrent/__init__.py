"""`isolate_wasm.concurrent.interpreters` and
`isolate_wasm.concurrent.futures`: the standard library's names (PEP 734,
3.14), backed by sandboxed interpreters, for CPython 3.10 and newer."""
