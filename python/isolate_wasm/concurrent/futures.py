"""`from isolate_wasm.concurrent.futures import InterpreterPoolExecutor`:
as `concurrent.futures.InterpreterPoolExecutor`, with sandboxed
interpreters (see `isolate_wasm._pool`)."""

from .._pool import InterpreterPoolExecutor

__all__ = ["InterpreterPoolExecutor"]
